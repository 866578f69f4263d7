import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildCiBundle } from '../lib/cli/build';

/**
 * `npm run bench:cli-bundle [-- --runs N] [-- --out <file>]`: what CI pays for the CLI. The CI
 * bundle's size, and the start time of `--help` (process start to exit: load, parse, print)
 * for the bundle run from an empty directory with no node_modules, against the same-run
 * baseline of the TypeScript source through tsx (what a checkout without a bundle runs).
 * Medians of N runs, alternating, on this machine.
 */

const ROOT = resolve(__dirname, '..');

function arg(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

function timeRun(command: string, args: string[], cwd: string): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: cwd },
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr}`);
  return ms;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function main() {
  const runs = Number(arg('runs') ?? 7);
  const dir = mkdtempSync(join(tmpdir(), 'dr-bench-cli-'));
  try {
    const buildStarted = process.hrtime.bigint();
    const bundle = await buildCiBundle(join(dir, 'deploy-runner-ci.cjs'));
    const buildMs = Number(process.hrtime.bigint() - buildStarted) / 1e6;
    const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
    const source = join(ROOT, 'bin', 'deploy-runner.ts');
    const bundleMs: number[] = [];
    const sourceMs: number[] = [];
    // One warm-up each (file cache), then alternate so both see the same load.
    timeRun(process.execPath, [bundle.outfile, '--help'], dir);
    timeRun(tsx, [source, 'start', '--help'], ROOT);
    for (let i = 0; i < runs; i++) {
      bundleMs.push(timeRun(process.execPath, [bundle.outfile, 'start', '--help'], dir));
      sourceMs.push(timeRun(tsx, [source, 'start', '--help'], ROOT));
    }
    const result = {
      bundleBytes: bundle.bytes,
      bundleSha256: bundle.sha256,
      bundleInputs: bundle.inputs.length,
      buildMs: Math.round(buildMs),
      runs,
      startMedianMs: {
        bundle: Math.round(median(bundleMs)),
        sourceThroughTsx: Math.round(median(sourceMs)),
      },
      node: process.version,
    };
    const out = arg('out');
    if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(
      `CI bundle: ${(bundle.bytes / 1e6).toFixed(2)} MB, built in ${result.buildMs} ms\n` +
        `start (--help, median of ${runs}): bundle ${result.startMedianMs.bundle} ms, ` +
        `source through tsx ${result.startMedianMs.sourceThroughTsx} ms\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
