import { exitWith, run } from '../lib/cli/program';

/**
 * The CI bundle's entry (lib/cli/build.ts buildCiBundle): start, wait, logs, status and list,
 * and nothing of local mode or doctor, so CI downloads about a megabyte instead of installing the
 * CDK. bin/deploy-runner.ts is the full CLI.
 */
export function main(argv: readonly string[] = process.argv): void {
  exitWith(run(argv));
}
