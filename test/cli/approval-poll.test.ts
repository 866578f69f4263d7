import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../lib/cli/program';
import {
  appliedRunHistory,
  EXECUTION_ARN,
  PLAN_TASK_ARN,
  STATE_MACHINE_ARN,
  VirtualClock,
} from './fixtures';
import { logsMock, sfnMock, simulate, testIo } from './simulation';

/**
 * `--approval-poll <seconds>` and DEPLOY_RUNNER_APPROVAL_POLL as a user gives them: through the
 * program, in virtual time, against mocked Step Functions and CloudWatch Logs.
 */

const ENV = { CI: 'true', DEPLOY_RUNNER_STATE_MACHINE_ARN: STATE_MACHINE_ARN };
const START = ['start', '--repo', 'infra', '--ref', 'main', '--path', 'envs/prod'];
const WAIT_MS = 5 * 60_000;

/** Runs the CLI on a run that waits 5 min for approval; returns the history polls of the wait. */
async function cli(args: string[], env: Record<string, string> = ENV) {
  const clock = new VirtualClock();
  const history = appliedRunHistory({ approvalWaitMs: WAIT_MS, taskMs: 5000 });
  const { calls } = simulate({
    clock,
    events: history.events,
    endsAt: history.endsAt,
    final: { status: 'SUCCEEDED', output: history.output },
    logs: { [PLAN_TASK_ARN]: [{ at: clock.now() + 2000, message: 'planning' }] },
  });
  sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION_ARN });
  const { io, stdout, stderr } = testIo(env, clock);
  const code = await run(['node', 'deploy-runner', ...args], io);
  const approvalAt = history.events
    .find((e) => e.stateEnteredEventDetails?.name === 'Request approval')
    ?.timestamp?.getTime() as number;
  const waitPolls = calls
    .filter(
      (c) =>
        c.operation === 'GetExecutionHistory' && c.at >= approvalAt && c.at < approvalAt + WAIT_MS,
    )
    .map((c) => c.at);
  // The steady gap: the first is counted from the cycle that saw the request.
  const gaps = waitPolls.slice(2).map((at, i) => at - (waitPolls[i + 1] as number));
  return {
    code,
    stdout: stdout.text,
    stderr: stderr.text,
    waitPolls,
    pace: new Set(gaps),
    started: sfnMock.commandCalls(StartExecutionCommand).length,
  };
}

describe('--approval-poll and DEPLOY_RUNNER_APPROVAL_POLL', () => {
  beforeEach(() => {
    sfnMock.reset();
    logsMock.reset();
  });

  it('by default, start --wait polls the approval wait every 30 s once past the first 20 s', async () => {
    const { code, pace, waitPolls } = await cli([...START, '--wait', '--no-logs']);
    expect(code).toBe(0);
    expect(pace).toEqual(new Set([30_000]));
    expect(waitPolls.length).toBeLessThanOrEqual(11);
  });

  it('start --wait --approval-poll 2 polls every 2 s and says OK', async () => {
    const { code, pace, waitPolls, stdout } = await cli([
      ...START,
      '--wait',
      '--no-logs',
      '--approval-poll',
      '2',
    ]);
    expect(code).toBe(0);
    expect(pace).toEqual(new Set([2000]));
    expect(waitPolls.length).toBeGreaterThanOrEqual(WAIT_MS / 2000 - 1);
    expect(stdout.trim().split('\n').at(-1)).toBe('OK Applied (exit 0)');
  });

  it('wait takes the pace from DEPLOY_RUNNER_APPROVAL_POLL, as a CI variable sets it', async () => {
    const { code, pace } = await cli(['wait', EXECUTION_ARN, '--no-logs'], {
      ...ENV,
      DEPLOY_RUNNER_APPROVAL_POLL: '5',
    });
    expect(code).toBe(0);
    expect(pace).toEqual(new Set([5000]));
  });

  it('the flag wins over the variable; an empty variable is unset', async () => {
    const flagged = await cli(['wait', EXECUTION_ARN, '--no-logs', '--approval-poll', '3'], {
      ...ENV,
      DEPLOY_RUNNER_APPROVAL_POLL: '60',
    });
    expect(flagged.pace).toEqual(new Set([3000]));
    const empty = await cli(['wait', EXECUTION_ARN, '--no-logs'], {
      ...ENV,
      DEPLOY_RUNNER_APPROVAL_POLL: '',
    });
    expect(empty.code).toBe(0);
    expect(empty.pace).toEqual(new Set([30_000]));
  });

  it('logs --follow takes it too', async () => {
    const { code, pace } = await cli([
      'logs',
      EXECUTION_ARN,
      '--follow',
      '--log-group',
      '/dr/runner',
      '--approval-poll',
      '4',
    ]);
    expect(code).toBe(0);
    expect(pace).toEqual(new Set([4000]));
  });

  it.each([
    ['--approval-poll', ['--approval-poll', '0.5'], {}, '"0.5"'],
    ['--approval-poll', ['--approval-poll', '600'], {}, '"600"'],
    ['DEPLOY_RUNNER_APPROVAL_POLL', [], { DEPLOY_RUNNER_APPROVAL_POLL: '20s' }, '"20s"'],
  ])('a bad %s exits 2 before any run is started', async (source, flags, env, shown) => {
    const { code, stderr, started } = await cli([...START, '--wait', ...flags], {
      ...ENV,
      ...env,
    });
    expect(code).toBe(2);
    expect(started).toBe(0);
    expect(stderr).toBe(
      `deploy-runner: ${source} must be a number of seconds from 1 to 120, got ${shown}\n`,
    );
  });

  it('a bad value makes wait exit 2 before it reads the run', async () => {
    const { code, stderr, waitPolls } = await cli([
      'wait',
      EXECUTION_ARN,
      '--approval-poll',
      'soon',
    ]);
    expect(code).toBe(2);
    expect(waitPolls).toEqual([]);
    expect(sfnMock.calls()).toHaveLength(0);
    expect(stderr).toContain('--approval-poll must be a number of seconds from 1 to 120');
  });

  it('--help of start, wait and logs explains the bounds, the variable and the API cost', async () => {
    for (const command of ['start', 'wait', 'logs']) {
      const { code, stdout } = await cli([command, '--help']);
      expect(code).toBe(0);
      const help = stdout.replace(/\s+/g, ' ');
      expect(help).toContain('--approval-poll <seconds>');
      expect(help).toContain('1-120');
      expect(help).toContain('env DEPLOY_RUNNER_APPROVAL_POLL');
      expect(help).toContain('5 costs 12 calls a minute');
      expect(help).toContain('every 2 min');
    }
    const top = await cli(['--help']);
    expect(top.stdout).toMatch(/^ {2}DEPLOY_RUNNER_APPROVAL_POLL +seconds between polls/m);
  });
});
