import { randomBytes } from 'node:crypto';
import type { ExecutionInput } from '../contracts';
import { nextCronFire, parseCron } from '../cron';
import type { DriftEntry } from '../drift-config';
import { driftExecutionPrefix, driftInput } from '../drift-input';

/**
 * Local mode's stand-in for EventBridge Scheduler: starts each drift entry's checks on its
 * `rate(...)` or `cron(...)` in its time zone, through the same StartExecution as AWS. A glob path
 * starts one run with the glob, as its EventBridge schedule does; that run lists the paths at the
 * ref and starts a check per path (docs/drift.md).
 */

const MINUTE = 60_000;
const UNIT_MS = { minute: MINUTE, hour: 60 * MINUTE, day: 1440 * MINUTE } as const;

/**
 * When `schedule` next fires after `after`: a rate counts from `since` (the server's start, as a
 * new schedule counts from its creation); a cron is matched in `timeZone` (lib/cron.ts, the
 * parser synth checks the config with, so what synth accepts fires here).
 */
export function nextFire(
  schedule: string,
  timeZone: string,
  after: Date,
  since: Date = after,
): Date | undefined {
  const rate = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(schedule);
  if (rate) {
    const every = Number(rate[1]) * UNIT_MS[rate[2] as keyof typeof UNIT_MS];
    const n = Math.floor((after.getTime() - since.getTime()) / every) + 1;
    return new Date(since.getTime() + n * every);
  }
  const cron = /^cron\((.+)\)$/.exec(schedule);
  if (!cron) return undefined;
  return nextCronFire(parseCron(cron[1] as string), timeZone, after);
}

export interface DriftSchedulerOptions {
  readonly entries: readonly DriftEntry[];
  /** StartExecution on the local state machine. */
  readonly start: (input: ExecutionInput, name: string) => Promise<string>;
  /** Whether the schedules fire by themselves; `trigger` works either way. @default true */
  readonly enabled?: boolean;
  readonly echo?: (line: string) => void;
  readonly now?: () => Date;
}

/** The drift schedules of local mode. */
export class DriftScheduler {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly since: Date;
  private closed = false;

  constructor(private readonly options: DriftSchedulerOptions) {
    this.since = this.now();
    if (options.enabled === false) return;
    for (let i = 0; i < options.entries.length; i++) this.arm(i);
  }

  /**
   * Runs entry `index`'s check now, without waiting for its schedule; resolves to its ARN (one:
   * a glob's run starts the checks of its paths itself, as in AWS).
   */
  async trigger(index: number): Promise<string[]> {
    const entry = this.options.entries[index];
    if (!entry) throw new Error(`no drift entry ${index}`);
    // Scheduler's invocation ID in AWS; here the time and a random part, as unique.
    const suffix = `${this.now().toISOString().replace(/\D/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`;
    return [
      await this.options.start(
        driftInput(entry, entry.path),
        `${driftExecutionPrefix(entry.path)}${suffix}`,
      ),
    ];
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private now(): Date {
    return (this.options.now ?? (() => new Date()))();
  }

  private arm(index: number): void {
    if (this.closed) return;
    const entry = this.options.entries[index] as DriftEntry;
    const now = this.now();
    const next = nextFire(entry.schedule, entry.timezone, now, this.since);
    const wait = next ? next.getTime() - now.getTime() : 35 * 1440 * MINUTE;
    // setTimeout holds at most ~24.8 days; longer waits re-arm on the way.
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        if (next && this.now() >= next)
          this.trigger(index).catch((error: unknown) =>
            this.options.echo?.(`! drift.${index}: ${(error as Error).message}`),
          );
        this.arm(index);
      },
      Math.min(Math.max(wait, 0), 2 ** 31 - 1),
    );
    timer.unref();
    this.timers.add(timer);
  }
}
