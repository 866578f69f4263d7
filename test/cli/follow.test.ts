import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { SFNClient } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import {
  APPROVAL_POLL_SECONDS,
  DEFAULT_POLL_INTERVALS,
  followExecution,
  type PollIntervals,
  parseApprovalPoll,
  withApprovalPoll,
} from '../../lib/cli/follow';
import type { FollowEvent } from '../../lib/cli/history';
import { ApiPacer, serviceOf } from '../../lib/cli/pacer';
import { RunErrors } from '../../lib/contracts';
import {
  APPLY_TASK_ARN,
  appliedRunHistory,
  awsError,
  EXECUTION_ARN,
  HistoryBuilder,
  PLAN_TASK_ARN,
  VirtualClock,
} from './fixtures';
import { type ApiCall, simulate } from './simulation';

const MINUTE = 60_000;

/** A run that waits 24 h on its approval and then applies, simulated on `clock`. */
function parkedForADay(clock: VirtualClock) {
  const run = appliedRunHistory({ approvalWaitMs: 24 * 60 * MINUTE, taskMs: 20_000 });
  const { calls } = simulate({
    clock,
    events: run.events,
    endsAt: run.endsAt,
    final: { status: 'SUCCEEDED', output: run.output },
  });
  return { run, calls };
}

function follow(clock: VirtualClock, withLogs = true, intervals?: PollIntervals) {
  const events: FollowEvent[] = [];
  const pacer = new ApiPacer({
    clock,
    random: () => 0.5,
    onRetry: (n) => events.push({ type: 'retry', ...n }),
  });
  const done = followExecution({
    sfn: new SFNClient({}),
    pacer,
    executionArn: EXECUTION_ARN,
    clock,
    intervals,
    onEvent: (e) => events.push(e),
    logs: withLogs ? { client: new CloudWatchLogsClient({}), logGroup: '/dr/runner' } : undefined,
  });
  return { events, done };
}

const gaps = (calls: readonly ApiCall[]) => calls.slice(1).map((c, i) => c.at - calls[i].at);
/** Gaps between consecutive calls to the same service (the pacer's lanes). */
const serviceGaps = (calls: readonly ApiCall[]) =>
  (['states', 'logs'] as const).flatMap((service) =>
    gaps(calls.filter((c) => serviceOf(c.operation) === service)),
  );

/** An applied run: 20 s plan, 10 min waiting for a human, 20 s apply, log lines along the way. */
function appliedScenario(clock: VirtualClock, failures?: Record<number, Error>) {
  const run = appliedRunHistory({ approvalWaitMs: 10 * MINUTE, taskMs: 20_000 });
  const submittedAt = (taskArn: string) =>
    run.events
      .find((e) => e.taskSubmittedEventDetails?.output?.includes(taskArn))
      ?.timestamp?.getTime() ?? 0;
  const lines = (taskArn: string, texts: string[]) =>
    texts.map((message, i) => ({ at: submittedAt(taskArn) + 1000 + i * 3000, message }));
  const sim = simulate({
    clock,
    events: run.events,
    endsAt: run.endsAt,
    final: { status: 'SUCCEEDED', output: run.output },
    logs: {
      [PLAN_TASK_ARN]: lines(PLAN_TASK_ARN, [
        'cloning',
        'terraform init',
        'terraform plan',
        'Plan: 2 to add',
      ]),
      [APPLY_TASK_ARN]: lines(APPLY_TASK_ARN, ['terraform apply', 'Apply complete!']),
    },
    failures,
  });
  return { ...sim, run };
}

