import { describe, expect, it } from 'vitest';
import {
  CliError,
  EXIT_CODE_HELP,
  ExitCode,
  exitCodeForError,
  explainError,
  outcomeOf,
  readableCause,
} from '../../lib/cli/exit-codes';
import { LOCK_HELD_CAUSE } from '../../lib/constructs/workflow';
import { RunErrors } from '../../lib/contracts';

const lambdaCause = (errorMessage: string) =>
  JSON.stringify({ errorType: 'Error', errorMessage, trace: ['Error: x', '    at handler'] });

describe('exit codes: one meaning per number, whichever command returns it', () => {
  it('no two names share a number, and the --help table lists each number once', () => {
    const numbers = Object.values(ExitCode);
    expect(new Set(numbers).size).toBe(numbers.length);
    const listed = [...EXIT_CODE_HELP.matchAll(/^ {2}(\d+) {2}/gm)].map((m) => Number(m[1]));
    expect(listed).toEqual([...numbers].sort((a, b) => a - b));
  });

  it('drift found (7) and tampered plan artifacts (8) are apart', () => {
    expect(ExitCode.DriftFound).toBe(7);
    expect(outcomeOf({ status: 'FAILED', error: RunErrors.ArtifactTampered }).exitCode).toBe(8);
    expect(EXIT_CODE_HELP).toMatch(/^ {2}7 {2}drift found \(deploy-runner drift only\)$/m);
  });
});

