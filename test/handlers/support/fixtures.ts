import { createHash } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { Settings } from '../../../handlers/shared/settings';
import type { ApprovalRun } from '../../../handlers/shared/store';
import type { ApproverContract, PlanResult, RunRequest } from '../../../lib/contracts';

/** Shared test data: one run of `infra` `envs/prod`, approvers, settings, events. */

export const EXECUTION_ARN =
  'arn:aws:states:us-east-1:123456789012:execution:deploy-runner:infra-envs-prod-abc1234-42';
export const TASK_TOKEN = `AQCEAAAAKgAAAAMAAAAAAAAAAT${'x7Yq'.repeat(120)}SECRETTASKTOKEN`;
export const START = new Date('2025-11-25T10:00:00.000Z');

export const sha = (text: string) => createHash('sha256').update(text).digest('hex');

export const request: RunRequest = {
  repo: 'infra',
  ref: 'main',
  path: 'envs/prod',
  mode: 'apply',
  requestedBy: 'dora@example.com',
  ciRunUrl: 'https://github.com/acme/infra/actions/runs/42',
  runId: 'infra-envs-prod-abc1234-42',
  executionArn: EXECUTION_ARN,
  lockKey: 'lock#infra#envs/prod',
  lockHolder:
    'run infra-envs-prod-abc1234-42, requested by dora@example.com, CI run https://github.com/acme/infra/actions/runs/42',
  lockExpiresAt: String(Math.floor(START.getTime() / 1000) + 30 * 3600),
  tool: 'terraform',
};

export function planResult(overrides: Partial<PlanResult> = {}): PlanResult {
  return {
    commit: 'abc1234def5678901234567890abcdef12345678',
    tool: 'terraform',
    toolVersion: '1.9.8',
    hasChanges: true,
    counts: { add: 2, change: 1, destroy: 0, replace: 0 },
    changes: [
      { address: 'aws_s3_bucket.logs', actions: ['create'] },
      { address: 'aws_iam_role.ci', actions: ['create'] },
      { address: 'aws_lambda_function.api', actions: ['update'] },
    ],
    changesOmitted: 0,
    planKey: 'runs/infra-envs-prod-abc1234-42/plan.tfplan',
    planVersionId: 'v1',
    planSha256: sha('plan'),
    planTextKey: 'runs/infra-envs-prod-abc1234-42/plan.txt',
    planTextVersionId: 'v1',
    planTextSha256: sha('plan text'),
    logUrl: 'https://console.aws.amazon.com/cloudwatch/home#logsV2:log-groups/runner',
    ...overrides,
  };
}

/** A plan that destroys one resource and replaces another (destructive ones listed last, on purpose). */
export function destructivePlan(): PlanResult {
  return planResult({
    counts: { add: 1, change: 0, destroy: 1, replace: 1 },
    changes: [
      { address: 'aws_sqs_queue.jobs', actions: ['create'] },
      { address: 'aws_db_instance.main', actions: ['delete', 'create'] },
      { address: 'aws_s3_bucket.old_logs', actions: ['delete'] },
    ],
  });
}

/**
 * A pending approval run of `request` as the store keeps it, created at START, one hour to
 * decide; tests override the approvers, quorum, links and decisions they are about.
 */
export function approvalRun(overrides: Partial<ApprovalRun> = {}): ApprovalRun {
  return {
    executionArn: EXECUTION_ARN,
    runId: request.runId,
    taskToken: TASK_TOKEN,
    request,
    plan: planResult(),
    approvers: [{ id: 'alice', name: 'Alice' }],
    approvalsRequired: 1,
    linkHashes: [],
    createdAt: START.toISOString(),
    validUntil: START.getTime() / 1000 + 3600,
    expiresAt: START.getTime() / 1000 + 7200,
    status: 'pending',
    decisions: {},
    ...overrides,
  };
}

export const approvers = [
  { name: 'Alice Admin', email: 'alice@example.com' },
  { name: 'Bob Builder', slackUserId: 'U0BOB1234' },
  { name: 'Carol Chief', email: 'carol@example.com', slackUserId: 'U0CAROL12' },
];

export const settings: Settings = {
  tableName: 'deploy-runner-table',
  allowlist: {
    infra: {
      url: 'https://github.com/acme/infra.git',
      allowedRefs: ['main', 'release/*'],
      planOnlyRefs: [],
      allowedPaths: ['envs/*'],
      allowCommits: true,
      tool: 'terraform',
      terragrunt: false,
    },
  },
  lockTtlSeconds: 30 * 3600,
  approvalBaseUrl: 'https://approve.example.com',
  fromEmail: 'deploys@example.com',
  slackTokenSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:slack',
  slackChannel: 'C0DEPLOYS',
  pageSecret: 'page-secret-for-tests-0123456789',
  consoleUrlTemplate:
    'https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/{executionArn}',
  approvers,
};

export function requestApprovalPayload(
  overrides: Partial<{
    plan: PlanResult;
    approvers: readonly ApproverContract[];
    approvalsRequired: number;
    timeoutSeconds: number;
    request: RunRequest;
  }> = {},
) {
  return {
    taskToken: TASK_TOKEN,
    executionArn: EXECUTION_ARN,
    request,
    plan: planResult(),
    approvers,
    approvalsRequired: 1,
    timeoutSeconds: 24 * 3600,
    ...overrides,
  };
}

/** Deterministic "random" bytes: a counter, so each capability differs and tests can repeat. */
export function counterBytes(seed = 1) {
  let n = seed;
  return (size: number) => {
    const buf = Buffer.alloc(size);
    buf.writeUInt32BE(n++, 0);
    buf.fill(0xab, 4);
    return buf;
  };
}

/** A clock the test moves. */
export function testClock(start = START) {
  let now = start.getTime();
  const clock = () => new Date(now);
  clock.advance = (seconds: number) => {
    now += seconds * 1000;
  };
  clock.set = (date: Date) => {
    now = date.getTime();
  };
  return clock;
}

export function pageEvent(
  method: string,
  path: string,
  form?: Record<string, string> | string,
  options: { base64?: boolean; contentType?: string } = {},
): APIGatewayProxyEventV2 {
  const body =
    form === undefined
      ? undefined
      : typeof form === 'string'
        ? form
        : new URLSearchParams(form).toString();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: {
      host: 'approve.example.com',
      ...(body !== undefined
        ? { 'content-type': options.contentType ?? 'application/x-www-form-urlencoded' }
        : {}),
    },
    requestContext: {
      accountId: 'anonymous',
      apiId: 'abc',
      domainName: 'approve.example.com',
      domainPrefix: 'approve',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'test' },
      requestId: 'req-1',
      routeKey: '$default',
      stage: '$default',
      time: START.toUTCString(),
      timeEpoch: START.getTime(),
    },
    ...(body !== undefined
      ? {
          body: options.base64 ? Buffer.from(body).toString('base64') : body,
          isBase64Encoded: options.base64 ?? false,
        }
      : { isBase64Encoded: false }),
  };
}

/** Captures everything written to stdout and stderr (Powertools logs go there). */
export function captureOutput() {
  const chunks: string[] = [];
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const grab =
    () =>
    (chunk: unknown, ...rest: unknown[]): boolean => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString());
      const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    };
  process.stdout.write = grab() as typeof process.stdout.write;
  process.stderr.write = grab() as typeof process.stderr.write;
  return {
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== ''),
    restore: () => {
      process.stdout.write = out;
      process.stderr.write = err;
    },
  };
}
