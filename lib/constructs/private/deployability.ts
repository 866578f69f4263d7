import { Stack } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
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
 * Secrets Manager appends `-` and six random characters to every secret's ARN, and resolves a
 * partial ARN (`...:secret:<name>`) by that suffix: a name that itself ends in `-` plus six
 * characters is read as name + suffix, so it finds the wrong secret or none.
 */
const AMBIGUOUS_SECRET_NAME = /-[A-Za-z0-9]{6}$/;

/** What the deploying code knows beyond the config. */
export interface DeployabilityOptions {
  /**
   * The runner image is the caller's own (`DeployRunnerProps.runnerImage`), not the one built
   * from containers/runner/Dockerfile.
   * @default false
   */
  readonly customRunnerImage?: boolean;
}

/**
 * Problems a config can pass the schema with but still fail to deploy. Caught at synth time,
 * with the field, the value and the fix, instead of as a CloudFormation rollback.
 */
export function deployabilityProblems(
  config: DeployRunnerConfig,
  options: DeployabilityOptions = {},
): string[] {
  const problems: string[] = [];
  if (!options.customRunnerImage) {
    for (const [name, repo] of Object.entries(config.repos)) {
      if (repo.terragrunt)
        problems.push(
          `repos.${name}.terragrunt: true: the runner image (containers/runner/Dockerfile) has no terragrunt, so every run would fail: set "terragrunt": false, or pass your own image with a pinned, checksum-verified terragrunt as DeployRunner's runnerImage`,
        );
    }
  }
  const secretNames: [string, string | undefined][] = [
    ['git.credentialsSecretName', config.git.credentialsSecretName],
    ['git.sshKeySecretName', config.git.sshKeySecretName],
    ['notifications.slack.botTokenSecretName', config.notifications.slack?.botTokenSecretName],
  ];
  for (const [field, name] of secretNames) {
    if (name !== undefined && AMBIGUOUS_SECRET_NAME.test(name))
      problems.push(
        `${field}: ${JSON.stringify(name)}: ends in "-" and six characters, which Secrets Manager reads as the random suffix of an ARN, so the name would not resolve exactly: rename the secret (e.g. "${name.replace(AMBIGUOUS_SECRET_NAME, '')}" or "${name}-secret") and use the new name`,
      );
  }
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
export function assertDeployable(
  config: DeployRunnerConfig,
  source: string,
  options: DeployabilityOptions = {},
): void {
  const problems = deployabilityProblems(config, options);
  if (problems.length > 0) throw new ConfigError(source, problems);
}

/**
 * What an unresolved value (a table name, an ARN, a URL) may take in a function's environment
 * once CloudFormation fills it in. Secret ARNs run to about 100 bytes, function URLs to 80.
 */
const TOKEN_BYTES_ESTIMATE = 160;

function estimatedBytes(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (value === null || typeof value !== 'object') return Buffer.byteLength(String(value));
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join) {
    const [separator, parts] = join;
    return (
      parts.reduce<number>((sum, part) => sum + estimatedBytes(part), 0) +
      Buffer.byteLength(separator) * Math.max(0, parts.length - 1)
    );
  }
  return TOKEN_BYTES_ESTIMATE;
}

/**
 * Each function's environment against Lambda's 4 KB limit (keys and values), with unresolved
 * values estimated at their likely deployed size. A deploy that would fail with "Lambda was
 * unable to configure your environment variables" fails here, naming the function and the fix.
 */
export function lambdaEnvironmentProblems(functions: Record<string, lambda.Function>): string[] {
  const problems: string[] = [];
  for (const [name, fn] of Object.entries(functions)) {
    const cfn = fn.node.defaultChild as lambda.CfnFunction;
    const environment = Stack.of(fn).resolve(cfn.environment) as
      | { variables?: Record<string, unknown> }
      | undefined;
    const variables = environment?.variables ?? {};
    const sizes = Object.entries(variables).map(
      ([key, value]) => [key, Buffer.byteLength(key) + estimatedBytes(value)] as const,
    );
    const total = sizes.reduce((sum, [, size]) => sum + size, 0);
    if (total > LAMBDA_ENV_LIMIT_BYTES) {
      const [largest, largestBytes] = [...sizes].sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
      problems.push(
        `the ${name} function's environment is about ${total} bytes, over Lambda's ${LAMBDA_ENV_LIMIT_BYTES}-byte limit (largest: ${largest}, ${largestBytes} bytes): ${ENVIRONMENT_FIXES[largest] ?? 'shorten the configuration it comes from'}`,
      );
    }
  }
  return problems;
}

/** How to shrink what the config puts into an environment variable. */
const ENVIRONMENT_FIXES: Record<string, string> = {
  DR_ALLOWLIST:
    'the allowlist comes from repos: use fewer repos or broader allowedRefs / allowedPaths patterns (e.g. "envs/*" instead of one entry per environment)',
  DR_APPROVERS:
    'the approver list comes from approvals.approvers: list fewer approvers, drop optional names, or notify a Slack channel (notifications.slack.channel) instead of many individuals',
};

/** Throws a {@link ConfigError} when a function's environment would not fit. */
export function assertEnvironmentsFit(
  functions: Record<string, lambda.Function>,
  source: string,
): void {
  const problems = lambdaEnvironmentProblems(functions);
  if (problems.length > 0) throw new ConfigError(source, problems);
}
