import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListExecutionsCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_LOG_GROUP } from '../../lib/local/log-service';
import { githubOutputs } from '../cli/fixtures';
import {
  type CliResult,
  ciBundle,
  ciEnv,
  cli,
  cliBundle,
  decideAs,
  executionArn,
  executionName,
  expectPlainFollow,
  inOrder,
  linksOf,
  removeTempDirs,
  runAction,
  start,
  startedRecord,
  tempDir,
} from './cli-helpers';
import { type Harness, history, lockHeld, resources, startHarness, waitForEnd } from './harness';

/**
 * `deploy-runner` as CI runs it: a subprocess with GitHub Actions variables and no AWS
 * credentials, against the local server (real definition, handlers, runner and terraform
 * simulator). Every scenario runs on its own path, so they share no lock (but where one run
 * serves two: 5's lock holder is 9's run, 11's clash is with 14's run), and all of them start
 * at once in beforeAll: the CLI makes at most one API call per second, so a followed run takes
 * 10-20 s whether or not others run beside it. The tests then await their scenario and assert.
 *
 * Most scenarios run the CLI bundle (lib/cli/build.ts, what the launcher runs as dist/cli.js),
 * which starts twice as fast as tsx compiling the source; the usage error runs the launcher
 * bin/deploy-runner.js, and the GitHub action runs the CI bundle (buildCiBundle) through
 * action/main.js.
 *
 * The expiry scenario needs approval requests that expire after 5 s: a second server.
 */

const STATE_LINE = /^\d\d:\d\d:\d\d -> /;

/** A rejection reason that tries every way into a GitHub log and its files. */
const INJECTION =
  'no\n::error title=x::pwned\r\n::add-mask::\napproved<<EOF\ntrue\nEOF\n<img src=x onerror=alert(1)>';

/** GITHUB_OUTPUT's format as @actions/core writes it: `name<<delimiter`, the value, delimiter. */

/** Started lines: the name and the local run page, which answers 200. */
async function expectStarted(h: Harness, result: CliResult, name: string, suffix = '') {
  const arn = executionArn(h, name);
  expect(result.lines[0]).toBe(`Started ${name}${suffix}`);
  const url = `${h.server.url}/executions/${encodeURIComponent(arn)}`;
  expect(result.lines[1]).toBe(`   ${url}`);
  expect((await fetch(url)).status).toBe(200);
  return arn;
}

/** The runner's lines of one task as `wait` printed them (`   plan | ...`). */
const runnerLines = (stdout: string, phase: 'plan' | 'apply') =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith(`   ${phase} | `))
    .map((l) => l.slice(`   ${phase} | `.length));

/** Eagerly started work whose result a test awaits later (no unhandled rejection meanwhile). */
function eager<T>(work: () => Promise<T>): Promise<T> {
  const promise = work();
  promise.catch(() => {});
  return promise;
}

