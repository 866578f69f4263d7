import { chmod, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build, type Plugin } from 'esbuild';

/** Paths of the bundled runner and simulator. */
export interface RunnerBundle {
  /** `runner.js`: run with `node runner.js` (the image's entry point); needs `s3-store.js` beside it. */
  readonly runner: string;
  /** `terraform-sim.js`: executable (`#!/usr/bin/env node`, mode 755), usable as DR_TOOL_PATH. */
  readonly simulator: string;
}

const ROOT = resolve(__dirname, '..', '..');

/**
 * The AWS SDK is most of the runner's code but only needed with a bucket: it goes into its own
 * file, `s3-store.js` beside `runner.js`, loaded on first use, so local runs start fast.
 */
const separateS3Store: Plugin = {
  name: 'separate-s3-store',
  setup(b) {
    b.onResolve({ filter: /\/artifacts\/s3-store(\.js)?$/ }, (args) =>
      args.kind === 'dynamic-import' ? { path: './s3-store.js', external: true } : undefined,
    );
  },
};

/** The terraform simulator: a tool for local mode, the demo, tests and the bench, never the image. */
const SIMULATOR_ENTRY = join(ROOT, 'tools/terraform-sim/terraform-sim.ts');

const COMMON = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
  legalComments: 'none',
} as const;

/**
 * What the image runs: `runner.js` and `s3-store.js` in `outDir`, built with esbuild (platform
 * node, target node20, CommonJS). The Dockerfile runs exactly this, so nothing outside the
 * image's build context (lib, containers/runner) may be an entry point here.
 */
export async function bundleRunnerImage(outDir: string): Promise<{ runner: string }> {
  await mkdir(outDir, { recursive: true });
  const runner = join(outDir, 'runner.js');
  await Promise.all([
    build({
      ...COMMON,
      entryPoints: [join(ROOT, 'containers/runner/src/main.ts')],
      outfile: runner,
      plugins: [separateS3Store],
    }),
    build({
      ...COMMON,
      entryPoints: [join(ROOT, 'lib/artifacts/s3-store.ts')],
      outfile: join(outDir, 's3-store.js'),
    }),
  ]);
  return { runner };
}

/**
 * The image's bundle plus the terraform simulator (`tools/terraform-sim`), for local mode, the
 * demo, tests and the bench: the runner runs on this machine with the simulator as DR_TOOL_PATH.
 */
export async function bundleRunner(outDir: string): Promise<RunnerBundle> {
  const simulator = join(outDir, 'terraform-sim.js');
  const [{ runner }] = await Promise.all([
    bundleRunnerImage(outDir),
    build({
      ...COMMON,
      entryPoints: [SIMULATOR_ENTRY],
      outfile: simulator,
      banner: { js: '#!/usr/bin/env node' },
    }),
  ]);
  await chmod(simulator, 0o755);
  return { runner, simulator };
}

// `tsx containers/runner/bundle.ts <outDir>`: how the Dockerfile builds the image's runner (no
// simulator: tools/ is outside the image's build context).
if (require.main === module) {
  const outDir = process.argv[2];
  if (!outDir) {
    process.stderr.write('usage: tsx containers/runner/bundle.ts <outDir>\n');
    process.exit(2);
  }
  bundleRunnerImage(outDir).then(
    (files) => process.stdout.write(`${JSON.stringify(files)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
