import type { HistoryEvent } from '../lib/local/engine';
import type { BenchServer, Decision, DirectRun } from './local-mode';
import { median, now, round, type Summary, summarize } from './stats';

/**
 * Orchestration overhead of local mode: a full run (validate, lock, plan, approval through the
 * HTTP page, apply, notify, release) against the same bundled runner's plan and apply run
 * directly with the same environment, on a module of the same shape. Runs alternate in pairs
 * (full first, then direct first) so a busy machine slows both sides alike.
 */

export interface OverheadOptions {
  readonly pairs: number;
  /** Pairs run first and discarded (JIT, page cache, tsx/esbuild caches). */
  readonly warmup: number;
}

export interface OverheadResult {
  readonly pairs: number;
  readonly fullRunMs: Summary;
  readonly baselineMs: Summary;
  /**
   * Per pair: full run minus direct run. A detail only: the difference of two noisy runs, it
   * can come out negative (the runner varied by more than the orchestration costs), so it is
   * never the headline.
   */
  readonly pairedDifferenceMs: Summary;
  /** median(full run) / median(direct run). */
  readonly ratio: number;
  /**
   * Per full run: its wall time minus the time its Plan and Apply states took, i.e. everything
   * that is not the runner. Less noisy than the paired difference on a busy machine, because
   * the runner's own time (the noisy part) is not in it; it leaves out the runner task
   * stand-in's own cost (spawn, log capture), which the paired difference includes.
   */
  readonly outsideRunnerMs: Summary;
  /** The headline overhead: `outsideRunnerMs`, measured inside each run, never negative. */
  readonly overheadMs: Summary;
  readonly goalMs: number;
  readonly goalMet: boolean;
  /** Median time in each state of the full runs (entered → exited), in the order entered. */
  readonly statesMs: Record<string, number>;
  /** Median of direct plan and apply, to set against the Plan and Apply states. */
  readonly directMs: { plan: number; apply: number };
  /** Median GET and POST of the approval page (the approver's side, loopback HTTP included). */
  readonly approvalPageMs: { get: number; post: number };
  /**
   * Where a full run's time goes (medians): from StartExecution to the first state, inside
   * states, between one state's exit and the next one's entry, and from the last state to the
   * run being settled (closing event, end-of-run hook).
   */
  readonly timelineMs: {
    beforeFirstState: number;
    inStates: number;
    betweenStates: number;
    afterLastState: number;
  };
  /**
   * The local engine's own cost per state transition: the median over full runs of the time
   * between one state's exit and the next one's entry, divided by the number of such gaps. The
   * same-run baseline is `statesMs` (time inside each state) and the full run itself.
   */
  readonly engineMsPerTransition: number;
}

/** What later sections reuse: one happy-path history and the approval page timings. */
export interface OverheadData {
  readonly result: OverheadResult;
  readonly happyPath: { executionArn: string; events: HistoryEvent[] };
  readonly decisions: Decision[];
  /** Paths whose plan was applied (a second run of one has no changes). */
  readonly appliedPaths: string[];
}

interface FullRun {
  readonly totalMs: number;
  readonly executionArn: string;
  readonly events: HistoryEvent[];
  readonly decision: Decision;
  /** Date.now() just before StartExecution and just after the run settled. */
  readonly startedAt: number;
  readonly settledAt: number;
}

const pad = (n: number) => String(n).padStart(3, '0');

/** The paths the overhead runs use; committed before the server starts. */
export function overheadPaths(options: OverheadOptions): string[] {
  const paths: string[] = [];
  for (let i = 0; i < options.pairs + options.warmup; i++)
    paths.push(`envs/ovh-full-${pad(i)}`, `envs/ovh-direct-${pad(i)}`);
  return paths;
}

export async function fullRun(bench: BenchServer, path: string): Promise<FullRun> {
  const startedAt = Date.now();
  const t0 = now();
  const executionArn = await bench.start(path);
  const [link] = await bench.approvalLinks(executionArn);
  const decision = await bench.decide(link as string, 'approve');
  const record = await bench.settled(executionArn);
  const totalMs = now() - t0;
  const settledAt = Date.now();
  if (record.status !== 'SUCCEEDED')
    throw new Error(`full run on ${path} ended ${record.status}: ${record.error} ${record.cause}`);
  return { totalMs, executionArn, events: [...record.events], decision, startedAt, settledAt };
}

/** Splits a full run's wall time into time in states and the engine's time around them. */
function timeline(run: FullRun) {
  const states = run.events.filter((e) => stateName(e) !== undefined);
  let inStates = 0;
  let betweenStates = 0;
  let previousExit: number | undefined;
  let enteredAt = 0;
  let transitions = 0;
  for (const event of states) {
    const at = event.timestamp * 1000;
    if (event.type.endsWith('StateEntered')) {
      if (previousExit !== undefined) {
        betweenStates += at - previousExit;
        transitions++;
      }
      enteredAt = at;
    } else if (event.type.endsWith('StateExited')) {
      inStates += at - enteredAt;
      previousExit = at;
    }
  }
  const first = (states[0]?.timestamp ?? 0) * 1000;
  return {
    beforeFirstState: first - run.startedAt,
    inStates,
    betweenStates,
    afterLastState: run.settledAt - (previousExit ?? run.settledAt),
    transitions,
  };
}

