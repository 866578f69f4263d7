import { beforeEach, describe, expect, it } from 'vitest';
import { createRequestApprovalHandler, linkValidUntil } from '../../handlers/request-approval';
import { hashCapability } from '../../handlers/shared/capability';
import { InvalidPayloadError, NotificationDeliveryError } from '../../handlers/shared/errors';
import { createLogger } from '../../handlers/shared/logger';
import { MemoryApprovalStore } from '../../lib/local/memory-store';
import {
  captureOutput,
  counterBytes,
  destructivePlan,
  EXECUTION_ARN,
  requestApprovalPayload,
  START,
  settings,
  TASK_TOKEN,
  testClock,
} from './support/fixtures';
import { RecordingNotifier } from './support/recording-notifier';

let store: MemoryApprovalStore;
const verbose = createLogger('request-approval-test', { logLevel: 'INFO' });
let notifier: RecordingNotifier;

const make = (overrides: Partial<Parameters<typeof createRequestApprovalHandler>[0]> = {}) =>
  createRequestApprovalHandler({
    settings,
    store,
    notifier,
    clock: testClock(),
    randomBytes: counterBytes(),
    logger: createLogger('request-approval-test'),
    ...overrides,
  });

beforeEach(() => {
  store = new MemoryApprovalStore();
  notifier = new RecordingNotifier();
});

const NOW = Math.floor(START.getTime() / 1000);

