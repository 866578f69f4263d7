import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoApprovalStore } from '../../handlers/shared/store';
import { durationSeconds, parseConfig } from '../../lib/config';
import {
  artifactKeys,
  lockItemSchema,
  PLAN_ARTIFACT_NAMES,
  runTimeoutSeconds,
  StateNames,
} from '../../lib/contracts';
import { type AslDefinition, synthesizeDefinition } from '../../lib/definition';
import { MemoryApprovalStore } from '../../lib/local/memory-store';
import { exampleConfig } from '../stack/helpers';
import { testDocumentClient } from './support/fake-dynamo';

/**
 * Both sides of the contracts that the state machine itself writes or names: a change to the
 * workflow construct or to lib/contracts.ts alone fails here.
 */

let asl: AslDefinition;
const config = parseConfig(exampleConfig());
beforeAll(() => {
  ({ definition: asl } = synthesizeDefinition(config));
});

describe('the workflow and lib/contracts.ts agree', () => {
  it('every state name the other modules use is a state of the workflow', () => {
    const missing = Object.values(StateNames).filter((name) => !(name in asl.States));
    expect(missing).toEqual([]);
  });

  it('Acquire lock writes exactly the attributes of the lock item schema', () => {
    const item =
      (asl.States[StateNames.AcquireLock]?.Parameters as { Item: object } | undefined)?.Item ?? {};
    expect(Object.keys(item).sort()).toEqual(Object.keys(lockItemSchema.shape).sort());
    const required = Object.entries(lockItemSchema.shape)
      .filter(([, schema]) => !schema.safeParse(undefined).success)
      .map(([name]) => name);
    expect(required.filter((name) => !(name in item))).toEqual([]);
  });

  it('the execution timeout is the one formula local mode uses too', () => {
    const seconds = runTimeoutSeconds({
      plan: durationSeconds(config.runner.planTimeout),
      approval: durationSeconds(config.approvals.timeout),
      apply: durationSeconds(config.runner.applyTimeout),
    });
    expect(asl.TimeoutSeconds).toBe(seconds.execution);
    expect(seconds.lock).toBeGreaterThan(seconds.execution);
  });

  it('the plan artifact names are those of the key function', () => {
    const keys = artifactKeys('run-1');
    expect(PLAN_ARTIFACT_NAMES.map((name) => `runs/run-1/${name}`)).toEqual([
      keys.plan,
      keys.planText,
      keys.planResult,
      keys.error('plan'),
      keys.driftPaths,
    ]);
  });
});

describe('store reads are parsed with the item schemas', () => {
  it('DynamoDB items that drifted from the contract are refused, not cast', async () => {
    const ddb = mockClient(DynamoDBDocumentClient);
    ddb.on(GetCommand).resolves({ Item: { pk: 'lock#infra#envs/prod', executionArn: 'arn:x' } });
    const store = new DynamoApprovalStore(testDocumentClient(), 'table');
    await expect(store.getLock('lock#infra#envs/prod')).rejects.toMatchObject({
      name: 'StoredItemInvalidError',
      message: expect.stringContaining('runId'),
    });
    ddb.on(GetCommand).resolves({ Item: { pk: 'run#arn:x', executionArn: 'arn:x', runId: 'r' } });
    await expect(store.getRun('arn:x')).rejects.toMatchObject({
      name: 'StoredItemInvalidError',
    });
    ddb.on(GetCommand).resolves({});
    await expect(store.getLink('h')).resolves.toBeUndefined();
    ddb.restore();
  });

  it('a lock item as the state machine writes it reads back as written', async () => {
    const store = new MemoryApprovalStore({ clock: () => new Date('2025-11-25T10:00:00Z') });
    const lock = {
      pk: 'lock#infra#envs/prod',
      executionArn: 'arn:x',
      runId: 'r',
      repo: 'infra',
      path: 'envs/prod',
      holder: 'run r, requested by dora',
      acquiredAt: '2025-11-25T10:00:00Z',
      expiresAt: 1_900_000_000,
    };
    expect(await store.acquireLock(lock)).toBe(true);
    expect(await store.getLock(lock.pk)).toEqual(lock);
    expect(store.locks()).toEqual([lock]);
  });
});

describe('the allowlist travels without the config schema', () => {
  it.each([
    ['the validate function', 'handlers/validate-request.ts'],
    ['the runner', 'containers/runner/src/main.ts'],
  ])('%s does not bundle lib/config.ts', async (_what, entry) => {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      write: false,
      metafile: true,
      external: ['@aws-sdk/*', '@smithy/*'],
      logLevel: 'error',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs).toContain('lib/allowlist.ts');
    expect(inputs).not.toContain('lib/config.ts');
  });
});
