import { readdirSync } from 'node:fs';
import type { DeployRunnerConfig } from '../lib/config';
import { driftExecutionPrefix } from '../lib/drift-input';
import { MemoryDriftStore } from '../lib/local/drift-store';
import type { HistoryEvent } from '../lib/local/engine';
import { FARGATE_STARTUP_SECONDS, type TemplateFacts, templateFacts } from './cost';
import type { BenchServer } from './local-mode';
import { stateName } from './overhead';
import { PRICES } from './prices';
import { median, round, roundSignificant } from './stats';

/**
 * What a drift check costs in AWS (docs/drift.md), per check and per month for one path checked
 * hourly: drift checks run in local mode through the synthesized state machine with the real
 * handlers and runner, and what they did is counted from their histories (state transitions,
 * Lambda invocations and their durations, runner tasks and their time, DynamoDB requests,
 * emails), then priced at the list prices of prices.ts. Sizes (Lambda memory, runner CPU and
 * memory) come from the synthesized template.
 */

/** Root modules the drift-cost part commits: one in sync (empty), one that drifted. */
export const DRIFT_COST_MODULES = { quiet: 'envs/drift-quiet', drifted: 'envs/drift-found' };

/** What one drift check did, counted from its execution history and the outbox. */
export interface DriftCheckCounts {
  readonly status: string;
  /** Entered states (`*StateEntered` events), in order. */
  readonly states: readonly string[];
  readonly stateTransitions: number;
  /** Lambda invocations, each with its measured duration (scheduled → succeeded), ms. */
  readonly lambdaMs: readonly number[];
  /** Runner tasks (ECS in AWS) and the measured time of each (state entered → exited), ms. */
  readonly runnerMs: readonly number[];
  /** DynamoDB requests: the workflow's own (`Drift: is the path locked?`) and the drift record's. */
  readonly dynamoReads: number;
  readonly dynamoWrites: number;
  readonly emails: number;
  readonly wallMs: number;
}

/** One scenario's counts (median check of its repetitions) and its price. */
export interface DriftScenarioCost extends DriftCheckCounts {
  readonly checks: number;
  readonly usd: {
    readonly scheduler: number;
    readonly stepFunctions: number;
    readonly lambda: number;
    /** The runner task at its measured local duration (simulator), billed minimum included. */
    readonly fargateMeasured: number;
    /** The runner task with a plan of {@link DRIFT_PLAN_EXAMPLE_SECONDS} (real providers). */
    readonly fargateExample: number;
    readonly dynamoDb: number;
    readonly ses: number;
    readonly totalMeasured: number;
    readonly totalExample: number;
  };
}

export interface DriftCostResult {
  readonly generatedBy: string;
  readonly measuredAt: string;
  readonly loadAverage: number[];
  readonly prices: {
    readonly source: string;
    readonly asOf: string;
    readonly region: string;
    readonly schedulerPerInvocation: number;
    readonly stepFunctionsStandardPerTransition: number;
    readonly lambdaArmPerGbSecond: number;
    readonly lambdaPerRequest: number;
    readonly fargateArmPerVcpuHour: number;
    readonly fargateArmPerGbHour: number;
    readonly dynamoDbReadRequest: number;
    readonly dynamoDbWriteRequest: number;
    readonly sesPerEmail: number;
  };
  readonly template: Pick<
    TemplateFacts,
    | 'lambdaMemoryMiB'
    | 'lambdaArchitecture'
    | 'runnerCpuUnits'
    | 'runnerMemoryMiB'
    | 'runnerArchitecture'
  >;
  readonly planExample: string;
  readonly assumptions: string[];
  /** No drift: the quiet check every tick of a path in sync is. */
  readonly quiet: DriftScenarioCost;
  /** Drift found the first time: the message goes out. */
  readonly drifted: DriftScenarioCost;
  /** Headline figures: the quiet check with the example plan. */
  readonly perCheckUsd: number;
  readonly perMonthHourlyUsd: number;
  /** The same with the runner's measured local time (the 1-minute Fargate minimum). */
  readonly perCheckMeasuredUsd: number;
  readonly perMonthHourlyMeasuredUsd: number;
  readonly checksPerMonthHourly: number;
}

