import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bundleRunner } from '../containers/runner/bundle';
import { loadConfig } from '../lib/config';
import { measureCdkSynth, measureDefinitionSynth, measureTestSuite } from './build-times';
import { type CliOptions, measureCli } from './cli';
import {
  computeCost,
  type HandlerName,
  measureHandlerDurations,
  runCostScenarios,
  templateFacts,
} from './cost';
import { measureHandlers } from './handlers';
import { BenchServer, createBenchRepo } from './local-mode';
import { currentLoad, machineInfo } from './machine';
import { measureOverhead, type OverheadOptions, overheadPaths } from './overhead';
import { renderTable } from './report';
import { assembleResults, type BenchResults } from './results';
import { now } from './stats';
import { measureThroughput, type ThroughputLevel, throughputPaths } from './throughput';

/**
 * `npm run bench [-- --quick] [-- --tests] [-- --out <file>]`: measures local mode, the CLI, the
 * handlers, synthesis and cost, writes results.json and prints the table. See bench/README.md.
 * Everything runs on this machine; the only sockets are on 127.0.0.1.
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
}

const FULL: Plan = {
  overhead: { pairs: 20, warmup: 1 },
  lambdaIterations: 20,
  handlerRepetitions: 10,
  handlerVariantRepetitions: 5,
  throughput: [
    { concurrency: 1, runsPerWorker: 4 },
    { concurrency: 10, runsPerWorker: 2 },
    { concurrency: 50, runsPerWorker: 1 },
  ],
  cli: { withLogs: 2, withoutLogs: 1, approvalWaitMs: 45_000, toolDelayMs: 5000 },
  cdkSynth: true,
  definitionSynthRepetitions: 3,
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
};

interface Args {
  readonly quick: boolean;
  readonly tests: boolean;
  readonly out: string;
}

function parseArgs(argv: readonly string[]): Args {
  const quick = argv.includes('--quick');
  const tests = argv.includes('--tests');
  const outIndex = argv.indexOf('--out');
  const unknown = argv.filter(
    (a, i) => !['--quick', '--tests', '--out'].includes(a) && argv[i - 1] !== '--out',
  );
  if (unknown.length > 0 || (outIndex >= 0 && !argv[outIndex + 1])) {
    process.stderr.write(
      'usage: npm run bench [-- --quick] [--tests] [--out <file>]\n' +
        '  --quick  a fast subset (about 2 minutes); writes to the temp folder unless --out is given\n' +
        '  --tests  also time the test suite (npx vitest run, a few minutes)\n',
    );
    process.exit(2);
  }
  const out =
    outIndex >= 0
      ? resolve(argv[outIndex + 1] as string)
      : quick
        ? join(tmpdir(), 'deploy-runner-bench-quick.json')
        : join(ROOT, 'bench', 'results.json');
  return { quick, tests, out };
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
  const scratch = mkdtempSync(join(tmpdir(), 'dr-bench-run-'));
  try {
    section('handlers', 'Lambda handlers: bundles and cold imports');
    const handlers = await measureHandlers({
      repetitions: plan.handlerRepetitions,
      variantRepetitions: plan.handlerVariantRepetitions,
      progress: log,
    });

    section('localServer', 'Local mode: runner bundle, repo, server');
    const bundle = await bundleRunner(join(scratch, 'runner'));
    const cliPaths = Array.from(
      { length: plan.cli.withLogs + plan.cli.withoutLogs },
      (_, i) => `envs/cli-${String(i).padStart(3, '0')}`,
    );
    const repo = createBenchRepo(join(scratch, 'infra'), [
      ...overheadPaths(plan.overhead),
      'envs/cost-rejected',
      ...throughputPaths(plan.throughput),
      ...cliPaths,
    ]);
    const serverStart = now();
    const bench = await BenchServer.start({ bundle, repo });
    const localServerStartMs = now() - serverStart;
    const config = bench.config;

    let overhead: Awaited<ReturnType<typeof measureOverhead>>;
    let scenarios: Awaited<ReturnType<typeof runCostScenarios>>;
    let durations: Awaited<ReturnType<typeof measureHandlerDurations>>;
    let throughput: Awaited<ReturnType<typeof measureThroughput>>;
    try {
      section(
        'overhead',
        `Orchestration overhead: ${plan.overhead.pairs} pairs (+${plan.overhead.warmup} warm-up)`,
      );
      overhead = await measureOverhead(bench, plan.overhead, log);
      section('cost', 'Cost: no-changes and rejected runs, handler durations');
      scenarios = await runCostScenarios(
        bench,
        overhead.happyPath,
        overhead.appliedPaths[0] as string,
        'envs/cost-rejected',
      );
      durations = await measureHandlerDurations(
        bench,
        scenarios,
        overhead.decisions,
        plan.lambdaIterations,
      );
      section('throughput', 'Throughput');
      throughput = await measureThroughput(bench, plan.throughput, log);
    } finally {
      await bench.close();
    }

    section(
      'cli',
      `CLI: ${plan.cli.withLogs + plan.cli.withoutLogs} runs followed by deploy-runner wait, ${plan.cli.approvalWaitMs / 1000} s at approval`,
    );
    const slowBench = await BenchServer.start({ bundle, repo, toolDelayMs: plan.cli.toolDelayMs });
    let cli: Awaited<ReturnType<typeof measureCli>>;
    try {
      cli = await measureCli(slowBench, plan.cli);
    } finally {
      await slowBench.close();
    }

    section('synth', 'Synthesis: template facts, definition, cdk synth');
    const template = templateFacts(loadConfig(join(ROOT, 'deploy-runner.config.json')));
    const coldImportMs = Object.fromEntries(
      handlers.handlers.map((h) => [h.name, h.coldImportMs]),
    ) as Record<HandlerName, number>;
    const cost = computeCost(scenarios, durations, coldImportMs, template);
    const definitionSynth = measureDefinitionSynth(config, plan.definitionSynthRepetitions);
    const cdkSynth = plan.cdkSynth ? await measureCdkSynth() : null;
    if (cdkSynth && cdkSynth.exitCode !== 0)
      log(`  cdk synth exited ${cdkSynth.exitCode}: ${cdkSynth.tail.join(' / ')}`);

    let testSuite = null;
    if (args.tests) {
      section('testSuite', 'Test suite: npx vitest run');
      testSuite = await measureTestSuite();
    }

    machine.loadAverages.end = currentLoad();
    const results = assembleResults({
      mode: args.quick ? 'quick' : 'full',
      benchDurationMs: now() - started,
      machine,
      overhead: overhead.result,
      cost,
      handlers,
      cli,
      throughput,
      cdkSynth,
      definitionSynth,
      localServerStartMs,
      testSuite,
      previous,
    });
    writeFileSync(args.out, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`\n${renderTable(results)}\n\n`);
    log(`Wrote ${args.out} in ${Math.round((now() - started) / 1000)} s.`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