describe('e2e: the deploy-runner CLI as a CI subprocess', { timeout: 150_000 }, () => {
  let h: Harness;
  /** A server whose approval requests expire after 5 s. */
  let x: Harness;
  let sha: string;
  let xSha: string;
  let bundle: string;
  /** The CI bundle the GitHub action runs. */
  let ci: string;
  const name = (path: string, runId: string) => executionName(path, sha, runId);
  const arnOf = (n: string) => executionArn(h, n);

  let scenarios: ReturnType<typeof startScenarios>;

  function startScenarios() {
    const opts = (runId: string, env?: Record<string, string | undefined>) => ({
      runId,
      sha,
      env,
      script: bundle,
    });
    const launcher = (runId: string) => ({ runId, sha });

    // 1 applied, then 15 logs and 17 status.
    const applied = eager(async () => {
      const run = start(h, 'envs/dev', ['--wait'], opts('100'));
      await run.waitFor('Waiting for approval');
      await decideAs(h, name('envs/dev', '100'), 'ada@example.com', 'approve');
      return run.done;
    });
    // 7 no changes: a module whose plan is empty (as after an apply; no need to wait for one).
    const noChanges = eager(() => start(h, 'envs/empty', ['--wait'], opts('107')).done);

    // 3 expired (the 5 s server), then 17 status.
    const expired = eager(async () => {
      const runName = executionName('envs/expiring', xSha, '300');
      const result = await start(x, 'envs/expiring', ['--wait'], {
        runId: '300',
        sha: xSha,
        script: bundle,
      }).done;
      const arn = executionArn(x, runName);
      await waitForEnd(x, arn);
      const lock = await lockHeld(x, 'envs/expiring');
      const status = await cli(x, ['status', arn], { runId: '300', sha: xSha, script: bundle })
        .done;
      return { result, lock, status };
    });
    const appliedLogs = eager(async () => {
      await applied;
      return cli(h, ['logs', arnOf(name('envs/dev', '100'))], opts('100')).done;
    });
    const appliedStatus = eager(async () => {
      await applied;
      return cli(h, ['status', arnOf(name('envs/dev', '100'))], opts('100')).done;
    });

    // 2 rejected, then 19 wait on the finished run and 17 status.
    const rejected = eager(async () => {
      const run = start(h, 'envs/rejected', ['--wait'], opts('200'));
      await run.waitFor('Waiting for approval');
      await decideAs(h, name('envs/rejected', '200'), 'grace@example.com', 'reject', 'not today');
      return run.done;
    });
    const rejectedWait = eager(async () => {
      await rejected;
      return cli(h, ['wait', arnOf(name('envs/rejected', '200'))], opts('200')).done;
    });
    const rejectedStatus = eager(async () => {
      await rejected;
      return cli(h, ['status', arnOf(name('envs/rejected', '200'))], opts('200')).done;
    });

    // 4 failed plan, then 17 status.
    const failed = eager(() => start(h, 'envs/broken', ['--wait'], opts('400')).done);
    const failedStatus = eager(async () => {
      await failed;
      return cli(h, ['status', arnOf(name('envs/broken', '400'))], opts('400')).done;
    });

    // 9's first start (A) waits for approval holding the lock of envs/retry: 5's run B fails
    // on it, and only then does 9 reject A (one plan fewer than a lock holder of its own).
    const retriedFirst = eager(() => start(h, 'envs/retry', ['--json'], opts('900')).done);

    // 5 busy: run A waits for approval holding the lock; B fails on it; then 9 rejects A.
    const busy = eager(async () => {
      const a = await retriedFirst;
      const arnA = startedRecord(a).executionArn;
      await linksOf(h, name('envs/retry', '900'));
      const statusA = await cli(h, ['status', arnA], opts('900')).done;
      const b = await start(h, 'envs/retry', ['--wait'], opts('501')).done;
      const statusB = await cli(h, ['status', arnOf(name('envs/retry', '501'))], opts('501')).done;
      return { a, statusA, b, statusB };
    });

    // 6 aborted while waiting for approval; then 17 status, the lock is free, a new run plans.
    const aborted = eager(async () => {
      const run = start(h, 'envs/aborted', ['--wait'], opts('600'));
      await run.waitFor('Waiting for approval');
      const arn = arnOf(name('envs/aborted', '600'));
      await h.sfn.send(
        new StopExecutionCommand({ executionArn: arn, error: 'Cancelled', cause: 'wrong branch' }),
      );
      const result = await run.done;
      await waitForEnd(h, arn);
      const lock = await lockHeld(h, 'envs/aborted');
      const status = await cli(h, ['status', arn], opts('600')).done;
      const again = await start(
        h,
        'envs/aborted',
        ['--plan-only', '--wait', '--no-logs'],
        opts('601'),
      ).done;
      return { result, lock, status, again };
    });

    // 8 plan-only in text (state machine found through ListStateMachines, endpoint from env)
    // and 14 plan-only as JSON lines.
    const planOnly = eager(
      () =>
        start(h, 'envs/preview', ['--plan-only', '--wait'], {
          ...opts('800', { DEPLOY_RUNNER_ENDPOINT: h.server.url }),
          endpoint: false,
          stateMachineArn: false,
        }).done,
    );
    const planOnlyJsonRun = start(
      h,
      'envs/report',
      ['--plan-only', '--wait', '--json'],
      opts('1400'),
    );
    const planOnlyJson = eager(() => planOnlyJsonRun.done);

    // 12 request rejected by validation.
    const requestRejected = eager(() => start(h, 'secrets/x', ['--wait'], opts('1200')).done);

    // 9 and 10: a retried start attaches to the run instead of starting a second one.
    const retried = eager(async () => {
      const runName = name('envs/retry', '900');
      const first = await retriedFirst;
      const second = await start(
        h,
        'envs/retry',
        ['--json'],
        opts('900', { GITHUB_RUN_ATTEMPT: '2' }),
      ).done;
      const listed = async () =>
        (
          await h.sfn.send(new ListExecutionsCommand({ stateMachineArn: h.server.stateMachineArn }))
        ).executions?.filter((e) => e.name === runName) ?? [];
      const whileRunning = await listed();
      // A holds the lock until 5 has seen it held.
      await busy.catch(() => {});
      await decideAs(h, runName, 'grace@example.com', 'reject', 'retry test');
      await waitForEnd(h, arnOf(runName));
      const [again, otherActor] = await Promise.all([
        start(h, 'envs/retry', ['--wait'], opts('900', { GITHUB_RUN_ATTEMPT: '3' })).done,
        start(
          h,
          'envs/retry',
          ['--wait', '--no-logs'],
          opts('900', { GITHUB_RUN_ATTEMPT: '4', GITHUB_ACTOR: 'someone-else' }),
        ).done,
      ]);
      return { first, second, whileRunning, again, otherActor, afterwards: await listed() };
    });

    // 11: the same execution name for a different request: an apply named as 14's plan-only
    // run, started while that run goes on (one plan fewer than a run of its own).
    const clash = eager(async () => {
      await planOnlyJsonRun.waitFor('"type":"started"');
      const apply = await start(h, 'envs/report', [], opts('1400')).done;
      return { planned: await planOnlyJson, apply };
    });

    // 18 list, once every succeeded run has ended.
    const list = eager(async () => {
      await Promise.all([noChanges, planOnly, planOnlyJson, aborted]);
      return cli(h, ['list', '--status', 'SUCCEEDED'], { ...opts('1'), stateMachineArn: false })
        .done;
    });

    // 13, 16, 20: errors before any run.
    const usage = eager(
      () => cli(h, ['start', '--repo', 'infra', '--path', 'envs/dev'], launcher('1300')).done,
    );
    const logsWithoutGroup = eager(
      () =>
        cli(h, ['logs', arnOf(name('envs/dev', '100'))], {
          ...opts('1600'),
          logGroup: false,
          endpoint: false,
        }).done,
    );
    const localLogsWithoutGroup = eager(async () => {
      await applied;
      return cli(h, ['logs', arnOf(name('envs/dev', '100'))], { ...opts('1601'), logGroup: false })
        .done;
    });
    const nothingListening = eager(
      () =>
        cli(h, ['status', arnOf('x'), '--endpoint', 'http://127.0.0.1:1'], {
          ...opts('2000'),
          endpoint: false,
        }).done,
    );

    // 21 and 22: the GitHub action (action/main.js running the CI bundle) as GitHub runs it,
    // with the files GitHub gives a step for outputs and the job summary.
    const actionRun = (path: string, runId: string) => {
      const dir = tempDir('dr-action-');
      const files = { output: join(dir, 'github-output'), summary: join(dir, 'step-summary') };
      writeFileSync(files.output, '');
      writeFileSync(files.summary, '');
      const run = runAction({
        ...ciEnv(launcher(runId)),
        GITHUB_OUTPUT: files.output,
        GITHUB_STEP_SUMMARY: files.summary,
        DEPLOY_RUNNER_ENDPOINT: h.server.url,
        DEPLOY_RUNNER_CLI_BUNDLE: ci,
        INPUT_REPO: 'infra',
        INPUT_REF: 'main',
        INPUT_PATH: path,
        'INPUT_PLAN-ONLY': 'false',
        INPUT_WAIT: 'true',
        'INPUT_STATE-MACHINE-ARN': h.server.stateMachineArn,
        'INPUT_LOG-GROUP': LOCAL_LOG_GROUP,
        INPUT_REGION: '',
      });
      const read = () => ({
        output: readFileSync(files.output, 'utf8'),
        summary: readFileSync(files.summary, 'utf8'),
      });
      return { run, read };
    };
    const action = eager(async () => {
      const { run, read } = actionRun('envs/action', '2100');
      await run.waitFor('Waiting for approval');
      await decideAs(h, name('envs/action', '2100'), 'ada@example.com', 'approve');
      return { result: await run.done, ...read() };
    });
    const actionInjected = eager(async () => {
      const { run, read } = actionRun('envs/action-rejected', '2200');
      await run.waitFor('Waiting for approval');
      await decideAs(
        h,
        name('envs/action-rejected', '2200'),
        'grace@example.com',
        'reject',
        INJECTION,
      );
      return { result: await run.done, ...read() };
    });

    return {
      action,
      actionInjected,
      expired,
      applied,
      noChanges,
      appliedLogs,
      appliedStatus,
      rejected,
      rejectedWait,
      rejectedStatus,
      failed,
      failedStatus,
      busy,
      aborted,
      planOnly,
      planOnlyJson,
      requestRejected,
      retried,
      clash,
      list,
      usage,
      logsWithoutGroup,
      localLogsWithoutGroup,
      nothingListening,
    };
  }

  beforeAll(async () => {
    [h, x, bundle, ci] = await Promise.all([
      startHarness(process.env.E2E_DEBUG ? { echo: (l) => console.log(l) } : {}),
      startHarness({
        config: (c) => {
          (c.approvals as Record<string, unknown>).timeout = '5s';
        },
      }),
      cliBundle(),
      ciBundle(),
    ]);
    xSha = x.repo.commit({ 'envs/expiring': { resources: resources('cache') } });
    sha = h.repo.commit({
      'envs/dev': { resources: resources('network', 'bucket') },
      'envs/rejected': { resources: resources('queue') },
      'envs/broken': {
        resources: resources('database'),
        fail: 'plan',
        failMessage: 'provider "sim" refused the credentials',
      },
      'envs/aborted': { resources: resources('cluster') },
      'envs/preview': { resources: resources('site', 'cdn') },
      'envs/report': { resources: resources('report') },
      'envs/retry': { resources: resources('retried') },
      'envs/action': { resources: resources('action') },
      'envs/action-rejected': { resources: resources('injected') },
      'envs/empty': { resources: [] },
    });
    scenarios = startScenarios();
  });
  afterAll(async () => {
    await Promise.all([h?.close(), x?.close()]);
    removeTempDirs();
  });

  it('1 applied: states, runner lines, plan summary, who was asked, approval, apply, OK (exit 0)', async () => {
    const result = await scenarios.applied;
    expectPlainFollow(result, 0);
    const runName = name('envs/dev', '100');
    await expectStarted(h, result, runName);
    inOrder(result.stdout, [
      `Following ${runName} (RUNNING)`,
      / -> Validate request\n/,
      / -> Acquire lock\n/,
      / -> Plan\n/,
      /::group::Plan output \(task [0-9a-f]+\)\n/,
      / {3}Plan runs as ECS task arn:aws:ecs:\S+\n/,
      '   plan | ==> [plan] clone: fetching main of infra',
      '   plan | Plan: 2 to add, 0 to change, 0 to destroy.',
      '   plan | ==> [plan] done: the plan has changes',
      '::endgroup::',
      / -> Inspect plan\n/,
      `   Plan: 2 to add, 0 to change, 0 to destroy, 0 to replace (terraform 1.11.0-sim, commit ${sha.slice(0, 7)})`,
      '     + sim_thing.bucket',
      / -> Request approval\n/,
      // Within the 10 min approval window; how much is left depends on how long the plan took.
      / {3}Waiting for approval from Ada <ada@example\.com>, Grace <grace@example\.com>; expires \d{4}-\d\d-\d\d \d\d:\d\d UTC \(in (?:[1-9]|10)m[ \d s]*\)\n/,
      '   Approved by Ada\n',
      / -> Apply\n/,
      '   apply | ==> [apply] verify: checksum, version and commit of the approved plan',
      '   apply | Apply complete! Resources: 2 added, 0 changed, 0 destroyed.',
      / -> Notify result\n/,
      / -> Release lock\n/,
      / -> Done\n/,
      'OK Applied (exit 0)',
    ]);
    expect(result.stderr).toBe('');
    // CI may read the history, which holds the task token; the CLI never prints it.
    const arn = `${h.server.stateMachineArn.replace(':stateMachine:', ':execution:')}:${runName}`;
    const scheduled = (await history(h, arn)).find((e) =>
      e.taskScheduledEventDetails?.resource?.includes('waitForTaskToken'),
    );
    const token = JSON.parse(scheduled?.taskScheduledEventDetails?.parameters as string).Payload
      .taskToken as string;
    expect(token.length).toBeGreaterThan(50);
    expect(`${result.stdout}${result.stderr}`).not.toContain(token);
  });

  it('2 rejected by an approver: the reason, Record rejection, FAILED (exit 3)', async () => {
    const result = await scenarios.rejected;
    expectPlainFollow(result, 3);
    await expectStarted(h, result, name('envs/rejected', '200'));
    inOrder(result.stdout, [
      / -> Request approval\n/,
      '   Waiting for approval from Ada <ada@example.com>',
      '   Rejected by Grace: not today\n',
      / -> Record rejection\n/,
      / -> Run failed\n/,
      'FAILED Rejected by Grace: not today (exit 3)',
    ]);
    expect(result.stdout).not.toContain('-> Apply');
  });

  it('3 expired: who was asked and the 5 s deadline, Record expiry, FAILED (exit 4)', async () => {
    const { result, lock, status } = await scenarios.expired;
    const runName = executionName('envs/expiring', xSha, '300');
    expectPlainFollow(result, 4);
    expect(result.lines[0]).toBe(`Started ${runName}`);
    inOrder(result.stdout, [
      / -> Plan\n/,
      '   plan | ==> [plan] done: the plan has changes',
      / -> Inspect plan\n/,
      '   Plan: 1 to add, 0 to change, 0 to destroy, 0 to replace',
      / -> Request approval\n/,
      / {3}Waiting for approval from Ada <ada@example\.com>, Grace <grace@example\.com>; expires \d{4}-\d\d-\d\d \d\d:\d\d UTC \(in [0-5]s\)\n/,
      / -> Record expiry\n/,
      /FAILED Approval expired: No approver decided within 5s; nothing was applied\. Start a new run\. \(exit 4\)/,
    ]);
    expect(result.stdout).not.toMatch(/Approved by|Rejected by|-> Apply/);
    expect(lock).toBeUndefined();
    expect(status.code).toBe(4);
    inOrder(status.stdout, [`${runName}: FAILED`, 'FAILED Approval expired: ', '(exit 4)']);
  });

  it('4 failed plan: the runner error lines, Notify failure, the readable cause (exit 1)', async () => {
    const result = await scenarios.failed;
    expectPlainFollow(result, 1);
    await expectStarted(h, result, name('envs/broken', '400'));
    inOrder(result.stdout, [
      / -> Plan\n/,
      '   plan | Error: provider "sim" refused the credentials',
      '   plan | ==> [plan] FAILED in phase "plan"',
      / -> Notify failure\n/,
      / -> Run failed\n/,
      'FAILED Run failed (DeployRunner.PlanFailed): Plan failed (plan): terraform plan exited with code 1: provider "sim" refused the credentials.',
    ]);
    expect(result.stdout).not.toMatch(/errorType|"trace"|Request approval/);
  });

  it('5 busy: another run holds the lock (exit 5); status of the holder shows the approval request', async () => {
    const { a, statusA, b, statusB } = await scenarios.busy;
    expect(a.code).toBe(0);
    expect(startedRecord(a)).toMatchObject({ attached: false, name: name('envs/retry', '900') });
    expect(statusA.code).toBe(0);
    inOrder(statusA.stdout, [
      `${name('envs/retry', '900')}: RUNNING`,
      '   now at: Request approval',
      '   Waiting for approval from Ada <ada@example.com>, Grace <grace@example.com>; expires ',
      '   Plan: 1 to add',
    ]);
    expectPlainFollow(b, 5);
    await expectStarted(h, b, name('envs/retry', '501'));
    inOrder(b.stdout, [
      / -> Acquire lock\n/,
      / -> Another run holds the lock\n/,
      // The holder's page, where its approval request and requester are.
      `   the lock holder: ${h.server.url}/executions/${encodeURIComponent(arnOf(name('envs/retry', '900')))}`,
      `FAILED Another run holds the lock: Another run of this repo and path is in progress; nothing was planned. Retry when it has finished. Holder: run ${name('envs/retry', '900')}, requested by octocat, CI run https://github.com/acme/infra/actions/runs/900`,
      `, execution ${arnOf(name('envs/retry', '900'))} (exit 5)`,
    ]);
    expect(b.stdout).not.toContain('-> Plan\n');
    expect(statusB.code).toBe(5);
    expect(statusB.stdout).toContain(`${name('envs/retry', '501')}: FAILED`);
    expect(statusB.stdout).toContain('FAILED Another run holds the lock');
  });

  it('6 aborted by StopExecution while waiting: exit 6 with the cause; the lock is free again', async () => {
    const { result, lock, status, again } = await scenarios.aborted;
    expectPlainFollow(result, 6);
    await expectStarted(h, result, name('envs/aborted', '600'));
    inOrder(result.stdout, [
      / -> Request approval\n/,
      '   Waiting for approval from',
      'FAILED Aborted: the execution was stopped: wrong branch (exit 6)',
    ]);
    expect(lock).toBeUndefined();
    expect(status.code).toBe(6);
    expect(status.stdout).toContain(`${name('envs/aborted', '600')}: ABORTED`);
    expectPlainFollow(again, 0);
    // A plan-only run takes no lock: it goes from Plan only? straight to Plan.
    inOrder(again.stdout, [/ -> Plan only\?\n/, / -> Plan\n/, 'OK Plan-only run done']);
    expect(again.stdout).not.toContain('-> Acquire lock');
    expect(again.stdout).not.toContain('plan | ');
  });

  it('7 no changes: the summary says so, nobody is asked, OK (exit 0)', async () => {
    const result = await scenarios.noChanges;
    expectPlainFollow(result, 0);
    await expectStarted(h, result, name('envs/empty', '107'));
    inOrder(result.stdout, [
      / -> Inspect plan\n/,
      / {3}Plan: no changes \(.+\)\n/,
      / -> Notify result\n/,
      'OK No changes: nothing to apply (exit 0)',
    ]);
    expect(result.stdout).not.toMatch(/Request approval|-> Apply/);
  });

  it('8 plan-only: "(plan only)", the summary, no approval, OK (exit 0)', async () => {
    const result = await scenarios.planOnly;
    expectPlainFollow(result, 0);
    await expectStarted(h, result, name('envs/preview', '800'), ' (plan only)');
    inOrder(result.stdout, [
      / -> Plan\n/,
      '   plan | ==> [plan] plan: terraform plan',
      / -> Inspect plan\n/,
      '   Plan: 2 to add, 0 to change, 0 to destroy, 0 to replace',
      'OK Plan-only run done: nothing was applied (exit 0)',
    ]);
    expect(result.stdout).not.toMatch(/Request approval|-> Apply/);
  });

  it('9 a retried start attaches to the run: same ARN, one execution, the story to the end (exit 3)', async () => {
    const { first, second, whileRunning, again, afterwards } = await scenarios.retried;
    const runName = name('envs/retry', '900');
    expect(first.code).toBe(0);
    expect(second.code).toBe(0);
    const arn = startedRecord(first).executionArn;
    expect(arn).toBe(arnOf(runName));
    // StartExecution is idempotent for the same name and input while the run goes on: the
    // retry gets the same run (and its start date) back.
    expect(startedRecord(second)).toMatchObject({
      executionArn: arn,
      startDate: startedRecord(first).startDate,
    });
    expect(whileRunning.map((e) => e.executionArn)).toEqual([arn]);
    expect(afterwards.map((e) => e.executionArn)).toEqual([arn]);
    expectPlainFollow(again, 3);
    expect(again.lines[0]).toMatch(
      new RegExp(
        `^Attached to the existing run ${runName} started \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z$`,
      ),
    );
    expect(again.stdout).not.toContain('it was started with a different');
    inOrder(again.stdout, [
      / -> Validate request\n/,
      '   plan | ==> [plan] done',
      '   Waiting for approval from',
      '   Rejected by Grace: retry test',
      'FAILED Rejected by Grace: retry test (exit 3)',
    ]);
  });

  it('10 retried by someone else: attaches and says requestedBy differs', async () => {
    const { otherActor } = await scenarios.retried;
    expectPlainFollow(otherActor, 3);
    inOrder(otherActor.stdout, [
      `Attached to the existing run ${name('envs/retry', '900')} started `,
      '   (it was started with a different requestedBy; this is the same job retried)',
      'FAILED Rejected by Grace: retry test (exit 3)',
    ]);
  });

  it('11 the same name for a different request: exit 2 naming what differs', async () => {
    const { planned, apply } = await scenarios.clash;
    expect(planned.code).toBe(0);
    expect(apply.code).toBe(2);
    expect(apply.stderr).toContain(
      `deploy-runner: An execution named ${name('envs/report', '1400')} already exists for a different request (mode: existing run has "plan-only", this start asks for "apply")`,
    );
    expect(apply.stderr).toContain('--run-id');
  });

  it('12 request rejected by validation: the handler message once, no JSON envelope (exit 2)', async () => {
    const result = await scenarios.requestRejected;
    expectPlainFollow(result, 2);
    await expectStarted(h, result, name('secrets/x', '1200'));
    inOrder(result.stdout, [
      / -> Validate request\n/,
      / -> Request rejected\n/,
      'FAILED Request rejected:',
      '  - path "secrets/x" is not an allowed path; allowed: envs/* (exit 2)',
    ]);
    // Once in the log; GitHub's ::error annotation of the failure (ci-report.ts) repeats it.
    const log = result.lines.filter((l) => !l.startsWith('::error ')).join('\n');
    expect(log.match(/is not an allowed path/g)).toHaveLength(1);
    expect(result.lines.filter((l) => l.startsWith('::error '))).toEqual([
      expect.stringMatching(/^::error title=deploy-runner%3A request-rejected::Request rejected:/),
    ]);
    expect(result.stdout).not.toMatch(/errorType|errorMessage|-> Acquire lock/);
  });

  it('13 local usage error: the missing option (exit 2)', async () => {
    const result = await scenarios.usage;
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("error: required option '--ref <ref>' not specified");
    expect(result.stdout).toBe('');
  });

  it('14 --json: one record per line, started → execution → state ... plan ... result', async () => {
    const result = await scenarios.planOnlyJson;
    expect(result.code).toBe(0);
    const records = result.lines.map((l) => JSON.parse(l));
    expect(records.slice(0, 3).map((r) => r.type)).toEqual(['started', 'execution', 'state']);
    expect(records[0]).toMatchObject({
      name: name('envs/report', '1400'),
      attached: false,
      input: {
        repo: 'infra',
        ref: 'main',
        path: 'envs/report',
        mode: 'plan-only',
        requestedBy: 'octocat',
        ciRunUrl: 'https://github.com/acme/infra/actions/runs/1400',
      },
    });
    expect(records.filter((r) => r.type === 'plan')).toHaveLength(1);
    expect(records.find((r) => r.type === 'plan').summary).toMatchObject({
      commit: sha,
      hasChanges: true,
      counts: { add: 1, change: 0, destroy: 0, replace: 0 },
    });
    expect(records.some((r) => r.type === 'log' && r.state === 'Plan')).toBe(true);
    expect(records.at(-1)).toMatchObject({
      type: 'result',
      status: 'SUCCEEDED',
      result: 'plan-only',
      exitCode: 0,
    });
  });

  it('15 logs: each task under its header, the same lines wait streamed', async () => {
    const [result, applied] = await Promise.all([scenarios.appliedLogs, scenarios.applied]);
    expect(result.code).toBe(0);
    const planAt = result.lines.findIndex((l) => /^== Plan \(task [0-9a-f]+\) ==$/.test(l));
    const applyAt = result.lines.findIndex((l) => /^== Apply \(task [0-9a-f]+\) ==$/.test(l));
    expect(planAt).toBe(0);
    expect(applyAt).toBeGreaterThan(planAt);
    expect(result.lines.slice(planAt + 1, applyAt)).toEqual(runnerLines(applied.stdout, 'plan'));
    expect(result.lines.slice(applyAt + 1)).toEqual(runnerLines(applied.stdout, 'apply'));
  });

  it('16 logs without a log group: exit 2 against AWS; local mode names it (state machine tag)', async () => {
    const result = await scenarios.logsWithoutGroup;
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'No log group: pass --log-group or set DEPLOY_RUNNER_LOG_GROUP',
    );
    const [local, withFlag] = await Promise.all([
      scenarios.localLogsWithoutGroup,
      scenarios.appliedLogs,
    ]);
    expect(local.code).toBe(0);
    expect(local.lines.length).toBeGreaterThan(2);
    expect(local.lines).toEqual(withFlag.lines);
  });

  it('17 status of finished runs: status, outcome line, the run exit code', async () => {
    const applied = await scenarios.appliedStatus;
    expect(applied.code).toBe(0);
    inOrder(applied.stdout, [
      `${name('envs/dev', '100')}: SUCCEEDED`,
      / {3}started \d{4}-\d\d-\d\dT/,
      / {3}stopped \d{4}-\d\d-\d\dT/,
      '   Plan: 2 to add',
      'OK Applied (exit 0)',
      `   ${h.server.url}/executions/`,
    ]);
    const rejected = await scenarios.rejectedStatus;
    expect(rejected.code).toBe(3);
    inOrder(rejected.stdout, [
      `${name('envs/rejected', '200')}: FAILED`,
      'FAILED Rejected by Grace: not today (exit 3)',
    ]);
    const failed = await scenarios.failedStatus;
    expect(failed.code).toBe(1);
    inOrder(failed.stdout, [
      `${name('envs/broken', '400')}: FAILED`,
      'FAILED Run failed (DeployRunner.PlanFailed)',
    ]);
    // expired (4), busy (5) and aborted (6) are asserted with their scenarios.
  });

  it('18 list --status SUCCEEDED: one line per succeeded run', async () => {
    const result = await scenarios.list;
    expect(result.code).toBe(0);
    for (const line of result.lines) {
      expect(line).toMatch(/^SUCCEEDED {7}\d{4}-\d\d-\d\d \d\d:\d\d {2}\S+$/);
    }
    const names = result.lines.map((l) => l.split(/\s+/).at(-1));
    for (const succeeded of [
      name('envs/dev', '100'),
      name('envs/empty', '107'),
      name('envs/preview', '800'),
      name('envs/report', '1400'),
      name('envs/aborted', '601'),
    ]) {
      expect(names).toContain(succeeded);
    }
    expect(names).not.toContain(name('envs/rejected', '200'));
  });

  it('19 wait on a finished run: the whole story again, ending with its exit code (3)', async () => {
    const [result, original] = await Promise.all([scenarios.rejectedWait, scenarios.rejected]);
    expectPlainFollow(result, 3);
    expect(result.lines[0]).toBe(`Following ${name('envs/rejected', '200')} (FAILED)`);
    const states = (r: CliResult) => r.lines.filter((l) => STATE_LINE.test(l));
    expect(states(result)).toEqual(states(original));
    expect(runnerLines(result.stdout, 'plan')).toEqual(runnerLines(original.stdout, 'plan'));
    inOrder(result.stdout, [
      '   Rejected by Grace: not today',
      'FAILED Rejected by Grace: not today (exit 3)',
    ]);
  });

  it('20 nothing listening at the endpoint: says so (exit 1)', async () => {
    const result = await scenarios.nothingListening;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /Nothing answers at the endpoint \(.*\): is `deploy-runner local serve` running\?/,
    );
  });

  it('21 the GitHub action: the CI bundle runs the story; step outputs and job summary (exit 0)', async () => {
    const { result, output, summary } = await scenarios.action;
    const runName = name('envs/action', '2100');
    const arn = arnOf(runName);
    expectPlainFollow(result, 0);
    await expectStarted(h, result, runName);
    inOrder(result.stdout, [
      '::group::Plan output',
      '   plan | Plan: 1 to add, 0 to change, 0 to destroy.',
      '::endgroup::',
      '   Approved by Ada',
      '   apply | Apply complete!',
      'OK Applied (exit 0)',
    ]);
    expect(result.stdout).not.toContain('::error');
    expect(githubOutputs(output)).toEqual({
      'execution-arn': arn,
      'console-url': `${h.server.url}/executions/${encodeURIComponent(arn)}`,
      status: 'SUCCEEDED',
      result: 'applied',
      'exit-code': '0',
      'has-changes': 'true',
      add: '1',
      change: '0',
      destroy: '0',
      replace: '0',
    });
    expect(summary).toContain('### deploy-runner: envs/action — ✅ Applied');
    expect(summary).toContain('**Plan:** 1 to add, 0 to change, 0 to destroy, 0 to replace');
    expect(summary).toContain('**Approval:** approved by Ada');
    expect(summary).toContain(`[Open the run](${h.server.url}/executions/`);
  });

  it('22 the GitHub action: a rejection reason cannot inject a workflow command (exit 3)', async () => {
    const { result, output, summary } = await scenarios.actionInjected;
    expectPlainFollow(result, 3);
    // Every line GitHub would run as a command is the CLI's own: fold markers and the one
    // annotation, whose message @actions/core escaped onto one line. (The approval page already
    // folds a reason's line breaks; test/cli/neutralise.test.ts covers those that get through.)
    const commands = result.lines.filter((l) => l.trim().startsWith('::'));
    expect(commands.filter((l) => !/^::(group::|endgroup::$)/.test(l))).toEqual([
      expect.stringMatching(
        /^::error title=deploy-runner%3A rejected::Rejected by Grace: no (⏎ |%0A)?::error title=x::pwned/,
      ),
    ]);
    expect(result.stdout).toMatch(/ {3}Rejected by Grace: no (⏎ )?::error title=x::pwned/);
    expect(githubOutputs(output)).toMatchObject({ result: 'rejected', 'exit-code': '3' });
    expect(Object.keys(githubOutputs(output))).not.toContain('approved');
    expect(summary).toMatch(/\*\*Approval:\*\* rejected by Grace: no (⏎ )?::error title=x::pwned/);
    expect(summary).not.toContain('<img');
  });
});
