import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bundleRunner } from '../containers/runner/bundle';
import { type DeployRunnerConfig, loadConfig } from '../lib/config';
import { measureCdkSynth, measureDefinitionSynth, measureTestSuite } from './build-times';
import { type CliOptions, cliPaths, measureCli } from './cli';
import {
  computeCost,
  type HandlerName,
  measureHandlerDurations,
  runCostScenarios,
  templateFacts,
} from './cost';
import { writeDocs } from './docs';
import {
  DRIFT_COST_MODULES,
  type DriftCostResult,
  driftTemplate,
  measureDriftCost,
} from './drift-cost';
import { measureHandlers } from './handlers';
import { BenchServer, createBenchRepo } from './local-mode';
import { currentLoad, machineInfo } from './machine';
import { measureOverhead, type OverheadOptions, overheadPaths } from './overhead';
import { measurePlanScale, planScaleModules } from './plan-scale';
import { renderTable } from './report';
import { assembleResults, type BenchResults } from './results';
import { now } from './stats';
import { measureThroughput, type ThroughputLevel, throughputPaths } from './throughput';

/**
 * `npm run bench [-- --quick] [--tests] [--only <part>] [--out <file>]`: measures local mode, the
 * CLI, the handlers, the runner and page at three plan sizes, synthesis and cost, writes
 * results.json, the tables of README.md and bench/README.md (bench/docs.ts), and prints the
 * table. See bench/README.md. Everything runs on this machine; the only sockets are on 127.0.0.1.
 */

const ROOT = resolve(__dirname, '..');

interface Plan {
  readonly overhead: OverheadOptions;
  readonly lambdaIterations: number;
  readonly handlerRepetitions: number;
  readonly handlerVariantRepetitions: number;
  readonly throughput: readonly ThroughputLevel[];
  readonly cli: CliOptions & { readonly toolDelayMs: number };
  readonly cdkSynth: boolean;
  readonly definitionSynthRepetitions: number;
  readonly planScaleRepetitions: number;
  readonly driftCheckRepetitions: number;
}

/** Parts `--only` can run alone; a full run runs them all. */
export const PARTS = ['handlers', 'local', 'plan-scale', 'cli', 'synth', 'drift-cost'] as const;
type Part = (typeof PARTS)[number];

// Sized to finish in a few minutes on 2 CPUs: medians of 5-10 samples, one CLI wait of 45 s.
const FULL: Plan = {
  overhead: { pairs: 10, warmup: 1 },
  lambdaIterations: 10,
  handlerRepetitions: 7,
  handlerVariantRepetitions: 3,
  throughput: [
    { concurrency: 1, runsPerWorker: 3 },
    { concurrency: 10, runsPerWorker: 1 },
    { concurrency: 50, runsPerWorker: 1 },
  ],
  cli: {
    withLogs: 2,
    withoutLogs: 1,
    shortPoll: { runs: 1, seconds: 2 },
    approvalWaitMs: 45_000,
    toolDelayMs: 5000,
  },
  cdkSynth: true,
  definitionSynthRepetitions: 3,
  planScaleRepetitions: 3,
  driftCheckRepetitions: 5,
};

const QUICK: Plan = {
  overhead: { pairs: 5, warmup: 1 },
  lambdaIterations: 5,
  handlerRepetitions: 3,
  handlerVariantRepetitions: 0,
  throughput: [
    { concurrency: 1, runsPerWorker: 2 },
    { concurrency: 10, runsPerWorker: 1 },
  ],
  cli: { withLogs: 1, withoutLogs: 1, approvalWaitMs: 15_000, toolDelayMs: 3000 },
  cdkSynth: false,
  definitionSynthRepetitions: 1,
  planScaleRepetitions: 1,
  driftCheckRepetitions: 2,
};

interface Args {
  readonly quick: boolean;
  readonly tests: boolean;
  readonly only?: Part;
  readonly out: string;
}

