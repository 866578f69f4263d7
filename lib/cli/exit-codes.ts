import { errorCauseEnvelopeSchema, executionOutputFactsSchema, RunErrors } from '../contracts';
import { gaveUpOn } from './pacer';

/**
 * Exit codes of `deploy-runner`. CI pipelines branch on them, so they are API: never renumber,
 * and never give one number two meanings, whichever command returns it (a script that runs
 * `drift` and `start` reads the same table).
 */
export const ExitCode = {
  /** Applied, no changes, or plan-only run done (and `start` without `--wait` succeeded). */
  Ok: 0,
  /** The run failed (plan or apply error, timeout, approval mismatch or not verified), or the CLI could not reach AWS. */
  RunFailed: 1,
  /** Bad usage, or the request was rejected by validation (`DeployRunner.RequestRejected`). */
  Usage: 2,
  /** An approver rejected the plan (`DeployRunner.Rejected`). */
  Rejected: 3,
  /** Nobody decided before the approval request expired (`DeployRunner.ApprovalExpired`). */
  ApprovalExpired: 4,
  /** Another run holds the lock of this repo and path (`DeployRunner.LockHeld`). */
  LockHeld: 5,
  /** The execution was stopped (status `ABORTED`). */
  Aborted: 6,
  /** `deploy-runner drift` only: a drift check found drift (docs/drift.md). */
  DriftFound: 7,
  /** The run's plan artifacts were not as the runner wrote them (`DeployRunner.ArtifactTampered`). */
  ArtifactTampered: 8,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit-code table as printed in `--help` and docs/cli.md. */
export const EXIT_CODE_HELP = `Exit codes:
  0  applied, no changes, or plan-only run done
  1  run failed (plan/apply error, timeout, approval not verified) or AWS could not be reached
  2  bad usage, or the request was rejected by validation (DeployRunner.RequestRejected)
  3  rejected by an approver (DeployRunner.Rejected)
  4  approval expired (DeployRunner.ApprovalExpired)
  5  another run holds the lock for this repo and path (DeployRunner.LockHeld)
  6  aborted (execution stopped)
  7  drift found (deploy-runner drift only)
  8  the run's plan artifacts were tampered with; nothing was applied (DeployRunner.ArtifactTampered)`;

/** How a run ended, in the words the CLI prints. */
export type RunResult =
  | 'running'
  | 'applied'
  | 'no-changes'
  | 'plan-only'
  | 'succeeded'
  | 'request-rejected'
  | 'rejected'
  | 'approval-expired'
  | 'lock-held'
  | 'artifact-tampered'
  | 'failed'
  | 'timed-out'
  | 'aborted';

/** A finished (or still running) execution, reduced to what the CLI reports. */
export interface Outcome {
  readonly status: string;
  readonly result: RunResult;
  readonly exitCode: ExitCode;
  /** The workflow error name, e.g. `DeployRunner.Rejected`. */
  readonly error?: string;
  /** The readable cause (a Lambda error's `errorMessage`, not its JSON envelope). */
  readonly cause?: string;
  /** One line for humans: "Applied", "Rejected by alice@example.com: not now", ... */
  readonly message: string;
  /** LockHeld: the execution that holds the lock, when the run could name it. */
  readonly lockHolderArn?: string;
}

/**
 * The holder's execution ARN in a LockHeld cause: `Name the lock holder` ends it with
 * `, execution <arn>` (docs/workflow-contract.md, state 2).
 */
export function lockHolderArnOf(cause: string | undefined): string | undefined {
  return /, execution (arn:[a-z-]+:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_.:-]+)$/.exec(
    cause ?? '',
  )?.[1];
}

/** The fields of DescribeExecution the outcome depends on. */
export interface ExecutionFacts {
  readonly status?: string;
  readonly error?: string;
  readonly cause?: string;
  /** The execution output (JSON), read for SUCCEEDED runs to tell apply from no-changes. */
  readonly output?: string;
}

const FAILURES: Record<string, { result: RunResult; exitCode: ExitCode; label: string }> = {
  [RunErrors.RequestRejected]: {
    result: 'request-rejected',
    exitCode: ExitCode.Usage,
    label: 'Request rejected',
  },
  [RunErrors.Rejected]: { result: 'rejected', exitCode: ExitCode.Rejected, label: 'Rejected' },
  [RunErrors.ApprovalExpired]: {
    result: 'approval-expired',
    exitCode: ExitCode.ApprovalExpired,
    label: 'Approval expired',
  },
  // Same exit code as ApprovalMismatch (run failed): the approval did not hold, nothing applied.
  [RunErrors.ApprovalNotVerified]: {
    result: 'failed',
    exitCode: ExitCode.RunFailed,
    label: 'Approval not verified',
  },
  [RunErrors.LockHeld]: {
    result: 'lock-held',
    exitCode: ExitCode.LockHeld,
    label: 'Another run holds the lock',
  },
  [RunErrors.ArtifactTampered]: {
    result: 'artifact-tampered',
    exitCode: ExitCode.ArtifactTampered,
    label: 'Plan artifacts were tampered with',
  },
};

