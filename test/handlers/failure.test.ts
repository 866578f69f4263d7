import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { readVerifiedArtifact } from '../../handlers/shared/artifacts';
import {
  causeMessage,
  notifyStateSchema,
  parseRunnerReport,
  readableError,
  reportMode,
  reportTail,
  scrub,
} from '../../handlers/shared/failure';
import { ArtifactChecksumError } from '../../lib/artifact-store';
import { S3ArtifactStore } from '../../lib/artifacts/s3-store';
import type { RunnerErrorReport, WorkflowState } from '../../lib/contracts';
import { planResult, request, sha } from './support/fixtures';

/** Reports as the runner writes them (containers/runner/src/runner.ts `reportError`). */
const report = (overrides: Partial<RunnerErrorReport>): RunnerErrorReport => ({
  mode: 'apply',
  code: 'ToolFailed',
  phase: 'apply',
  message: 'terraform apply exited with code 1',
  hint: '',
  tail: [],
  exitCode: 1,
  logUrl: '',
  ...overrides,
});

const planned = { request, plan: { summary: planResult() } };
const approved = {
  ...planned,
  approval: {
    approved: true,
    approver: 'Alice',
    decidedAt: '2025-11-25T10:05:00.000Z',
    planSha256: planResult().planSha256,
  },
};
const ecsStopped = (exitCode: number, reason?: string) =>
  JSON.stringify({
    StoppedReason: 'Essential container in task exited',
    Containers: [{ ExitCode: exitCode, ...(reason ? { Reason: reason } : {}) }],
  });
const lambdaCause = (errorType: string, errorMessage: string) =>
  JSON.stringify({ errorType, errorMessage, trace: ['at x (/var/task/index.js:1:1)'] });

const classify = (state: WorkflowState, r?: RunnerErrorReport) =>
  readableError(notifyStateSchema.parse(state), r);

