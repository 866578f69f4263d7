import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type ApprovalLink,
  type ApprovalRun,
  type ApprovalStore,
  type DecisionRecord,
  DynamoApprovalStore,
  type LockItem,
} from '../../handlers/shared/store';
import { lockKeyFor } from '../../lib/contracts';
import { MemoryApprovalStore } from '../../lib/local/memory-store';
import { fakeDynamo, testDocumentClient } from './support/fake-dynamo';
import {
  approvalRun,
  EXECUTION_ARN,
  planResult,
  START,
  TASK_TOKEN,
  testClock,
} from './support/fixtures';

const NOW = Math.floor(START.getTime() / 1000);
const hashes = ['a'.repeat(64), 'b'.repeat(64)];

function run(overrides: Partial<ApprovalRun> = {}): ApprovalRun {
  return approvalRun({
    approvers: [
      { id: 'alice@example.com', name: 'Alice', email: 'alice@example.com' },
      { id: 'U0BOB1234', name: 'Bob', slackUserId: 'U0BOB1234' },
    ],
    approvalsRequired: 2,
    linkHashes: hashes,
    validUntil: NOW + 3600,
    expiresAt: NOW + 3600 + 86_400,
    ...overrides,
  });
}

const link = (hash: string, approverId: string): ApprovalLink => ({
  hash,
  executionArn: EXECUTION_ARN,
  approverId,
  approverName: approverId,
  validUntil: NOW + 3600,
  expiresAt: NOW + 3600 + 86_400,
  status: 'open',
});

const links = () => [
  link(hashes[0] as string, 'alice@example.com'),
  link(hashes[1] as string, 'U0BOB1234'),
];

const decision = (approverId: string, kind: 'approve' | 'reject' = 'approve'): DecisionRecord => ({
  approverId,
  approverName: approverId,
  decision: kind,
  reason: kind === 'reject' ? 'no' : '',
  decidedAt: START.toISOString(),
});

const lock = (executionArn = EXECUTION_ARN, expiresAt = NOW + 86_400): LockItem => ({
  pk: lockKeyFor('infra', 'envs/prod'),
  executionArn,
  runId: 'r',
  repo: 'infra',
  path: 'envs/prod',
  acquiredAt: START.toISOString(),
  expiresAt,
});

const ddb = mockClient(DynamoDBDocumentClient);

interface Harness {
  store: ApprovalStore;
  snapshot(): string;
}

const implementations: [string, () => Harness][] = [
  [
    'MemoryApprovalStore',
    () => {
      const store = new MemoryApprovalStore({ clock: () => START });
      return { store, snapshot: () => store.snapshot() };
    },
  ],
  [
    'DynamoApprovalStore',
    () => {
      ddb.reset();
      const table = fakeDynamo(ddb);
      // The mock intercepts send on every DocumentClient instance.
      const store = new DynamoApprovalStore(testDocumentClient(), 'deploy-runner-table');
      return { store, snapshot: () => table.snapshot() };
    },
  ],
];