/** Maps DescribeExecution's status, error and output to the exit code and the line to print. */
export function outcomeOf(facts: ExecutionFacts): Outcome {
  const status = facts.status ?? 'UNKNOWN';
  const error = facts.error || undefined;
  const cause = readableCause(facts.cause);
  // Causes written for people often repeat the label ("Request rejected: ..."): say it once.
  const withCause = (label: string) =>
    !cause
      ? label
      : cause.toLowerCase().startsWith(label.toLowerCase())
        ? cause
        : `${label}: ${cause}`;
  switch (status) {
    case 'RUNNING':
      return { status, result: 'running', exitCode: ExitCode.Ok, message: 'Running' };
    case 'SUCCEEDED': {
      const result = successKind(facts.output);
      const message = {
        applied: 'Applied',
        'no-changes': 'No changes: nothing to apply',
        'plan-only': 'Plan-only run done: nothing was applied',
        succeeded: 'Succeeded',
      }[result];
      return { status, result, exitCode: ExitCode.Ok, message };
    }
    case 'ABORTED':
      return {
        status,
        result: 'aborted',
        exitCode: ExitCode.Aborted,
        error,
        cause,
        message: withCause('Aborted: the execution was stopped'),
      };
    case 'TIMED_OUT':
      return {
        status,
        result: 'timed-out',
        exitCode: ExitCode.RunFailed,
        error,
        cause,
        message: withCause('Timed out: the run took longer than the workflow allows'),
      };
    default: {
      const known = error ? FAILURES[error] : undefined;
      if (known && status === 'FAILED') {
        // Record rejection's cause already reads "Rejected by <approver>: <reason>".
        const message =
          known.result === 'rejected' && cause?.startsWith('Rejected')
            ? cause
            : withCause(known.label);
        const lockHolderArn = known.result === 'lock-held' ? lockHolderArnOf(cause) : undefined;
        return {
          status,
          result: known.result,
          exitCode: known.exitCode,
          error,
          cause,
          message,
          ...(lockHolderArn && { lockHolderArn }),
        };
      }
      const label = error ? `Run failed (${error})` : 'Run failed';
      return {
        status,
        result: 'failed',
        exitCode: ExitCode.RunFailed,
        error,
        cause,
        message: withCause(label),
      };
    }
  }
}

function successKind(
  output: string | undefined,
): 'applied' | 'no-changes' | 'plan-only' | 'succeeded' {
  const parsed = executionOutputFactsSchema.safeParse(parseJson(output));
  if (!parsed.success) return 'succeeded';
  const state = parsed.data;
  if (state.apply !== undefined) return 'applied';
  if (state.plan?.summary?.hasChanges === false) return 'no-changes';
  if (state.request?.mode === 'plan-only') return 'plan-only';
  return 'succeeded';
}

/**
 * Lambda errors reach Step Functions with a Cause that is a JSON envelope
 * `{errorType, errorMessage, trace}`; people want the message, not the stack.
 */
export function readableCause(cause: string | undefined): string | undefined {
  if (!cause) return undefined;
  const parsed = errorCauseEnvelopeSchema.safeParse(parseJson(cause));
  if (parsed.success) {
    if (parsed.data.errorMessage !== undefined) return parsed.data.errorMessage;
    if (parsed.data.Cause !== undefined) return readableCause(parsed.data.Cause);
  }
  return cause;
}

/** Maps an exception the CLI could not translate (an SDK error, a bug) to an exit code. */
export function exitCodeForError(error: unknown): ExitCode {
  if (error instanceof CliError) return error.exitCode;
  const name = errorFields(error).name ?? '';
  const usage = [
    'InvalidArn',
    'InvalidName',
    'InvalidExecutionInput',
    'ValidationException',
    'ExecutionDoesNotExist',
    'StateMachineDoesNotExist',
    'ExecutionAlreadyExists',
  ];
  return usage.includes(name) ? ExitCode.Usage : ExitCode.RunFailed;
}

/** The name, message and code of a thrown value, where they are strings (SDK errors, Node errors). */
export function errorFields(error: unknown): { name?: string; message?: string; code?: string } {
  if (error === null || typeof error !== 'object') return {};
  const text = (key: 'name' | 'message' | 'code') => {
    const value = key in error ? Reflect.get(error, key) : undefined;
    return typeof value === 'string' ? { [key]: value } : {};
  };
  return { ...text('name'), ...text('message'), ...text('code') };
}

/** The one line the CLI prints for an error it could not translate into a run outcome. */
export function explainError(error: unknown): string {
  if (error instanceof CliError) return error.message;
  const e = errorFields(error);
  const detail =
    e.message && e.message !== e.name ? `${e.name}: ${e.message}` : (e.name ?? String(error));
  switch (e.name) {
    case 'CredentialsProviderError':
      return `No AWS credentials found (${detail}). In CI, assume the CI role first (e.g. aws-actions/configure-aws-credentials); elsewhere set AWS_PROFILE; for local mode pass --endpoint.`;
    case 'AccessDeniedException':
    case 'AccessDenied':
    case 'UnrecognizedClientException':
      return `AWS refused the call (${detail}). The CI role may only start this state machine and read its executions and the runner's logs: check the ARN and that the right role is assumed.`;
    case 'ExpiredTokenException':
    case 'ExpiredToken':
      return `The AWS credentials expired (${detail}). The run goes on without the CLI: re-run the job to attach to it and keep following, or give the CI role longer sessions.`;
    case 'ExecutionDoesNotExist':
      return `No such execution (${detail}): check the ARN and --region.`;
    case 'InvalidArn':
      return `Not a valid ARN (${detail}).`;
  }
  const gaveUp = gaveUpOn(error);
  const tried = gaveUp
    ? ` (gave up after ${gaveUp.attempts} attempts over ${Math.round(gaveUp.elapsedMs / 1000)} s)`
    : '';
  if (e.code === 'ECONNREFUSED') {
    return `Nothing answers at the endpoint${tried} (${detail}): is \`deploy-runner local serve\` running? A run goes on without the CLI; \`deploy-runner wait <executionArn>\` attaches to it again.`;
  }
  return `${detail}${tried}`;
}

/** An error the CLI reports as one line and exits with `exitCode`. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.Usage,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
