import { statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

/** What buildCli produced. */
export interface CliBundle {
  readonly outfile: string;
  readonly bytes: number;
  /** esbuild's warnings, formatted; a clean build has none. */
  readonly warnings: readonly string[];
}

export interface BuildCliOptions {
  /**
   * Bundle the npm dependencies too, so `node dist/cli.js` runs without node_modules (what a
   * composite action checkout has). @default true
   */
  readonly bundleDependencies?: boolean;
  /** @default false */
  readonly minify?: boolean;
}

/**
 * Bundles bin/deploy-runner.ts into one CommonJS file for Node 20+, which bin/deploy-runner.js
 * runs when present instead of compiling TypeScript with tsx on every start.
 */
export async function buildCli(outfile: string, options: BuildCliOptions = {}): Promise<CliBundle> {
  const result = await build({
    entryPoints: [join(__dirname, '..', '..', 'bin', 'deploy-runner.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: options.minify ?? false,
    sourcemap: false,
    legalComments: 'none',
    packages: options.bundleDependencies === false ? 'external' : undefined,
    banner: { js: '#!/usr/bin/env node' },
    logLevel: 'silent',
  });
  return {
    outfile,
    bytes: statSync(outfile).size,
    warnings: result.warnings.map((w) => `${w.location?.file ?? ''}: ${w.text}`),
  };
}
