import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { type Outcome, outcomeOf } from './exit-codes';
import {
  APPROVAL_STATE,
  type ExecutionDescription,
  type FollowEvent,
  HistoryTracker,
  readHistory,
} from './history';
import { drainTails, LogTail } from './logs';
import { type ApiPacer, type Clock, systemClock } from './pacer';

/** Poll intervals of `wait`. */
export interface PollIntervals {
  /** Between polls while anything but a human is working. @default 1000 */
  readonly fastMs: number;
  /** First interval while waiting at `Request approval`; grows by half each poll. @default 2000 */
  readonly slowStartMs: number;
  /** Longest interval while waiting at `Request approval`. @default 10000 */
  readonly slowMaxMs: number;
}

export const DEFAULT_POLL_INTERVALS: PollIntervals = {
  fastMs: 1000,
  slowStartMs: 2000,
  slowMaxMs: 10_000,
};

export interface FollowOptions {
  readonly sfn: SFNClient;
  readonly pacer: ApiPacer;
  readonly executionArn: string;
  /** Receives each event as it happens, ending with the `result` event. */
  readonly onEvent: (event: FollowEvent) => void;
  /** Where the runner's lines are read from. @default - logs are not streamed */
  readonly logs?: { readonly client: CloudWatchLogsClient; readonly logGroup: string };
  /** @default DEFAULT_POLL_INTERVALS */
  readonly intervals?: PollIntervals;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Passed to LogTail. @default 3000 */
  readonly logSettleMs?: number;
}

/**
 * Follows an execution until it ends: reports each state as it is entered, the plan summary,
 * the approval request, the runner's log lines, and finally the outcome. All calls go through
 * the pacer, so however many things are watched the CLI makes at most one call per second.
 */
export async function followExecution(options: FollowOptions): Promise<Outcome> {
  const { sfn, pacer, executionArn, onEvent } = options;
  const intervals = options.intervals ?? DEFAULT_POLL_INTERVALS;
  const clock = options.clock ?? systemClock;
  const describe = () => describeExecution(sfn, pacer, executionArn);

  const first = await describe();
  onEvent({
    type: 'execution',
    executionArn,
    name: first.name,
    status: first.status,
    startDate: first.startDate,
  });

  const tracker = new HistoryTracker();
  const tails: LogTail[] = [];
  let slowMs = intervals.slowStartMs;
  for (;;) {
    const cycleStart = clock.now();
    const events = await readHistory(sfn, pacer, executionArn, tracker.lastEventId);
    for (const event of tracker.apply(events)) {
      // A finished task's last lines come before whatever the workflow did next.
      const finished = tails.filter((tail) => !tail.done && tail.task.endedAt !== undefined);
      if (finished.length > 0) await drainTails(finished, onEvent, clock, intervals.fastMs);
      onEvent(event);
      const task =
        event.type === 'task-started' && tracker.tasks.find((t) => t.taskArn === event.taskArn);
      if (task && options.logs) {
        tails.push(
          new LogTail({
            logs: options.logs.client,
            pacer,
            logGroup: options.logs.logGroup,
            task,
            clock,
            settleMs: options.logSettleMs,
          }),
        );
      }
    }
    if (tracker.ended) break;
    // One page per running task per cycle, so history polls stay frequent under heavy output.
    for (const tail of tails) {
      if (tail.done) continue;
      const { lines } = await tail.poll();
      for (const line of lines) onEvent(line);
    }
    const waitingForHuman =
      tracker.currentState === APPROVAL_STATE && tails.every((tail) => tail.done);
    if (waitingForHuman) {
      await clock.sleep(slowMs);
      slowMs = Math.min(intervals.slowMaxMs, Math.round(slowMs * 1.5));
    } else {
      // The pacer already spaces the calls; this only keeps an idle cycle from spinning.
      slowMs = intervals.slowStartMs;
      const remaining = intervals.fastMs - (clock.now() - cycleStart);
      if (remaining > 0) await clock.sleep(remaining);
    }
  }

  await drainTails(tails, onEvent, clock, intervals.fastMs);
  const last = await describe();
  const outcome = outcomeOf(last);
  onEvent({ type: 'result', executionArn, ...outcome });
  return outcome;
}

/** DescribeExecution through the pacer. */
export async function describeExecution(
  sfn: SFNClient,
  pacer: ApiPacer,
  executionArn: string,
): Promise<ExecutionDescription> {
  return pacer.call('DescribeExecution', () =>
    sfn.send(new DescribeExecutionCommand({ executionArn })),
  );
}
