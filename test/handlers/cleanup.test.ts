import { DeleteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createCleanupHandler } from '../../handlers/cleanup';
import { createRequestApprovalHandler } from '../../handlers/request-approval';
import { InvalidPayloadError } from '../../handlers/shared/errors';
import { createLogger } from '../../handlers/shared/logger';
import { DynamoApprovalStore } from '../../handlers/shared/store';
import { lockKeyFor } from '../../lib/contracts';
import { MemoryApprovalStore } from '../../lib/local/memory-store';
import { fakeDynamo, testDocumentClient } from './support/fake-dynamo';
import {
  counterBytes,
  EXECUTION_ARN,
  requestApprovalPayload,
  START,
  settings,
  testClock,
} from './support/fixtures';
import { RecordingNotifier } from './support/recording-notifier';

const ddb = mockClient(DynamoDBDocumentClient);
const logger = createLogger('cleanup-test');
const LOCK = lockKeyFor('infra', 'envs/prod');

function event(
  status: string,
  input: string | null = JSON.stringify({ repo: 'infra', ref: 'main', path: 'envs/prod' }),
  executionArn = EXECUTION_ARN,
) {
  return {
    version: '0',
    id: 'e-1',
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: '123456789012',
    time: START.toISOString(),
    region: 'us-east-1',
    resources: [executionArn],
    detail: {
      executionArn,
      stateMachineArn: 'arn:sm',
      name: 'n',
      status,
      startDate: 1,
      stopDate: 2,
      input,
      output: null,
    },
  };
}

const lock = (executionArn = EXECUTION_ARN) => ({
  pk: LOCK,
  executionArn,
  runId: 'r',
  repo: 'infra',
  path: 'envs/prod',
  acquiredAt: START.toISOString(),
  expiresAt: Math.floor(START.getTime() / 1000) + 86_400,
});

describe('cleanup', () => {
  let store: MemoryApprovalStore;
  beforeEach(() => {
    store = new MemoryApprovalStore({ clock: () => START });
    ddb.reset();
  });

  it('releases the lock this execution holds, voids its links and ends its run', async () => {
    await store.acquireLock(lock());
    await createRequestApprovalHandler({
      settings,
      store,
      notifier: new RecordingNotifier(),
      clock: testClock(),
      randomBytes: counterBytes(),
      logger,
    })(requestApprovalPayload());
    const result = await createCleanupHandler({ store, clock: () => START, logger })(
      event('ABORTED'),
    );
    expect(result).toEqual({
      executionArn: EXECUTION_ARN,
      status: 'ABORTED',
      lockKey: LOCK,
      lockReleased: true,
      linksVoided: 3,
      runEnded: true,
    });
    expect(await store.getLock(LOCK)).toBeUndefined();
    const run = await store.getRun(EXECUTION_ARN);
    expect(run).toMatchObject({
      status: 'ended',
      endedReason: 'the execution ended with status ABORTED',
    });
    for (const hash of run?.linkHashes ?? [])
      expect((await store.getLink(hash))?.status).toBe('void');
  });

  it('is idempotent, and never releases a lock another execution holds', async () => {
    await store.acquireLock(lock('arn:newer-run'));
    const cleanup = createCleanupHandler({ store, logger });
    expect((await cleanup(event('TIMED_OUT'))).lockReleased).toBe(false);
    expect((await cleanup(event('TIMED_OUT'))).lockReleased).toBe(false);
    expect((await store.getLock(LOCK))?.executionArn).toBe('arn:newer-run');
  });

  it('finds the lock through the approval run when the event carries no input', async () => {
    await store.acquireLock(lock());
    await createRequestApprovalHandler({
      settings,
      store,
      notifier: new RecordingNotifier(),
      clock: testClock(),
      randomBytes: counterBytes(),
      logger,
    })(requestApprovalPayload());
    const result = await createCleanupHandler({ store, logger })(event('FAILED', null));
    expect(result).toMatchObject({ lockKey: LOCK, lockReleased: true });
  });

  it('does nothing for a succeeded execution or unusable input', async () => {
    await store.acquireLock(lock());
    expect(await createCleanupHandler({ store, logger })(event('SUCCEEDED'))).toMatchObject({
      lockReleased: false,
    });
    expect(
      await createCleanupHandler({ store, logger })(event('ABORTED', 'not json')),
    ).toMatchObject({ lockReleased: false, linksVoided: 0 });
    expect(await store.getLock(LOCK)).toBeDefined();
  });

  it('refuses an event that is not an execution status change', async () => {
    await expect(createCleanupHandler({ store, logger })({ detail: {} })).rejects.toThrow(
      InvalidPayloadError,
    );
  });

  it('deletes the lock in DynamoDB conditionally on the execution ARN', async () => {
    fakeDynamo(ddb);
    const dynamo = new DynamoApprovalStore(testDocumentClient(), settings.tableName);
    await dynamo.acquireLock(lock());
    const result = await createCleanupHandler({ store: dynamo, logger })(event('ABORTED'));
    expect(result.lockReleased).toBe(true);
    expect(ddb.commandCalls(DeleteCommand)[0]?.args[0].input).toEqual({
      TableName: 'deploy-runner-table',
      Key: { pk: LOCK },
      ConditionExpression: 'executionArn = :arn',
      ExpressionAttributeValues: { ':arn': EXECUTION_ARN },
    });
  });
});