describe('outcomeOf: DescribeExecution status + error → exit code', () => {
  it.each([
    // status, error, output, exit code, result
    ['RUNNING', undefined, undefined, 0, 'running'],
    [
      'SUCCEEDED',
      undefined,
      { request: { mode: 'apply' }, plan: { summary: { hasChanges: true } }, apply: {} },
      0,
      'applied',
    ],
    ['SUCCEEDED', undefined, { plan: { summary: { hasChanges: false } } }, 0, 'no-changes'],
    [
      'SUCCEEDED',
      undefined,
      { request: { mode: 'plan-only' }, plan: { summary: { hasChanges: true } } },
      0,
      'plan-only',
    ],
    ['SUCCEEDED', undefined, undefined, 0, 'succeeded'],
    ['FAILED', 'States.TaskFailed', undefined, 1, 'failed'],
    ['FAILED', RunErrors.ApprovalMismatch, undefined, 1, 'failed'],
    ['FAILED', RunErrors.RequestRejected, undefined, 2, 'request-rejected'],
    ['FAILED', RunErrors.Rejected, undefined, 3, 'rejected'],
    ['FAILED', RunErrors.ApprovalExpired, undefined, 4, 'approval-expired'],
    ['FAILED', RunErrors.LockHeld, undefined, 5, 'lock-held'],
    ['FAILED', RunErrors.ArtifactTampered, undefined, 8, 'artifact-tampered'],
    ['ABORTED', undefined, undefined, 6, 'aborted'],
    ['TIMED_OUT', 'States.Timeout', undefined, 1, 'timed-out'],
    ['PENDING_REDRIVE', 'States.TaskFailed', undefined, 1, 'failed'],
  ])('%s %s → exit %s', (status, error, output, exitCode, result) => {
    const outcome = outcomeOf({
      status,
      error,
      output: output === undefined ? undefined : JSON.stringify(output),
    });
    expect(outcome.exitCode).toBe(exitCode);
    expect(outcome.result).toBe(result);
  });

  it('prints the Lambda errorMessage, not its JSON envelope', () => {
    const outcome = outcomeOf({
      status: 'FAILED',
      error: RunErrors.RequestRejected,
      cause: lambdaCause('path: "../etc": must match one of envs/*'),
    });
    expect(outcome.cause).toBe('path: "../etc": must match one of envs/*');
    expect(outcome.message).toBe('Request rejected: path: "../etc": must match one of envs/*');
  });

  it("uses Record rejection's cause as the message", () => {
    const outcome = outcomeOf({
      status: 'FAILED',
      error: RunErrors.Rejected,
      cause: 'Rejected by alice@example.com: not during the freeze',
    });
    expect(outcome.message).toBe('Rejected by alice@example.com: not during the freeze');
  });

  it('does not repeat a label the cause already starts with', () => {
    const outcome = outcomeOf({
      status: 'FAILED',
      error: RunErrors.RequestRejected,
      cause: lambdaCause('Request rejected:\n  - path "secrets/x" is not an allowed path'),
    });
    expect(outcome.message).toBe('Request rejected:\n  - path "secrets/x" is not an allowed path');
  });

  it('an approval the page did not sign: exit 1 like a mismatch, saying so', () => {
    const outcome = outcomeOf({
      status: 'FAILED',
      error: RunErrors.ApprovalNotVerified,
      cause: lambdaCause(
        'Approval not verified: it carries no decision signed by the approval page.',
      ),
    });
    expect(outcome.exitCode).toBe(ExitCode.RunFailed);
    expect(outcome.result).toBe('failed');
    // The cause already starts with the label: said once.
    expect(outcome.message).toBe(
      'Approval not verified: it carries no decision signed by the approval page.',
    );
  });

  it('LockHeld names the holding execution when the cause does, and only then', () => {
    const holder =
      'arn:aws:states:eu-west-1:123456789012:execution:DeployRunner:infra-envs-prod-abc1234-7';
    const cause = `${LOCK_HELD_CAUSE} Holder: run infra-envs-prod-abc1234-7, requested by dora, CI run https://ci.example.com/7, execution ${holder}`;
    const named = outcomeOf({ status: 'FAILED', error: RunErrors.LockHeld, cause });
    expect(named).toMatchObject({ exitCode: 5, result: 'lock-held', lockHolderArn: holder });
    expect(named.message).toBe(`Another run holds the lock: ${cause}`);
    const unnamed = outcomeOf({
      status: 'FAILED',
      error: RunErrors.LockHeld,
      cause: LOCK_HELD_CAUSE,
    });
    expect(unnamed.exitCode).toBe(5);
    expect('lockHolderArn' in unnamed).toBe(false);
    // Only a LockHeld cause is read for a holder.
    expect(
      outcomeOf({ status: 'FAILED', error: 'States.TaskFailed', cause }).lockHolderArn,
    ).toBeUndefined();
  });

  it('keeps plain causes and names unknown errors', () => {
    expect(readableCause('plain text')).toBe('plain text');
    expect(readableCause(undefined)).toBeUndefined();
    expect(outcomeOf({ status: 'FAILED', error: 'X', cause: 'boom' }).message).toBe(
      'Run failed (X): boom',
    );
  });
});

describe('exitCodeForError', () => {
  it.each([
    [new CliError('bad flag'), ExitCode.Usage],
    [new CliError('gone', ExitCode.RunFailed), ExitCode.RunFailed],
    [Object.assign(new Error('x'), { name: 'ExecutionDoesNotExist' }), ExitCode.Usage],
    [Object.assign(new Error('x'), { name: 'InvalidArn' }), ExitCode.Usage],
    [Object.assign(new Error('x'), { name: 'AccessDeniedException' }), ExitCode.RunFailed],
    [new Error('bug'), ExitCode.RunFailed],
  ])('%s → %s', (error, code) => {
    expect(exitCodeForError(error)).toBe(code);
  });

  it('explains missing credentials and refused calls', () => {
    expect(
      explainError(
        Object.assign(new Error('Could not load'), { name: 'CredentialsProviderError' }),
      ),
    ).toMatch(/No AWS credentials.*--endpoint/);
    expect(explainError(Object.assign(new Error('no'), { name: 'AccessDeniedException' }))).toMatch(
      /CI role/,
    );
  });
});
