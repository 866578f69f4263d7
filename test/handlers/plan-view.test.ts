import { createHash } from 'node:crypto';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createApprovalPageHandler } from '../../handlers/approval-page';
import { planViewPage } from '../../handlers/shared/approval-views';
import { driftPhase } from '../../handlers/shared/drift-notify';
import {
  DynamoPlanViewStore,
  issuePlanView,
  PLAN_VIEW_SECONDS,
  planViewKey,
} from '../../handlers/shared/plan-view';
import type { PlanViewRecord, RunRequest } from '../../lib/contracts';
import { MemoryDriftStore } from '../../lib/local/drift-store';
import { MemoryApprovalStore } from '../../lib/local/memory-store';
import { MemoryPlanViewStore } from '../../lib/local/plan-view-store';
import { testDocumentClient } from './support/fake-dynamo';
import {
  EXECUTION_ARN,
  pageEvent,
  planResult,
  request,
  START,
  settings,
  testClock,
} from './support/fixtures';
import { RecordingNotifier } from './support/recording-notifier';

/**
 * Read-only plan links of drift messages (handlers/shared/plan-view.ts): issued by the notify
 * function's drift phase, served by the approval page at `/v/<capability>` with the approval
 * links' capability rules and no decision controls.
 */

const sfnMock = mockClient(SFNClient);
const ddbMock = mockClient(DynamoDBDocumentClient);
const driftRequest: RunRequest = { ...request, mode: 'plan-only', drift: 'notify' };
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const VIEW_LINK = /https:\/\/approve\.example\.com\/v\/([A-Za-z0-9_-]{43})/;

/** A drift check reported through notify's drift phase: the message, the views, the link. */
async function reportedDrift(now = START) {
  const views = new MemoryPlanViewStore();
  const notifier = new RecordingNotifier();
  const outcome = await driftPhase({
    executionArn: EXECUTION_ARN,
    state: { request: driftRequest, plan: { summary: planResult() } },
    settings,
    notifier,
    drift: { store: new MemoryDriftStore(), views, now: () => now },
  });
  const text = notifier.emails[0]?.text ?? '';
  const capability = VIEW_LINK.exec(text)?.[1] ?? '';
  return { views, notifier, outcome, text, capability };
}

function page(views: MemoryPlanViewStore, clock = testClock()) {
  const store = new MemoryApprovalStore();
  return {
    store,
    handler: createApprovalPageHandler({
      settings,
      store,
      views,
      sfn: new SFNClient({ region: 'us-east-1' }),
      clock,
    }),
  };
}

beforeEach(() => {
  sfnMock.reset();
  ddbMock.reset();
});

describe('drift messages link a read-only view of the plan', () => {
  it('each email and Slack message carries the /v/ link, not the run page', async () => {
    const { notifier, outcome, text, capability } = await reportedDrift();
    expect(outcome.drifted).toBe(true);
    expect(capability).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(text).toContain('Plan (read-only, the link works until');
    expect(text).not.toContain('console.aws.amazon.com/states');
    for (const m of [...notifier.emails, ...notifier.slack]) expect(m.text).toContain(capability);
  });

  it('stores only the hash of the capability, with the plan, expiring after a week', async () => {
    const { views, capability } = await reportedDrift();
    const record = (await views.getView(sha256(capability))) as PlanViewRecord;
    expect(record).toMatchObject({
      executionArn: EXECUTION_ARN,
      runId: driftRequest.runId,
      plan: planResult(),
      validUntil: START.getTime() / 1000 + PLAN_VIEW_SECONDS,
    });
    expect(record.expiresAt).toBeGreaterThan(record.validUntil);
    expect(JSON.stringify(record)).not.toContain(capability);
  });

  it('a new capability per message: two reports, two links', async () => {
    const a = await reportedDrift();
    const b = await reportedDrift();
    expect(a.capability).not.toBe(b.capability);
  });

  it('without a page URL or view store the message links the run page', async () => {
    const notifier = new RecordingNotifier();
    await driftPhase({
      executionArn: EXECUTION_ARN,
      state: { request: driftRequest, plan: { summary: planResult() } },
      settings,
      notifier,
      drift: { store: new MemoryDriftStore() },
    });
    expect(notifier.emails[0]?.text).not.toMatch(VIEW_LINK);
    expect(notifier.emails[0]?.text).toContain('Run: https://us-east-1.console.aws.amazon.com');
  });
});

