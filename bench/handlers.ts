import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build, type Metafile } from 'esbuild';
import type { HandlerName } from './cost';
import { median, now, round } from './stats';

/**
 * The Lambda handlers as deployed: each bundled with esbuild the way NodejsFunction bundles it
 * (lib/constructs/private/handler-function.ts: minify, source map, target node22, platform node,
 * CommonJS, and CDK's default externals for a Node 22 runtime, `@aws-sdk/*` and `@smithy/*`
 * with the sdkV3ExcludeSmithyPackages flag cdk.json sets, because the runtime provides SDK v3).
 * Cold import time: a fresh `node` requiring the bundle, minus a bare `node -e ""`.
 */

export const HANDLERS: readonly HandlerName[] = [
  'validate-request',
  'request-approval',
  'approval-page',
  'notify',
  'cleanup',
  'verify-approval',
  'inspect-plan',
];

const ROOT = resolve(__dirname, '..');
const SDK_EXTERNALS = ['@aws-sdk/*', '@smithy/*'];

export interface HandlerFigures {
  readonly name: HandlerName;
  /** index.js as deployed (SDK external); the source map ships beside it. */
  readonly bundleBytes: number;
  readonly sourceMapBytes: number;
  /** SDK packages the deployed bundle requires from the runtime, each when first used (lib/lazy-module.ts). */
  readonly sdkPackagesRequired: string[];
  /** What takes the room in the deployed bundle, largest first. */
  readonly largestInputs: Array<{ input: string; bytes: number }>;
  /** Cold import as deployed: SDK from node_modules (the runtime's), NODE_OPTIONS=--enable-source-maps. */
  readonly coldImportMs: number;
  /** CPU time (user + system) of the same: steadier than wall time on a shared machine. */
  readonly coldImportCpuMs: number;
  /** The same bundle without --enable-source-maps. */
  readonly coldImportNoSourceMapsMs?: number;
  /** Everything bundled, SDK included (bundleAwsSDK: true). */
  readonly sdkBundledBytes: number;
  readonly sdkBundledColdImportMs?: number;
  /** Unbundled baseline: the TypeScript source required through tsx. */
  readonly unbundledColdImportMs?: number;
  readonly unbundledColdImportCpuMs?: number;
  /** Unbundled baseline: files and bytes Node loads for the source (tsx's own files excluded). */
  readonly unbundledFiles: number;
  readonly unbundledBytes: number;
  readonly goalBytes: number;
  readonly goalMs: number;
  readonly goalBytesMet: boolean;
  readonly goalMsMet: boolean;
  readonly goalMet: boolean;
}

export interface HandlerResult {
  readonly bundling: Record<string, unknown>;
  readonly repetitions: number;
  readonly variantRepetitions: number;
  readonly bareNodeMs: number;
  readonly bareNodeCpuMs: number;
  readonly handlers: HandlerFigures[];
}

/** Output bytes by package (zod's folders apart: `zod/v4/locales` is most of a bundle). */
function largestInputs(metafile: Metafile, count: number): Array<{ input: string; bytes: number }> {
  const output = Object.values(metafile.outputs).find((o) => o.entryPoint);
  const byGroup = new Map<string, number>();
  for (const [file, info] of Object.entries(output?.inputs ?? {})) {
    const group =
      /node_modules\/(zod\/v4\/[^/]+|(?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ??
      file
        .replace(/^(\.\.\/)+/, '')
        .split('/')
        .slice(0, 2)
        .join('/');
    byGroup.set(group, (byGroup.get(group) ?? 0) + info.bytesInOutput);
  }
  return [...byGroup]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([input, bytes]) => ({ input, bytes }));
}

async function bundle(name: HandlerName, outDir: string, sdkExternal: boolean) {
  const outfile = join(outDir, sdkExternal ? 'external' : 'bundled', name, 'index.js');
  const result = await build({
    entryPoints: [join(ROOT, 'handlers', `${name}.ts`)],
    bundle: true,
    minify: true,
    sourcemap: true,
    target: 'node22',
    platform: 'node',
    format: 'cjs',
    outfile,
    external: sdkExternal ? SDK_EXTERNALS : [],
    logLevel: 'error',
    metafile: true,
  });
  const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint);
  return {
    file: outfile,
    largest: largestInputs(result.metafile, 4),
    sdkPackages: [
      ...new Set(
        (output?.imports ?? [])
          .filter((i) => i.external && i.path.startsWith('@aws-sdk/'))
          .map((i) => i.path),
      ),
    ].sort(),
    bytes: statSync(outfile).size,
    mapBytes: statSync(`${outfile}.map`).size,
  };
}

/** Prints the process's own CPU time (user + system, ms) as it exits. */
const PRINT_CPU = 'const u=process.cpuUsage();process.stdout.write(String((u.user+u.system)/1000))';

/**
 * A fresh node process running `code`: wall time from spawn to exit, and the CPU time it used
 * (less sensitive than wall time to other work on a busy machine).
 */
function timeNode(
  code: string,
  env: NodeJS.ProcessEnv,
  preload: string[] = [],
): { wall: number; cpu: number } {
  const t0 = now();
  const out = execFileSync(process.execPath, [...preload, '-e', `${code};${PRINT_CPU}`], {
    env,
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { wall: now() - t0, cpu: Number(out) };
}

/** Files `require(entry)` loads through tsx, tsx's own excluded; sizes summed. */
function unbundledFootprint(entry: string, env: NodeJS.ProcessEnv) {
  const script = `require(${JSON.stringify(entry)});const fs=require('fs');const files=Object.keys(require.cache).filter(f=>!f.includes('/node_modules/tsx/')&&!f.includes('/node_modules/get-tsconfig/'));process.stdout.write(JSON.stringify({files:files.length,bytes:files.reduce((s,f)=>s+fs.statSync(f).size,0)}))`;
  const out = execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
    env,
    cwd: ROOT,
    encoding: 'utf8',
  });
  return JSON.parse(out) as { files: number; bytes: number };
}

