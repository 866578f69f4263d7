import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

const TEST_DIR = resolve(__dirname, 'test');
/** test/setup.ts's restorer: what it changes is the process put back as the file found it. */
const RESTORER = join(TEST_DIR, 'process-state.ts');

/**
 * What makes a test file unfit to share its process with other files, even with test/setup.ts
 * putting the process back after each file (test/process-state.ts: SDK client mocks, spies,
 * env, stubbed globals, fake timers): module mocks, which replace modules every later file
 * would import, and a changed working directory, umask or global that the setup does not undo.
 */
const FILE_WIDE = new RegExp(
  [/\bvi\.(mock|doMock)\(/, /\bprocess\.(chdir|umask)\(|\bglobalThis\.\w+\s*=(?!=)/]
    .map((r) => r.source)
    .join('|'),
);

/**
 * What makes a test helper unfit: a shared process imports it once, so what it does at import
 * (e.g. a module-level `mockClient(...)`) happens for the first file only and is undone after it.
 */
const HELPER_WIDE = new RegExp(
  [
    FILE_WIDE,
    /\bmockClient\(/,
    /\bvi\.(stubEnv|stubGlobal|spyOn|useFakeTimers)\(/,
    /\bprocess\.env(\.\w+|\[[^\]]+\])\s*(\?\?|\|\||&&)?=(?!=)/,
    /\bdelete process\.env\b|\bObject\.assign\(process\.env\b/,
  ]
    .map((r) => r.source)
    .join('|'),
);

/** Whether `file` or a test helper it imports (transitively) does something process-wide. */
function touchesProcess(file: string, seen = new Set<string>()): boolean {
  if (seen.has(file) || file === RESTORER) return false;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  if ((file.endsWith('.test.ts') ? FILE_WIDE : HELPER_WIDE).test(text)) return true;
  for (const [, spec] of text.matchAll(/\bfrom\s+'(\.[^']+)'/g)) {
    const target = resolve(dirname(file), spec);
    // Only the tests' own helpers: product code is what the tests exercise, and sets no globals.
    if (relative(TEST_DIR, target).startsWith('..')) continue;
    const path = [`${target}.ts`, join(target, 'index.ts')].find((p) => existsSync(p));
    if (path && touchesProcess(path, seen)) return true;
  }
  return false;
}

const files = (readdirSync(TEST_DIR, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => join('test', f));
const isolated = files.filter((f) => touchesProcess(resolve(__dirname, f)));
const shared = files.filter((f) => !isolated.includes(f));

export default defineConfig({
  test: {
    setupFiles: ['test/setup.ts'],
    // Builds the runner bundle once for every file that starts a local server.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is one worker less than the cores: a single worker on a 2-core machine,
    // which then idles through every e2e file's waits (approval polls, runs, server restarts).
    // Two files at a time keep both cores busy (three made 30 s tests time out); the longest files
    // start first (by size, then by duration once vitest has a cache).
    maxWorkers: 2,
    // Vitest queues projects by name: the few isolated files start first, and the shared ones
    // (the browser and e2e files, the longest, among them) follow, longest first, so the two
    // workers end together.
    projects: [
      {
        extends: true,
        test: { name: 'isolated', include: isolated },
      },
      {
        // Most files import the AWS SDK or aws-cdk-lib (seconds of CPU each): a worker process
        // that keeps its modules between files imports them once, not once per file, and keeps
        // one Chromium for its browser files (test/browser/chromium.ts).
        extends: true,
        test: { name: 'shared', include: shared, isolate: false },
      },
    ],
  },
});