describe('followExecution', () => {
  it('reports states, logs, plan summary, approval and the outcome of an applied run', async () => {
    const clock = new VirtualClock();
    appliedScenario(clock);
    const { events, done } = follow(clock);
    const outcome = await done;
    expect(outcome).toMatchObject({ status: 'SUCCEEDED', result: 'applied', exitCode: 0 });

    const story = events.map((e) => {
      switch (e.type) {
        case 'state':
          return `state ${e.name}`;
        case 'log':
          return `log ${e.state} ${e.message}`;
        default:
          return e.type;
      }
    });
    expect(story).toEqual([
      'execution',
      'state Validate request',
      'state Acquire lock',
      'state Plan',
      'task-started',
      'log Plan cloning',
      'log Plan terraform init',
      'log Plan terraform plan',
      'log Plan Plan: 2 to add',
      'state Inspect plan',
      'plan',
      'state Changes?',
      'state Request approval',
      'approval-requested',
      'approval-decided',
      'state Approved?',
      'state Verify approval',
      'state Apply',
      'task-started',
      'log Apply terraform apply',
      'log Apply Apply complete!',
      'state Notify result',
      'state Release lock',
      'state Done',
      'result',
    ]);
  });

  it('never makes more than one call per second to Step Functions, nor to CloudWatch Logs', async () => {
    const clock = new VirtualClock();
    const { calls } = appliedScenario(clock);
    await follow(clock).done;
    expect(new Set(calls.map((c) => c.operation))).toEqual(
      new Set(['DescribeExecution', 'GetExecutionHistory', 'GetLogEvents']),
    );
    const perService = serviceGaps(calls);
    expect(perService.length).toBe(calls.length - 2);
    for (const gap of perService) expect(gap).toBeGreaterThanOrEqual(1000);
    // Never more than two a second in all: one of each.
    for (const c of calls)
      expect(calls.filter((d) => d.at >= c.at && d.at < c.at + 1000).length).toBeLessThanOrEqual(2);
  });

  it('polls fast while tasks run and slowly (at most 6 calls a minute, up to 30 s) while waiting for an approver', async () => {
    const clock = new VirtualClock();
    const { calls, run } = appliedScenario(clock);
    await follow(clock).done;
    const polls = calls.filter((c) => c.operation === 'GetExecutionHistory');
    const approvalAt = run.events
      .find((e) => e.stateEnteredEventDetails?.name === 'Request approval')
      ?.timestamp?.getTime() as number;
    const decidedAt = approvalAt + 10 * MINUTE;
    const planStart = run.events
      .find((e) => e.stateEnteredEventDetails?.name === 'Plan')
      ?.timestamp?.getTime() as number;

    const during = (from: number, to: number) => polls.filter((p) => p.at > from && p.at < to);
    // Plan: log reads take the Logs turns, never the history's, so the history is polled every
    // second while the stream is read.
    expect(Math.max(...gaps(during(planStart, planStart + 20_000)))).toBeLessThanOrEqual(1000);
    const logReads = calls.filter(
      (c) => c.operation === 'GetLogEvents' && c.at > planStart && c.at < planStart + 20_000,
    );
    expect(logReads.length).toBeGreaterThan(10);
    // Approval: intervals grow to 30 s and stay there, never slower in the first quarter hour.
    const waiting = gaps(during(approvalAt + 1000, decidedAt));
    expect(Math.max(...waiting)).toBeLessThanOrEqual(30_000);
    expect(waiting.slice(-5).every((g) => g === 30_000)).toBe(true);
    // Every call of the wait (late log lines included): no minute holds more than 6.
    const inWait = calls.filter((c) => c.at >= approvalAt && c.at < decidedAt);
    for (const c of inWait)
      expect(inWait.filter((d) => d.at >= c.at && d.at < c.at + MINUTE).length).toBeLessThanOrEqual(
        6,
      );
    // The decision is noticed within one slow interval.
    const firstAfter = polls.find((p) => p.at >= decidedAt)?.at as number;
    expect(firstAfter - decidedAt).toBeLessThanOrEqual(30_000);
  });

  it('costs hundreds of calls, not thousands, for a run parked 24 h on its approval', async () => {
    const clock = new VirtualClock();
    const { run, calls } = parkedForADay(clock);
    await follow(clock).done;
    const approvalAt = approvalEnteredAt(run);
    const inWait = calls.filter((c) => c.at >= approvalAt && c.at < approvalAt + 24 * 60 * MINUTE);
    // 15 min at up to 30 s, then every 2 min: about 750.
    expect(inWait.length).toBeLessThan(800);
    expect(inWait.length).toBeGreaterThan(700);
    expect(Math.max(...gaps(inWait))).toBe(120_000);
  });

  it('prints the state after a task without waiting for its log stream to settle', async () => {
    const clock = new VirtualClock();
    const { run } = appliedScenario(clock);
    const printedAt = new Map<string, number>();
    const pacer = new ApiPacer({ clock, random: () => 0.5 });
    await followExecution({
      sfn: new SFNClient({}),
      pacer,
      executionArn: EXECUTION_ARN,
      clock,
      onEvent: (e) => {
        if (e.type === 'state' && !printedAt.has(e.name)) printedAt.set(e.name, clock.now());
      },
      logs: { client: new CloudWatchLogsClient({}), logGroup: '/dr/runner' },
    });
    for (const name of ['Inspect plan', 'Notify result']) {
      const enteredAt = run.events
        .find((e) => e.stateEnteredEventDetails?.name === name)
        ?.timestamp?.getTime() as number;
      // Within one history poll: the log read before it has its own turn, and no 3 s settle.
      expect((printedAt.get(name) as number) - enteredAt).toBeLessThanOrEqual(1000);
    }
  });

  it('survives throttling and transient errors with jittered backoff, losing nothing', async () => {
    const clock = new VirtualClock();
    const failures = {
      3: awsError('ThrottlingException'),
      4: awsError('ThrottlingException'),
      9: awsError('ServiceUnavailable', 503),
      12: awsError('ThrottlingException'),
    };
    const { calls } = appliedScenario(clock, failures);
    const { events, done } = follow(clock);
    const outcome = await done;
    expect(outcome.exitCode).toBe(0);
    const retries = events.filter((e) => e.type === 'retry');
    expect(retries).toHaveLength(4);
    for (const gap of serviceGaps(calls)) expect(gap).toBeGreaterThanOrEqual(1000);
    // Backoff after the second consecutive throttle of one call is longer than the first.
    expect(calls[4].at - calls[3].at).toBeGreaterThan(calls[3].at - calls[2].at);

    const clean = new VirtualClock();
    appliedScenario(clean);
    const reference = follow(clean);
    await reference.done;
    const withoutRetries = events.filter((e) => e.type !== 'retry');
    expect(withoutRetries.map((e) => e.type)).toEqual(reference.events.map((e) => e.type));
  });

  it.each([
    [RunErrors.LockHeld, 'Another run holds the lock', 5],
    [RunErrors.Rejected, 'Rejected by bob@example.com: not today', 3],
    [RunErrors.ApprovalExpired, 'No approver decided within 24h', 4],
    [
      RunErrors.RequestRejected,
      JSON.stringify({ errorType: 'Error', errorMessage: 'ref: "dev": not allowed', trace: [] }),
      2,
    ],
  ])('ends with %s → exit %s', async (error, cause, exitCode) => {
    const clock = new VirtualClock();
    const b = new HistoryBuilder(clock.now()).started().entered('Validate request').after(5000);
    b.entered('Run failed', 'FailStateEntered').executionFailed(error, cause);
    simulate({
      clock,
      events: b.events,
      endsAt: b.cursor,
      final: { status: 'FAILED', error, cause },
    });
    const { events, done } = follow(clock);
    const outcome = await done;
    expect(outcome.exitCode).toBe(exitCode);
    expect(events.at(-1)).toMatchObject({ type: 'result', exitCode, error });
    expect(outcome.message).not.toContain('errorType');
  });

  it('follows without logs when no log group is given', async () => {
    const clock = new VirtualClock();
    const { calls } = appliedScenario(clock);
    const { events, done } = follow(clock, false);
    await done;
    expect(calls.some((c) => c.operation === 'GetLogEvents')).toBe(false);
    expect(events.some((e) => e.type === 'log')).toBe(false);
  });

  it('reports a run that has already ended, with its logs', async () => {
    const clock = new VirtualClock();
    const { run } = appliedScenario(clock);
    clock.t = run.endsAt + 60 * MINUTE;
    const { events, done } = follow(clock);
    expect((await done).result).toBe('applied');
    expect(events.filter((e) => e.type === 'log')).toHaveLength(6);
    expect(events.filter((e) => e.type === 'state')).toHaveLength(12);
  });
});

