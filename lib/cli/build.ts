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
   * Bundle the npm dependencies too, so the CI commands run without node_modules. Local mode
   * stays out of reach of such a bundle (it needs esbuild at run time, and esbuild cannot be
   * bundled), and the bundle is large (local mode pulls in the CDK). @default false - the
   * bundle requires its dependencies from node_modules, as an installed package has them
   */
  readonly bundleDependencies?: boolean;
  /** @default false */
  readonly minify?: boolean;
}

/**
 * Bundles bin/deploy-runner.ts into one CommonJS file for Node 20+, which bin/deploy-runner.js
 * runs when present instead of compiling TypeScript with tsx on every start. Written for
 * `dist/cli.js`: dependencies resolve from the package's node_modules.
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
    ...(options.bundleDependencies ? { external: ['esbuild'] } : { packages: 'external' as const }),
    banner: { js: '#!/usr/bin/env node' },
    // In one bundle every module's `require.main === module` guard would be true and run that
    // module as a script (containers/runner/bundle.ts has one); only the bundle itself may.
    define: { 'require.main': 'undefined' },
    footer: { js: 'if (require.main === module) module.exports.main();' },
    logLevel: 'silent',
  });
  return {
    outfile,
    bytes: statSync(outfile).size,
    warnings: result.warnings.map((w) => `${w.location?.file ?? ''}: ${w.text}`),
  };
}
