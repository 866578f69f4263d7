import * as z from 'zod';
import {
  RunErrors,
  type RunnerErrorReport,
  runnerErrorReportSchema,
  workflowStateSchema,
} from '../../lib/contracts';
import { redactText } from './logger';
import type { ResultKind } from './messages';

/**
 * How `Notify failure` explains a failed run: the caught `{ Error, Cause }` of the execution
 * state and the runner's error report become one readable `{ Error, Cause }`. Pure: the handler
 * reads the report and sends the messages.
 */

/** Error names `Notify failure` returns besides the `RunErrors` of the state machine. */
export const NotifyErrors = {
  PlanFailed: 'DeployRunner.PlanFailed',
  ApplyFailed: 'DeployRunner.ApplyFailed',
  PlanStale: 'DeployRunner.PlanStale',
  PlanVerificationFailed: 'DeployRunner.PlanVerificationFailed',
  LockFailed: 'DeployRunner.LockFailed',
  ApprovalRequestFailed: 'DeployRunner.ApprovalRequestFailed',
  NotificationFailed: 'DeployRunner.NotificationFailed',
  Failed: 'DeployRunner.Failed',
} as const;

export const MAX_CAUSE_LENGTH = 1000;
const MAX_TAIL_LINES = 20;
export const MAX_TAIL_CHARS = 2000;

/**
 * The workflow state as notify reads it: the contract's schema, except that a part notify only
 * decorates the message with is dropped when malformed, so the failure is still told.
 */
export const notifyStateSchema = workflowStateSchema.extend({
  plan: workflowStateSchema.shape.plan.catch(undefined),
  approval: workflowStateSchema.shape.approval.catch(undefined),
  error: workflowStateSchema.shape.error.catch(undefined),
});
export type NotifyState = z.output<typeof notifyStateSchema>;

/** What `Notify failure` returns (`$.error`). */
export interface ReadableError {
  readonly Error: string;
  readonly Cause: string;
}

