import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { getBundle, itWithSandbox, Sandbox, simModule } from './helpers';

/**
 * The runner re-checks what `Validate request` already checked, and what only the checkout can
 * tell: refused input exits 2, before git runs where the allowlist alone decides. One test runs
 * the bundled runner (its exit code as a process); the rest run the same runner code in this
 * process (`runInProcess`, with the real git and simulator processes).
 */

const MODULE = simModule({ 'sim_bucket.logs': { name: 'logs' } });

const test = itWithSandbox(() => ({
  'envs/dev/resources.json': MODULE,
  'modules/net/resources.json': MODULE,
}));

describe.concurrent('the allowlist, checked again by the runner', () => {
  // Nothing here reaches git: one repository serves the whole table.
  let shared: Sandbox;
  beforeAll(async () => {
    shared = new Sandbox(await getBundle());
    shared.repo.commit({
      'envs/dev/resources.json': MODULE,
      'modules/net/resources.json': MODULE,
    });
  });

  it.each([
    ['an unknown repo', { DR_REPO: 'other' }, /repo "other" is not a configured repo/],
    [
      'a branch that is not allowed',
      { DR_REF: 'feature' },
      /ref "feature" is not an allowed branch/,
    ],
    ['a ref that looks like an option', { DR_REF: '--upload-pack=x' }, /ref .* starts with "-"/],
    ['a refs/ path', { DR_REF: 'refs/heads/main' }, /starts with "refs\/"/],
    [
      'a path that is not allowed',
      { DR_PATH: 'modules/net' },
      /path "modules\/net" is not an allowed path/,
    ],
    ['a path with ..', { DR_PATH: 'envs/../modules/net' }, /contains a "\." or "\.\." segment/],
    ['a path leaving the repo', { DR_PATH: '../outside' }, /contains a "\." or "\.\." segment/],
    ['an absolute path', { DR_PATH: '/etc' }, /is absolute/],
    ['a path with shell characters', { DR_PATH: 'envs/dev;touch x' }, /may only contain/],
    ['a path with a newline', { DR_PATH: 'envs/dev\nx' }, /may only contain/],
  ])('refuses %s with exit 2, without running git', async (what, env, message) => {
    // The cases run concurrently in one sandbox: each has its own run, so its error report (written
    // once) is its own.
    const runId = `refusal-${what.replace(/[^A-Za-z0-9]+/g, '-')}`;
    const outcome = await shared.runInProcess({ DR_RUN_ID: runId, ...env });
    expect(outcome.code, outcome.stdout + outcome.stderr).toBe(2);
    expect(outcome.stderr).toMatch(message);
    expect(outcome.stderr).toContain('FAILED in phase "validate"');
    expect(shared.shim.calls()).toEqual([]);
    expect(shared.toolCalls()).toEqual([]);
    expect(shared.artifact(`runs/${runId}/plan-error.json`)).toMatchObject({
      phase: 'validate',
      exitCode: 2,
    });
  });
});

describe.concurrent('refs, tags and the environment', () => {
  test('refuses in the bundled runner too', async ({ sandbox }) => {
    const outcome = await sandbox.run({ DR_PATH: '../outside' });
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain('FAILED in phase "validate"');
    expect(sandbox.shim.calls()).toEqual([]);
  });

  test('refuses a tag, even one pointing at main', async ({ sandbox }) => {
    sandbox.repo.tag('v1.0.0');
    const outcome = await sandbox.runInProcess({ DR_REF: 'v1.0.0' });
    expect(outcome.code).toBe(2);
    expect(sandbox.shim.calls()).toEqual([]);
  });

  test('fetches branches only: a tag named like an allowed branch is not found (exit 5)', async ({
    sandbox,
  }) => {
    sandbox.repo.tag('release/1');
    const outcome = await sandbox.runInProcess({ DR_REF: 'release/1' });
    expect(outcome.code).toBe(5);
    expect(outcome.stderr).toContain('does not exist');
  });

  test('plans an allowed branch matching a pattern', async ({ sandbox }) => {
    const sha = sandbox.repo.commit({ 'README.md': 'release' }, 'release/1');
    const plan = await sandbox.plan('run-1', { DR_REF: 'release/1' }, { inProcess: true });
    expect(plan.commit).toBe(sha);
  });

  test('refuses commits when the repo does not allow them', async ({ sandbox }) => {
    const outcome = await sandbox.runInProcess({
      DR_REF: sandbox.repo.sha('main'),
      DR_ALLOWLIST: sandbox.allowlist({ allowCommits: false }),
    });
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain('commit SHAs are not allowed for this repo');
  });

  test('refuses an invalid environment with exit 2 and says what is missing', async ({
    sandbox,
  }) => {
    const outcome = await sandbox.runInProcess({ DR_MODE: 'destroy', DR_ALLOWLIST: 'not json' });
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain('DR_MODE must be "plan", "apply" or "list"');
    expect(outcome.stderr).toContain('is not valid JSON');
    // The run ID and the store were usable, so the workflow still gets a readable cause.
    expect(sandbox.artifact('runs/run-1/plan-error.json')).toMatchObject({
      phase: 'validate',
      exitCode: 2,
      message: expect.stringContaining('DR_MODE'),
    });
  });

  test('refuses apply without the approved plan coordinates', async ({ sandbox }) => {
    const outcome = await sandbox.runInProcess({ DR_MODE: 'apply' });
    expect(outcome.code).toBe(2);
    for (const name of ['DR_COMMIT', 'DR_PLAN_KEY', 'DR_PLAN_VERSION_ID', 'DR_PLAN_SHA256'])
      expect(outcome.stderr).toContain(`${name}: missing`);
  });
});