describe.each(implementations)('%s (shared behaviour)', (_name, make) => {
  let h: Harness;
  beforeEach(() => {
    h = make();
  });

  it('stores a run and its links and reads them back', async () => {
    await h.store.createRun(run(), links());
    expect(await h.store.getRun(EXECUTION_ARN)).toEqual(run());
    expect(await h.store.getLink(hashes[0] as string)).toEqual(links()[0]);
    expect(await h.store.getLink('c'.repeat(64))).toBeUndefined();
    expect(await h.store.getRun('arn:other')).toBeUndefined();
  });

  it('records one decision per link: the first wins', async () => {
    await h.store.createRun(run(), links());
    const first = await h.store.recordDecision(
      hashes[0] as string,
      EXECUTION_ARN,
      decision('alice@example.com'),
      NOW,
    );
    const replay = await h.store.recordDecision(
      hashes[0] as string,
      EXECUTION_ARN,
      decision('alice@example.com', 'reject'),
      NOW,
    );
    expect([first, replay]).toEqual(['recorded', 'link-closed']);
    const stored = await h.store.getRun(EXECUTION_ARN);
    expect(stored?.decisions).toEqual({ 'alice@example.com': decision('alice@example.com') });
    expect((await h.store.getLink(hashes[0] as string))?.status).toBe('used');
  });

  it('refuses a decision on an expired link', async () => {
    await h.store.createRun(run(), links());
    expect(
      await h.store.recordDecision(
        hashes[0] as string,
        EXECUTION_ARN,
        decision('alice@example.com'),
        NOW + 3600,
      ),
    ).toBe('link-closed');
    expect((await h.store.getRun(EXECUTION_ARN))?.decisions).toEqual({});
  });

  it('refuses a decision on a closed run and a second decision by the same approver', async () => {
    await h.store.createRun(run(), [...links(), link('d'.repeat(64), 'alice@example.com')]);
    await h.store.recordDecision(
      hashes[0] as string,
      EXECUTION_ARN,
      decision('alice@example.com'),
      NOW,
    );
    expect(
      await h.store.recordDecision(
        'd'.repeat(64),
        EXECUTION_ARN,
        decision('alice@example.com'),
        NOW,
      ),
    ).toBe('run-closed');
    expect((await h.store.getLink('d'.repeat(64)))?.status).toBe('open');
    const outcome = {
      approved: true,
      approver: 'a',
      reason: '',
      decidedAt: START.toISOString(),
      planSha256: planResult().planSha256,
    };
    expect(await h.store.closeRun(EXECUTION_ARN, outcome)).toBe(true);
    expect(await h.store.closeRun(EXECUTION_ARN, outcome)).toBe(false);
    expect(
      await h.store.recordDecision(hashes[1] as string, EXECUTION_ARN, decision('U0BOB1234'), NOW),
    ).toBe('run-closed');
    const closed = await h.store.getRun(EXECUTION_ARN);
    expect(closed?.status).toBe('approved');
    expect(closed?.outcome).toEqual(outcome);
  });

  it('reopens a closed run only for the same outcome', async () => {
    await h.store.createRun(run(), links());
    const outcome = {
      approved: false,
      approver: 'a',
      reason: 'no',
      decidedAt: START.toISOString(),
      planSha256: planResult().planSha256,
    };
    await h.store.closeRun(EXECUTION_ARN, outcome);
    expect(await h.store.reopenRun(EXECUTION_ARN, '2000-01-01T00:00:00.000Z')).toBe(false);
    expect(await h.store.reopenRun(EXECUTION_ARN, outcome.decidedAt)).toBe(true);
    const reopened = await h.store.getRun(EXECUTION_ARN);
    expect(reopened?.status).toBe('pending');
    expect(reopened?.outcome).toBeUndefined();
  });

  it('ends a pending run once, and voids its open links', async () => {
    await h.store.createRun(run(), links());
    await h.store.recordDecision(
      hashes[0] as string,
      EXECUTION_ARN,
      decision('alice@example.com'),
      NOW,
    );
    expect(await h.store.voidLinks(EXECUTION_ARN)).toBe(1);
    expect(await h.store.voidLinks(EXECUTION_ARN)).toBe(0);
    expect((await h.store.getLink(hashes[0] as string))?.status).toBe('used');
    expect((await h.store.getLink(hashes[1] as string))?.status).toBe('void');
    expect(await h.store.endRun(EXECUTION_ARN, 'aborted', START.toISOString())).toBe(true);
    expect(await h.store.endRun(EXECUTION_ARN, 'aborted', START.toISOString())).toBe(false);
    expect(await h.store.endRun('arn:unknown', 'aborted', START.toISOString())).toBe(false);
    expect(await h.store.voidLinks('arn:unknown')).toBe(0);
    expect((await h.store.getRun(EXECUTION_ARN))?.status).toBe('ended');
  });

  it('replaces a run written again (retried Request approval) and voids the old links', async () => {
    await h.store.createRun(run(), links());
    const fresh = [link('e'.repeat(64), 'alice@example.com')];
    await h.store.createRun(
      run({ taskToken: 'new-token-0123456789', linkHashes: ['e'.repeat(64)] }),
      fresh,
    );
    expect((await h.store.getRun(EXECUTION_ARN))?.taskToken).toBe('new-token-0123456789');
    expect((await h.store.getLink(hashes[0] as string))?.status).toBe('void');
    expect((await h.store.getLink('e'.repeat(64)))?.status).toBe('open');
  });

  it('acquires a free lock once; releases it only for its holder (idempotent)', async () => {
    expect(await h.store.acquireLock(lock())).toBe(true);
    expect(await h.store.acquireLock(lock('arn:other'))).toBe(false);
    expect(await h.store.getLock(lock().pk)).toEqual(lock());
    expect(await h.store.releaseLock(lock().pk, 'arn:other')).toBe(false);
    expect(await h.store.getLock(lock().pk)).toEqual(lock());
    expect(await h.store.releaseLock(lock().pk, EXECUTION_ARN)).toBe(true);
    expect(await h.store.releaseLock(lock().pk, EXECUTION_ARN)).toBe(false);
    expect(await h.store.getLock(lock().pk)).toBeUndefined();
    expect(await h.store.acquireLock(lock('arn:other'))).toBe(true);
  });

  it('reads never write', async () => {
    await h.store.createRun(run(), links());
    await h.store.acquireLock(lock());
    const before = h.snapshot();
    await h.store.getRun(EXECUTION_ARN);
    await h.store.getLink(hashes[0] as string);
    await h.store.getLock(lock().pk);
    expect(h.snapshot()).toBe(before);
  });
});