/** Masks credentials that might appear in an error text, then trims it to one paragraph. */
export function scrub(text: string, max = MAX_CAUSE_LENGTH): string {
  const masked = redactText(text)
    .replace(/\b(AKIA|ASIA)[0-9A-Z]{16}\b/g, '[redacted]')
    .replace(
      /(password|passwd|secret|token|authorization)(["']?\s*[:=]\s*)("[^"]*"|'[^']*'|\S+)/gi,
      '$1$2[redacted]',
    )
    .replace(/(https?:\/\/)[^\s/@]+@/g, '$1[redacted]@');
  return masked.length > max ? `${masked.slice(0, max - 1)}…` : masked;
}

const containerSchema = z.looseObject({
  ExitCode: z.number().optional(),
  exitCode: z.number().optional(),
  Reason: z.string().optional(),
  reason: z.string().optional(),
});

/**
 * The Cause shapes Step Functions hands over: a Lambda error (`errorType`, `errorMessage`), an
 * ECS `.sync` failure (the DescribeTasks task, capitalised by Step Functions or not), or a service
 * error with a message.
 */
const causeSchema = z.looseObject({
  errorMessage: z.string().optional().catch(undefined),
  StoppedReason: z.string().optional().catch(undefined),
  stoppedReason: z.string().optional().catch(undefined),
  Containers: z.array(containerSchema).optional().catch(undefined),
  containers: z.array(containerSchema).optional().catch(undefined),
  message: z.string().optional().catch(undefined),
  Message: z.string().optional().catch(undefined),
});

/** The message inside a Lambda-style Cause (`{"errorType","errorMessage",...}`), or the Cause itself. */
export function causeMessage(cause: string): string {
  const trimmed = cause.trim();
  if (!trimmed.startsWith('{')) return trimmed;
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch {
    return trimmed;
  }
  const parsed = causeSchema.safeParse(json);
  if (!parsed.success) return trimmed;
  const c = parsed.data;
  if (c.errorMessage !== undefined) return c.errorMessage;
  const stopped = c.StoppedReason ?? c.stoppedReason;
  if (stopped !== undefined) {
    const exit = (c.Containers ?? c.containers)?.find(
      (k) => (k.ExitCode ?? k.exitCode) !== undefined,
    );
    const code = exit ? (exit.ExitCode ?? exit.exitCode) : undefined;
    const reason = exit?.Reason ?? exit?.reason;
    return `the runner task stopped: ${stopped}${code !== undefined ? ` (exit code ${code})` : ''}${reason ? `; ${reason}` : ''}`;
  }
  return c.message ?? c.Message ?? trimmed;
}

/**
 * Reads the runner's error report with the schema the runner writes it with. Anything else
 * (not JSON, another shape) is no report: the reason says why, for the log.
 */
export function parseRunnerReport(
  body: string,
): { report: RunnerErrorReport } | { report: undefined; problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { report: undefined, problem: 'not JSON' };
  }
  const parsed = runnerErrorReportSchema.safeParse(json);
  if (!parsed.success)
    return {
      report: undefined,
      problem: parsed.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.join('.') || '(report)'}: ${i.message}`)
        .join('; '),
    };
  return { report: parsed.data };
}

/** The last lines of the runner's output, as the failure message shows them. */
export function reportTail(report: RunnerErrorReport | undefined): string | undefined {
  if (!report || report.tail.length === 0) return undefined;
  const lines = report.tail
    .join('\n')
    .replace(/\r\n?/g, '\n')
    .replace(/\n+$/, '')
    .split('\n')
    .slice(-MAX_TAIL_LINES);
  const joined = lines.join('\n');
  const tail = joined.length > MAX_TAIL_CHARS ? `…${joined.slice(-MAX_TAIL_CHARS)}` : joined;
  return tail === '' ? undefined : scrub(tail, MAX_TAIL_CHARS);
}

const oneLine = (text: string) =>
  text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[.\s]+$/, '');

export type FailureStage = 'lock' | 'plan' | 'approval' | 'apply' | 'unknown';

/** Which step of the run failed, from what the state holds when the Catch fired. */
export function failureStage(state: NotifyState, error: string): FailureStage {
  if (state.approval?.approved === true && state.apply === undefined) return 'apply';
  if (state.plan === undefined) return error.startsWith('DynamoDB.') ? 'lock' : 'plan';
  if (state.approval === undefined) return 'approval';
  return 'unknown';
}

/**
 * Which runner report explains the caught error, if any: only a runner task failure (plan or
 * apply) has one; the workflow's own `DeployRunner.*` errors explain themselves.
 */
export function reportMode(state: NotifyState): 'plan' | 'apply' | undefined {
  if (!state.error || state.error.Error.startsWith('DeployRunner.')) return undefined;
  const stage = failureStage(state, state.error.Error);
  return stage === 'plan' || stage === 'apply' ? stage : undefined;
}

/**
 * Turns the caught error (and the runner's report, if any) into a readable `{ Error, Cause }`.
 */
export function readableError(
  state: NotifyState,
  report: RunnerErrorReport | undefined,
): { error: ReadableError; kind: ResultKind } {
  const caught = state.error ?? { Error: 'States.Unknown', Cause: '' };
  const detail = causeMessage(caught.Cause).replace(/\s+/g, ' ').trim();
  if (caught.Error === RunErrors.Rejected)
    return { kind: 'rejected', error: { Error: caught.Error, Cause: scrub(detail) } };
  if (caught.Error === RunErrors.ApprovalExpired)
    return { kind: 'expired', error: { Error: caught.Error, Cause: scrub(detail) } };
  if (caught.Error.startsWith('DeployRunner.'))
    return { kind: 'failed', error: { Error: caught.Error, Cause: scrub(detail || caught.Error) } };
  if (caught.Error === 'NotificationDeliveryError')
    return {
      kind: 'failed',
      error: { Error: NotifyErrors.NotificationFailed, Cause: scrub(detail) },
    };

  const stage = failureStage(state, caught.Error);
  const what = oneLine(report?.message ?? '') || oneLine(detail) || caught.Error;
  const inPhase = report ? ` (${report.phase})` : '';
  const logUrl = report?.logUrl || state.plan?.summary.logUrl;
  const log = logUrl ? ` Log: ${logUrl}` : '';
  const todo = (fallback: string) => (report?.hint ? `${oneLine(report.hint)}.` : fallback);
  const timedOut = caught.Error === 'States.Timeout';
  let error: ReadableError;
  // The caller sent an allowed path the commit does not have: their request is wrong, not the
  // run, so it ends as a rejected request (the CLI exits 2) naming the paths that do exist.
  if (stage === 'plan' && report?.code === 'PathNotFound') {
    error = {
      Error: RunErrors.RequestRejected,
      Cause: `Request rejected: ${what}. Nothing was planned or applied: start a new run with an existing path.`,
    };
    // Only the runner can tell a stale plan: Terraform says so on its output, the runner reports it.
  } else if (stage === 'apply' && report?.code === 'StalePlan') {
    error = {
      Error: NotifyErrors.PlanStale,
      Cause: `Apply refused the saved plan: ${what}. Nothing was applied; start a new run to plan again.`,
    };
  } else if (
    stage === 'apply' &&
    report !== undefined &&
    (report.code === 'ArtifactVerification' ||
      report.phase === 'verify' ||
      report.phase === 'download')
  ) {
    error = {
      Error: NotifyErrors.PlanVerificationFailed,
      Cause: `Apply refused the plan file${inPhase}: ${what}. ${todo('Nothing was applied: start a new run so a fresh plan is made and approved.')}`,
    };
  } else if (stage === 'apply' && /^the runner task stopped: Task failed to start\b/.test(detail)) {
    // The runner never ran, so nothing can have been applied: say so rather than "may".
    error = {
      Error: NotifyErrors.ApplyFailed,
      Cause: `Apply did not start: ${what}. Nothing was applied.`,
    };
  } else if (stage === 'apply') {
    error = {
      Error: NotifyErrors.ApplyFailed,
      Cause: `Apply failed${inPhase}${timedOut ? ', it did not finish within the apply timeout' : ''}: ${what}. ${todo('Some changes may already be applied: read the runner log, fix the cause, then start a new run to plan again.')}${log}`,
    };
  } else if (stage === 'plan') {
    error = {
      Error: NotifyErrors.PlanFailed,
      Cause: caught.Error.startsWith('S3.')
        ? `The plan result could not be read (${caught.Error}): ${what}. The runner probably stopped before writing it: read its log, then start a new run.${log}`
        : `Plan failed${inPhase}${timedOut ? ', it did not finish within the plan timeout' : ''}: ${what}. ${todo('Nothing was applied: read the runner log, fix the code or configuration, then start a new run.')}${log}`,
    };
  } else if (stage === 'lock') {
    error = {
      Error: NotifyErrors.LockFailed,
      Cause: `The repo+path lock could not be taken (${caught.Error}): ${what}. Nothing ran; start the run again.`,
    };
  } else if (stage === 'approval') {
    error = {
      Error: NotifyErrors.ApprovalRequestFailed,
      Cause: `Approval could not be requested (${caught.Error}): ${what}. Nothing was applied; start a new run.`,
    };
  } else {
    error = {
      Error: NotifyErrors.Failed,
      Cause: `The run failed (${caught.Error}): ${what}. Check the execution in the console.`,
    };
  }
  return { kind: 'failed', error: { Error: error.Error, Cause: scrub(error.Cause) } };
}