function parseArgs(argv: readonly string[]): Args {
  const quick = argv.includes('--quick');
  const tests = argv.includes('--tests');
  const valued = ['--out', '--only'];
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? (argv[i + 1] ?? '') : undefined;
  };
  const unknown = argv.filter(
    (a, i) => !['--quick', '--tests', ...valued].includes(a) && !valued.includes(argv[i - 1] ?? ''),
  );
  const only = value('--only');
  const outArg = value('--out');
  if (
    unknown.length > 0 ||
    outArg === '' ||
    (only !== undefined && !(PARTS as readonly string[]).includes(only))
  ) {
    process.stderr.write(
      'usage: npm run bench [-- --quick] [--tests] [--only <part>] [--out <file>]\n' +
        '  --quick        a fast subset; writes to the temp folder unless --out is given\n' +
        '  --tests        also time the test suite (npm test, a few minutes)\n' +
        `  --only <part>  one part alone (${PARTS.join(', ')}); writes that part's figures to\n` +
        '                 the temp folder unless --out is given, never results.json; except\n' +
        '                 drift-cost, its own section of results.json (and the tables)\n',
    );
    process.exit(2);
  }
  const out = outArg
    ? resolve(outArg)
    : only === 'drift-cost' && !quick
      ? join(ROOT, 'bench', 'results.json')
      : only
        ? join(tmpdir(), `deploy-runner-bench-${only}.json`)
        : quick
          ? join(tmpdir(), 'deploy-runner-bench-quick.json')
          : join(ROOT, 'bench', 'results.json');
  return { quick, tests, out, ...(only && { only: only as Part }) };
}

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<void> {
  // Handler logs are JSON lines for CloudWatch; here they would bury the progress lines.
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  // The SDK warns once that its 2027 releases need Node 22; the bench has nothing to do with it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const args = parseArgs(process.argv.slice(2));
  const plan = args.quick ? QUICK : FULL;
  const started = now();
  const machine = machineInfo();
  const previousFile = join(ROOT, 'bench', 'results.json');
  const previous = existsSync(previousFile)
    ? (JSON.parse(readFileSync(previousFile, 'utf8')) as Partial<BenchResults>)
    : undefined;
  log(
    `deploy-runner bench (${args.quick ? 'quick' : 'full'}): ${machine.cpus} CPUs, load ${machine.loadAverageAtStart.join(' ')}, node ${machine.node}`,
  );

  /** Logs a section's start and notes how busy the machine was then. */
  const section = (key: string, text: string) => {
    machine.loadAverages[key] = currentLoad();
    log(text);
  };
  const want = (part: Part) => args.only === undefined || args.only === part;
  const scratch = mkdtempSync(join(tmpdir(), 'dr-bench-run-'));
  try {
    let handlers: Awaited<ReturnType<typeof measureHandlers>> | undefined;
    if (want('handlers')) {
      section('handlers', 'Lambda handlers: bundles and cold imports');
      handlers = await measureHandlers({
        repetitions: plan.handlerRepetitions,
        variantRepetitions: plan.handlerVariantRepetitions,
        progress: log,
      });
    }

    const needsServer = want('local') || want('plan-scale') || want('cli') || want('drift-cost');
    const bundle = needsServer ? await bundleRunner(join(scratch, 'runner')) : undefined;
    const repo = needsServer
      ? createBenchRepo(
          join(scratch, 'infra'),
          [
            ...overheadPaths(plan.overhead),
            'envs/cost-rejected',
            ...throughputPaths(plan.throughput),
            ...cliPaths(plan.cli),
            DRIFT_COST_MODULES.drifted,
          ],
          {
            ...planScaleModules(),
            // In sync: no resources in the code, none in reality.
            [DRIFT_COST_MODULES.quiet]: { resources: [] },
          },
        )
      : undefined;

    let local:
      | {
          overhead: Awaited<ReturnType<typeof measureOverhead>>;
          scenarios: Awaited<ReturnType<typeof runCostScenarios>>;
          durations: Awaited<ReturnType<typeof measureHandlerDurations>>;
          throughput: Awaited<ReturnType<typeof measureThroughput>>;
          localServerStartMs: number;
        }
      | undefined;
    let planScale: Awaited<ReturnType<typeof measurePlanScale>> | undefined;
    let config: DeployRunnerConfig | undefined;
    if (bundle && repo && (want('local') || want('plan-scale'))) {
      section('localServer', 'Local mode: runner bundle, repo, server');
      const serverStart = now();
      const bench = await BenchServer.start({ bundle, repo });
      const localServerStartMs = now() - serverStart;
      config = bench.config;
      try {
        if (want('local')) {
          section(
            'overhead',
            `Orchestration overhead: ${plan.overhead.pairs} pairs (+${plan.overhead.warmup} warm-up)`,
          );
          const overhead = await measureOverhead(bench, plan.overhead, log);
          section('cost', 'Cost: no-changes and rejected runs, handler durations');
          const scenarios = await runCostScenarios(
            bench,
            overhead.happyPath,
            overhead.appliedPaths[0] as string,
            'envs/cost-rejected',
          );
          const durations = await measureHandlerDurations(
            bench,
            scenarios,
            overhead.decisions,
            plan.lambdaIterations,
          );
          section('throughput', 'Throughput');
          const throughput = await measureThroughput(bench, plan.throughput, log);
          local = { overhead, scenarios, durations, throughput, localServerStartMs };
        }
        if (want('plan-scale')) {
          section('planScale', 'Runner and approval page at 10, 100 and 1,000 resources');
          planScale = await measurePlanScale(bench, plan.planScaleRepetitions, log);
        }
      } finally {
        await bench.close();
      }
    }

    let cli: Awaited<ReturnType<typeof measureCli>> | undefined;
    if (bundle && repo && want('cli')) {
      section(
        'cli',
        `CLI: ${cliPaths(plan.cli).length} runs followed by deploy-runner wait, ${plan.cli.approvalWaitMs / 1000} s at approval`,
      );
      const slowBench = await BenchServer.start({
        bundle,
        repo,
        toolDelayMs: plan.cli.toolDelayMs,
      });
      try {
        cli = await measureCli(slowBench, plan.cli);
      } finally {
        await slowBench.close();
      }
    }

    let driftCost: DriftCostResult | undefined;
    if (bundle && repo && want('drift-cost')) {
      section(
        'driftCost',
        `Drift checks: ${plan.driftCheckRepetitions} quiet and one that found drift, template sizes`,
      );
      const template = driftTemplate(loadConfig(join(ROOT, 'deploy-runner.config.json')));
      const driftBench = await BenchServer.start({ bundle, repo });
      try {
        driftCost = await measureDriftCost(driftBench, template, {
          repetitions: plan.driftCheckRepetitions,
          loadAverage: currentLoad(),
          generatedBy: `npm run bench${args.only ? ` -- --only ${args.only}` : ''}${args.quick ? ' --quick' : ''}`,
        });
      } finally {
        await driftBench.close();
      }
    }

    let synth:
      | {
          definitionSynth: ReturnType<typeof measureDefinitionSynth>;
          cdkSynth: Awaited<ReturnType<typeof measureCdkSynth>> | null;
        }
      | undefined;
    if (want('synth')) {
      section('synth', 'Synthesis: definition, cdk synth');
      const definitionSynth = measureDefinitionSynth(
        config ?? loadConfig(join(ROOT, 'deploy-runner.config.json')),
        plan.definitionSynthRepetitions,
      );
      const cdkSynth = plan.cdkSynth ? await measureCdkSynth() : null;
      if (cdkSynth && cdkSynth.exitCode !== 0)
        log(`  cdk synth exited ${cdkSynth.exitCode}: ${cdkSynth.tail.join(' / ')}`);
      synth = { definitionSynth, cdkSynth };
    }

    let testSuite = null;
    if (args.tests) {
      section('testSuite', 'Test suite: npm test');
      testSuite = await measureTestSuite();
    }

    machine.loadAverages.end = currentLoad();
    if (args.only === 'drift-cost' && driftCost && args.out === previousFile) {
      // Its own section, with its own date and load: the other figures stay as they were.
      if (!previous) throw new Error(`${previousFile} is missing: run the full bench first`);
      const merged = { ...previous, driftCost } as BenchResults;
      writeFileSync(args.out, `${JSON.stringify(merged, null, 2)}\n`);
      process.stdout.write(`${JSON.stringify(driftCost, null, 2)}\n`);
      writeDocs(ROOT, merged);
      log(
        `Wrote the driftCost section of ${args.out} and the tables in ${Math.round((now() - started) / 1000)} s.`,
      );
      return;
    }
    if (args.only) {
      // One part alone: its own figures, never mixed into results.json with another run's.
      const part = { handlers, local, planScale, cli, synth, driftCost }[
        args.only === 'plan-scale'
          ? 'planScale'
          : args.only === 'drift-cost'
            ? 'driftCost'
            : args.only
      ];
      const figures = {
        generatedBy: `npm run bench -- --only ${args.only}${args.quick ? ' --quick' : ''}`,
        benchDurationMs: Math.round(now() - started),
        machine,
        [args.only]: part,
      };
      writeFileSync(args.out, `${JSON.stringify(figures, null, 2)}\n`);
      process.stdout.write(`${JSON.stringify(figures[args.only], null, 2)}\n`);
      log(`Wrote ${args.out} in ${Math.round((now() - started) / 1000)} s.`);
      return;
    }
    if (!handlers || !local || !cli || !synth || !planScale || !driftCost)
      throw new Error('a full run measures every part');

    section('costModel', 'Cost model: template facts');
    const template = templateFacts(loadConfig(join(ROOT, 'deploy-runner.config.json')));
    const coldImportMs = Object.fromEntries(
      handlers.handlers.map((h) => [h.name, h.coldImportMs]),
    ) as Record<HandlerName, number>;
    const cost = computeCost(local.scenarios, local.durations, coldImportMs, template);
    const results = assembleResults({
      mode: args.quick ? 'quick' : 'full',
      benchDurationMs: now() - started,
      machine,
      overhead: local.overhead.result,
      cost,
      handlers,
      cli,
      throughput: local.throughput,
      planScale,
      cdkSynth: synth.cdkSynth,
      definitionSynth: synth.definitionSynth,
      localServerStartMs: local.localServerStartMs,
      testSuite,
      driftCost,
      previous,
    });
    writeFileSync(args.out, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`\n${renderTable(results)}\n\n`);
    log(`Wrote ${args.out} in ${Math.round((now() - started) / 1000)} s.`);
    if (args.out === previousFile) {
      writeDocs(ROOT, results);
      log('Wrote the tables of README.md and bench/README.md from it.');
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