/** A plan with real providers takes about a minute: the example the deploy-run cost uses too. */
export const DRIFT_PLAN_EXAMPLE_SECONDS = 60;

/** Counts one finished drift check from its history (pure: the unit test feeds it one). */
export function countDriftCheck(
  events: readonly HistoryEvent[],
  store: { reads: number; writes: number },
  emails: number,
): Omit<DriftCheckCounts, 'status' | 'wallMs'> {
  const states: string[] = [];
  const lambdaMs: number[] = [];
  const runnerMs: number[] = [];
  let dynamoTasks = 0;
  let lambdaStart: number | undefined;
  let runnerEntered: number | undefined;
  for (const event of events) {
    const ms = event.timestamp * 1000;
    if (event.type.endsWith('StateEntered')) states.push(stateName(event) ?? '?');
    const scheduled = event.taskScheduledEventDetails as { resourceType?: string } | undefined;
    if (event.type === 'LambdaFunctionScheduled' || scheduled?.resourceType === 'lambda')
      lambdaStart = ms;
    if (scheduled?.resourceType === 'dynamodb') dynamoTasks += 1;
    if (scheduled?.resourceType === 'ecs') runnerEntered = ms;
    if (/^(LambdaFunction|Task)(Succeeded|Failed|TimedOut)$/.test(event.type)) {
      if (lambdaStart !== undefined) lambdaMs.push(ms - lambdaStart);
      else if (runnerEntered !== undefined) runnerMs.push(ms - runnerEntered);
      lambdaStart = undefined;
      runnerEntered = undefined;
    }
  }
  return {
    states,
    stateTransitions: states.length,
    lambdaMs,
    runnerMs,
    // The lock check is a consistent GetItem; the drift record one GetItem and one PutItem.
    dynamoReads: dynamoTasks + store.reads,
    dynamoWrites: store.writes,
    emails,
  };
}

/** Prices one check's counts at the template's sizes (pure). */
export function priceDriftCheck(
  counts: DriftCheckCounts,
  template: DriftCostResult['template'],
): DriftScenarioCost['usd'] {
  const gb = template.lambdaMemoryMiB / 1024;
  // Lambda bills each invocation's duration rounded up to the millisecond, at least 1 ms.
  const lambdaGbSeconds = counts.lambdaMs.reduce(
    (sum, ms) => sum + (Math.max(1, Math.ceil(ms)) * gb) / 1000,
    0,
  );
  const lambda =
    lambdaGbSeconds * PRICES.lambdaArmPerGbSecond +
    counts.lambdaMs.length * PRICES.lambdaPerRequest;
  const perSecond =
    ((template.runnerCpuUnits / 1024) * PRICES.fargateArmPerVcpuHour +
      (template.runnerMemoryMiB / 1024) * PRICES.fargateArmPerGbHour) /
    3600;
  // Fargate bills from image pull to stop, per second, at least a minute.
  const billed = (toolSeconds: number) => Math.max(60, FARGATE_STARTUP_SECONDS + toolSeconds);
  const fargateMeasured =
    counts.runnerMs.reduce((sum, ms) => sum + billed(ms / 1000), 0) * perSecond;
  const fargateExample = counts.runnerMs.length * billed(DRIFT_PLAN_EXAMPLE_SECONDS) * perSecond;
  const rest = {
    scheduler: PRICES.schedulerPerInvocation,
    stepFunctions: counts.stateTransitions * PRICES.stepFunctionsStandardPerTransition,
    lambda,
    dynamoDb:
      counts.dynamoReads * PRICES.dynamoDbReadRequest +
      counts.dynamoWrites * PRICES.dynamoDbWriteRequest,
    ses: counts.emails * PRICES.sesPerEmail,
  };
  const base = Object.values(rest).reduce((sum, n) => sum + n, 0);
  const usd = (n: number) => roundSignificant(n, 3);
  return {
    scheduler: usd(rest.scheduler),
    stepFunctions: usd(rest.stepFunctions),
    lambda: usd(rest.lambda),
    fargateMeasured: usd(fargateMeasured),
    fargateExample: usd(fargateExample),
    dynamoDb: usd(rest.dynamoDb),
    ses: usd(rest.ses),
    totalMeasured: usd(base + fargateMeasured),
    totalExample: usd(base + fargateExample),
  };
}

