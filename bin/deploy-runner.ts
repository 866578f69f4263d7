import type { Command } from 'commander';
import { describeError } from '../lib/cli/pacer';
import { type CliIo, exitWith, processIo, run as runProgram } from '../lib/cli/program';

/**
 * `deploy-runner`: the CI client (start, wait, logs, status, list; lib/cli/program.ts) and
 * local mode (`deploy-runner local ...`; lib/local/commands.ts).
 */

/**
 * The commands CI runs. They never need local mode, whose modules (CDK synthesis, esbuild) take
 * seconds to load and are not part of a production install, so it is only loaded for the rest.
 */
const CI_COMMANDS = new Set(['start', 'wait', 'logs', 'status', 'list', 'doctor']);

function addLocalCommands(program: Command): void {
  let local: typeof import('../lib/local/commands');
  try {
    local = require('../lib/local/commands');
  } catch (error) {
    // A production install (npm ci --omit=dev) can run the CI commands but not local mode.
    program
      .command('local')
      .description('run deploy-runner offline on this machine (needs the full install)')
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        throw new Error(
          `local mode could not be loaded (${describeError(error)}): install all dependencies with npm ci`,
        );
      });
    return;
  }
  local.registerLocalCommands(program);
}

/** Runs the whole CLI with `argv` and resolves to the exit code. */
export function run(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const command = argv[2];
  const ciOnly = command !== undefined && CI_COMMANDS.has(command);
  // doctor checks an account before the first deploy, from a workstation with the full install;
  // the CI bundle (bin/ci.ts) leaves it out with the five SDK clients only it needs. It is
  // required only for itself, help and local mode: the config schemas it reads with are a
  // twentieth of the start of start, wait, logs, status and list, which CI runs many times.
  return runProgram(argv, io, (program, cliIo, exit) => {
    if (ciOnly && command !== 'doctor') return;
    const { registerDoctor } = require('../lib/cli/doctor') as typeof import('../lib/cli/doctor');
    registerDoctor(program, cliIo, exit);
    if (!ciOnly) addLocalCommands(program);
  });
}

/** Runs the CLI as the process (used by bin/deploy-runner.js and the dist/cli.js bundle). */
export function main(argv: readonly string[] = process.argv): void {
  exitWith(run(argv));
}

if (require.main === module) main();
