import { dirname } from 'node:path';

/**
 * `TMPDIR` for a process the tests start the way a person runs `npx deploy-runner`: the user's
 * temp folder, where tsx keeps the TypeScript it compiled. test/global-setup.ts points TMPDIR at
 * a fresh folder per test run, in which each such process compiled every module again (~2 s of
 * CPU per `local serve` start).
 */
export function userTmpdir(): { TMPDIR?: string } {
  const run = process.env.DR_TEST_TMPDIR;
  return run === undefined ? {} : { TMPDIR: dirname(run) };
}
