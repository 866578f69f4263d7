import type { CommandTiming } from './build-times';
import type { CliResult } from './cli';
import type { CostResult } from './cost';
import type { DriftCostResult } from './drift-cost';
import type { HandlerFigures, HandlerResult } from './handlers';
import type { MachineInfo } from './machine';
import type { OverheadResult } from './overhead';
import type { PlanScaleResult } from './plan-scale';
import { median, round, type Summary } from './stats';
import type { ThroughputResult } from './throughput';

/** The shape of bench/results.json: headline figures first, then how they were obtained. */
export interface BenchResults {
  readonly generatedBy: string;
  readonly mode: 'full' | 'quick';
  readonly benchDurationMs: number;
  readonly machine: MachineInfo;
  /** Time outside the runner, measured inside each full run (bench/overhead.ts). */
  readonly overheadMs: Summary;
  readonly overheadDefinition: string;
  readonly baselineMs: Summary;
  readonly fullRunMs: Summary;
  readonly stateTransitions: {
    readonly happyPath: number;
    readonly noChanges: number;
    readonly rejected: number;
    readonly note: string;
  };
  readonly costUsd: {
    readonly perRunStepFunctions: number;
    readonly perRunLambda: number;
    readonly perRunLambdaAllColdStarts: number;
    readonly perRunSes: number;
    readonly perRunS3Puts: number;
    readonly fargateExample: string;
    readonly perRunFargate: number;
    readonly perRunTotal: number;
    readonly idlePerMonth: number;
    readonly idleAlwaysOnComputePerMonth: number | null;
    readonly atlantisPerMonth: number;
  };
  readonly handlers: HandlerFigures[];
  readonly cli: CliResult;
  readonly throughput: ThroughputResult[];
  /** The runner's work and the approval page at 10, 100 and 1,000 resources (bench/plan-scale.ts). */
  readonly planScale: PlanScaleResult | null;
  readonly synthMs: number | null;
  readonly synth: {
    readonly cdkSynth: CommandTiming | null;
    readonly definitionSynthMs: number;
    readonly definitionSynthSamplesMs: number[];
    /** In-process synthesis of the whole template (cost section), first in this process. */
    readonly templateSynthMs: number;
    /** startLocalServer for the first bench server (synthesis, bundle already built). */
    readonly localServerStartMs: number;
    readonly carriedOver?: boolean;
  };
  readonly testSuiteMs: number | null;
  /** A drift check's cost, per check and per month checked hourly (bench/drift-cost.ts). */
  readonly driftCost?: DriftCostResult;
  readonly testSuite: {
    readonly timing: CommandTiming | null;
    readonly carriedOver: boolean;
    readonly measuredAt: string | null;
    readonly note: string;
  };
  readonly ratios: Record<string, number | null>;
  readonly details: {
    readonly overhead: OverheadResult;
    readonly cost: CostResult;
    readonly handlers: Omit<HandlerResult, 'handlers'>;
  };
}

export interface Measured {
  readonly mode: 'full' | 'quick';
  readonly benchDurationMs: number;
  readonly machine: MachineInfo;
  readonly overhead: OverheadResult;
  readonly cost: CostResult;
  readonly handlers: HandlerResult;
  readonly cli: CliResult;
  readonly throughput: ThroughputResult[];
  readonly planScale: PlanScaleResult | null;
  readonly cdkSynth: CommandTiming | null;
  readonly definitionSynth: { medianMs: number; samplesMs: number[] };
  readonly localServerStartMs: number;
  readonly testSuite: CommandTiming | null;
  readonly driftCost?: DriftCostResult;
  /** The results.json this run replaces: figures this run skipped are carried over from it. */
  readonly previous?: Partial<BenchResults>;
}

