import { beforeEach, describe, expect, it } from 'vitest';
import { createNotifyHandler, type NotifyResult } from '../../handlers/notify';
import { NotificationDeliveryError } from '../../handlers/shared/errors';
import { createLogger } from '../../handlers/shared/logger';
import { ArtifactNotFoundError, type ArtifactStore } from '../../lib/artifact-store';
import { artifactKeys, type WorkflowState } from '../../lib/contracts';
import {
  captureOutput,
  EXECUTION_ARN,
  planResult,
  request,
  settings,
  sha,
} from './support/fixtures';
import { RecordingNotifier } from './support/recording-notifier';

let notifier: RecordingNotifier;
let artifacts: Map<string, string>;

const store: Pick<ArtifactStore, 'get'> = {
  get: async (key) => {
    const body = artifacts.get(key);
    if (body === undefined) throw new ArtifactNotFoundError(key);
    return { key, versionId: 'v1', sha256: sha(body), body: Buffer.from(body) };
  },
};

const notify = (
  phase: 'finished' | 'failed',
  state: WorkflowState,
  logger = createLogger('notify-test'),
) =>
  createNotifyHandler({ settings, notifier, artifacts: store, logger })({
    phase,
    executionArn: EXECUTION_ARN,
    state,
  });

const planned = { request, plan: { summary: planResult() } };
const approved = {
  ...planned,
  approval: {
    approved: true,
    approver: 'Alice Admin',
    reason: '',
    decidedAt: '2025-11-25T10:05:00.000Z',
    planSha256: planResult().planSha256,
  },
};
const lambdaCause = (errorType: string, errorMessage: string) =>
  JSON.stringify({ errorType, errorMessage, trace: ['at x (/var/task/index.js:1:1)'] });

beforeEach(() => {
  notifier = new RecordingNotifier();
  artifacts = new Map();
});

describe('notify: finished', () => {
  it('reports an applied run to approvers, the requester and the channel', async () => {
    const result = await notify('finished', {
      ...approved,
      apply: { taskArn: 'arn:aws:ecs:task/1' },
    });
    expect(result).toEqual({ outcome: 'applied', notified: 4 });
    expect(notifier.emails.map((e) => e.to).sort()).toEqual([
      'alice@example.com',
      'carol@example.com',
      'dora@example.com',
    ]);
    expect(notifier.slack.map((s) => s.channel)).toEqual(['C0DEPLOYS']);
    const email = notifier.emails[0];
    expect(email?.subject).toBe('[deploy-runner] Applied: infra envs/prod');
    expect(email?.text).toContain('The approved plan was applied (approved by Alice Admin).');
    expect(email?.text).toContain(
      'Execution: https://us-east-1.console.aws.amazon.com/states/home',
    );
    expect(email?.html).toContain('Open the execution');
  });

  it('reports no changes, and a plan-only run', async () => {
    await notify('finished', {
      request,
      plan: {
        summary: planResult({
          hasChanges: false,
          counts: { add: 0, change: 0, destroy: 0, replace: 0 },
          changes: [],
        }),
      },
    });
    expect(notifier.emails[0]?.subject).toBe('[deploy-runner] No changes: infra envs/prod');
    notifier = new RecordingNotifier();
    await notify('finished', {
      request: { ...request, mode: 'plan-only' },
      ...{ plan: planned.plan },
    });
    expect(notifier.emails[0]?.subject).toBe(
      '[deploy-runner] Plan ready (plan-only run): infra envs/prod',
    );
  });

  it('skips a requester that is not an email address', async () => {
    await notify('finished', {
      ...approved,
      request: { ...request, requestedBy: 'dora' },
      apply: { taskArn: 't' },
    });
    expect(notifier.emails.map((e) => e.to)).not.toContain('dora');
  });

  it('DMs Slack-only approvers when no channel is configured', async () => {
    const { slackChannel: _, ...noChannel } = settings;
    await createNotifyHandler({ settings: noChannel, notifier, logger: createLogger('t') })({
      phase: 'finished',
      executionArn: EXECUTION_ARN,
      state: { ...approved, apply: { taskArn: 't' } },
    });
    expect(notifier.slack.map((s) => s.channel).sort()).toEqual(['U0BOB1234', 'U0CAROL12']);
  });

  it('throws NotificationDeliveryError when no notification at all could be delivered', async () => {
    for (const r of ['alice@example.com', 'carol@example.com', 'dora@example.com', 'C0DEPLOYS'])
      notifier.failFor.add(r);
    const out = captureOutput();
    const error = await notify('finished', { ...approved, apply: { taskArn: 't' } })
      .catch((e: unknown) => e)
      .finally(() => out.restore());
    expect(error).toBeInstanceOf(NotificationDeliveryError);
    expect((error as Error).message).toMatch(
      /^No result notification could be delivered: cannot reach/,
    );
  });
});

