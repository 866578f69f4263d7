import type { Command } from 'commander';

/** Registers `deploy-runner local ...` (serve, demo) on the CLI. */
export function registerLocalCommands(program: Command): Command {
  return program.command('local').description('run deploy-runner offline on this machine');
}