export function assembleResults(m: Measured): BenchResults {
  const happy = m.cost.scenarios.happyPath;
  const example = m.cost.fargate.examples[0];
  const cdkSynthMs = m.cdkSynth?.wallMs ?? m.previous?.synthMs ?? null;
  const testSuiteMs = m.testSuite ? m.testSuite.wallMs : (m.previous?.testSuiteMs ?? null);
  const throughputAt = (c: number) => m.throughput.find((t) => t.concurrency === c);
  const serial = throughputAt(1)?.runsPerMinute;
  const r2 = (n: number) => round(n, 2);
  return {
    generatedBy: `npm run bench${m.mode === 'quick' ? ' -- --quick' : ''}`,
    mode: m.mode,
    benchDurationMs: round(m.benchDurationMs),
    machine: m.machine,
    overheadMs: m.overhead.overheadMs,
    overheadDefinition:
      'Per full run: its wall time minus its Plan and Apply states (the runner), measured inside the run. The paired difference full - direct is details.overhead.pairedDifferenceMs, a noisy detail.',
    baselineMs: m.overhead.baselineMs,
    fullRunMs: m.overhead.fullRunMs,
    stateTransitions: {
      happyPath: happy.stateTransitions,
      noChanges: m.cost.scenarios.noChanges.stateTransitions,
      rejected: m.cost.scenarios.rejected.stateTransitions,
      note: 'Entered states (*StateEntered events) of the synthesized definition run in local mode; add 1 per run if AWS bills the execution start as a transition.',
    },
    costUsd: {
      perRunStepFunctions: happy.usd.stepFunctions,
      perRunLambda: happy.usd.lambda,
      perRunLambdaAllColdStarts: happy.usd.lambdaAllColdStarts,
      perRunSes: happy.usd.ses,
      perRunS3Puts: happy.usd.s3Puts,
      fargateExample: example?.label ?? '',
      perRunFargate: example?.usd ?? 0,
      perRunTotal: example?.happyPathUsd ?? 0,
      idlePerMonth: m.cost.idle.fixedPerMonth,
      idleAlwaysOnComputePerMonth: m.cost.idle.alwaysOnComputePerMonth,
      atlantisPerMonth: m.cost.idle.atlantisBaseline.perMonth,
    },
    handlers: m.handlers.handlers,
    cli: m.cli,
    throughput: m.throughput,
    planScale: m.planScale,
    synthMs: cdkSynthMs,
    synth: {
      cdkSynth: m.cdkSynth,
      definitionSynthMs: m.definitionSynth.medianMs,
      definitionSynthSamplesMs: m.definitionSynth.samplesMs,
      templateSynthMs: m.cost.template.synthMs,
      localServerStartMs: round(m.localServerStartMs),
      ...(!m.cdkSynth && { carriedOver: true }),
    },
    testSuiteMs,
    ...((m.driftCost ?? m.previous?.driftCost) && {
      driftCost: m.driftCost ?? m.previous?.driftCost,
    }),
    testSuite: m.testSuite
      ? {
          timing: m.testSuite,
          carriedOver: false,
          measuredAt: m.machine.date,
          note: 'npm test (Biome, tsc beside the whole vitest suite), while other engineers may be using the machine and changing tests.',
        }
      : {
          timing: m.previous?.testSuite?.timing ?? null,
          carriedOver: true,
          measuredAt: m.previous?.testSuite?.measuredAt ?? null,
          note: 'Not run this time (add --tests): carried over from the previous results.json.',
        },
    ratios: {
      fullRunToDirectRunner: m.overhead.ratio,
      idleToAtlantis: m.cost.idle.ratioToAtlantis,
      handlerBundleToUnbundledBytes: r2(
        median(m.handlers.handlers.map((h) => h.bundleBytes / h.unbundledBytes)),
      ),
      handlerColdImportToTsx: m.handlers.handlers.every((h) => h.unbundledColdImportMs)
        ? r2(
            median(
              m.handlers.handlers.map((h) => h.coldImportMs / (h.unbundledColdImportMs as number)),
            ),
          )
        : null,
      handlerBundleSdkExternalToBundled: r2(
        median(m.handlers.handlers.map((h) => h.bundleBytes / h.sdkBundledBytes)),
      ),
      throughputC10ToC1: serial ? r2((throughputAt(10)?.runsPerMinute ?? 0) / serial) : null,
      throughputC50ToC1:
        serial && throughputAt(50) ? r2((throughputAt(50)?.runsPerMinute ?? 0) / serial) : null,
      cdkSynthToDefinitionSynth: cdkSynthMs ? r2(cdkSynthMs / m.definitionSynth.medianMs) : null,
    },
    details: {
      overhead: m.overhead,
      cost: m.cost,
      handlers: {
        bundling: m.handlers.bundling,
        repetitions: m.handlers.repetitions,
        variantRepetitions: m.handlers.variantRepetitions,
        bareNodeMs: m.handlers.bareNodeMs,
        bareNodeCpuMs: m.handlers.bareNodeCpuMs,
      },
    },
  };
}