/** Counts DriftStore calls while `fn` runs (local mode's store; DynamoDB's in AWS). */
async function countingStore<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; reads: number; writes: number }> {
  const proto = MemoryDriftStore.prototype;
  const { get, put } = proto;
  let reads = 0;
  let writes = 0;
  proto.get = function (this: MemoryDriftStore, ...args) {
    reads += 1;
    return get.apply(this, args);
  };
  proto.put = function (this: MemoryDriftStore, ...args) {
    writes += 1;
    return put.apply(this, args);
  };
  try {
    return { value: await fn(), reads, writes };
  } finally {
    proto.get = get;
    proto.put = put;
  }
}

const emailCount = (outboxDir: string) =>
  readdirSync(outboxDir).filter((f) => f.endsWith('.json') && f.includes('-email-')).length;

/** Runs one drift check of `path` as a schedule starts it, and counts what it did. */
async function driftCheck(bench: BenchServer, path: string, n: number): Promise<DriftCheckCounts> {
  const emailsBefore = emailCount(bench.server.outboxDir);
  const started = performance.now();
  const {
    value: record,
    reads,
    writes,
  } = await countingStore(async () => {
    const arn = await bench.startDrift(path, `${driftExecutionPrefix(path)}bench-${n}`);
    await bench.settled(arn);
    const found = bench.server.engine.get(arn);
    if (!found) throw new Error(`no execution ${arn}`);
    return found;
  });
  const wallMs = performance.now() - started;
  return {
    status: record.status,
    wallMs: round(wallMs),
    ...countDriftCheck(
      record.events,
      { reads, writes },
      emailCount(bench.server.outboxDir) - emailsBefore,
    ),
  };
}

/** The median check of `runs` (by wall time), with medians of its durations. */
function medianCheck(runs: readonly DriftCheckCounts[]): DriftCheckCounts {
  const sorted = [...runs].sort((a, b) => a.wallMs - b.wallMs);
  const middle = sorted[Math.floor((sorted.length - 1) / 2)] as DriftCheckCounts;
  const medianAt = (pick: (r: DriftCheckCounts) => readonly number[], i: number) =>
    round(median(runs.map((r) => pick(r)[i] ?? 0)), 2);
  return {
    ...middle,
    lambdaMs: middle.lambdaMs.map((_, i) => medianAt((r) => r.lambdaMs, i)),
    runnerMs: middle.runnerMs.map((_, i) => medianAt((r) => r.runnerMs, i)),
    wallMs: round(median(runs.map((r) => r.wallMs))),
  };
}

/**
 * Drift checks in local mode: `repetitions` quiet checks of a path in sync, and the first check
 * of a path that drifted (it sends the message). Every check must end as a drift check does.
 */