/** When the run entered `Request approval`, in virtual time. */
const approvalEnteredAt = (run: ReturnType<typeof appliedRunHistory>) =>
  run.events
    .find((e) => e.stateEnteredEventDetails?.name === 'Request approval')
    ?.timestamp?.getTime() as number;

describe('the approval poll (--approval-poll, DEPLOY_RUNNER_APPROVAL_POLL)', () => {
  it('by default the first poll of the wait comes 20 s after the one that saw the request, then 30 s', async () => {
    const clock = new VirtualClock();
    const { calls, run } = appliedScenario(clock);
    await follow(clock).done;
    const approvalAt = approvalEnteredAt(run);
    const polls = calls.filter(
      (c) =>
        c.operation === 'GetExecutionHistory' &&
        c.at >= approvalAt &&
        c.at < approvalAt + 10 * MINUTE,
    );
    // Counted from the start of the cycle that saw it, whose poll waited its 1 s turn.
    const [first, ...rest] = gaps(polls);
    expect(first).toBeGreaterThanOrEqual(19_000);
    expect(first).toBeLessThanOrEqual(20_000);
    expect(rest.slice(0, 2)).toEqual([30_000, 30_000]);
    expect(DEFAULT_POLL_INTERVALS).toMatchObject({
      slowStartMs: 20_000,
      slowMaxMs: 30_000,
      parkedMaxMs: 120_000,
    });
  });

  it.each([
    [1, 1000],
    [2.5, 2500],
    [5, 5000],
  ])(
    'at %s s, polls the wait at that pace from its start and sees the decision within it',
    async (seconds, ms) => {
      const clock = new VirtualClock();
      const { calls, run } = appliedScenario(clock);
      const { events, done } = follow(
        clock,
        true,
        withApprovalPoll(DEFAULT_POLL_INTERVALS, seconds),
      );
      expect((await done).result).toBe('applied');
      const approvalAt = approvalEnteredAt(run);
      const decidedAt = approvalAt + 10 * MINUTE;
      const polls = calls.filter((c) => c.operation === 'GetExecutionHistory');
      const waiting = polls.filter((c) => c.at >= approvalAt && c.at < decidedAt);
      // Every gap is the chosen one (the pacer's 1 s spacing never stretches them); the first is
      // counted from the start of the cycle that saw the request, whose poll waited its 1 s turn.
      const [first, ...rest] = gaps(waiting);
      expect(first).toBeGreaterThanOrEqual(Math.max(1000, ms - 1000));
      expect(first).toBeLessThanOrEqual(ms);
      expect(new Set(rest)).toEqual(new Set([ms]));
      expect(waiting.length).toBeGreaterThanOrEqual(Math.floor((10 * MINUTE) / ms) - 1);
      const firstAfter = polls.find((p) => p.at >= decidedAt)?.at as number;
      expect(firstAfter - decidedAt).toBeLessThanOrEqual(ms);
      // The same story as at the default pace: only the timing changed.
      expect(events.map((e) => e.type)).toContain('approval-decided');
      // Outside the wait nothing changed: the history is still polled every second.
      const planAt = run.events
        .find((e) => e.stateEnteredEventDetails?.name === 'Plan')
        ?.timestamp?.getTime() as number;
      const planPolls = polls.filter((p) => p.at > planAt && p.at < planAt + 20_000);
      expect(Math.max(...gaps(planPolls))).toBeLessThanOrEqual(1000);
    },
  );

  it('a short poll left on still backs off once the run is parked: a 24 h wait costs about 1,200 calls, not 43,200', async () => {
    const clock = new VirtualClock();
    const { run, calls } = parkedForADay(clock);
    await follow(clock, false, withApprovalPoll(DEFAULT_POLL_INTERVALS, 2)).done;
    const approvalAt = approvalEnteredAt(run);
    const inWait = calls.filter((c) => c.at >= approvalAt && c.at < approvalAt + 24 * 60 * MINUTE);
    const quarterHour = inWait.filter((c) => c.at < approvalAt + 15 * MINUTE);
    expect(Math.max(...gaps(quarterHour))).toBe(2000);
    // 450 in the first quarter hour at 2 s, then every 2 min: about 1,160.
    expect(inWait.length).toBeGreaterThan(1100);
    expect(inWait.length).toBeLessThan(1250);
    expect(Math.max(...gaps(inWait))).toBe(120_000);
  });

  it('accepts whole or decimal seconds from 1 to 120', () => {
    expect(APPROVAL_POLL_SECONDS).toEqual({ min: 1, max: 120 });
    expect(parseApprovalPoll('1', '--approval-poll')).toBe(1);
    expect(parseApprovalPoll('2.5', '--approval-poll')).toBe(2.5);
    expect(parseApprovalPoll(' 120 ', 'DEPLOY_RUNNER_APPROVAL_POLL')).toBe(120);
    // The longest poll is the parked one, so never shorter than what was asked.
    expect(withApprovalPoll(DEFAULT_POLL_INTERVALS, 120)).toMatchObject({
      slowStartMs: 120_000,
      slowMaxMs: 120_000,
      parkedMaxMs: 120_000,
      fastMs: 1000,
      parkedAfterMs: 15 * MINUTE,
    });
  });

  it.each(['0', '0.5', '121', '-5', '', 'fast', '5s', '1e1', 'Infinity', '0x10'])(
    'refuses %j, naming where it came from and the bounds',
    (value) => {
      for (const source of ['--approval-poll', 'DEPLOY_RUNNER_APPROVAL_POLL']) {
        expect(() => parseApprovalPoll(value, source)).toThrow(
          `${source} must be a number of seconds from 1 to 120, got ${JSON.stringify(value)}`,
        );
        try {
          parseApprovalPoll(value, source);
        } catch (error) {
          expect((error as { exitCode?: number }).exitCode).toBe(2);
        }
      }
    },
  );
});
