import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { build, version as esbuildVersion, type Metafile, type Plugin, transform } from 'esbuild';

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
 * lib/contracts.ts holds every schema of the project, and zod builds each one when the module
 * loads: in the runner, which uses a handful, that was the largest part of its own start. Its
 * top-level `const x = <call>` declarations only build values, so each initializer is marked pure
 * (`/* @__PURE__ *\/ (() => (<call>))()`) and esbuild leaves out those nothing in the runner
 * reads. What is kept is built as before. esbuild strips the types first and acorn, a JavaScript
 * parser, finds the initializers in what is left; it is loaded only when a build runs.
 */
const pureContracts: Plugin = {
  name: 'pure-contracts',
  setup(b) {
    b.onLoad({ filter: /[\\/]lib[\\/]contracts\.ts$/ }, async (args) => {
      const { parse } = await import('acorn');
      const { code } = await transform(await readFile(args.path, 'utf8'), {
        loader: 'ts',
        format: 'esm',
        target: 'esnext',
        sourcefile: args.path,
      });
      const inserts: [number, string][] = [];
      for (const node of parse(code, { ecmaVersion: 'latest', sourceType: 'module' }).body) {
        const statement = node.type === 'ExportNamedDeclaration' ? node.declaration : node;
        if (statement?.type !== 'VariableDeclaration' || statement.kind !== 'const') continue;
        for (const { init } of statement.declarations) {
          if (init?.type !== 'CallExpression') continue;
          inserts.push([init.start, '/* @__PURE__ */ (() => ('], [init.end, '))()']);
        }
      }
      let contents = code;
      for (const [at, insert] of inserts.sort((x, y) => y[0] - x[0]))
        contents = contents.slice(0, at) + insert + contents.slice(at);
      return { contents, loader: 'js' };
    });
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
  await bundleImage(outDir);
  return { runner: join(outDir, 'runner.js') };
}

/**
 * The image's bundle plus the terraform simulator (`tools/terraform-sim`), for local mode, the
 * demo, tests and the bench: the runner runs on this machine with the simulator as DR_TOOL_PATH.
 *
 * esbuild's child process spends about a second of CPU on the three files, on every local-mode
 * start, for the same output: the last build is kept in node_modules/.cache and copied when
 * every file esbuild read for it (its metafile's inputs) has the same content, as have this file,
 * the manifests and esbuild's version, and the kept outputs are the ones recorded.
 * `reuse: false` always builds.
 */
export async function bundleRunner(
  outDir: string,
  options: { readonly reuse?: boolean } = {},
): Promise<RunnerBundle> {
  const runner = join(outDir, 'runner.js');
  const simulator = join(outDir, 'terraform-sim.js');
  await mkdir(outDir, { recursive: true });
  if (options.reuse !== false && (await copyKeptBuild(outDir))) return { runner, simulator };
  const started = Date.now();
  const [image, tools] = await Promise.all([
    bundleImage(outDir),
    build({
      ...COMMON,
      entryPoints: [SIMULATOR_ENTRY],
      outfile: simulator,
      banner: { js: '#!/usr/bin/env node' },
      metafile: true,
    }),
  ]);
  await chmod(simulator, 0o755);
  if (options.reuse !== false)
    await keepBuild(outDir, [...image.metafiles, tools.metafile], started).catch(() => undefined);
  return { runner, simulator };
}

/** bundleRunnerImage's two builds, with their metafiles (the inputs the cache checks). */
async function bundleImage(outDir: string): Promise<{ metafiles: Metafile[] }> {
  const builds = await Promise.all([
    build({
      ...COMMON,
      entryPoints: [join(ROOT, 'containers/runner/src/main.ts')],
      outfile: join(outDir, 'runner.js'),
      plugins: [separateS3Store, pureContracts],
      // Half the bytes for node to read and compile on every runner start. The runner prints
      // no stack traces, and its error classes name themselves (`name = '...'`).
      minify: true,
      metafile: true,
    }),
    build({
      ...COMMON,
      entryPoints: [join(ROOT, 'lib/artifacts/s3-store.ts')],
      outfile: join(outDir, 's3-store.js'),
      metafile: true,
    }),
  ]);
  return { metafiles: builds.map((b) => b.metafile) };
}

const OUTPUTS = ['runner.js', 's3-store.js', 'terraform-sim.js'] as const;
const KEPT = join(ROOT, 'node_modules', '.cache', 'deploy-runner', 'runner-bundle');

/** What the build depends on besides its inputs: how it is built and what resolves imports. */
const BUILD_DEFINITION = [
  'containers/runner/bundle.ts',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
];

interface KeptBuild {
  readonly esbuild: string;
  /** sha256 by path (relative to the package root) of every input and build definition file. */
  readonly inputs: Readonly<Record<string, string>>;
  /**
   * sha256 of the names in each input's folder: a new file there (`x.ts` beside `x/index.ts`)
   * could change what an import resolves to.
   */
  readonly folders: Readonly<Record<string, string>>;
  /** sha256 of each output, by name. */
  readonly outputs: Readonly<Record<string, string>>;
}

const sha256 = (content: Buffer | string) => createHash('sha256').update(content).digest('hex');
// Synchronous: hundreds of small files, where a promise and a thread-pool trip each cost more.
const hashOf = (file: string) => sha256(readFileSync(file));
const namesIn = (dir: string) => sha256(readdirSync(dir).sort().join('\0'));

async function keepBuild(
  outDir: string,
  metafiles: readonly Metafile[],
  started: number,
): Promise<void> {
  const read = new Set<string>();
  for (const metafile of metafiles)
    for (const input of Object.keys(metafile.inputs)) {
      // A namespaced input (a plugin's virtual file) cannot be checked: keep nothing.
      if (input.includes(':')) return;
      read.add(relative(ROOT, resolve(input)));
    }
  const inputs: Record<string, string> = {};
  for (const file of [...BUILD_DEFINITION, ...read].sort()) {
    // Changed while esbuild ran: the hash read now may not be of what it bundled.
    if ((await stat(join(ROOT, file))).mtimeMs >= started - 2000) return;
    inputs[file] = hashOf(join(ROOT, file));
  }
  const folders: Record<string, string> = {};
  for (const dir of new Set([...read].map(dirname))) folders[dir] = namesIn(join(ROOT, dir));
  const outputs: Record<string, string> = {};
  for (const name of OUTPUTS) outputs[name] = hashOf(join(outDir, name));
  const kept: KeptBuild = { esbuild: esbuildVersion, inputs, folders, outputs };
  const text = JSON.stringify(kept);
  // Content-addressed folder, then the pointer to it, each written whole: a reader sees the
  // old build or the new one, and checks every hash anyway.
  const dir = join(KEPT, sha256(text));
  await mkdir(dir, { recursive: true });
  for (const name of OUTPUTS) await copyFile(join(outDir, name), join(dir, name));
  const temp = join(KEPT, `latest.json.${process.pid}`);
  await writeFile(temp, text);
  await rename(temp, join(KEPT, 'latest.json'));
}

/** Copies the kept build into `outDir` if it is still what a build would give; false if not. */
async function copyKeptBuild(outDir: string): Promise<boolean> {
  try {
    const text = await readFile(join(KEPT, 'latest.json'), 'utf8');
    const kept = JSON.parse(text) as KeptBuild;
    if (kept.esbuild !== esbuildVersion) return false;
    const inputs = Object.entries(kept.inputs);
    if (!BUILD_DEFINITION.every((file) => kept.inputs[file] !== undefined)) return false;
    for (const [file, hash] of inputs) if (hashOf(join(ROOT, file)) !== hash) return false;
    for (const [dir, hash] of Object.entries(kept.folders))
      if (namesIn(join(ROOT, dir)) !== hash) return false;
    const dir = join(KEPT, sha256(text));
    for (const name of OUTPUTS) {
      const content = await readFile(join(dir, name));
      if (sha256(content) !== kept.outputs[name]) return false;
      // Through a temporary name: a runner started from an earlier copy keeps reading its file.
      const temp = join(outDir, `${name}.${process.pid}.tmp`);
      await writeFile(temp, content, { mode: name === 'terraform-sim.js' ? 0o755 : 0o644 });
      await rename(temp, join(outDir, name));
    }
    return true;
  } catch {
    return false;
  }
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