export async function measureHandlers(options: {
  /** Rounds of the deployed bundles (and of a bare node). */
  readonly repetitions: number;
  /** Rounds of the SDK-bundled and no-source-map variants; half as many of the tsx baseline. */
  readonly variantRepetitions: number;
  readonly progress: (line: string) => void;
}): Promise<HandlerResult> {
  const outDir = mkdtempSync(join(tmpdir(), 'dr-bench-handlers-'));
  try {
    const built = await Promise.all(
      HANDLERS.map(async (name) => ({
        name,
        external: await bundle(name, outDir, true),
        bundled: await bundle(name, outDir, false),
      })),
    );
    // The Lambda runtime provides the SDK; here it resolves from this repo's node_modules.
    const base = { PATH: process.env.PATH, HOME: process.env.HOME };
    const runtimeEnv = { ...base, NODE_PATH: join(ROOT, 'node_modules') };
    const deployedEnv = { ...runtimeEnv, NODE_OPTIONS: '--enable-source-maps' };
    const requireCode = (file: string) => `require(${JSON.stringify(file)})`;
    const source = (name: string) => join(ROOT, 'handlers', `${name}.ts`);
    const TSX = ['--require', 'tsx/cjs'];
    const sourceEnv = { ...base, NODE_PATH: join(ROOT, 'node_modules') };

    // Warm the page cache and tsx's transform cache once; the measured runs are alike.
    for (const b of built) {
      timeNode(requireCode(b.external.file), deployedEnv);
      if (options.variantRepetitions > 0) timeNode(requireCode(source(b.name)), sourceEnv, TSX);
    }

    const samples = new Map<string, { wall: number[]; cpu: number[] }>();
    const add = (key: string, t: { wall: number; cpu: number }) => {
      const list = samples.get(key) ?? { wall: [], cpu: [] };
      list.wall.push(t.wall);
      list.cpu.push(t.cpu);
      samples.set(key, list);
    };
    for (let rep = 0; rep < options.repetitions; rep++) {
      add('bare', timeNode('', base));
      for (const b of built) {
        add(`${b.name}:deployed`, timeNode(requireCode(b.external.file), deployedEnv));
        if (rep >= options.variantRepetitions) continue;
        add(`${b.name}:nomaps`, timeNode(requireCode(b.external.file), runtimeEnv));
        add(`${b.name}:sdk`, timeNode(requireCode(b.bundled.file), deployedEnv));
        // tsx transpiles on every start (its cache helps): slow, so fewer rounds.
        if (rep < Math.ceil(options.variantRepetitions / 2))
          add(`${b.name}:tsx`, timeNode(requireCode(source(b.name)), sourceEnv, TSX));
      }
      options.progress(`  round ${rep + 1}/${options.repetitions}`);
    }
    const bare = samples.get('bare') as { wall: number[]; cpu: number[] };
    const cold = (key: string, kind: 'wall' | 'cpu' = 'wall') => {
      const list = samples.get(key)?.[kind];
      return list ? round(median(list) - median(bare[kind])) : undefined;
    };

    const handlers = built.map((b): HandlerFigures => {
      const footprint = unbundledFootprint(join(ROOT, 'handlers', `${b.name}.ts`), sourceEnv);
      const coldImportMs = cold(`${b.name}:deployed`) as number;
      const coldImportCpuMs = cold(`${b.name}:deployed`, 'cpu') as number;
      return {
        name: b.name,
        bundleBytes: b.external.bytes,
        sourceMapBytes: b.external.mapBytes,
        largestInputs: b.external.largest,
        sdkPackagesRequired: b.external.sdkPackages,
        coldImportMs,
        coldImportCpuMs,
        ...(options.variantRepetitions > 0 && {
          coldImportNoSourceMapsMs: cold(`${b.name}:nomaps`),
          sdkBundledColdImportMs: cold(`${b.name}:sdk`),
          unbundledColdImportMs: cold(`${b.name}:tsx`),
          unbundledColdImportCpuMs: cold(`${b.name}:tsx`, 'cpu'),
        }),
        sdkBundledBytes: b.bundled.bytes,
        unbundledFiles: footprint.files,
        unbundledBytes: footprint.bytes,
        goalBytes: 300 * 1024,
        goalMs: 150,
        goalBytesMet: b.external.bytes < 300 * 1024,
        goalMsMet: coldImportMs < 150,
        goalMet: b.external.bytes < 300 * 1024 && coldImportMs < 150,
      };
    });
    return {
      bundling: {
        like: 'NodejsFunction (lib/constructs/private/handler-function.ts)',
        minify: true,
        sourcemap: true,
        target: 'node22',
        platform: 'node',
        format: 'cjs',
        external: SDK_EXTERNALS,
        lambdaNodeOptions: '--enable-source-maps',
      },
      repetitions: options.repetitions,
      variantRepetitions: options.variantRepetitions,
      bareNodeMs: round(median(bare.wall)),
      bareNodeCpuMs: round(median(bare.cpu)),
      handlers,
    };
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}
