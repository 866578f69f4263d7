import type { RunnerErrorCode, RunnerPhase } from '../../../lib/contracts';

/**
 * The runner's failures. Each names the phase it happened in, what to do next (`hint`) and the
 * process exit code, so the workflow's `Notify failure` state and a human reading the log both
 * get a readable cause.
 */

/** Process exit codes, documented in containers/runner/README.md. */
export const ExitCode = {
  /** Plan or apply finished. */
  Ok: 0,
  /** The tool (terraform/tofu) failed, or the runner hit an unexpected error. */
  ToolFailure: 1,
  /** The input was refused: environment, allowlist, ref or path. Nothing was run. */
  Refused: 2,
  /** The saved plan no longer matches the state; start a new run. */
  StalePlan: 3,
  /** The plan file, its checksum, version or commit did not verify. Nothing was applied. */
  ArtifactVerification: 4,
  /** git could not fetch or check out the commit. */
  GitFailure: 5,
  /** A run artifact already existed: someone else wrote this run's key first. Nothing was replaced. */
  ArtifactExists: 6,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Where in a run a failure happened; shown in logs and in the error artifact. */
export type Phase = RunnerPhase;

/** Base class: every failure the runner explains itself. */
export abstract class RunnerError extends Error {
  abstract readonly exitCode: ExitCode;
  /** What failed, in the error report: `Notify failure` classifies by it. */
  abstract readonly code: RunnerErrorCode;
  constructor(
    readonly phase: Phase,
    message: string,
    /** What the reader should do about it. */
    readonly hint: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The environment, the allowlist check, the ref or the path refused the run. */
export class InputRefusedError extends RunnerError {
  override readonly name: string = 'InputRefusedError';
  readonly code: RunnerErrorCode = 'InputRefused';
  readonly exitCode = ExitCode.Refused;
}

/**
 * The path is allowed but the commit has no such directory: a refusal like any other (exit 2,
 * nothing run), with its own code so `Notify failure` reports a request error (the caller sent a
 * wrong path), not a failed run.
 */
export class PathNotFoundError extends InputRefusedError {
  override readonly name = 'PathNotFoundError';
  override readonly code = 'PathNotFound';
}

/** terraform/tofu exited with an error, or could not be started. */
export class ToolFailedError extends RunnerError {
  override readonly name = 'ToolFailedError';
  readonly code = 'ToolFailed';
  readonly exitCode = ExitCode.ToolFailure;
}

/** The state changed after the plan was made, so the saved plan cannot be applied. */
export class StalePlanError extends RunnerError {
  override readonly name = 'StalePlanError';
  readonly code = 'StalePlan';
  readonly exitCode = ExitCode.StalePlan;
}

/** The plan artifact, its checksum, version or commit did not match what was approved. */
export class ArtifactVerificationError extends RunnerError {
  override readonly name = 'ArtifactVerificationError';
  readonly code = 'ArtifactVerification';
  readonly exitCode = ExitCode.ArtifactVerification;
}

/**
 * A write-once put found the key taken: another writer (a hostile plan, or an earlier attempt of
 * this run) stored it first. The runner never uses or replaces that object.
 */
export class ArtifactExistsRunnerError extends RunnerError {
  override readonly name = 'ArtifactExists';
  readonly code = 'ArtifactExists';
  readonly exitCode = ExitCode.ArtifactExists;
}

/** git failed to fetch or check out. */
export class GitError extends RunnerError {
  override readonly name = 'GitError';
  readonly code = 'GitFailure';
  readonly exitCode = ExitCode.GitFailure;
}

/** Something the runner did not expect (a bug, the store being unreachable...). */
export class UnexpectedError extends RunnerError {
  override readonly name = 'UnexpectedError';
  readonly code = 'Unexpected';
  readonly exitCode = ExitCode.ToolFailure;
}

/** Wraps anything thrown into a RunnerError, keeping the phase it happened in. */
export function asRunnerError(error: unknown, phase: Phase): RunnerError {
  if (error instanceof RunnerError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const storage = phase === 'upload' || phase === 'download' || phase === 'result';
  return new UnexpectedError(
    phase,
    `${storage ? 'artifact store error' : 'unexpected error'}: ${message}`,
    storage
      ? 'check that the task role may write (plan) or read (apply) the artifact bucket and use its KMS key, then start a new run'
      : 'retry the run; if it fails again, report it with this log',
    { cause: error },
  );
}
