import { chmod, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

/** Paths of the bundled runner and simulator. */
export interface RunnerBundle {
  /** `runner.js`: run with `node runner.js` (the image's entry point). */
  readonly runner: string;
  /** `terraform-sim.js`: executable (`#!/usr/bin/env node`, mode 755), usable as DR_TOOL_PATH. */
  readonly simulator: string;
}

const ROOT = resolve(__dirname, '..', '..');

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
