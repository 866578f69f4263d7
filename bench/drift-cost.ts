import { PRICES } from './prices';

/**
 * What a drift check costs (docs/drift.md): per check and per month for a path checked hourly
 * (730 checks). Counts of the quiet path (no drift) of the synthesized state machine: Validate
 * request, Plan only?, Drift: is the path locked?, Drift: path busy?, Plan, Inspect plan,
 * Changes?, Drift: report, Done; three Lambda invocations; one Fargate plan task.
 */
export interface DriftCheckShape {
  readonly transitions: number;
  readonly lambdaInvocations: number;
  /** Average Lambda duration in seconds at 256 MiB (arm64). */
  readonly lambdaSeconds: number;
  /** The plan task: Fargate billing seconds (startup included) at this size. */
  readonly planSeconds: number;
  readonly vcpu: number;
  readonly memoryGb: number;
  /** DynamoDB on-demand: the lock read and the drift record read and write. */
  readonly dynamoReads: number;
  readonly dynamoWrites: number;
}

export const QUIET_DRIFT_CHECK: DriftCheckShape = {
  transitions: 9,
  lambdaInvocations: 3,
  lambdaSeconds: 0.3,
  planSeconds: 90,
  vcpu: 1,
  memoryGb: 2,
  dynamoReads: 2,
  dynamoWrites: 1,
};

/** DynamoDB on-demand request prices, us-east-1 (not in PRICES: the deploy run's figure ignores them). */
const DYNAMO_READ = 0.125 / 1_000_000;
const DYNAMO_WRITE = 0.625 / 1_000_000;

export function driftCheckCost(shape: DriftCheckShape = QUIET_DRIFT_CHECK) {
  const perCheck =
    shape.transitions * PRICES.stepFunctionsStandardPerTransition +
    shape.lambdaInvocations *
      (PRICES.lambdaPerRequest + shape.lambdaSeconds * 0.25 * PRICES.lambdaArmPerGbSecond) +
    (shape.planSeconds / 3600) *
      (shape.vcpu * PRICES.fargateArmPerVcpuHour + shape.memoryGb * PRICES.fargateArmPerGbHour) +
    shape.dynamoReads * DYNAMO_READ +
    shape.dynamoWrites * DYNAMO_WRITE;
  return { perCheck, perMonthHourly: perCheck * PRICES.hoursPerMonth };
}

if (process.argv[1]?.endsWith('drift-cost.ts')) {
  const { perCheck, perMonthHourly } = driftCheckCost();
  process.stdout.write(
    `drift check: $${perCheck.toFixed(5)} per check, $${perMonthHourly.toFixed(2)} per month for a path checked hourly (${PRICES.source}, ${PRICES.asOf})\n`,
  );
}
