import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { DriftExit, runDriftChecks } from '../../lib/cli/drift';
import {
  ExitCode,
  exitCodeForError,
  explainError,
  outcomeOf,
  readableCause,
} from '../../lib/cli/exit-codes';
import { ApiPacer } from '../../lib/cli/pacer';
import { Renderer } from '../../lib/cli/render';

/** What the CLI reads from another process is parsed (lib/contracts.ts), never cast. */

describe('a succeeded execution: the output is read through its schema', () => {
  const kind = (output: unknown) =>
    outcomeOf({ status: 'SUCCEEDED', output: JSON.stringify(output) }).result;

  it('fields of another shape count as absent instead of deciding', () => {
    expect(kind({ plan: { summary: { hasChanges: 'false' } } })).toBe('succeeded');
    expect(kind({ plan: { summary: { hasChanges: false } } })).toBe('no-changes');
    expect(kind({ request: 'plan-only', plan: { summary: { hasChanges: false } } })).toBe(
      'no-changes',
    );
    expect(kind({ request: { mode: 'plan-only' } })).toBe('plan-only');
    expect(kind([{ apply: {} }])).toBe('succeeded');
    expect(kind('applied')).toBe('succeeded');
  });
});

describe('causes and errors', () => {
  it('unwraps a nested Cause and ignores an errorMessage that is not text', () => {
    const inner = JSON.stringify({ errorType: 'E', errorMessage: 'the inner message' });
    expect(readableCause(JSON.stringify({ Error: 'X', Cause: inner }))).toBe('the inner message');
    const odd = JSON.stringify({ errorMessage: 42 });
    expect(readableCause(odd)).toBe(odd);
  });

  it('reads name, message and code of any thrown value, not only Error', () => {
    expect(exitCodeForError({ name: 'InvalidArn' })).toBe(ExitCode.Usage);
    expect(exitCodeForError({ name: ['InvalidArn'] })).toBe(ExitCode.RunFailed);
    expect(explainError({ name: 'X', message: 'boom' })).toBe('X: boom');
    expect(explainError({ name: 7, message: 'boom', code: 'ECONNREFUSED' })).toMatch(
      /^Nothing answers at the endpoint/,
    );
    expect(explainError(null)).toBe('null');
  });
});

describe('drift: a skipped check is read through the drift result schema', () => {
  const sfnMock = mockClient(SFNClient);

  async function check(drift: unknown) {
    sfnMock.reset();
    sfnMock.on(StartExecutionCommand).resolves({
      executionArn: 'arn:aws:states:eu-west-1:111111111111:execution:DeployRunner:drift-x',
      startDate: new Date(),
    });
    sfnMock
      .on(DescribeExecutionCommand)
      .resolves({ status: 'SUCCEEDED', output: JSON.stringify({ drift }) } as never);
    let text = '';
    const out = new Renderer({
      stream: { isTTY: false, write: (c: string) => (text += c) },
      env: {},
    });
    const code = await runDriftChecks(
      { repo: 'infra', path: 'envs/prod', ref: 'main', onDrift: 'notify' },
      {
        sfn: () => new SFNClient({ region: 'eu-west-1' }),
        stateMachineArn: async () =>
          'arn:aws:states:eu-west-1:111111111111:stateMachine:DeployRunner',
        pacer: new ApiPacer({ minIntervalMs: 0 }),
        clock: { now: () => Date.parse('2026-01-01T00:00:00Z') } as never,
        out,
        sleep: async () => {},
      },
    );
    return { code, text };
  }

  it('prints the summary the skip wrote', async () => {
    const { code, text } = await check({ skipped: true, summary: 'Drift check skipped: locked' });
    expect(code).toBe(DriftExit.NoDrift);
    expect(text).toContain('- envs/prod: Drift check skipped: locked');
  });

  it('refuses a drift result of neither shape', async () => {
    await expect(check({ skipped: 'yes' })).rejects.toThrow();
  });
});