describe('failure classification', () => {
  it.each<[string, WorkflowState, RunnerErrorReport | undefined, string, RegExp]>([
    [
      'a stale plan the runner reported',
      { ...approved, error: { Error: 'States.TaskFailed', Cause: ecsStopped(3) } },
      report({
        code: 'StalePlan',
        message: 'plan is stale: state changed since it was approved, start a new run',
        exitCode: 3,
      }),
      'DeployRunner.PlanStale',
      /^Apply refused the saved plan: plan is stale/,
    ],
    [
      'a tool failure whose text says "stale" is not a stale plan',
      { ...approved, error: { Error: 'States.TaskFailed', Cause: ecsStopped(1) } },
      report({ message: 'Error: stale provider cache, checksum mismatch' }),
      'DeployRunner.ApplyFailed',
      /^Apply failed \(apply\): Error: stale provider cache/,
    ],
    [
      'a plan file that did not verify',
      { ...approved, error: { Error: 'States.TaskFailed', Cause: ecsStopped(4) } },
      report({ code: 'ArtifactVerification', phase: 'verify', message: 'sha differs' }),
      'DeployRunner.PlanVerificationFailed',
      /^Apply refused the plan file \(verify\): sha differs/,
    ],
    [
      'a store error while downloading the plan',
      { ...approved, error: { Error: 'States.TaskFailed', Cause: ecsStopped(1) } },
      report({ code: 'Unexpected', phase: 'download', message: 'artifact store error: denied' }),
      'DeployRunner.PlanVerificationFailed',
      /\(download\): artifact store error: denied/,
    ],
    [
      'an apply task that never started',
      {
        ...approved,
        error: {
          Error: 'States.TaskFailed',
          Cause: JSON.stringify({ StoppedReason: 'Task failed to start: CannotPullImage' }),
        },
      },
      undefined,
      'DeployRunner.ApplyFailed',
      /^Apply did not start: .*Nothing was applied\.$/,
    ],
    [
      'an apply timeout',
      { ...approved, error: { Error: 'States.Timeout', Cause: '' } },
      undefined,
      'DeployRunner.ApplyFailed',
      /did not finish within the apply timeout.*Log: https:/,
    ],
    [
      'an allowed path the commit does not have: a rejected request naming the existing paths',
      { request, error: { Error: 'States.TaskFailed', Cause: ecsStopped(2) } },
      report({
        mode: 'plan',
        code: 'PathNotFound',
        phase: 'validate',
        exitCode: 2,
        message:
          'path "envs/prod" does not exist at this commit; existing paths matching the allowed paths (envs/*): envs/dev, envs/staging',
      }),
      'DeployRunner.RequestRejected',
      /^Request rejected: path "envs\/prod" does not exist at this commit; .*: envs\/dev, envs\/staging\. Nothing was planned/,
    ],
    [
      'another refused input stays a failed plan',
      { request, error: { Error: 'States.TaskFailed', Cause: ecsStopped(2) } },
      report({
        mode: 'plan',
        code: 'InputRefused',
        phase: 'validate',
        exitCode: 2,
        message: 'path "envs/file" is not a directory',
      }),
      'DeployRunner.PlanFailed',
      /^Plan failed \(validate\): path "envs\/file" is not a directory/,
    ],
    [
      'a plan failure with the runner hint',
      { request, error: { Error: 'States.TaskFailed', Cause: ecsStopped(1) } },
      report({
        mode: 'plan',
        phase: 'init',
        message: 'terraform init exited with code 1',
        hint: 'fix the backend configuration',
        logUrl: 'https://logs.example.com/1',
      }),
      'DeployRunner.PlanFailed',
      /^Plan failed \(init\): terraform init exited with code 1\. fix the backend configuration\. Log: https:\/\/logs\.example\.com\/1$/,
    ],
    [
      'a plan runner killed by ECS, without a report',
      {
        request,
        error: { Error: 'States.TaskFailed', Cause: ecsStopped(137, 'OutOfMemoryError') },
      },
      undefined,
      'DeployRunner.PlanFailed',
      /exited \(exit code 137\); OutOfMemoryError/,
    ],
    [
      'an unreadable plan result',
      { request, error: { Error: 'S3.NoSuchKeyException', Cause: 'The key does not exist.' } },
      undefined,
      'DeployRunner.PlanFailed',
      /^The plan result could not be read \(S3\.NoSuchKeyException\)/,
    ],
    [
      'a lock table error',
      { request, error: { Error: 'DynamoDB.AmazonDynamoDBException', Cause: 'Throttled' } },
      undefined,
      'DeployRunner.LockFailed',
      /^The repo\+path lock could not be taken/,
    ],
    [
      'a failed approval request (Lambda error)',
      {
        ...planned,
        error: { Error: 'Lambda.ServiceException', Cause: lambdaCause('E', 'Rate exceeded') },
      },
      undefined,
      'DeployRunner.ApprovalRequestFailed',
      /^Approval could not be requested \(Lambda\.ServiceException\): Rate exceeded/,
    ],
    [
      'undelivered approval messages',
      {
        ...planned,
        error: { Error: 'NotificationDeliveryError', Cause: lambdaCause('N', 'reached 0 of 3') },
      },
      undefined,
      'DeployRunner.NotificationFailed',
      /^reached 0 of 3$/,
    ],
    [
      "the workflow's own error, kept",
      {
        ...planned,
        error: { Error: 'DeployRunner.ArtifactTampered', Cause: lambdaCause('T', 'written twice') },
      },
      undefined,
      'DeployRunner.ArtifactTampered',
      /^written twice$/,
    ],
  ])('%s', (_what, state, r, error, cause) => {
    const { error: readable, kind } = classify(state, r);
    expect(kind).toBe('failed');
    expect(readable.Error).toBe(error);
    expect(readable.Cause).toMatch(cause);
  });

  it('keeps rejections and expiries as their own outcomes', () => {
    expect(
      classify({ ...planned, error: { Error: 'DeployRunner.Rejected', Cause: 'Rejected by Bob' } }),
    ).toEqual({
      kind: 'rejected',
      error: { Error: 'DeployRunner.Rejected', Cause: 'Rejected by Bob' },
    });
    expect(
      classify({ ...planned, error: { Error: 'DeployRunner.ApprovalExpired', Cause: 'late' } })
        .kind,
    ).toBe('expired');
  });

  it('reads a report only for a runner failure, from the failed mode', () => {
    const mode = (state: WorkflowState) => reportMode(notifyStateSchema.parse(state));
    expect(mode({ request, error: { Error: 'States.TaskFailed', Cause: '' } })).toBe('plan');
    expect(mode({ ...approved, error: { Error: 'States.TaskFailed', Cause: '' } })).toBe('apply');
    expect(mode({ ...planned, error: { Error: 'States.TaskFailed', Cause: '' } })).toBeUndefined();
    expect(mode({ request, error: { Error: 'DeployRunner.LockHeld', Cause: '' } })).toBeUndefined();
  });
});