describe.concurrent('commits as refs', () => {
  test('plans an older commit of an allowed branch, pinned to exactly that commit', async ({
    sandbox,
  }) => {
    const older = sandbox.repo.sha('main');
    sandbox.repo.commit({ 'README.md': 'newer' });
    const plan = await sandbox.plan('run-1', { DR_REF: older }, { inProcess: true });
    expect(plan.commit).toBe(older);
    expect(plan.stdout).toContain(`commit ${older} is on allowed branch main`);
  });

  test('refuses a commit that exists only on an unreviewed branch', async ({ sandbox }) => {
    const unreviewed = sandbox.repo.commit(
      { 'envs/dev/resources.json': simModule({ 'sim_evil.x': { steal: true } }) },
      'feature',
    );
    const outcome = await sandbox.runInProcess({ DR_REF: unreviewed });
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain(
      `commit ${unreviewed} is not reachable from an allowed branch`,
    );
    expect(sandbox.toolCalls()).toEqual([]);
    // Only allowed branches were fetched: the unreviewed one never reached the runner.
    const fetched = sandbox.shim.calls().filter((c) => c.includes('fetch'));
    expect(fetched.flat().some((a) => a.includes('feature'))).toBe(false);
  });

  test('refuses a commit that does not exist', async ({ sandbox }) => {
    const outcome = await sandbox.runInProcess({ DR_REF: 'f'.repeat(40) });
    expect(outcome.code).toBe(2);
  });
});

describe.concurrent('the path inside the checkout', () => {
  test('refuses a symlink that escapes the repository', async ({ sandbox }) => {
    const outside = mkdtempSync(join(tmpdir(), 'outside-'));
    sandbox.repo.symlink('envs/escape', outside);
    sandbox.repo.symlink('envs/up', '../..');
    for (const path of ['envs/escape', 'envs/up']) {
      const outcome = await sandbox.runInProcess({ DR_PATH: path });
      expect(outcome.code, outcome.stdout + outcome.stderr).toBe(2);
      expect(outcome.stderr).toMatch(/resolves (outside the repository|to the repository root)/);
    }
    expect(sandbox.toolCalls()).toEqual([]);
  });

  test('follows a symlink that stays inside the repository', async ({ sandbox }) => {
    sandbox.repo.symlink('envs/alias', 'dev');
    const plan = await sandbox.plan('run-1', { DR_PATH: 'envs/alias' }, { inProcess: true });
    expect(plan.hasChanges).toBe(true);
  });

  test('refuses a path that does not exist at the commit, naming the allowed paths that do', async ({
    sandbox,
  }) => {
    sandbox.repo.commit({ 'envs/staging/resources.json': MODULE, 'envs/.hidden/x.json': MODULE });
    const outcome = await sandbox.runInProcess({
      DR_RUN_ID: 'missing-path',
      DR_PATH: 'envs/prod',
    });
    expect(outcome.code, outcome.stdout + outcome.stderr).toBe(2);
    expect(outcome.stderr).toContain('does not exist at this commit');
    expect(sandbox.toolCalls()).toEqual([]);
    // modules/net exists but is not allowed, envs/.hidden is allowed by no wildcard: neither listed.
    expect(sandbox.artifact('runs/missing-path/plan-error.json')).toMatchObject({
      code: 'PathNotFound',
      phase: 'validate',
      exitCode: 2,
      message:
        'path "envs/prod" does not exist at this commit; existing paths matching the allowed paths (envs/*): envs/dev, envs/staging',
    });
  });

  test('lists at most 20 existing paths, and says there are more', async ({ sandbox }) => {
    const many = Object.fromEntries(
      Array.from({ length: 25 }, (_, i) => [
        `envs/e${String(i).padStart(2, '0')}/main.json`,
        MODULE,
      ]),
    );
    sandbox.repo.commit(many);
    const outcome = await sandbox.runInProcess({ DR_RUN_ID: 'many-paths', DR_PATH: 'envs/prod' });
    expect(outcome.code).toBe(2);
    const { message } = sandbox.artifact('runs/many-paths/plan-error.json') as { message: string };
    const listed = message.split(': ').at(-1)?.split(', ') ?? [];
    expect(listed).toHaveLength(21);
    expect(listed.at(0)).toBe('envs/dev');
    expect(listed.at(-1)).toBe('and more');
  });

  test('refuses the .git folder', async ({ sandbox }) => {
    const outcome = await sandbox.runInProcess({
      DR_PATH: 'envs/.git',
      DR_ALLOWLIST: sandbox.allowlist({ allowedPaths: ['envs/*'] }),
    });
    expect(outcome.code).toBe(2);
  });
});
