import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { build, type Plugin } from 'esbuild';

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
    // @actions/core is an ES module, which a dynamic import cannot find through NODE_PATH; it is
    // small once its HTTP client is left out, so it is always bundled. zod is always bundled
    // too: required from node_modules, its CommonJS build loads every module and locale, a
    // tenth of a second of every start; bundled, esbuild keeps what the CLI uses.
    external: options.bundleDependencies ? ['esbuild'] : installedPackages(),
    plugins: [noHttpClient],
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

/** Dependencies that dist/cli.js carries inside (see buildCli's `external`). */
const ALWAYS_BUNDLED = new Set(['@actions/core', 'zod']);

/** The package's dependencies, resolved from node_modules at run time by the dist/cli.js bundle. */
function installedPackages(): string[] {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  return Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter(
    (name) => !ALWAYS_BUNDLED.has(name),
  );
}

/** What buildCiBundle produced. */
export interface CiBundle extends CliBundle {
  /** SHA-256 of the bundle, hex; also written to `<outfile>.sha256` in `sha256sum` format. */
  readonly sha256: string;
  /** Every source file esbuild put into the bundle (esbuild's metafile inputs). */
  readonly inputs: readonly string[];
}

/**
 * @actions/core needs @actions/http-client only for getIDToken, which the CLI never calls
 * (configure-aws-credentials fetches the OIDC token); the real client brings undici, about
 * 400 kB, so the CI bundle gets a stand-in that throws.
 */
const noHttpClient: Plugin = {
  name: 'no-http-client',
  setup(b) {
    b.onResolve({ filter: /^@actions\/http-client(\/.*)?$/ }, () => ({
      path: join(__dirname, 'bundle', 'no-http-client.ts'),
    }));
  },
};

/**
 * The CLI for CI: bin/ci.ts (start, wait, logs, status, list) and every dependency in one
 * minified file that runs on Node 20+ with no node_modules. Neither local mode nor the CDK is
 * reachable from bin/ci.ts, and test/cli/build.test.ts checks that they stay out.
 * .github/workflows/release-cli.yml publishes it with its checksum; action.yml runs it.
 */
export async function buildCiBundle(outfile: string): Promise<CiBundle> {
  const result = await build({
    entryPoints: [join(__dirname, '..', '..', 'bin', 'ci.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    metafile: true,
    plugins: [noHttpClient],
    banner: { js: '#!/usr/bin/env node' },
    define: { 'require.main': 'undefined' },
    footer: { js: 'if (require.main === module) module.exports.main();' },
    logLevel: 'silent',
  });
  const bytes = readFileSync(outfile);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(`${outfile}.sha256`, `${sha256}  ${basename(outfile)}\n`);
  return {
    outfile,
    bytes: bytes.length,
    sha256,
    inputs: Object.keys(result.metafile.inputs),
    warnings: result.warnings.map((w) => `${w.location?.file ?? ''}: ${w.text}`),
  };
}
