import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { CliError, type Outcome, outcomeOf } from './exit-codes';
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
  /** Between history polls while anything but a human is working. @default 1000 */
  readonly fastMs: number;
  /** First interval while waiting at `Request approval`; grows by half each poll. @default 20000 */
  readonly slowStartMs: number;
  /** Longest interval in the first `parkedAfterMs` of the approval wait. @default 30000 */
  readonly slowMaxMs: number;
  /** How long a wait lasts before the run counts as parked. @default 900000 */
  readonly parkedAfterMs: number;
  /** Longest interval once parked: a 24 h wait costs about 750 calls, not thousands. @default 120000 */
  readonly parkedMaxMs: number;
}

/**
 * A person answers in seconds to hours: at most 6 calls a minute while waiting (the budget of
 * bench/cli.ts), and a day-long wait costs hundreds of calls; a decision is still seen within 20-30 s
 * for the first quarter hour, when most are made.
 */
export const DEFAULT_POLL_INTERVALS: PollIntervals = {
  fastMs: 1000,
  slowStartMs: 20_000,
  slowMaxMs: 30_000,
  parkedAfterMs: 15 * 60_000,
  parkedMaxMs: 120_000,
};

/** Bounds of `--approval-poll` (DEPLOY_RUNNER_APPROVAL_POLL), in seconds. */
export const APPROVAL_POLL_SECONDS = { min: 1, max: 120 } as const;

/**
 * `intervals` with the approval wait polled every `seconds` from its start, for whoever wants a
 * decision seen sooner (local mode, which has no quota; CI that pays for its idle minutes) or
 * later. Only the first quarter hour changes: a run still parked after that backs off to the
 * parked interval as by default, so a forgotten setting cannot make a day-long wait cost
 * tens of thousands of calls.
 */
export function withApprovalPoll(intervals: PollIntervals, seconds: number): PollIntervals {
  const ms = Math.round(seconds * 1000);
  return {
    ...intervals,
    slowStartMs: ms,
    slowMaxMs: ms,
    parkedMaxMs: Math.max(ms, intervals.parkedMaxMs),
  };
}

/**
 * The seconds of an `--approval-poll` value (or of the variable), from `source` for the message.
 * Throws a usage error (exit 2) before anything is started: a typo must not start a run that is
 * then followed at a pace nobody chose.
 */
export function parseApprovalPoll(value: string, source: string): number {
  const { min, max } = APPROVAL_POLL_SECONDS;
  const seconds = /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!(seconds >= min && seconds <= max)) {
    throw new CliError(
      `${source} must be a number of seconds from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return seconds;
}

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
 * the pacer, so however many things are watched the CLI makes at most one call per second to
 * each service; log reads have their own turns, so the history is polled every second anyway.
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
  let waitingSince: number | undefined;
  for (;;) {
    const cycleStart = clock.now();
    const events = await readHistory(sfn, pacer, executionArn, tracker.lastEventId);
    const drained = new Set<LogTail>();
    for (const event of tracker.apply(events)) {
      // A finished task's lines come before whatever the workflow did next, if any can be unread:
      // one read (the stream's token only says "up to date" on a second read, a call later),
      // unless the stream was already read after the task ended. Waiting for it to settle here
      // held every state line back by settleMs; lines the awslogs driver delivers late, and the
      // rest of a long page, are printed by the next polls, still labelled with their state.
      for (const tail of tails) {
        if (tail.done || !tail.behindEnd || drained.has(tail)) continue;
        const { lines } = await tail.poll();
        for (const line of lines) onEvent(line);
        drained.add(tail);
      }
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
    // A tail just read for a state line is not read again this cycle. A finished task's stream
    // read up to date past its end (or any, while parked on a person) is read once more when it
    // has settled, for late lines. Log reads take the pacer's Logs turns, the history its Step
    // Functions ones, so a cycle's one read per stream does not hold the next history poll back.
    const waiting = tracker.currentState === APPROVAL_STATE;
    for (const tail of tails) {
      if (tail.done || drained.has(tail)) continue;
      const finished = tail.task.endedAt !== undefined;
      if (finished && !tail.settled && (waiting || (!tail.behindEnd && tail.caughtUp))) continue;
      const { lines } = await tail.poll();
      for (const line of lines) onEvent(line);
    }
    if (waiting) {
      waitingSince ??= cycleStart;
      await clock.sleep(slowMs - (clock.now() - cycleStart));
      const parked = clock.now() - waitingSince >= intervals.parkedAfterMs;
      const cap = parked ? intervals.parkedMaxMs : intervals.slowMaxMs;
      slowMs = Math.min(cap, Math.round(slowMs * 1.5));
    } else {
      // The pacer already spaces the calls; this only keeps an idle cycle from spinning.
      waitingSince = undefined;
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
