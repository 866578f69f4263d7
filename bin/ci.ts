import { describeError } from '../lib/cli/pacer';
import { run } from '../lib/cli/program';

/**
 * The CI bundle's entry (lib/cli/build.ts buildCiBundle): start, wait, logs, status, list and
 * doctor, and nothing of local mode, so CI downloads about a megabyte instead of installing the
 * CDK. bin/deploy-runner.ts is the full CLI.
 */
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
