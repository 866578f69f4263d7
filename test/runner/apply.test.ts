import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notifyStateSchema, parseRunnerReport, readableError } from '../../handlers/shared/failure';
import type { PlanResult } from '../../lib/contracts';
import { planResult, request } from '../handlers/support/fixtures';
import { getBundle, itWithSandbox, Sandbox, simModule } from './helpers';

/**
 * Apply mode of the bundled runner against real git repositories and the simulator: the
 * approved plan is applied, and every way apply refuses a plan it was not asked to apply. Each
 * test's apply under test runs the bundled runner; the plans (and applies) that only set it up
 * run the same runner code in this process (`runInProcess`).
 */

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

/**
 * How `Notify failure` explains the error report the runner wrote for a failed apply: the
 * written bytes go through notify's own parser and classifier, so a drift on either side fails.
 */
function notifyReadsApplyError(written: unknown) {
  const read = parseRunnerReport(JSON.stringify(written));
  const state = notifyStateSchema.parse({
    request,
    plan: { summary: planResult() },
    approval: {
      approved: true,
      approver: 'Alice',
      decidedAt: '2025-11-25T10:05:00.000Z',
      planSha256: planResult().planSha256,
    },
    error: { Error: 'States.TaskFailed', Cause: '{}' },
  });
  return { read, readable: readableError(state, read.report).error };
}

const test = itWithSandbox(() => ({ 'envs/dev/resources.json': MODULE, 'README.md': 'infra' }));

describe.concurrent('apply', () => {
  test('applies the approved plan at its commit and records output names only', async ({
    sandbox,
  }) => {
    const plan = await sandbox.plan('run-1', {}, { inProcess: true });
    const outcome = await sandbox.run(sandbox.applyEnv('run-1', plan));
    expect(outcome.code, outcome.stdout + outcome.stderr).toBe(0);
    expect(Object.keys(sandbox.stateOf().instances).sort()).toEqual([
      'sim_bucket.logs',
      'sim_db.main',
    ]);
    const result = sandbox.artifact('runs/run-1/apply-result.json');
    expect(result).toEqual({
      commit: plan.commit,
      tool: 'terraform',
      toolVersion: '1.11.0-sim',
      appliedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      outputs: ['bucket', 'db_password'],
      planSha256: plan.planSha256,
      logUrl: '',
    });
    const apply = sandbox.toolCalls().find((c) => c.argv[0] === 'apply');
    expect(apply?.argv).toEqual([
      'apply',
      '-input=false',
      '-no-color',
      '-lock-timeout=5m',
      expect.stringMatching(/plan\.tfplan$/),
    ]);
    // The exact commit, fetched by SHA: nothing else.
    const fetches = sandbox.shim.calls().filter((c) => c.includes('fetch'));
    expect(fetches.at(-1)).toEqual(
      expect.arrayContaining(['--depth=1', '--', 'origin', plan.commit]),
    );
    // The plan's processes, then the apply's: no `version` call, three git processes.
    expect(sandbox.toolCalls().map((c) => c.argv[0])).toEqual([
      ...['init', 'plan', 'show', 'show'],
      ...['init', 'apply', 'output'],
    ]);
    const gitCommands = sandbox.shim
      .calls()
      .map((argv) => argv.find((a, i) => argv[i - 1] !== '-c' && a !== '-c'));
    expect(gitCommands).toEqual(['init', 'fetch', 'checkout', 'init', 'fetch', 'checkout']);
    expect(outcome.stdout).toContain(
      'terraform 1.11.0-sim made the plan (a saved plan applies only with that version)',
    );
  });

  test('records the version that made the plan, which a tool of another version refuses to apply', async ({
    sandbox,
  }) => {
    const plan = await sandbox.plan('run-1', { TF_SIM_VERSION: '1.10.5' }, { inProcess: true });
    expect(plan.toolVersion).toBe('1.10.5');
    const other = await sandbox.runInProcess({
      ...sandbox.applyEnv('run-1', plan),
      TF_SIM_VERSION: '1.11.0',
    });
    expect(other.code).toBe(1);
    expect(other.stdout + other.stderr).toContain(
      'plan file was created by Terraform 1.10.5, but this is 1.11.0',
    );
    // Nothing was applied: the simulator wrote no state.
    expect(existsSync(sandbox.state)).toBe(false);
    const same = await sandbox.runInProcess({
      ...sandbox.applyEnv('run-1', plan),
      TF_SIM_VERSION: '1.10.5',
    });
    expect(same.code, same.stdout + same.stderr).toBe(0);
    expect(sandbox.artifact('runs/run-1/apply-result.json')).toMatchObject({
      toolVersion: '1.10.5',
    });
  });

  test('fails a stale plan with exit 3 and the readable cause', async ({ sandbox }) => {
    const first = await sandbox.plan('run-1', {}, { inProcess: true });
    const second = await sandbox.plan('run-2', {}, { inProcess: true });
    expect((await sandbox.runInProcess(sandbox.applyEnv('run-2', second))).code).toBe(0);
    const outcome = await sandbox.run(sandbox.applyEnv('run-1', first));
    expect(outcome.code).toBe(3);
    expect(outcome.stderr).toContain(
      'plan is stale: state changed since it was approved, start a new run',
    );
    const written = sandbox.artifact('runs/run-1/apply-error.json');
    expect(written).toMatchObject({
      mode: 'apply',
      code: 'StalePlan',
      phase: 'apply',
      message: 'plan is stale: state changed since it was approved, start a new run',
      exitCode: 3,
    });
    const { read, readable } = notifyReadsApplyError(written);
    expect(read).toEqual({ report: written });
    expect(readable).toMatchObject({
      Error: 'DeployRunner.PlanStale',
      Cause: expect.stringContaining('Apply refused the saved plan: plan is stale'),
    });
  });

  test('fails with exit 1 when the apply itself fails', async ({ sandbox }) => {
    sandbox.repo.commit({
      'envs/dev/resources.json': simModule(
        { 'sim_bucket.logs': { name: 'logs' } },
        { fail: 'apply', failMessage: 'AccessDenied: not allowed to create bucket' },
      ),
    });
    const plan = await sandbox.plan('run-1', {}, { inProcess: true });
    const outcome = await sandbox.run(sandbox.applyEnv('run-1', plan));
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain('AccessDenied: not allowed to create bucket');
    expect(outcome.stderr).toContain('some changes may have been made');
    const { readable } = notifyReadsApplyError(sandbox.artifact('runs/run-1/apply-error.json'));
    expect(readable.Error).toBe('DeployRunner.ApplyFailed');
  });
});

