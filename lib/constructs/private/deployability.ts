import { ConfigError, type DeployRunnerConfig } from '../../config';
import { allowlistOf } from '../../contracts';

/** Memory sizes (MiB) Fargate accepts for a CPU size. */
function fargateMemoryMiB(cpu: number): number[] {
  if (cpu === 256) return [512, 1024, 2048];
  const [min, max] = {
    512: [1024, 4096],
    1024: [2048, 8192],
    2048: [4096, 16_384],
    4096: [8192, 30_720],
  }[cpu] ?? [0, -1];
  return Array.from({ length: (max - min) / 1024 + 1 }, (_, i) => min + i * 1024).filter(
    (m) => m > 0,
  );
}

/** Lambda's limit on the total size of a function's environment variables. */
const LAMBDA_ENV_LIMIT_BYTES = 4096;
/** Room kept for the other variables of `validate-request`. */
const ALLOWLIST_BUDGET_BYTES = LAMBDA_ENV_LIMIT_BYTES - 512;

/**
 * Problems a config can pass the schema with but still fail to deploy. Caught at synth time,
 * with the field, the value and the fix, instead of as a CloudFormation rollback.
 */
export function deployabilityProblems(config: DeployRunnerConfig): string[] {
  const problems: string[] = [];
  const { cpu, memoryMiB } = config.runner;
  const sizes = fargateMemoryMiB(cpu);
  if (!sizes.includes(memoryMiB)) {
    const allowed =
      sizes.length <= 3 ? sizes.join(', ') : `${sizes[0]} to ${sizes.at(-1)} in steps of 1024`;
    problems.push(
      `runner.memoryMiB: ${memoryMiB}: Fargate does not run ${cpu} CPU units with ${memoryMiB} MiB: use ${allowed}`,
    );
  }
  const allowlistBytes = Buffer.byteLength(JSON.stringify(allowlistOf(config)));
  if (allowlistBytes > ALLOWLIST_BUDGET_BYTES) {
    problems.push(
      `repos: ${allowlistBytes} bytes as JSON: the allowlist travels in a Lambda environment variable (4 KB in total): keep it under ${ALLOWLIST_BUDGET_BYTES} bytes with fewer or broader patterns`,
    );
  }
  return problems;
}

/** Throws a {@link ConfigError} listing every deployability problem. */
export function assertDeployable(config: DeployRunnerConfig, source: string): void {
  const problems = deployabilityProblems(config);
  if (problems.length > 0) throw new ConfigError(source, problems);
}