export async function measureDriftCost(
  bench: BenchServer,
  template: DriftCostResult['template'],
  options: { repetitions: number; loadAverage: number[]; generatedBy: string },
): Promise<DriftCostResult> {
  const quietRuns: DriftCheckCounts[] = [];
  for (let i = 0; i < options.repetitions; i++)
    quietRuns.push(await driftCheck(bench, DRIFT_COST_MODULES.quiet, i));
  const drifted = await driftCheck(bench, DRIFT_COST_MODULES.drifted, 0);
  for (const run of [...quietRuns, drifted])
    if (run.status !== 'SUCCEEDED' || !run.states.includes('Drift: report'))
      throw new Error(`drift check ended ${run.status} after ${run.states.join(' → ')}`);
  if (drifted.emails === 0) throw new Error('the drifted check sent no message');
  const quiet = medianCheck(quietRuns);
  const scenario = (counts: DriftCheckCounts, checks: number): DriftScenarioCost => ({
    ...counts,
    checks,
    usd: priceDriftCheck(counts, template),
  });
  const q = scenario(quiet, quietRuns.length);
  const checks = PRICES.hoursPerMonth;
  return {
    generatedBy: options.generatedBy,
    measuredAt: new Date().toISOString(),
    loadAverage: options.loadAverage,
    prices: {
      source: PRICES.source,
      asOf: PRICES.asOf,
      region: PRICES.region,
      schedulerPerInvocation: PRICES.schedulerPerInvocation,
      stepFunctionsStandardPerTransition: PRICES.stepFunctionsStandardPerTransition,
      lambdaArmPerGbSecond: PRICES.lambdaArmPerGbSecond,
      lambdaPerRequest: PRICES.lambdaPerRequest,
      fargateArmPerVcpuHour: PRICES.fargateArmPerVcpuHour,
      fargateArmPerGbHour: PRICES.fargateArmPerGbHour,
      dynamoDbReadRequest: PRICES.dynamoDbReadRequest,
      dynamoDbWriteRequest: PRICES.dynamoDbWriteRequest,
      sesPerEmail: PRICES.sesPerEmail,
    },
    template,
    planExample: `${DRIFT_PLAN_EXAMPLE_SECONDS / 60} min plan`,
    assumptions: [
      'Counts are measured: entered states, Lambda invocations and their durations, runner tasks and their time, DynamoDB requests (the lock check task and the drift record calls) and emails of drift checks run in local mode through the synthesized state machine.',
      `Runner time is the terraform simulator's; a real plan with providers takes longer, so the headline prices the plan task at ${DRIFT_PLAN_EXAMPLE_SECONDS} s of tool time (fargateExample) and the measured time gives the floor (fargateMeasured). Fargate bills from image pull (assumed ${FARGATE_STARTUP_SECONDS} s) to stop, per second, at least a minute.`,
      'Lambda durations are local in-process times rounded up to 1 ms; in AWS the calls to DynamoDB, SES and S3 go over the network and take longer, which changes the total by well under a tenth of a cent per check.',
      'One EventBridge Scheduler invocation per check (free for the first 14 million a month, not counted here); DynamoDB on-demand, one request unit per read (consistent, under 4 KB) and per write (under 1 KB). Not priced: KMS and S3 GET requests, CloudWatch Logs of the runner output.',
    ],
    quiet: q,
    drifted: scenario(drifted, 1),
    perCheckUsd: q.usd.totalExample,
    perMonthHourlyUsd: round(q.usd.totalExample * checks, 2),
    perCheckMeasuredUsd: q.usd.totalMeasured,
    perMonthHourlyMeasuredUsd: round(q.usd.totalMeasured * checks, 2),
    checksPerMonthHourly: checks,
  };
}

/** The template's sizes for drift pricing: from the synthesized stack of `config`. */
export function driftTemplate(config: DeployRunnerConfig): DriftCostResult['template'] {
  const t = templateFacts(config);
  return {
    lambdaMemoryMiB: t.lambdaMemoryMiB,
    lambdaArchitecture: t.lambdaArchitecture,
    runnerCpuUnits: t.runnerCpuUnits,
    runnerMemoryMiB: t.runnerMemoryMiB,
    runnerArchitecture: t.runnerArchitecture,
  };
}
