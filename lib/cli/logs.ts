import type * as ClientLogs from '@aws-sdk/client-cloudwatch-logs';
import type {
  CloudWatchLogsClient,
  GetLogEventsCommandOutput,
} from '@aws-sdk/client-cloudwatch-logs';
import { lazyModule } from '../lazy-module';
import type { FollowEvent, RunnerTask } from './history';
import type { ApiPacer, Clock } from './pacer';
import { systemClock } from './pacer';

// Loaded by the first log read: status, list and a start without --wait never read logs, and
// requiring the package is a tenth of such a command's start (lib/cli/clients.ts).
const { GetLogEventsCommand } = lazyModule<typeof ClientLogs>(() =>
  require('@aws-sdk/client-cloudwatch-logs'),
);

/** The task ID, the last segment of an ECS task ARN (`arn:aws:ecs:...:task/<cluster>/<id>`). */
export function taskIdOf(taskArn: string): string {
  return taskArn.slice(taskArn.lastIndexOf('/') + 1);
}

/** awslogs driver, stream prefix `runner`, container `runner` (docs/workflow-contract.md). */
export function logStreamName(taskArn: string): string {
  return `runner/runner/${taskIdOf(taskArn)}`;
}

export interface LogTailOptions {
  readonly logs: CloudWatchLogsClient;
  readonly pacer: ApiPacer;
  readonly logGroup: string;
  readonly task: RunnerTask;
  /**
   * How long after the task ended an up-to-date stream counts as complete: the awslogs
   * driver delivers the last lines a moment after the container exits. @default 3000
   */
  readonly settleMs?: number;
  /** @default systemClock */
  readonly clock?: Clock;
}

/**
 * Reads one runner task's log stream from the start, page by page. GetLogEvents returns the
 * token it was given when there is nothing newer; a repeated token once the task has ended
 * (and settled) means the stream is complete.
 */
export class LogTail {
  /** Whether every line of the finished task has been read. */
  done = false;
  /** When the last GetLogEvents call was sent (the CLI's clock), if any. */
  lastPollAt?: number;
  /** Whether the last read found the stream up to date (its token came back). */
  caughtUp = false;
  private token?: string;
  private readonly settleMs: number;
  private readonly clock: Clock;

  constructor(private readonly options: LogTailOptions) {
    this.settleMs = options.settleMs ?? 3000;
    this.clock = options.clock ?? systemClock;
  }

  get task(): RunnerTask {
    return this.options.task;
  }

  /** One GetLogEvents call; returns its lines and whether the stream is caught up. */
  async poll(): Promise<{ lines: Extract<FollowEvent, { type: 'log' }>[]; caughtUp: boolean }> {
    const { logs, pacer, logGroup, task } = this.options;
    const sent = this.token;
    this.lastPollAt = this.clock.now();
    let page: GetLogEventsCommandOutput;
    try {
      page = await pacer.call('GetLogEvents', () =>
        logs.send(
          new GetLogEventsCommand({
            logGroupName: logGroup,
            logStreamName: logStreamName(task.taskArn),
            startFromHead: true,
            nextToken: sent,
          }),
        ),
      );
    } catch (error) {
      // The stream appears with the container's first line; until then there is nothing to read.
      if ((error as { name?: string }).name !== 'ResourceNotFoundException') throw error;
      this.caughtUp = true;
      this.markDoneIfSettled(true);
      return { lines: [], caughtUp: true };
    }
    const taskId = taskIdOf(task.taskArn);
    const lines = (page.events ?? []).map((e) => ({
      type: 'log' as const,
      state: task.state,
      taskId,
      at: e.timestamp !== undefined ? new Date(e.timestamp) : undefined,
      message: (e.message ?? '').replace(/\r?\n$/, ''),
    }));
    const next = page.nextForwardToken;
    const caughtUp = next === undefined || next === sent;
    this.caughtUp = caughtUp;
    if (next !== undefined) this.token = next;
    this.markDoneIfSettled(caughtUp);
    return { lines, caughtUp };
  }

  /** Reads pages until the stream is caught up (or complete), calling `onLine` per line. */
  async drain(onLine: (line: Extract<FollowEvent, { type: 'log' }>) => void): Promise<void> {
    for (;;) {
      const { lines, caughtUp } = await this.poll();
      for (const line of lines) onLine(line);
      if (caughtUp || this.done) return;
    }
  }

  /** Whether the task ended long enough ago for its stream to be complete once caught up. */
  get settled(): boolean {
    const { endedAt } = this.options.task;
    return endedAt !== undefined && this.clock.now() - endedAt >= this.settleMs;
  }

  /** Whether lines written before the task ended may still be unread: not polled since it ended. */
  get behindEnd(): boolean {
    const { endedAt } = this.options.task;
    return endedAt !== undefined && (this.lastPollAt === undefined || this.lastPollAt <= endedAt);
  }

  private markDoneIfSettled(caughtUp: boolean) {
    const { endedAt } = this.options.task;
    if (caughtUp && endedAt !== undefined && this.clock.now() - endedAt >= this.settleMs) {
      this.done = true;
    }
  }
}

/**
 * Reads every task's stream until it is complete, waiting between polls while a stream is
 * caught up but not yet settled. Used once the execution has ended.
 */
export async function drainTails(
  tails: readonly LogTail[],
  onLine: (line: Extract<FollowEvent, { type: 'log' }>) => void,
  clock: Clock = systemClock,
  pauseMs = 1000,
): Promise<void> {
  for (const tail of tails) {
    while (!tail.done) {
      await tail.drain(onLine);
      if (!tail.done) await clock.sleep(pauseMs);
    }
  }
}