describe('DynamoApprovalStore commands', () => {
  const store = new DynamoApprovalStore(testDocumentClient(), 'deploy-runner-table');
  beforeEach(() => {
    ddb.reset();
    fakeDynamo(ddb);
  });

  it('writes the run (key run#<arn>, TTL expiresAt) and links (key link#<hash>) in one transaction', async () => {
    await store.createRun(run(), links());
    const [call] = ddb.commandCalls(TransactWriteCommand);
    const items = call?.args[0].input.TransactItems ?? [];
    expect(items[0]?.Put?.Item).toMatchObject({
      pk: `run#${EXECUTION_ARN}`,
      taskToken: TASK_TOKEN,
      expiresAt: NOW + 3600 + 86_400,
    });
    expect(items[1]?.Put).toMatchObject({
      Item: { pk: `link#${hashes[0]}` },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    expect(JSON.stringify(items.slice(1))).not.toContain(TASK_TOKEN);
  });

  it('decides with a conditional transaction on the link and the run', async () => {
    await store.createRun(run(), links());
    await store.recordDecision(
      hashes[0] as string,
      EXECUTION_ARN,
      decision('alice@example.com'),
      NOW,
    );
    const [, call] = ddb.commandCalls(TransactWriteCommand);
    const [onLink, onRun] = call?.args[0].input.TransactItems ?? [];
    expect(onLink?.Update?.ConditionExpression).toBe(
      '#status = :open AND validUntil > :now AND executionArn = :arn',
    );
    expect(onRun?.Update?.ConditionExpression).toBe(
      '#status = :pending AND attribute_not_exists(decisions.#approver)',
    );
    expect(onRun?.Update?.ExpressionAttributeNames).toEqual({
      '#status': 'status',
      '#approver': 'alice@example.com',
    });
  });

  it('acquires with attribute_not_exists(pk) and releases with executionArn = :arn', async () => {
    await store.acquireLock(lock());
    await store.releaseLock(lock().pk, EXECUTION_ARN);
    expect(ddb.commandCalls(PutCommand)[0]?.args[0].input).toMatchObject({
      TableName: 'deploy-runner-table',
      ConditionExpression: 'attribute_not_exists(pk)',
      Item: { pk: 'lock#infra#envs/prod', expiresAt: NOW + 86_400 },
    });
    expect(ddb.commandCalls(DeleteCommand)[0]?.args[0].input).toEqual({
      TableName: 'deploy-runner-table',
      Key: { pk: 'lock#infra#envs/prod' },
      ConditionExpression: 'executionArn = :arn',
      ExpressionAttributeValues: { ':arn': EXECUTION_ARN },
    });
  });

  it('reads consistently', async () => {
    await store.getLink(hashes[0] as string);
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input).toEqual({
      TableName: 'deploy-runner-table',
      Key: { pk: `link#${hashes[0]}` },
      ConsistentRead: true,
    });
  });

  it('passes on errors that are not condition failures', async () => {
    ddb
      .on(UpdateCommand)
      .rejects(
        Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }),
      );
    await expect(store.endRun(EXECUTION_ARN, 'x', START.toISOString())).rejects.toThrow(
      'throttled',
    );
    ddb
      .on(TransactWriteCommand)
      .rejects(Object.assign(new Error('boom'), { name: 'InternalServerError' }));
    await expect(
      store.recordDecision('a'.repeat(64), EXECUTION_ARN, decision('x'), NOW),
    ).rejects.toThrow('boom');
  });
});

describe('MemoryApprovalStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dr-store-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('persists every write to its file and loads it again after a restart', async () => {
    const file = join(dir, 'nested', 'store.json');
    const first = new MemoryApprovalStore({ file, clock: () => START });
    await first.createRun(run(), links());
    await first.recordDecision(
      hashes[0] as string,
      EXECUTION_ARN,
      decision('alice@example.com'),
      NOW,
    );
    await first.acquireLock(lock());
    expect(JSON.parse(readFileSync(file, 'utf8')).items).toHaveLength(4);
    const second = new MemoryApprovalStore({ file, clock: () => START });
    expect(second.snapshot()).toBe(first.snapshot());
    expect(
      await second.recordDecision(
        hashes[0] as string,
        EXECUTION_ARN,
        decision('alice@example.com'),
        NOW,
      ),
    ).toBe('link-closed');
    expect(await second.acquireLock(lock('arn:other'))).toBe(false);
  });

  it('treats a lock past its TTL as gone, as the TTL sweep would', async () => {
    const clock = testClock();
    const store = new MemoryApprovalStore({ clock });
    await store.acquireLock(lock(EXECUTION_ARN, NOW + 60));
    expect(await store.acquireLock(lock('arn:other'))).toBe(false);
    clock.advance(61);
    expect(await store.getLock(lock().pk)).toBeUndefined();
    expect(await store.acquireLock(lock('arn:other'))).toBe(true);
  });

  it('is atomic under concurrent decisions on one link', async () => {
    const store = new MemoryApprovalStore();
    await store.createRun(run(), links());
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.recordDecision(
          hashes[0] as string,
          EXECUTION_ARN,
          decision('alice@example.com', i % 2 ? 'reject' : 'approve'),
          NOW,
        ),
      ),
    );
    expect(results.filter((r) => r === 'recorded')).toHaveLength(1);
  });
});