/**
 * The runner's own refusals, in this process (`runInProcess`: the same `runRunner` with the real
 * git and tool processes); the bundled runner's process boundary is what the tests above prove.
 */
describe('apply refuses anything but the approved plan, applying nothing', () => {
  let shared: Sandbox;
  let plan: PlanResult;
  beforeAll(async () => {
    shared = new Sandbox(await getBundle());
    shared.repo.commit({ 'envs/dev/resources.json': MODULE });
    plan = await shared.plan('run-1', {}, { inProcess: true });
  });
  afterAll(() => {
    expect(shared.toolCalls().filter((c) => c.argv[0] === 'apply')).toEqual([]);
  });

  it('refuses an approval for another checksum (exit 4)', async () => {
    const outcome = await shared.runInProcess(
      shared.applyEnv('run-1', plan, { DR_PLAN_SHA256: 'a'.repeat(64) }),
    );
    expect(outcome.code).toBe(4);
  });

  it('refuses a plan version that does not exist (exit 4)', async () => {
    const outcome = await shared.runInProcess(
      shared.applyEnv('run-1', plan, { DR_PLAN_VERSION_ID: '0000000000001-000000-00000000' }),
    );
    expect(outcome.code).toBe(4);
    expect(outcome.stderr).toContain('does not exist');
  });

  it('refuses another run’s plan key (exit 4)', async () => {
    const outcome = await shared.runInProcess(shared.applyEnv('run-2', plan));
    expect(outcome.code).toBe(4);
  });

  it.each([
    ['a branch name', 'main'],
    ['a short SHA', 'abc1234'],
    ['an option', '--upload-pack=touch /tmp/pwned'],
  ])('refuses DR_COMMIT that is %s (exit 4) before running git', async (_what, commit) => {
    const before = shared.shim.calls().length;
    const outcome = await shared.runInProcess(
      shared.applyEnv('run-1', plan, { DR_COMMIT: commit }),
    );
    expect(outcome.code).toBe(4);
    expect(outcome.stderr).toContain('is not a 40-hex commit');
    expect(shared.shim.calls().length).toBe(before);
  });

  it('refuses a commit other than the planned one (exit 4), applying nothing', async () => {
    const newer = shared.repo.commit({ 'README.md': 'newer' });
    const outcome = await shared.runInProcess(shared.applyEnv('run-1', plan, { DR_COMMIT: newer }));
    expect(outcome.code).toBe(4);
    expect(outcome.stderr).toContain(`asked to apply commit ${newer}`);
    expect(shared.toolCalls().filter((c) => c.argv[0] === 'apply')).toEqual([]);
  });

  it('refuses a plan file that was changed after approval (exit 4), applying nothing', async () => {
    const file = shared.artifactPath(plan.planKey, plan.planVersionId);
    writeFileSync(file, readFileSync(file, 'utf8').replace('"logs"', '"evil"'));
    const outcome = await shared.runInProcess(shared.applyEnv('run-1', plan));
    expect(outcome.code).toBe(4);
    expect(outcome.stderr).toContain('FAILED in phase "verify"');
    expect(outcome.stderr).toContain(`is not the approved ${plan.planSha256}`);
    expect(shared.toolCalls().filter((c) => c.argv[0] === 'apply')).toEqual([]);
    const written = shared.artifact('runs/run-1/apply-error.json');
    expect(written).toMatchObject({
      mode: 'apply',
      code: 'ArtifactVerification',
      phase: 'verify',
      exitCode: 4,
    });
    expect(notifyReadsApplyError(written).readable.Error).toBe(
      'DeployRunner.PlanVerificationFailed',
    );
  });
});
