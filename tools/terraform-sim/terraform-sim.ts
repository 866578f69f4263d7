import { runSim } from './sim';

/** The simulator's command line: `terraform-sim <subcommand> [args]` (see sim.ts). */
process.exitCode = runSim({
  argv: process.argv.slice(2),
  env: process.env,
  cwd: process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
