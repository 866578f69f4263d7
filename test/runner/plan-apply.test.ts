import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { planResultSchema } from '../../lib/contracts';
import { getBundle, Sandbox, simModule } from './helpers';

/**
 * The bundled runner, run as a child process against real git repositories and the simulator:
 * plan with and without changes, a failing plan, apply of the approved plan, and every way
 * apply refuses a plan it was not asked to apply.
 */

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

let sandbox: Sandbox;
beforeAll(async () => {
  await getBundle();
});
beforeEach(async () => {
  sandbox = new Sandbox(await getBundle());
  sandbox.repo.commit({ 'envs/dev/resources.json': MODULE, 'README.md': 'infra' });
});

describe('plan', () => {
  it('pins the branch to a commit, uploads plan, text and result with checksums', async () => {
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
  });

  it('lists destroys and replaces before other changes', async () => {
    const first = await sandbox.plan('run-a');
    expect((await sandbox.run(sandbox.applyEnv('run-a', first))).code).toBe(0);
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
    const plan = await sandbox.plan('run-b');
    expect(plan.counts).toEqual({ add: 1, change: 0, destroy: 1, replace: 1 });
    expect(plan.changes).toEqual([
      { address: 'sim_bucket.logs', actions: ['delete', 'create'] },
      { address: 'sim_db.main', actions: ['delete'] },
      { address: 'sim_a.new', actions: ['create'] },
    ]);
  });

  it('reports no changes when the state matches', async () => {
    const first = await sandbox.plan('run-1');
    expect((await sandbox.run(sandbox.applyEnv('run-1', first))).code).toBe(0);
    const again = await sandbox.plan('run-2');
    expect(again).toMatchObject({
      hasChanges: false,
      counts: { add: 0, change: 0, destroy: 0, replace: 0 },
      changes: [],
    });
    expect(again.stdout).toContain('done: no changes');
  });

  it('fails with exit 1, an error block and an error artifact when the plan fails', async () => {
    sandbox.repo.commit({
      'envs/dev/resources.json': simModule(
        { 'sim_bucket.logs': { name: 'logs' } },
        { fail: 'plan', failMessage: 'provider rejected the bucket name' },
      ),
    });
    const outcome = await sandbox.run({ DR_RUN_ID: 'run-fail' });
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

  it('fails with exit 5 when the branch does not exist', async () => {
    const outcome = await sandbox.run({ DR_REF: 'release/9' });
    expect(outcome.code).toBe(5);
    expect(outcome.stderr).toContain('FAILED in phase "clone"');
    expect(outcome.stderr).toContain('does not exist');
  });
});

describe('apply', () => {
  it('applies the approved plan at its commit and records output names only', async () => {
    const plan = await sandbox.plan('run-1');
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
  });

  it('refuses a plan file that was changed after approval (exit 4), applying nothing', async () => {
    const plan = await sandbox.plan('run-1');
    const file = sandbox.artifactPath(plan.planKey, plan.planVersionId);
    writeFileSync(file, readFileSync(file, 'utf8').replace('"logs"', '"evil"'));
    const outcome = await sandbox.run(sandbox.applyEnv('run-1', plan));
    expect(outcome.code).toBe(4);
    expect(outcome.stderr).toContain('FAILED in phase "verify"');
    expect(outcome.stderr).toContain(`is not the approved ${plan.planSha256}`);
    expect(sandbox.toolCalls().filter((c) => c.argv[0] === 'apply')).toEqual([]);
    expect(sandbox.artifact('runs/run-1/apply-error.json')).toMatchObject({
      mode: 'apply',
      phase: 'verify',
      exitCode: 4,
    });
  });

  it('refuses an approval for another checksum (exit 4)', async () => {
    const plan = await sandbox.plan('run-1');
    const outcome = await sandbox.run(
      sandbox.applyEnv('run-1', plan, { DR_PLAN_SHA256: 'a'.repeat(64) }),
    );
    expect(outcome.code).toBe(4);
  });

  it('refuses a plan version that does not exist (exit 4)', async () => {
    const plan = await sandbox.plan('run-1');
    const outcome = await sandbox.run(
      sandbox.applyEnv('run-1', plan, { DR_PLAN_VERSION_ID: '0000000000001-000000-00000000' }),
    );
    expect(outcome.code).toBe(4);
    expect(outcome.stderr).toContain('does not exist');
  });

  it('refuses a commit other than the planned one (exit 4), applying nothing', async () => {
    const plan = await sandbox.plan('run-1');
    const newer = sandbox.repo.commit({ 'README.md': 'newer' });
    const outcome = await sandbox.run(sandbox.applyEnv('run-1', plan, { DR_COMMIT: newer }));
    expect(outcome.code).toBe(4);
    expect(outcome.stderr).toContain(`asked to apply commit ${newer}`);
    expect(sandbox.toolCalls().filter((c) => c.argv[0] === 'apply')).toEqual([]);
  });

  it.each([
    ['a branch name', 'main'],
    ['a short SHA', 'abc1234'],
    ['an option', '--upload-pack=touch /tmp/pwned'],
  ])('refuses DR_COMMIT that is %s (exit 4) before running git', async (_what, commit) => {
    const plan = await sandbox.plan('run-1');
    const before = sandbox.shim.calls().length;
    const outcome = await sandbox.run(sandbox.applyEnv('run-1', plan, { DR_COMMIT: commit }));
    expect(outcome.code).toBe(4);
    expect(outcome.stderr).toContain('is not a 40-hex commit');
    expect(sandbox.shim.calls().length).toBe(before);
  });

  it('refuses another run’s plan key (exit 4)', async () => {
    const plan = await sandbox.plan('run-1');
    const outcome = await sandbox.run(sandbox.applyEnv('run-2', plan));
    expect(outcome.code).toBe(4);
  });

  it('fails a stale plan with exit 3 and the readable cause', async () => {
    const first = await sandbox.plan('run-1');
    const second = await sandbox.plan('run-2');
    expect((await sandbox.run(sandbox.applyEnv('run-2', second))).code).toBe(0);
    const outcome = await sandbox.run(sandbox.applyEnv('run-1', first));
    expect(outcome.code).toBe(3);
    expect(outcome.stderr).toContain(
      'plan is stale: state changed since it was approved, start a new run',
    );
    expect(sandbox.artifact('runs/run-1/apply-error.json')).toMatchObject({
      mode: 'apply',
      phase: 'apply',
      message: 'plan is stale: state changed since it was approved, start a new run',
      exitCode: 3,
    });
  });

  it('fails with exit 1 when the apply itself fails', async () => {
    sandbox.repo.commit({
      'envs/dev/resources.json': simModule(
        { 'sim_bucket.logs': { name: 'logs' } },
        { fail: 'apply', failMessage: 'AccessDenied: not allowed to create bucket' },
      ),
    });
    const plan = await sandbox.plan('run-1');
    const outcome = await sandbox.run(sandbox.applyEnv('run-1', plan));
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain('AccessDenied: not allowed to create bucket');
    expect(outcome.stderr).toContain('some changes may have been made');
  });
});