describe('approval page: GET /v/<capability>', () => {
  it('shows the plan with no form, no button and no nonce', async () => {
    const { views, capability } = await reportedDrift();
    const res = await page(views).handler(pageEvent('GET', `/v/${capability}`));
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Plan of <code>infra</code> <code>envs/prod</code>');
    for (const address of ['aws_s3_bucket.logs', 'aws_iam_role.ci', 'aws_lambda_function.api'])
      expect(res.body).toContain(address);
    expect(res.body).not.toMatch(/<form|<button|<input|<textarea|name="nonce"/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
  });

  it('HEAD answers as GET without a body', async () => {
    const { views, capability } = await reportedDrift();
    const res = await page(views).handler(pageEvent('HEAD', `/v/${capability}`));
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
  });

  it('POST is refused (405, Allow: GET) and changes nothing', async () => {
    const { views, capability } = await reportedDrift();
    const before = JSON.stringify(await views.getView(sha256(capability)));
    const { handler, store } = page(views);
    const res = await handler(
      pageEvent('POST', `/v/${capability}`, { decision: 'approve', nonce: 'x' }),
    );
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET');
    expect(JSON.stringify(await views.getView(sha256(capability)))).toBe(before);
    expect(await store.getLink(sha256(capability))).toBeUndefined();
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('after its week the link shows only that it expired', async () => {
    const { views, capability } = await reportedDrift();
    const clock = testClock();
    clock.advance(PLAN_VIEW_SECONDS);
    const res = await page(views, clock).handler(pageEvent('GET', `/v/${capability}`));
    expect(res.statusCode).toBe(410);
    expect(res.body).toContain('This link has expired');
    expect(res.body).not.toContain('aws_s3_bucket.logs');
    // One second earlier it still worked.
    clock.advance(-1);
    expect(
      (await page(views, clock).handler(pageEvent('GET', `/v/${capability}`))).statusCode,
    ).toBe(200);
  });

  it('an unknown or malformed capability, or an approval capability, shows no plan', async () => {
    const { views, capability } = await reportedDrift();
    const { handler } = page(views);
    const other = `${capability.slice(0, -1)}${capability.endsWith('A') ? 'B' : 'A'}`;
    for (const path of [`/v/${other}`, '/v/short', `/v/${capability}x`, `/a/${capability}`]) {
      const res = await handler(pageEvent('GET', path));
      expect(res.statusCode, path).toBe(404);
      expect(res.body, path).not.toContain('aws_s3_bucket.logs');
    }
  });
});

describe('DynamoPlanViewStore', () => {
  const client = testDocumentClient();

  it('writes once under drift#view#<hash>, in the drift items notify may write', async () => {
    ddbMock.on(PutCommand).resolves({});
    const store = new DynamoPlanViewStore(client, 'deploy-runner-table');
    const { link } = await issuePlanView(
      { store, baseUrl: 'https://approve.example.com/', now: START },
      { executionArn: EXECUTION_ARN, request: driftRequest, plan: planResult() },
    );
    const capability = link.split('/v/')[1] as string;
    const put = ddbMock.commandCalls(PutCommand)[0]?.args[0].input;
    expect(put?.Item?.pk).toBe(planViewKey(sha256(capability)));
    expect(put?.Item?.pk).toMatch(/^drift#view#[0-9a-f]{64}$/);
    expect(put?.ConditionExpression).toBe('attribute_not_exists(pk)');
    expect(JSON.stringify(put)).not.toContain(capability);
    expect(link).toBe(`https://approve.example.com/v/${capability}`);
  });

  it('reads a view back through its schema', async () => {
    const record: PlanViewRecord = {
      hash: sha256('x'),
      executionArn: EXECUTION_ARN,
      runId: driftRequest.runId,
      request: driftRequest,
      plan: planResult(),
      createdAt: START.toISOString(),
      validUntil: 1,
      expiresAt: 2,
    };
    ddbMock.on(GetCommand).resolves({ Item: { pk: planViewKey(record.hash), ...record } });
    const store = new DynamoPlanViewStore(client, 'deploy-runner-table');
    expect(await store.getView(record.hash)).toEqual(record);
    ddbMock.on(GetCommand).resolves({ Item: { pk: 'x', hash: 'not a hash' } });
    await expect(store.getView(record.hash)).rejects.toThrow();
  });
});

describe('the read-only view words its problems without a run to reject', () => {
  const problems = ['checksum-mismatch', 'not-found', 'too-large', 'unreadable'] as const;
  it.each(problems)(
    '%s: says what went wrong, never "reject the run" or "cannot be approved"',
    (problem) => {
      const view = planViewPage({
        request: driftRequest,
        plan: planResult(),
        planText: { status: 'blocked', problem },
        consoleUrl: 'https://console.example.com/run',
        validUntil: START.getTime() / 1000 + PLAN_VIEW_SECONDS,
      });
      expect(view).toContain('id="plan-error"');
      expect(view.toLowerCase()).not.toContain('reject the run');
      expect(view).not.toContain('cannot be approved');
      expect(view).not.toContain('<form');
    },
  );
});
