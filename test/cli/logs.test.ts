import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RunnerTask } from '../../lib/cli/history';
import { drainTails, LogTail, logStreamName, taskIdOf } from '../../lib/cli/logs';
import { ApiPacer } from '../../lib/cli/pacer';
import { awsError, PLAN_TASK_ARN, VirtualClock } from './fixtures';

const cwl = mockClient(CloudWatchLogsClient);
const LOG_GROUP = '/deploy-runner/runner';

/** A log stream served the way GetLogEvents serves one: pages of `pageSize`, forward tokens. */
function serveStream(lines: string[], pageSize: number) {
  cwl.on(GetLogEventsCommand).callsFake((input) => {
    const from = input.nextToken ? Number(input.nextToken.slice(2)) : 0;
    const events = lines
      .slice(from, from + pageSize)
      .map((message, i) => ({ timestamp: 1_000 + from + i, message: `${message}\n` }));
    const next = from + events.length;
    // At the end of the stream, GetLogEvents hands back the token it was given.
    return {
      events,
      nextForwardToken: input.nextToken && events.length === 0 ? input.nextToken : `f/${next}`,
    };
  });
}

describe('LogTail', () => {
  let clock: VirtualClock;
  let pacer: ApiPacer;
  const tail = (task: RunnerTask, settleMs = 0) =>
    new LogTail({
      logs: new CloudWatchLogsClient({}),
      pacer,
      logGroup: LOG_GROUP,
      task,
      clock,
      settleMs,
    });

  beforeEach(() => {
    cwl.reset();
    clock = new VirtualClock();
    pacer = new ApiPacer({ clock });
  });

  it('reads the runner stream of the task', () => {
    expect(taskIdOf(PLAN_TASK_ARN)).toBe('plan0task1');
    expect(logStreamName(PLAN_TASK_ARN)).toBe('runner/runner/plan0task1');
  });

  it('knows whether it was read since its task ended, and when its stream has settled', async () => {
    serveStream(['one'], 10);
    const task: { state: string; taskArn: string; endedAt?: number } = {
      state: 'Plan',
      taskArn: PLAN_TASK_ARN,
    };
    const logTail = tail(task as RunnerTask, 3000);
    expect(logTail.behindEnd).toBe(false);
    await logTail.poll();
    task.endedAt = clock.now() + 500;
    // Read before the end: lines written up to the end may be unread, so one more read is due.
    expect(logTail.behindEnd).toBe(true);
    expect(logTail.settled).toBe(false);
    await clock.sleep(1000);
    await logTail.poll();
    expect(logTail.behindEnd).toBe(false);
    expect(logTail.settled).toBe(false);
    await clock.sleep(3000);
    expect(logTail.settled).toBe(true);
  });

  it('follows nextForwardToken across pages and stops when the token repeats after the task ended', async () => {
    serveStream(['one', 'two', 'three', 'four', 'five'], 2);
    const logTail = tail({ state: 'Plan', taskArn: PLAN_TASK_ARN, endedAt: clock.now() - 10_000 });
    const lines: string[] = [];
    await logTail.drain((line) => lines.push(line.message));
    expect(lines).toEqual(['one', 'two', 'three', 'four', 'five']);
    expect(logTail.done).toBe(true);
    const sent = cwl.commandCalls(GetLogEventsCommand).map((c) => c.args[0].input);
    expect(sent.map((i) => i.nextToken)).toEqual([undefined, 'f/2', 'f/4', 'f/5']);
    expect(sent[0]).toMatchObject({
      logGroupName: LOG_GROUP,
      logStreamName: 'runner/runner/plan0task1',
      startFromHead: true,
    });
  });

  it('while the task runs, a repeated token means "caught up", not "done"; new lines continue from the token', async () => {
    const lines = ['init'];
    serveStream(lines, 100);
    const task: RunnerTask = { state: 'Plan', taskArn: PLAN_TASK_ARN };
    const logTail = tail(task);
    const seen: string[] = [];
    await logTail.drain((l) => seen.push(l.message));
    expect(logTail.done).toBe(false);
    lines.push('plan: 1 to add');
    task.endedAt = clock.now();
    await logTail.drain((l) => seen.push(l.message));
    expect(seen).toEqual(['init', 'plan: 1 to add']);
    expect(logTail.done).toBe(true);
    const tokens = cwl.commandCalls(GetLogEventsCommand).map((c) => c.args[0].input.nextToken);
    expect(tokens).toEqual([undefined, 'f/1', 'f/1', 'f/2']);
  });

  it('waits for the stream to appear (ResourceNotFoundException), and ends once the task did', async () => {
    cwl.on(GetLogEventsCommand).rejects(awsError('ResourceNotFoundException'));
    const task: RunnerTask = { state: 'Apply', taskArn: PLAN_TASK_ARN };
    const logTail = tail(task);
    expect(await logTail.poll()).toEqual({ lines: [], caughtUp: true });
    expect(logTail.done).toBe(false);
    task.endedAt = clock.now();
    await logTail.poll();
    expect(logTail.done).toBe(true);
  });

  it('keeps reading for a moment after the task ended, for lines the log driver delivers late', async () => {
    const lines = ['plan output'];
    serveStream(lines, 100);
    const task: RunnerTask = { state: 'Plan', taskArn: PLAN_TASK_ARN, endedAt: clock.now() };
    const logTail = tail(task, 3000);
    const seen: string[] = [];
    const drained = drainTails([logTail], (l) => seen.push(l.message), {
      now: () => clock.now(),
      sleep: async (ms) => {
        await clock.sleep(ms);
        if (!lines.includes('late line')) lines.push('late line');
      },
    });
    await drained;
    expect(seen).toEqual(['plan output', 'late line']);
    expect(logTail.done).toBe(true);
    expect(clock.now() - (task.endedAt ?? 0)).toBeGreaterThanOrEqual(3000);
  });

  it('retries a throttled GetLogEvents without losing or repeating lines', async () => {
    serveStream(['a', 'b', 'c'], 2);
    cwl
      .on(GetLogEventsCommand)
      .rejectsOnce(awsError('ThrottlingException'))
      .callsFake((input) => {
        const from = input.nextToken ? Number(input.nextToken.slice(2)) : 0;
        const all = ['a', 'b', 'c'];
        const events = all.slice(from, from + 2).map((message) => ({ timestamp: 1, message }));
        return {
          events,
          nextForwardToken: events.length ? `f/${from + events.length}` : input.nextToken,
        };
      });
    const logTail = tail({ state: 'Plan', taskArn: PLAN_TASK_ARN, endedAt: 0 });
    const seen: string[] = [];
    await logTail.drain((l) => seen.push(l.message));
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(cwl.commandCalls(GetLogEventsCommand)).toHaveLength(4);
  });
});
