import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resources } from '../test/e2e/harness';
import type { BenchServer } from './local-mode';
import { median, now, round } from './stats';

/**
 * How the runner's own work and the approval page grow with the plan: modules of 10, 100 and
 * 1,000 resources (the terraform simulator, so terraform's own time does not drown the runner's).
 *
 * Runner: `node runner.js` in plan mode (plan, summary, upload of the plan artifacts), directly
 * with the server's environment. Its own CPU time and peak RSS come from the runner process
 * itself (a preload writes `process.resourceUsage()` at exit), so the tool's processes are not
 * counted; the same-run baseline is a bare `node` with the same preload.
 * Approval page: a real run of each module parked at `Request approval`, its page fetched as a
 * browser does (GET through the local server: the approval-page function reads the run, the
 * summary and the plan text, and renders); the same-run baseline is the same function's answer
 * to an unknown link (no run, no plan).
 */

export const PLAN_SIZES = [10, 100, 1000] as const;

export const planScalePaths = (): string[] => PLAN_SIZES.map((n) => `envs/scale-${n}`);

/** The modules: `envs/scale-<n>` with n simulator resources. */
export function planScaleModules(): Record<string, { resources: ReturnType<typeof resources> }> {
  return Object.fromEntries(
    PLAN_SIZES.map((n) => [
      `envs/scale-${n}`,
      { resources: resources(...Array.from({ length: n }, (_, i) => `r${i}`)) },
    ]),
  );
}

export interface PlanScaleRow {
  readonly resources: number;
  /** Wall time of the runner's plan task (tool included), median. */
  readonly runnerWallMs: number;
  /** CPU time of the runner process itself (tool excluded), minus bare node's. */
  readonly runnerCpuMs: number;
  /** Peak RSS of the runner process, and that minus bare node's. */
  readonly runnerPeakRssMb: number;
  readonly runnerPeakRssOverNodeMb: number;
  /** Bytes of the plan artifacts the runner uploaded (JSON plan + text + summary). */
  readonly artifactBytes: number;
  /** GET of the approval page, median, and minus the unknown-link baseline. */
  readonly pageMs: number;
  readonly pageOverBaselineMs: number;
  readonly pageBytes: number;
}

export interface PlanScaleResult {
  readonly repetitions: number;
  readonly baseline: {
    readonly bareNodeCpuMs: number;
    readonly bareNodePeakRssMb: number;
    readonly unknownLinkPageMs: number;
    readonly unknownLinkPageBytes: number;
  };
  readonly rows: PlanScaleRow[];
  readonly note: string;
}

interface Usage {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly maxRssKb: number;
}

