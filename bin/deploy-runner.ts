import { describeError } from '../lib/cli/pacer';
import { type CliIo, processIo, run as runProgram } from '../lib/cli/program';
import { registerLocalCommands } from '../lib/local/commands';

/**
 * `deploy-runner`: the CI client (start, wait, logs, status, list; lib/cli/program.ts) and
 * local mode (`deploy-runner local ...`; lib/local/commands.ts).
 */

/** Runs the whole CLI with `argv` and resolves to the exit code. */
export function run(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  return runProgram(argv, io, registerLocalCommands);
}

/** Runs the CLI as the process (used by bin/deploy-runner.js and the dist/cli.js bundle). */
export function main(argv: readonly string[] = process.argv): void {
  run(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`deploy-runner: ${describeError(error)}\n`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) main();
