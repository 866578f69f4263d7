#!/usr/bin/env node
// `npm test`: Biome, then tsc and vitest side by side. Arguments go to vitest
// (`npm test -- test/cli`).
//
// Biome goes first: it takes two seconds and finds the commonest slips. tsc (TypeScript 7, the
// native compiler) then needs ~10 s of one core, which used to come before the suite's first
// test. The suite keeps both cores busy except while it starts, between its longest files and at
// its tail, so tsc runs beside it, on one thread at the lowest CPU priority, and takes only the
// time the tests leave idle. Its output waits until the tests end, so the two reports never
// interleave; either failing fails the command.
import { spawn } from 'node:child_process';
import { constants, setPriority } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (path) => join(root, 'node_modules', path);

/** Runs a package's script with this node; resolves to its exit code (1 for a signal). */
function run(script, args, options = {}) {
  const child = spawn(process.execPath, [bin(script), ...args], {
    cwd: root,
    stdio: options.capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
  });
  if (options.lowPriority && child.pid !== undefined) {
    try {
      setPriority(child.pid, constants.priority.PRIORITY_LOWEST);
    } catch {
      // Not permitted here: it still runs, just at the tests' priority.
    }
  }
  const output = [];
  child.stdout?.on('data', (chunk) => output.push(chunk));
  child.stderr?.on('data', (chunk) => output.push(chunk));
  return new Promise((resolve) => {
    child.on('error', (error) => {
      output.push(Buffer.from(`${error.message}\n`));
      resolve({ code: 1, output });
    });
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

const biome = await run('@biomejs/biome/bin/biome', ['check', '.']);
if (biome.code !== 0) process.exit(biome.code);

// One checker thread: its other threads would only take CPU from the tests (~10 s of CPU, not ~13 s).
const types = run('typescript/bin/tsc', ['--noEmit', '-p', '.', '--singleThreaded'], {
  capture: true,
  lowPriority: true,
});
const tests = await run('vitest/vitest.mjs', ['run', ...process.argv.slice(2)]);
const typed = await types;
if (typed.code !== 0) {
  process.stderr.write(Buffer.concat(typed.output));
  process.stderr.write(`tsc --noEmit failed (exit ${typed.code}): the type errors are above.\n`);
}
process.exit(tests.code !== 0 ? tests.code : typed.code);
