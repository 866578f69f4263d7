import type { BenchServer } from './local-mode';
import { fullRun } from './overhead';
import { now, round, type Summary, summarize } from './stats';

/**
 * Local mode under load: `concurrency` runs at once, each on its own path, each approved through
 * the page as soon as its email is written; every worker starts its next run when one ends.
 */

export interface ThroughputLevel {
  readonly concurrency: number;
  readonly runsPerWorker: number;
}

export interface ThroughputResult {
  readonly concurrency: number;
  readonly runs: number;
  readonly wallMs: number;
  readonly runsPerMinute: number;
  /** Start to end of each run at this concurrency. */
  readonly runMs: Summary;
  /** runsPerMinute / runsPerMinute at concurrency 1. */
  readonly speedupVsSerial?: number;
}

const pathOf = (level: ThroughputLevel, worker: number, run: number) =>
  `envs/tp-c${String(level.concurrency).padStart(3, '0')}-w${String(worker).padStart(3, '0')}-r${String(run).padStart(2, '0')}`;

export function throughputPaths(levels: readonly ThroughputLevel[]): string[] {
  return levels.flatMap((level) =>
    Array.from({ length: level.concurrency }, (_, w) =>
      Array.from({ length: level.runsPerWorker }, (_, r) => pathOf(level, w, r)),
    ).flat(),
  );
}

export async function measureThroughput(
  bench: BenchServer,
  levels: readonly ThroughputLevel[],
  progress: (line: string) => void,
): Promise<ThroughputResult[]> {
  const results: ThroughputResult[] = [];
  for (const level of levels) {
    const durations: number[] = [];
    const t0 = now();
    await Promise.all(
      Array.from({ length: level.concurrency }, async (_, worker) => {
        for (let run = 0; run < level.runsPerWorker; run++) {
          const result = await fullRun(bench, pathOf(level, worker, run));
          durations.push(result.totalMs);
        }
      }),
    );
    const wallMs = now() - t0;
    const runs = level.concurrency * level.runsPerWorker;
    const runsPerMinute = round((runs / wallMs) * 60_000);
    const serial = results.find((r) => r.concurrency === 1)?.runsPerMinute;
    results.push({
      concurrency: level.concurrency,
      runs,
      wallMs: round(wallMs),
      runsPerMinute,
      runMs: summarize(durations),
      ...(serial && { speedupVsSerial: round(runsPerMinute / serial, 2) }),
    });
    progress(
      `  concurrency ${level.concurrency}: ${runs} runs in ${Math.round(wallMs / 1000)} s = ${runsPerMinute} runs/min`,
    );
  }
  return results;
}
