import { createRequire } from 'node:module';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it, vi } from 'vitest';
import { leakedClientMocks, snapshotProcess } from './process-state';

/**
 * test/setup.ts puts the process back after each file, which is what lets vitest.config.ts run
 * files that mock SDK clients or write the environment in a shared worker process.
 */

const sinon: { createSandbox(): { restore(): void } } = createRequire(
  require.resolve('aws-sdk-client-mock'),
)('sinon');

describe('a test file hands the next one its process as it found it', () => {
  it('puts back SDK client mocks, the environment, spies and timers', async () => {
    const snapshot = snapshotProcess();
    const originalLog = console.log;
    const sfn = mockClient(SFNClient);
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'mocked' });
    expect(leakedClientMocks()).toContain('SFNClient');
    process.env.DR_PROBE_WRITTEN = 'yes';
    process.env = { ...process.env, DR_PROBE_REPLACED: 'yes' };
    vi.stubEnv('DR_PROBE_STUBBED', 'yes');
    vi.spyOn(console, 'log').mockImplementation(() => {});
    vi.useFakeTimers();

    snapshot.restore();

    expect(Object.hasOwn(SFNClient.prototype, 'send')).toBe(false);
    expect(leakedClientMocks()).toEqual([]);
    // The real client is back: with no endpoint to reach it fails, where the mock answered.
    const client = new SFNClient({
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      maxAttempts: 1,
    });
    await expect(
      client.send(new StartExecutionCommand({ stateMachineArn: 'arn:x' })),
    ).rejects.toThrow();
    client.destroy();
    for (const key of ['DR_PROBE_WRITTEN', 'DR_PROBE_REPLACED', 'DR_PROBE_STUBBED'])
      expect(process.env[key]).toBeUndefined();
    expect(console.log).toBe(originalLog);
    expect(vi.isFakeTimers()).toBe(false);
  });

  it('fails the file when a client mock escapes the restore', () => {
    const snapshot = snapshotProcess();
    // A mock in its own sandbox is out of reach of sinon's default one, which the restore resets.
    const sandbox = sinon.createSandbox();
    mockClient(SFNClient, { sandbox: sandbox as never });
    try {
      expect(() => snapshot.restore()).toThrow(/mocks outlive their test file: SFNClient/);
    } finally {
      sandbox.restore();
    }
    expect(leakedClientMocks()).toEqual([]);
  });
});