export async function measureOverhead(
  bench: BenchServer,
  options: OverheadOptions,
  progress: (line: string) => void,
): Promise<OverheadData> {
  const full: FullRun[] = [];
  const direct: DirectRun[] = [];
  const appliedPaths: string[] = [];
  for (let i = 0; i < options.pairs + options.warmup; i++) {
    const fullPath = `envs/ovh-full-${pad(i)}`;
    const directPath = `envs/ovh-direct-${pad(i)}`;
    let f: FullRun;
    let d: DirectRun;
    if (i % 2 === 0) {
      f = await fullRun(bench, fullPath);
      d = await bench.runDirect(directPath, `direct-${pad(i)}`);
    } else {
      d = await bench.runDirect(directPath, `direct-${pad(i)}`);
      f = await fullRun(bench, fullPath);
    }
    appliedPaths.push(fullPath);
    if (i < options.warmup) continue;
    full.push(f);
    direct.push(d);
    progress(
      `  pair ${i - options.warmup + 1}/${options.pairs}: full ${Math.round(f.totalMs)} ms, direct ${Math.round(d.totalMs)} ms`,
    );
  }

  const fullMs = full.map((f) => f.totalMs);
  const baseMs = direct.map((d) => d.totalMs);
  const paired = full.map((f, i) => f.totalMs - (direct[i] as DirectRun).totalMs);
  const outside = full.map((f) => f.totalMs - runnerStatesMs(f.events));
  // Wall time minus a part of itself cannot be negative; if it is, the measurement is broken.
  if (outside.some((ms) => ms < 0)) throw new Error(`negative time outside the runner: ${outside}`);
  const overheadMs = summarize(outside);
  const happy = full[Math.floor(full.length / 2)] as FullRun;
  return {
    result: {
      pairs: full.length,
      fullRunMs: summarize(fullMs),
      baselineMs: summarize(baseMs),
      pairedDifferenceMs: summarize(paired),
      overheadMs,
      ratio: round(median(fullMs) / median(baseMs), 2),
      outsideRunnerMs: overheadMs,
      goalMs: 500,
      goalMet: overheadMs.median < 500,
      statesMs: medianStateDurations(full.map((f) => f.events)),
      directMs: {
        plan: round(median(direct.map((d) => d.planMs))),
        apply: round(median(direct.map((d) => d.applyMs))),
      },
      approvalPageMs: {
        get: round(median(full.map((f) => f.decision.getMs))),
        post: round(median(full.map((f) => f.decision.postMs))),
      },
      timelineMs: (() => {
        const parts = full.map(timeline);
        const med = (key: keyof ReturnType<typeof timeline>) =>
          round(median(parts.map((p) => p[key])));
        return {
          beforeFirstState: med('beforeFirstState'),
          inStates: med('inStates'),
          betweenStates: med('betweenStates'),
          afterLastState: med('afterLastState'),
        };
      })(),
      engineMsPerTransition: round(
        median(
          full.map(timeline).map((t) => (t.transitions > 0 ? t.betweenStates / t.transitions : 0)),
        ),
        2,
      ),
    },
    happyPath: { executionArn: happy.executionArn, events: happy.events },
    decisions: full.map((f) => f.decision),
    appliedPaths,
  };
}

export function stateName(event: HistoryEvent): string | undefined {
  const details = (event.stateEnteredEventDetails ?? event.stateExitedEventDetails) as
    | { name?: string }
    | undefined;
  return details?.name;
}

/** Time spent in the Plan and Apply states of one run. */
function runnerStatesMs(events: readonly HistoryEvent[]): number {
  let total = 0;
  let enteredAt = 0;
  for (const event of events) {
    const name = stateName(event);
    if (name !== 'Plan' && name !== 'Apply') continue;
    if (event.type.endsWith('StateEntered')) enteredAt = event.timestamp * 1000;
    else if (event.type.endsWith('StateExited')) total += event.timestamp * 1000 - enteredAt;
  }
  return total;
}

/** Time from each state's Entered event to its Exited event; medians across runs. */
export function medianStateDurations(histories: readonly HistoryEvent[][]): Record<string, number> {
  const samples = new Map<string, number[]>();
  for (const events of histories) {
    const enteredAt = new Map<string, number>();
    for (const event of events) {
      const name = stateName(event);
      if (!name) continue;
      if (event.type.endsWith('StateEntered')) enteredAt.set(name, event.timestamp * 1000);
      else if (event.type.endsWith('StateExited') && enteredAt.has(name)) {
        const list = samples.get(name) ?? [];
        list.push(event.timestamp * 1000 - (enteredAt.get(name) as number));
        samples.set(name, list);
      }
    }
  }
  return Object.fromEntries([...samples].map(([name, list]) => [name, round(median(list))]));
}
