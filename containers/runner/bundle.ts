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

/**
 * Bundles the runner (and the terraform simulator used by tests and local mode) into `outDir`
 * with esbuild: platform node, target node20, CommonJS, one file each. The Dockerfile runs the
 * same build for the image.
 */
export async function bundleRunner(outDir: string): Promise<RunnerBundle> {
  await mkdir(outDir, { recursive: true });
  const runner = join(outDir, 'runner.js');
  const simulator = join(outDir, 'terraform-sim.js');
  const common = {
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'warning',
    legalComments: 'none',
  } as const;
  await Promise.all([
    build({
      ...common,
      entryPoints: [join(ROOT, 'containers/runner/src/main.ts')],
      outfile: runner,
      plugins: [separateS3Store],
    }),
    build({
      ...common,
      entryPoints: [join(ROOT, 'lib/artifacts/s3-store.ts')],
      outfile: join(outDir, 's3-store.js'),
    }),
    build({
      ...common,
      entryPoints: [join(ROOT, 'test/simulator/terraform-sim.ts')],
      outfile: simulator,
      banner: { js: '#!/usr/bin/env node' },
    }),
  ]);
  await chmod(simulator, 0o755);
  return { runner, simulator };
}

// `tsx containers/runner/bundle.ts <outDir>`: how the Dockerfile builds the image's runner.
if (require.main === module) {
  const outDir = process.argv[2];
  if (!outDir) {
    process.stderr.write('usage: tsx containers/runner/bundle.ts <outDir>\n');
    process.exit(2);
  }
  bundleRunner(outDir).then(
    (files) => process.stdout.write(`${JSON.stringify(files)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