/** Runs node with a preload that records the process's own resource usage at exit. */
function runWithUsage(
  root: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<Usage> {
  const usageFile = join(root, `usage-${randomUUID()}.json`);
  const preload = join(root, 'usage-preload.js');
  writeFileSync(
    preload,
    "process.on('exit',()=>{const u=process.resourceUsage();require('fs').writeFileSync(process.env.DR_BENCH_USAGE_FILE,JSON.stringify({cpu:(u.userCPUTime+u.systemCPUTime)/1000,rss:u.maxRSS}))});\n",
  );
  const t0 = now();
  const child = spawn(process.execPath, ['--require', preload, ...args], {
    cwd,
    env: { ...env, DR_BENCH_USAGE_FILE: usageFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout.on('data', (c: Buffer) => output.push(c.toString()));
  child.stderr.on('data', (c: Buffer) => output.push(c.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = now() - t0;
      if (code !== 0) {
        reject(new Error(`node ${args.join(' ')} exited ${code}: ${output.join('').slice(-2000)}`));
        return;
      }
      const usage = JSON.parse(readFileSync(usageFile, 'utf8')) as { cpu: number; rss: number };
      rmSync(usageFile, { force: true });
      resolve({ wallMs, cpuMs: usage.cpu, maxRssKb: usage.rss });
    });
  });
}

async function timedGet(url: string): Promise<{ ms: number; bytes: number; status: number }> {
  const t0 = now();
  const res = await fetch(url);
  const body = await res.arrayBuffer();
  return { ms: now() - t0, bytes: body.byteLength, status: res.status };
}

export async function measurePlanScale(
  bench: BenchServer,
  repetitions: number,
  progress: (line: string) => void,
): Promise<PlanScaleResult> {
  const root = join(bench.root, 'plan-scale');
  mkdirSync(root, { recursive: true });
  const mb = (kb: number) => round(kb / 1024);

  const bare: Usage[] = [];
  for (let i = 0; i < repetitions; i++) bare.push(await runWithUsage(root, ['-e', ''], {}, root));
  const bareCpu = median(bare.map((u) => u.cpuMs));
  const bareRss = median(bare.map((u) => u.maxRssKb));

  const unknownLink = `${bench.server.url}/a/${'A'.repeat(43)}`;
  // Warm the server's page path once, so the first size does not pay for it.
  await timedGet(unknownLink);
  const rows: PlanScaleRow[] = [];
  const baselinePage: Array<{ ms: number; bytes: number }> = [];
  for (const n of PLAN_SIZES) {
    const path = `envs/scale-${n}`;
    const usages: Usage[] = [];
    let artifactBytes = 0;
    for (let i = 0; i < repetitions; i++) {
      const runId = `bench-scale-${n}-${i}-${Date.now()}`;
      const workDir = join(root, 'work', randomUUID().replace(/-/g, ''));
      mkdirSync(workDir, { recursive: true });
      usages.push(
        await runWithUsage(
          root,
          [bench.runnerScript],
          {
            ...bench.runnerEnv,
            DR_REPO: 'infra',
            DR_REF: 'main',
            DR_PATH: path,
            DR_RUN_ID: runId,
            DR_EXECUTION_ARN: `${bench.server.stateMachineArn.replace(':stateMachine:', ':execution:')}:${runId}`,
            DR_MODE: 'plan',
            DR_WORK_DIR: workDir,
          },
          workDir,
        ),
      );
      rmSync(workDir, { recursive: true, force: true });
      artifactBytes = Number(
        execFileSync('du', ['-sb', join(bench.server.artifactDir, 'runs', runId)], {
          encoding: 'utf8',
        }).split('\t')[0],
      );
    }

    // The page of a real run of this module, parked at the approval.
    const executionArn = await bench.start(path, `bench-scale-page-${n}-${Date.now()}`);
    const [link] = await bench.approvalLinks(executionArn, 600_000);
    const pages: Array<{ ms: number; bytes: number }> = [];
    for (let i = 0; i < repetitions; i++) {
      const page = await timedGet(link as string);
      if (page.status !== 200) throw new Error(`approval page of ${path}: HTTP ${page.status}`);
      pages.push(page);
      const baseline = await timedGet(unknownLink);
      if (baseline.status < 400) throw new Error(`an unknown link answered ${baseline.status}`);
      baselinePage.push(baseline);
    }
    await bench.decide(link as string, 'reject', 'bench: page measured');
    await bench.settled(executionArn);

    const pageMs = median(pages.map((p) => p.ms));
    const baselineMs = median(baselinePage.map((p) => p.ms));
    rows.push({
      resources: n,
      runnerWallMs: round(median(usages.map((u) => u.wallMs))),
      runnerCpuMs: round(median(usages.map((u) => u.cpuMs)) - bareCpu),
      runnerPeakRssMb: mb(median(usages.map((u) => u.maxRssKb))),
      runnerPeakRssOverNodeMb: mb(median(usages.map((u) => u.maxRssKb)) - bareRss),
      artifactBytes,
      pageMs: round(pageMs),
      pageOverBaselineMs: round(pageMs - baselineMs),
      pageBytes: median(pages.map((p) => p.bytes)),
    });
    progress(`  ${n} resources: runner ${rows.at(-1)?.runnerWallMs} ms, page ${round(pageMs)} ms`);
  }
  return {
    repetitions,
    baseline: {
      bareNodeCpuMs: round(bareCpu),
      bareNodePeakRssMb: mb(bareRss),
      unknownLinkPageMs: round(median(baselinePage.map((p) => p.ms))),
      unknownLinkPageBytes: median(baselinePage.map((p) => p.bytes)),
    },
    rows,
    note: 'Runner: plan mode of the bundled runner (plan, summary, upload) on a module of N simulator resources; CPU and peak RSS are the runner process own (tool excluded), CPU minus a bare node in the same run. Page: GET of the approval page of a run of the same module parked at Request approval, and the same function answering an unknown link (baseline).',
  };
}
