import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { FolderArtifactStore } from '../../lib/artifacts/folder-store';
import { planResultSchema } from '../../lib/contracts';
import { itWithSandbox, simModule } from './helpers';

/**
 * Plan mode of the bundled runner, run as a child process against real git repositories and the
 * simulator: with and without changes, ordering, failures. The first test and one write-once case
 * cross the runner's process boundary (its exit codes and output as a child process); the others
 * check the runner's logic with the same code in this process (`runInProcess`: the real git and
 * simulator processes), where a runner start per plan would only cost time.
 */

/** The git subcommand of a recorded argv (after any `-c name=value`). */
const gitCommand = (argv: string[]) => argv.find((a, i) => argv[i - 1] !== '-c' && a !== '-c');

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

const MODULE = JSON.stringify({
  resources: [
    { type: 'sim_bucket', name: 'logs', attributes: { name: 'logs' } },
    {
      type: 'sim_db',
      name: 'main',
      attributes: { name: 'main', password: 'db-password-value' },
      sensitive: ['password'],
    },
  ],
  outputs: { bucket: { value: 'logs' }, db_password: { value: 'x', sensitive: true } },
});

const test = itWithSandbox(() => ({ 'envs/dev/resources.json': MODULE, 'README.md': 'infra' }));

describe.concurrent('plan', () => {
  test('pins the branch to a commit, uploads plan, text and result with checksums', async ({
    sandbox,
  }) => {
    const plan = await sandbox.plan('run-changes');
    expect(planResultSchema.parse(plan)).toBeTruthy();
    expect(plan).toMatchObject({
      commit: sandbox.repo.sha('main'),
      tool: 'terraform',
      toolVersion: '1.11.0-sim',
      hasChanges: true,
      counts: { add: 2, change: 0, destroy: 0, replace: 0 },
      changes: [
        { address: 'sim_bucket.logs', actions: ['create'] },
        { address: 'sim_db.main', actions: ['create'] },
      ],
      changesOmitted: 0,
      planKey: 'runs/run-changes/plan.tfplan',
      planTextKey: 'runs/run-changes/plan.txt',
      logUrl: '',
    });
    const planBytes = readFileSync(sandbox.artifactPath(plan.planKey, plan.planVersionId));
    expect(sha256(planBytes)).toBe(plan.planSha256);
    const text = sandbox.artifactText(plan.planTextKey, plan.planTextVersionId);
    expect(sha256(text)).toBe(plan.planTextSha256);
    expect(text).toContain('# sim_db.main will be created');
    // Sensitive values stay out of everything the runner writes or prints.
    expect(sandbox.artifactText('runs/run-changes/plan-result.json')).not.toContain('"name"');
    expect(text).toContain('password = (sensitive value)');
    expect(`${text}${plan.stdout}${plan.stderr}`).not.toContain('db-password-value');
    expect(plan.stdout).toMatch(/==> \[plan\] clone/);
    expect(plan.stdout).toMatch(/==> \[plan\] upload/);
    const argv = sandbox.toolCalls().map((c) => c.argv);
    expect(argv).toContainEqual([
      'plan',
      '-input=false',
      '-no-color',
      expect.stringMatching(/^-out=\/.+plan\.tfplan$/),
      '-detailed-exitcode',
      '-lock-timeout=5m',
    ]);
    expect(argv).toContainEqual(['init', '-input=false', '-no-color']);
    // One tool process per step (the version comes from `show -json`), three git processes.
    expect(argv.map((a) => a[0])).toEqual(['init', 'plan', 'show', 'show']);
    expect(plan.stdout).toContain('terraform 1.11.0-sim\n');
    expect(sandbox.shim.calls().map(gitCommand)).toEqual(['init', 'fetch', 'checkout']);
  });

  test('a plan-only run plans without the state lock; a run that may apply waits for it', async ({
    sandbox,
  }) => {
    await sandbox.plan('run-pr', { DR_REQUEST_MODE: 'plan-only' }, { inProcess: true });
    const [planOnly] = sandbox.toolCalls().filter((c) => c.argv[0] === 'plan');
    expect(planOnly?.argv).toContain('-lock=false');
    expect(planOnly?.argv).not.toContain('-lock-timeout=5m');
    await sandbox.plan('run-deploy', { DR_REQUEST_MODE: 'apply' }, { inProcess: true });
    const deploy = sandbox.toolCalls().filter((c) => c.argv[0] === 'plan')[1];
    expect(deploy?.argv).toContain('-lock-timeout=5m');
    expect(deploy?.argv).not.toContain('-lock=false');
  });

  test('reports no changes when the state matches, then lists destroys and replaces first', async ({
    sandbox,
  }) => {
    const first = await sandbox.plan('run-a', {}, { inProcess: true });
    expect((await sandbox.runInProcess(sandbox.applyEnv('run-a', first))).code).toBe(0);
    const again = await sandbox.plan('run-same', {}, { inProcess: true });
    expect(again).toMatchObject({
      hasChanges: false,
      counts: { add: 0, change: 0, destroy: 0, replace: 0 },
      changes: [],
    });
    expect(again.stdout).toContain('done: no changes');
    sandbox.repo.commit({
      'envs/dev/resources.json': JSON.stringify({
        resources: [
          { type: 'sim_a', name: 'new', attributes: { v: 1 } },
          {
            type: 'sim_bucket',
            name: 'logs',
            attributes: { name: 'renamed' },
            forceNew: ['name'],
          },
        ],
      }),
    });
    const plan = await sandbox.plan('run-b', {}, { inProcess: true });
    expect(plan.counts).toEqual({ add: 1, change: 0, destroy: 1, replace: 1 });
    expect(plan.changes).toEqual([
      { address: 'sim_db.main', actions: ['delete'] },
      { address: 'sim_bucket.logs', actions: ['delete', 'create'] },
      { address: 'sim_a.new', actions: ['create'] },
    ]);
  });

  test('fails with exit 1, an error block and an error artifact when the plan fails', async ({
    sandbox,
  }) => {
    sandbox.repo.commit({
      'envs/dev/resources.json': simModule(
        { 'sim_bucket.logs': { name: 'logs' } },
        { fail: 'plan', failMessage: 'provider rejected the bucket name' },
      ),
    });
    const outcome = await sandbox.runInProcess({ DR_RUN_ID: 'run-fail' });
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain('FAILED in phase "plan" (exit code 1');
    expect(outcome.stderr).toContain('provider rejected the bucket name');
    expect(outcome.stderr).toContain('What to do:');
    const report = sandbox.artifact('runs/run-fail/plan-error.json') as Record<string, unknown>;
    expect(report).toMatchObject({
      mode: 'plan',
      phase: 'plan',
      exitCode: 1,
      message: expect.stringContaining('provider rejected the bucket name'),
      hint: expect.any(String),
    });
    expect(report.tail).toEqual(
      expect.arrayContaining([expect.stringContaining('provider rejected the bucket name')]),
    );
    expect((report.tail as string[]).length).toBeLessThanOrEqual(40);
  });

  test('fails with exit 5 when the branch does not exist', async ({ sandbox }) => {
    const outcome = await sandbox.runInProcess({ DR_REF: 'release/9' });
    expect(outcome.code).toBe(5);
    expect(outcome.stderr).toContain('FAILED in phase "clone"');
    expect(outcome.stderr).toContain('does not exist');
  });

  test.for([['plan.tfplan'], ['plan.txt'], ['plan-result.json']])(
    'write-once: a %s another writer stored first fails the run with exit 6, untouched',
    async ([name], { sandbox }) => {
      const key = `runs/run-taken/${name}`;
      const planted = await new FolderArtifactStore(sandbox.artifacts).put(
        key,
        'planted by a hostile plan',
      );
      // The plan file's case runs the bundled runner (exit 6 as a process's exit code).
      const run = name === 'plan.tfplan' ? sandbox.run : sandbox.runInProcess;
      const outcome = await run.call(sandbox, { DR_RUN_ID: 'run-taken' });
      expect(outcome.code).toBe(6);
      expect(outcome.stderr).toContain('FAILED in phase "upload"');
      expect(outcome.stderr).toContain(`artifact ${key} already exists`);
      // The planted object is neither replaced nor joined by a second version.
      expect(readdirSync(join(sandbox.artifacts, key)).filter((f) => !f.startsWith('.'))).toEqual([
        planted.versionId,
      ]);
      expect(sandbox.artifactText(key)).toBe('planted by a hostile plan');
      expect(
        existsSync(join(sandbox.artifacts, 'runs/run-taken/plan-result.json', '.latest')),
      ).toBe(name === 'plan-result.json');
    },
  );
});
