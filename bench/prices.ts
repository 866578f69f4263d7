/**
 * The prices the cost figures use: published us-east-1 list prices (AWS pricing pages), written
 * down when this bench was written, never fetched at run time. Free tiers are ignored. Update
 * the numbers (and `asOf`) here; results.json repeats them next to every figure they produce.
 */
export const PRICES = {
  source: 'published us-east-1 prices (AWS pricing pages, on-demand list prices, no free tier)',
  asOf: '2026-11-25',
  region: 'us-east-1',
  stepFunctionsStandardPerTransition: 0.025 / 1000,
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerRequest: 0.2 / 1_000_000,
  fargateArmPerVcpuHour: 0.03238,
  fargateArmPerGbHour: 0.00356,
  sesPerEmail: 0.1 / 1000,
  /** EventBridge Scheduler, after its 14 million free invocations a month. */
  schedulerPerInvocation: 1 / 1_000_000,
  /** DynamoDB on-demand: per read request unit and per write request unit. */
  dynamoDbReadRequest: 0.125 / 1_000_000,
  dynamoDbWriteRequest: 0.625 / 1_000_000,
  s3PutPerRequest: 0.005 / 1000,
  kmsKeyPerMonth: 1,
  secretPerMonth: 0.4,
  logsStoragePerGbMonth: 0.03,
  logsIngestionPerGb: 0.5,
  s3StandardPerGbMonth: 0.023,
  dynamoDbStoragePerGbMonth: 0.25,
  ecrStoragePerGbMonth: 0.1,
  ec2T3SmallPerHour: 0.0208,
  ebsGp3PerGbMonth: 0.08,
  hoursPerMonth: 730,
} as const;
