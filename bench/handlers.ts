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
];

const ROOT = resolve(__dirname, '..');
const SDK_EXTERNALS = ['@aws-sdk/*', '@smithy/*'];

export interface HandlerFigures {
  readonly name: HandlerName;
  /** index.js as deployed (SDK external); the source map ships beside it. */
  readonly bundleBytes: number;
  readonly sourceMapBytes: number;
  /** What takes the room in the deployed bundle, largest first. */
  readonly largestInputs: Array<{ input: string; bytes: number }>;
  /** Cold import as deployed: SDK from node_modules (the runtime's), NODE_OPTIONS=--enable-source-maps. */
  readonly coldImportMs: number;
  /** The same bundle without --enable-source-maps. */
  readonly coldImportNoSourceMapsMs?: number;
  /** Everything bundled, SDK included (bundleAwsSDK: true). */
  readonly sdkBundledBytes: number;
  readonly sdkBundledColdImportMs?: number;
  /** Unbundled baseline: the TypeScript source required through tsx. */
  readonly unbundledColdImportMs?: number;
  /** Unbundled baseline: files and bytes Node loads for the source (tsx's own files excluded). */
  readonly unbundledFiles: number;
  readonly unbundledBytes: number;
  readonly goalBytes: number;
  readonly goalMs: number;
  readonly goalMet: boolean;
}

export interface HandlerResult {
  readonly bundling: Record<string, unknown>;
  readonly repetitions: number;
  readonly variantRepetitions: number;
  readonly bareNodeMs: number;
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
  return {
    file: outfile,
    largest: largestInputs(result.metafile, 4),
    bytes: statSync(outfile).size,
    mapBytes: statSync(`${outfile}.map`).size,
  };
}

/** Milliseconds a fresh node process takes to run `args` (wall clock, process start to exit). */
function timeNode(args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = now();
  execFileSync(process.execPath, args, { env, cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  return now() - t0;
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
    const requireArgs = (file: string) => ['-e', `require(${JSON.stringify(file)})`];
    const tsxArgs = (name: string) => [
      '--require',
      'tsx/cjs',
      '-e',
      `require(${JSON.stringify(join(ROOT, 'handlers', `${name}.ts`))})`,
    ];
    const sourceEnv = { ...base, NODE_PATH: join(ROOT, 'node_modules') };

    // Warm the page cache and tsx's transform cache once; the measured runs are alike.
    for (const b of built) {
      timeNode(requireArgs(b.external.file), deployedEnv);
      if (options.variantRepetitions > 0) timeNode(tsxArgs(b.name), sourceEnv);
    }

    const bare: number[] = [];
    const samples = new Map<string, number[]>();
    const add = (key: string, ms: number) => samples.set(key, [...(samples.get(key) ?? []), ms]);
    for (let rep = 0; rep < options.repetitions; rep++) {
      bare.push(timeNode(['-e', ''], base));
      for (const b of built) {
        add(`${b.name}:deployed`, timeNode(requireArgs(b.external.file), deployedEnv));
        if (rep >= options.variantRepetitions) continue;
        add(`${b.name}:nomaps`, timeNode(requireArgs(b.external.file), runtimeEnv));
        add(`${b.name}:sdk`, timeNode(requireArgs(b.bundled.file), deployedEnv));
        // tsx transpiles on every start (its cache helps): slow, so fewer rounds.
        if (rep < Math.ceil(options.variantRepetitions / 2))
          add(`${b.name}:tsx`, timeNode(tsxArgs(b.name), sourceEnv));
      }
      options.progress(`  round ${rep + 1}/${options.repetitions}`);
    }
    const bareMs = median(bare);
    const cold = (key: string) => {
      const list = samples.get(key);
      return list ? round(median(list) - bareMs) : undefined;
    };

    const handlers = built.map((b): HandlerFigures => {
      const footprint = unbundledFootprint(join(ROOT, 'handlers', `${b.name}.ts`), sourceEnv);
      const coldImportMs = cold(`${b.name}:deployed`) as number;
      return {
        name: b.name,
        bundleBytes: b.external.bytes,
        sourceMapBytes: b.external.mapBytes,
        largestInputs: b.external.largest,
        coldImportMs,
        ...(options.variantRepetitions > 0 && {
          coldImportNoSourceMapsMs: cold(`${b.name}:nomaps`),
          sdkBundledColdImportMs: cold(`${b.name}:sdk`),
          unbundledColdImportMs: cold(`${b.name}:tsx`),
        }),
        sdkBundledBytes: b.bundled.bytes,
        unbundledFiles: footprint.files,
        unbundledBytes: footprint.bytes,
        goalBytes: 300 * 1024,
        goalMs: 150,
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
      bareNodeMs: round(bareMs),
      handlers,
    };
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}