describe('notify: failed returns a readable { Error, Cause }', () => {
  const failed = async (state: WorkflowState): Promise<NotifyResult> => notify('failed', state);

  it('keeps a rejection and says so', async () => {
    const result = await failed({
      ...planned,
      error: {
        Error: 'DeployRunner.Rejected',
        Cause: 'Rejected by Bob Builder: not during the freeze',
      },
    });
    expect(result).toEqual({
      Error: 'DeployRunner.Rejected',
      Cause: 'Rejected by Bob Builder: not during the freeze',
    });
    expect(notifier.emails[0]?.subject).toBe('[deploy-runner] Rejected: infra envs/prod');
    expect(notifier.emails[0]?.text).toContain('Rejected by Bob Builder: not during the freeze');
  });

  it('keeps an expired approval', async () => {
    const Cause = 'No approver decided within 24h; nothing was applied. Start a new run.';
    expect(
      await failed({ ...planned, error: { Error: 'DeployRunner.ApprovalExpired', Cause } }),
    ).toEqual({ Error: 'DeployRunner.ApprovalExpired', Cause });
    expect(notifier.emails[0]?.subject).toBe('[deploy-runner] Approval expired: infra envs/prod');
  });

  it('explains a plan failure with the runner report and its tail', async () => {
    artifacts.set(
      artifactKeys(request.runId).error('plan'),
      JSON.stringify({
        mode: 'plan',
        code: 'ToolFailed',
        phase: 'plan',
        message: 'terraform plan exited with code 1: Error: Unsupported argument',
        hint: 'fix the configuration in envs/prod and push; then start a new run',
        tail: ['Initializing...', 'Error: Unsupported argument', '  on main.tf line 3'],
        exitCode: 1,
        logUrl: 'https://logs.example.com/runner/1',
      }),
    );
    const result = await failed({
      request,
      error: {
        Error: 'States.TaskFailed',
        Cause: JSON.stringify({
          StoppedReason: 'Essential container in task exited',
          Containers: [{ ExitCode: 1 }],
        }),
      },
    });
    expect(result).toEqual({
      Error: 'DeployRunner.PlanFailed',
      Cause:
        'Plan failed (plan): terraform plan exited with code 1: Error: Unsupported argument. fix the configuration in envs/prod and push; then start a new run. Log: https://logs.example.com/runner/1',
    });
    expect(notifier.emails[0]?.text).toContain(
      'Last lines of the runner output:\nInitializing...\nError: Unsupported argument\n  on main.tf line 3',
    );
    expect(JSON.stringify(notifier.slack[0]?.blocks)).toContain('on main.tf line 3');
  });

  it('explains a plan failure without a report from the ECS cause', async () => {
    const result = await failed({
      request,
      error: {
        Error: 'States.TaskFailed',
        Cause: JSON.stringify({
          StoppedReason: 'Essential container in task exited',
          Containers: [{ ExitCode: 137, Reason: 'OutOfMemoryError' }],
        }),
      },
    });
    expect(result).toMatchObject({
      Error: 'DeployRunner.PlanFailed',
      Cause: expect.stringContaining(
        'Plan failed: the runner task stopped: Essential container in task exited (exit code 137); OutOfMemoryError. Nothing was applied',
      ),
    });
  });

  it('explains an unreadable plan result and a plan timeout', async () => {
    const s3 = await failed({
      request,
      error: { Error: 'S3.NoSuchKeyException', Cause: 'The specified key does not exist.' },
    });
    expect(s3).toMatchObject({
      Error: 'DeployRunner.PlanFailed',
      Cause: expect.stringContaining('The plan result could not be read (S3.NoSuchKeyException)'),
    });
    const timeout = await failed({ request, error: { Error: 'States.Timeout', Cause: '' } });
    expect(timeout).toMatchObject({
      Cause: expect.stringContaining('it did not finish within the plan timeout'),
    });
  });

  it('explains an apply failure, a stale plan and a refused plan file', async () => {
    const key = artifactKeys(request.runId).error('apply');
    artifacts.set(
      key,
      JSON.stringify({
        mode: 'apply',
        code: 'ToolFailed',
        phase: 'apply',
        message: 'terraform apply exited with code 1',
        hint: '',
        tail: ['Error: creating S3 bucket: BucketAlreadyExists'],
        exitCode: 1,
        logUrl: '',
      }),
    );
    expect(
      await failed({ ...approved, error: { Error: 'States.TaskFailed', Cause: '{}' } }),
    ).toMatchObject({
      Error: 'DeployRunner.ApplyFailed',
      Cause: expect.stringContaining(
        'Apply failed (apply): terraform apply exited with code 1. Some changes may already be applied',
      ),
    });
    artifacts.set(
      key,
      JSON.stringify({
        mode: 'apply',
        code: 'StalePlan',
        phase: 'apply',
        message: 'plan is stale: state changed since it was approved, start a new run',
        hint: 'another run or a person changed the state after this plan was made; nothing was applied',
        tail: [],
        exitCode: 3,
        logUrl: '',
      }),
    );
    expect(
      await failed({ ...approved, error: { Error: 'States.TaskFailed', Cause: '{}' } }),
    ).toMatchObject({ Error: 'DeployRunner.PlanStale' });
    artifacts.set(
      key,
      JSON.stringify({
        mode: 'apply',
        code: 'ArtifactVerification',
        phase: 'verify',
        message: 'sha256 of the plan file differs',
        hint: 'nothing was applied: start a new run so a fresh plan is made and approved',
        tail: [],
        exitCode: 4,
        logUrl: '',
      }),
    );
    expect(
      await failed({ ...approved, error: { Error: 'States.TaskFailed', Cause: '{}' } }),
    ).toEqual({
      Error: 'DeployRunner.PlanVerificationFailed',
      Cause:
        'Apply refused the plan file (verify): sha256 of the plan file differs. nothing was applied: start a new run so a fresh plan is made and approved.',
    });
  });

  it('names a failed approval request and undelivered approval messages', async () => {
    expect(
      await failed({
        ...planned,
        error: {
          Error: 'NotificationDeliveryError',
          Cause: lambdaCause(
            'NotificationDeliveryError',
            'Approval requests reached 0 of 3 approvers, fewer than the 1 needed',
          ),
        },
      }),
    ).toEqual({
      Error: 'DeployRunner.NotificationFailed',
      Cause: 'Approval requests reached 0 of 3 approvers, fewer than the 1 needed',
    });
    expect(
      await failed({
        ...planned,
        error: { Error: 'Lambda.ServiceException', Cause: 'Rate exceeded' },
      }),
    ).toMatchObject({
      Error: 'DeployRunner.ApprovalRequestFailed',
      Cause: expect.stringContaining(
        'Approval could not be requested (Lambda.ServiceException): Rate exceeded',
      ),
    });
  });

  it('names a lock failure', async () => {
    expect(
      await failed({
        request,
        error: { Error: 'DynamoDB.AmazonDynamoDBException', Cause: 'Throughput exceeded' },
      }),
    ).toMatchObject({ Error: 'DeployRunner.LockFailed' });
  });

  it('keeps other DeployRunner errors, reading a Lambda-style cause', async () => {
    expect(
      await failed({
        ...planned,
        error: {
          Error: 'DeployRunner.ApprovalMismatch',
          Cause: lambdaCause('X', 'approved checksum differs'),
        },
      }),
    ).toEqual({
      Error: 'DeployRunner.ApprovalMismatch',
      Cause: 'approved checksum differs',
    });
  });

  it('keeps causes short and free of secrets', async () => {
    const result = (await failed({
      request,
      error: {
        Error: 'States.TaskFailed',
        Cause: `git clone https://x-access-token:ghp_abc@github.com/acme/infra failed; password=hunter2 AKIAABCDEFGHIJKLMNOP ${'y'.repeat(3000)}`,
      },
    })) as { Cause: string };
    expect(result.Cause.length).toBeLessThanOrEqual(1000);
    expect(result.Cause).not.toMatch(/ghp_abc|hunter2|AKIAABCDEFGHIJKLMNOP/);
  });

  it('still returns the readable error when notifications fail', async () => {
    for (const r of ['alice@example.com', 'carol@example.com', 'dora@example.com', 'C0DEPLOYS'])
      notifier.failFor.add(r);
    const out = captureOutput();
    const result = await notify(
      'failed',
      { ...planned, error: { Error: 'DeployRunner.Rejected', Cause: 'Rejected by Bob: no' } },
      createLogger('notify-test', { logLevel: 'INFO' }),
    ).finally(() => out.restore());
    expect(result).toEqual({ Error: 'DeployRunner.Rejected', Cause: 'Rejected by Bob: no' });
    expect(out.text()).toContain('some result notifications could not be delivered');
  });
});
