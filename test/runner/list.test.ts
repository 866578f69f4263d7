import { beforeAll, describe, expect, it } from 'vitest';
import { driftPathListSchema } from '../../lib/contracts';
import { getBundle, Sandbox, simModule } from './helpers';

/**
 * List mode (`DR_MODE=list`, containers/runner/src/list.ts): a drift glob's run clones the ref as
 * a plan does and writes the directories the glob matches there, once; no tool runs.
 */

const MODULE = simModule({ 'sim_bucket.logs': { name: 'logs' } });
const LIST = {
  DR_MODE: 'list',
  DR_REQUEST_MODE: 'plan-only',
  DR_PATH: 'envs/*',
};

describe.concurrent('runner list mode', () => {
  let sandbox: Sandbox;
  let main: string;
  beforeAll(async () => {
    sandbox = new Sandbox(await getBundle());
    main = sandbox.repo.commit({
      'envs/dev/resources.json': MODULE,
      'envs/prod/main.tf': '# a root module',
      // Matches the glob but holds no file of its own: not a root module.
      'envs/empty/nested/resources.json': MODULE,
      // Outside the glob and the allowed paths.
      'modules/net/resources.json': MODULE,
      'README.md': 'infra',
    });
    sandbox.repo.symlink('envs/linked', '../modules/net');
    main = sandbox.repo.sha('main');
    sandbox.repo.commit({ 'envs/next/resources.json': MODULE }, 'release/next');
  });

  it('lists the directories with files the glob matches at the ref, and runs no tool', async () => {
    const outcome = await sandbox.runInProcess({ ...LIST, DR_RUN_ID: 'list-main' });
    expect(outcome.code, outcome.stdout + outcome.stderr).toBe(0);
    const list = driftPathListSchema.parse(sandbox.artifact('runs/list-main/drift-paths.json'));
    // Not envs/empty (no file of its own), not the symlink, not release/next's envs/next.
    expect(list).toEqual({
      repo: 'infra',
      ref: 'main',
      glob: 'envs/*',
      commit: main,
      paths: ['envs/dev', 'envs/prod'],
      total: 2,
    });
    expect(outcome.stdout).toContain('envs/* matches 2 path(s): envs/dev, envs/prod');
    expect(sandbox.toolCalls()).toEqual([]);
  });

  it('lists at the ref it is given: another branch has its own paths', async () => {
    const outcome = await sandbox.runInProcess({
      ...LIST,
      DR_REF: 'release/next',
      DR_RUN_ID: 'list-next',
    });
    expect(outcome.code, outcome.stderr).toBe(0);
    const list = driftPathListSchema.parse(sandbox.artifact('runs/list-next/drift-paths.json'));
    expect(list.paths).toEqual(['envs/dev', 'envs/next', 'envs/prod']);
  });

  it('writes an empty list when nothing matches (the fan-out reports it)', async () => {
    const outcome = await sandbox.runInProcess({
      ...LIST,
      DR_PATH: 'envs/none-*',
      DR_RUN_ID: 'list-none',
    });
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(sandbox.artifact('runs/list-none/drift-paths.json')).toMatchObject({
      paths: [],
      total: 0,
    });
  });

  it('writes the list once: an existing list is neither used nor replaced', async () => {
    const first = await sandbox.runInProcess({ ...LIST, DR_RUN_ID: 'list-twice' });
    expect(first.code).toBe(0);
    const again = await sandbox.runInProcess({ ...LIST, DR_RUN_ID: 'list-twice' });
    expect(again.code).toBe(6);
    expect(again.stderr).toContain('runs/list-twice/drift-paths.json already exists');
  });

  it.each([
    ['a run that may apply', { DR_REQUEST_MODE: 'apply' }, /plan-only drift check only/],
    ['a plain path', { DR_PATH: 'envs/dev' }, /plan-only drift check only/],
    ['a glob outside the allowed paths', { DR_PATH: 'modules/*' }, /is not an allowed path/],
    ['a glob leaving the repo', { DR_PATH: '../*' }, /contains a "\." or "\.\." segment/],
    ['a branch that is not allowed', { DR_REF: 'feature' }, /is not an allowed branch/],
  ])('refuses %s with exit 2, in the validate phase', async (what, env, message) => {
    const runId = `list-refused-${what.replace(/[^A-Za-z0-9]+/g, '-')}`;
    const outcome = await sandbox.runInProcess({ ...LIST, DR_RUN_ID: runId, ...env });
    expect(outcome.code, outcome.stdout + outcome.stderr).toBe(2);
    expect(outcome.stderr).toMatch(message);
    // Reported as the plan task reports, so Notify failure reads it.
    expect(sandbox.artifact(`runs/${runId}/plan-error.json`)).toMatchObject({
      mode: 'plan',
      phase: 'validate',
      code: 'InputRefused',
    });
  });
});