describe('request-approval', () => {
  it('stores the run with the task token and one hashed, single-use link per approver', async () => {
    const result = await make()(requestApprovalPayload({ approvalsRequired: 2 }));
    expect(result.reached).toEqual(['Alice Admin', 'Bob Builder', 'Carol Chief']);
    const run = await store.getRun(EXECUTION_ARN);
    expect(run).toMatchObject({
      taskToken: TASK_TOKEN,
      status: 'pending',
      approvalsRequired: 2,
      validUntil: NOW + 86_400 - 60,
      approvers: [
        { id: 'alice@example.com', name: 'Alice Admin' },
        { id: 'U0BOB1234', name: 'Bob Builder' },
        { id: 'carol@example.com', name: 'Carol Chief' },
      ],
    });
    const links = [
      notifier.linkFor('alice@example.com'),
      notifier.linkFor('U0BOB1234'),
      notifier.linkFor('carol@example.com'),
    ];
    expect(new Set(links).size).toBe(3);
    for (const link of links) {
      expect(link).toMatch(/^https:\/\/approve\.example\.com\/a\/[A-Za-z0-9_-]{43}$/);
      const capability = link.split('/a/')[1] as string;
      const stored = await store.getLink(hashCapability(capability));
      expect(stored).toMatchObject({
        status: 'open',
        executionArn: EXECUTION_ARN,
        validUntil: NOW + 86_400 - 60,
      });
      // Only the hash is stored, and the token only in the run item.
      expect(store.snapshot()).not.toContain(capability);
    }
    expect(store.snapshot().split(TASK_TOKEN)).toHaveLength(2);
    // Carol has email and Slack: one link, both channels.
    expect(notifier.linkFor('U0CAROL12')).toBe(notifier.linkFor('carol@example.com'));
  });

  it('uses 256 bits of randomness per link', async () => {
    const sizes: number[] = [];
    await make({
      randomBytes: (n) => {
        sizes.push(n);
        return counterBytes()(n);
      },
    })(requestApprovalPayload());
    expect(sizes).toEqual([32, 32, 32]);
  });

  it('never lets links outlive the state timeout or the lock', () => {
    expect(linkValidUntil(NOW, 3600, NOW + 10_000)).toBe(NOW + 3600 - 60);
    expect(linkValidUntil(NOW, 120, NOW + 10_000)).toBe(NOW + 120 - 12);
    expect(linkValidUntil(NOW, 3600, NOW + 600)).toBe(NOW + 600);
  });

  it('writes personal messages with every fact, destructive changes first, and never the task token', async () => {
    await make()(requestApprovalPayload({ plan: destructivePlan() }));
    const email = notifier.emails.find((e) => e.to === 'alice@example.com');
    expect(email?.subject).toBe(
      '[deploy-runner] Approval needed: infra envs/prod (1 to destroy, 1 to replace)',
    );
    for (const text of [email?.text ?? '', email?.html ?? '']) {
      for (const fact of [
        'infra',
        'envs/prod',
        'abc1234def5678901234567890abcdef12345678',
        'dora@example.com',
        'https://github.com/acme/infra/actions/runs/42',
        '1 to add, 0 to change, 1 to destroy, 1 to replace',
        '2025-11-26 09:59 UTC',
        'executions/details/arn:aws:states',
        notifier.linkFor('alice@example.com'),
      ])
        expect(text).toContain(fact);
      const destroy = text.indexOf('aws_s3_bucket.old_logs');
      const create = text.indexOf('aws_sqs_queue.jobs');
      expect(destroy).toBeGreaterThan(0);
      expect(destroy).toBeLessThan(create);
    }
    expect(email?.text).toContain('!! DESTROYED OR REPLACED:');
    expect(email?.html).toContain('Destroyed or replaced');
    const dm = notifier.slack.find((s) => s.channel === 'U0BOB1234');
    expect(JSON.stringify(dm)).toContain(':warning: *Destroyed or replaced:*');
    expect(JSON.stringify(dm)).toContain(`<${notifier.linkFor('U0BOB1234')}|Review and decide>`);
    expect(notifier.all()).not.toContain(TASK_TOKEN);
  });

  it('sends the Slack channel a summary without any decision link', async () => {
    await make()(requestApprovalPayload());
    const summary = notifier.slack.find((s) => s.channel === 'C0DEPLOYS');
    expect(summary?.text).toContain('waiting for Alice Admin, Bob Builder, Carol Chief');
    expect(JSON.stringify(summary)).not.toMatch(/\/a\/[A-Za-z0-9_-]{43}/);
  });

  it('escapes markup in emails and Slack', async () => {
    await make()(
      requestApprovalPayload({
        request: { ...requestApprovalPayload().request, requestedBy: '<b>mallory</b> & co' },
      }),
    );
    const email = notifier.emails[0];
    expect(email?.html).toContain('&lt;b&gt;mallory&lt;/b&gt; &amp; co');
    expect(email?.html).not.toContain('<b>mallory');
    expect(JSON.stringify(notifier.slack[0]?.blocks)).toContain(
      '&lt;b&gt;mallory&lt;/b&gt; &amp; co',
    );
  });

  it('succeeds when enough approvers were reached, and logs the failures', async () => {
    notifier.failFor.add('alice@example.com');
    notifier.failFor.add('U0CAROL12');
    const out = captureOutput();
    const result = await make({ logger: verbose })(
      requestApprovalPayload({ approvalsRequired: 2 }),
    ).finally(() => out.restore());
    expect(result.reached).toEqual(['Bob Builder', 'Carol Chief']);
    expect(result.failures).toHaveLength(2);
    expect(out.text()).toContain('some approval messages could not be delivered');
    expect((await store.getRun(EXECUTION_ARN))?.status).toBe('pending');
  });

  it('fails with NotificationDeliveryError when too few approvers were reached, and voids the links', async () => {
    for (const r of ['alice@example.com', 'U0BOB1234', 'carol@example.com'])
      notifier.failFor.add(r);
    const out = captureOutput();
    const error = await make()(requestApprovalPayload({ approvalsRequired: 2 }))
      .catch((e: unknown) => e)
      .finally(() => out.restore());
    expect(error).toBeInstanceOf(NotificationDeliveryError);
    expect((error as Error).name).toBe('NotificationDeliveryError');
    expect((error as Error).message).toMatch(
      /^Approval requests reached 1 of 3 approvers, fewer than the 2 needed, so nobody can approve this run\. .*cannot reach alice@example\.com.*Check the SES sender identity and the Slack bot token, then start a new run\.$/,
    );
    expect((error as Error).message).not.toContain(TASK_TOKEN);
    const run = await store.getRun(EXECUTION_ARN);
    expect(run?.status).toBe('ended');
    for (const hash of run?.linkHashes ?? [])
      expect((await store.getLink(hash))?.status).toBe('void');
    expect(out.text()).not.toContain(TASK_TOKEN);
  });

  it('rejects a payload that breaks the contract without echoing the token', async () => {
    const error = await make()({ ...requestApprovalPayload(), approvalsRequired: 0 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect((error as Error).message).toContain('approvalsRequired');
    expect((error as Error).message).not.toContain(TASK_TOKEN);
    const tooMany = await make()(requestApprovalPayload({ approvalsRequired: 4 })).catch(
      (e: unknown) => e,
    );
    expect((tooMany as Error).message).toContain('needs 4 distinct approvers but only 3');
    expect(await store.getRun(EXECUTION_ARN)).toBeUndefined();
  });

  it('logs JSON with the execution ARN as correlation id, and no token or capability', async () => {
    const out = captureOutput();
    await make({ logger: verbose })(requestApprovalPayload()).finally(() => out.restore());
    const lines = out.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.message === 'approval requested')).toMatchObject({
      correlation_id: EXECUTION_ARN,
      level: 'INFO',
    });
    const text = out.text();
    expect(text).not.toContain(TASK_TOKEN);
    for (const recipient of ['alice@example.com', 'U0BOB1234', 'carol@example.com'])
      expect(text).not.toContain(notifier.linkFor(recipient).split('/a/')[1]);
  });
});