describe('the runner error report contract', () => {
  it('parses what the runner writes, and nothing else', () => {
    const written = report({ code: 'StalePlan', exitCode: 3 });
    expect(parseRunnerReport(JSON.stringify(written))).toEqual({ report: written });
    expect(parseRunnerReport('not json')).toEqual({ report: undefined, problem: 'not JSON' });
    // The shapes the old lenient reader guessed at are not the runner's: no report.
    const guessed = parseRunnerReport(JSON.stringify({ error: { message: 'm', name: 'N' } }));
    expect(guessed.report).toBeUndefined();
    const { code: _, ...noCode } = written;
    expect(parseRunnerReport(JSON.stringify(noCode))).toMatchObject({
      report: undefined,
      problem: expect.stringContaining('code'),
    });
  });

  it('keeps the last 20 lines of the tail, scrubbed', () => {
    const tail = reportTail(
      report({ tail: [...Array.from({ length: 50 }, (_, i) => `line ${i}`), 'token: abc'] }),
    );
    expect(tail?.split('\n')).toHaveLength(20);
    expect(tail).toContain('line 49');
    expect(tail).not.toContain('abc');
    expect(reportTail(report({ tail: [] }))).toBeUndefined();
  });
});

describe('cause shapes', () => {
  it.each([
    ['a Lambda error', lambdaCause('E', 'boom'), 'boom'],
    ['plain text', 'plain words', 'plain words'],
    ['broken JSON', '{not json', '{not json'],
    [
      'an ECS task (lower case, as DescribeTasks)',
      JSON.stringify({ stoppedReason: 'Timeout', containers: [{ exitCode: 2, reason: 'x' }] }),
      'the runner task stopped: Timeout (exit code 2); x',
    ],
    ['a service error', JSON.stringify({ Message: 'Access denied' }), 'Access denied'],
    ['JSON without a message', JSON.stringify({ other: 1 }), '{"other":1}'],
  ])('reads %s', (_what, cause, message) => {
    expect(causeMessage(cause)).toBe(message);
  });

  it('scrubs tokens', () => {
    expect(scrub('token: xoxb-123-abc and secret="s3cr3t"')).not.toMatch(/xoxb-123|s3cr3t/);
  });
});

describe('ArtifactChecksumError', () => {
  it('is the one class for a checksum S3 refuses and one the reader recomputes', async () => {
    const s3 = mockClient(S3Client);
    const body = 'plan text';
    s3.on(GetObjectCommand).resolves({
      Body: { transformToByteArray: async () => new Uint8Array(Buffer.from(body)) } as never,
      VersionId: 'v1',
      ChecksumSHA256: Buffer.from(sha('other')).toString('base64'),
    });
    const store = new S3ArtifactStore({ bucket: 'b', client: new S3Client({}) });
    const fromS3 = await readVerifiedArtifact(store, {
      key: 'runs/r/plan.txt',
      versionId: 'v1',
      sha256: sha(body),
    }).catch((e: unknown) => e);
    expect(fromS3).toBeInstanceOf(ArtifactChecksumError);
    const recomputed = await readVerifiedArtifact(
      {
        get: async (key) => ({ key, versionId: 'v1', sha256: sha(body), body: Buffer.from(body) }),
      },
      { key: 'runs/r/plan.txt', versionId: 'v1', sha256: sha('approved') },
    ).catch((e: unknown) => e);
    expect(recomputed).toBeInstanceOf(ArtifactChecksumError);
    s3.restore();
  });
});
