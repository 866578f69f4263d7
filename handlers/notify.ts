import * as z from 'zod';
import type { ArtifactStore } from '../lib/artifact-store';
import { S3ArtifactStore } from '../lib/artifacts/s3-store';
import {
  artifactKeys,
  type DriftOutcome,
  planResultSchema,
  RunErrors,
  runRequestSchema,
} from '../lib/contracts';
import { s3Client } from './shared/clients/s3';
import { cachedSecret, secretsClient } from './shared/clients/secrets';
import { sesClient } from './shared/clients/ses';
import { awsDriftDeps, type DriftNotifyDeps, driftPhase } from './shared/drift-notify';
import {
  describeError,
  errorName,
  InvalidPayloadError,
  NotificationDeliveryError,
} from './shared/errors';
import { createLogger, type HandlerLogger, invocationLogger, redactText } from './shared/logger';
import { type ResultInput, type ResultKind, resultEmail, resultSlack } from './shared/messages';
import { AwsNotifier, type Notifier } from './shared/notifier';
import {
  consoleUrl,
  REQUIRED_SETTINGS,
  type SettingsWith,
  settingsFromEnv,
} from './shared/settings';

/**
 * `Notify result` and `Notify failure`: tells approvers, the requester (when `requestedBy` is an
 * email address) and the Slack channel how the run ended, with the console link.
 *
 * For `failed` it also returns a readable `{ Error, Cause }` that the `Run failed` state shows:
 * the Error names what failed (`DeployRunner.PlanFailed`, ...), the Cause says why in a line or
 * two and what to do. Deliveries are best effort there: a failed email must not hide the cause.
 * For `finished`, if every delivery fails, it throws `NotificationDeliveryError` (the state
 * machine records it in `$.notifyError` and the run still succeeds).
 */

export type NotifySettings = SettingsWith<'consoleUrlTemplate'>;

export interface NotifyDeps {
  readonly settings: NotifySettings;
  readonly notifier: Notifier;
  /** Reads runner error reports (`runs/<runId>/<plan|apply>-error.json`). @default - no error tails */
  readonly artifacts?: Pick<ArtifactStore, 'get'>;
  /** @default - a Powertools logger for this handler */
  readonly logger?: HandlerLogger;
  /** Drift checks: the last result per path, and starting an approval run. @default - none */
  readonly drift?: DriftNotifyDeps;
}

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
const MAX_TAIL_CHARS = 2000;

const errorSchema = z.object({ Error: z.string(), Cause: z.string().optional().default('') });

const stateSchema = z.looseObject({
  request: runRequestSchema,
  plan: z.object({ summary: planResultSchema }).optional().catch(undefined),
  approval: z
    .looseObject({ approved: z.boolean(), approver: z.string().optional() })
    .optional()
    .catch(undefined),
  apply: z.looseObject({}).optional(),
  error: errorSchema.optional().catch(undefined),
});

export const notifyPayloadSchema = z.object({
  // `drift`: the report of a drift check (handlers/shared/drift-report.ts).
  phase: z.enum(['finished', 'failed', 'drift']),
  executionArn: z.string().min(1),
  state: stateSchema,
});
export type NotifyPayload = z.input<typeof notifyPayloadSchema>;
type ParsedState = z.output<typeof stateSchema>;

/** What `Notify failure` returns (`$.error`). */
export interface ReadableError {
  readonly Error: string;
  readonly Cause: string;
}

export type NotifyResult =
  | ReadableError
  | DriftOutcome
  | { readonly outcome: ResultKind; readonly notified: number };
export type NotifyHandler = (event: unknown) => Promise<NotifyResult>;

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

/** The message inside a Lambda-style Cause (`{"errorType","errorMessage",...}`), or the Cause itself. */
export function causeMessage(cause: string): string {
  const trimmed = cause.trim();
  if (!trimmed.startsWith('{')) return trimmed;
  try {
    const parsed = JSON.parse(trimmed) as Record<string, unknown>;
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
    // ECS .sync failures carry the DescribeTasks result.
    const stopped = parsed.StoppedReason ?? parsed.stoppedReason;
    const containers = (parsed.Containers ?? parsed.containers) as
      | { ExitCode?: number; exitCode?: number; Reason?: string; reason?: string }[]
      | undefined;
    if (typeof stopped === 'string') {
      const exit = containers?.find((c) => (c.ExitCode ?? c.exitCode) !== undefined);
      const code = exit ? (exit.ExitCode ?? exit.exitCode) : undefined;
      const reason = exit?.Reason ?? exit?.reason;
      return `the runner task stopped: ${stopped}${code !== undefined ? ` (exit code ${code})` : ''}${reason ? `; ${reason}` : ''}`;
    }
    if (typeof parsed.message === 'string') return parsed.message;
    if (typeof parsed.Message === 'string') return parsed.Message;
  } catch {
    // Not JSON: use it as it is.
  }
  return trimmed;
}

/** What notify uses of the runner's error report (`RunnerErrorReport` in containers/runner). */
export interface RunnerReport {
  readonly message?: string;
  readonly code?: string;
  /** Runner phase that failed (clone, init, plan, verify, apply, ...). */
  readonly phase?: string;
  /** What to do next, in the runner's words. */
  readonly hint?: string;
  readonly logUrl?: string;
  readonly tail?: string;
}

/** Reads the runner's error report leniently: the runner owns its exact shape. */
export function parseRunnerReport(body: string): RunnerReport {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return { tail: lastLines(body) };
  }
  if (doc === null || typeof doc !== 'object') return {};
  const d = doc as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v : undefined);
  const nested =
    d.error !== null && typeof d.error === 'object' ? (d.error as Record<string, unknown>) : {};
  const message =
    str(d.message) ??
    str(d.errorMessage) ??
    str(nested.message) ??
    str(d.error) ??
    str(d.cause) ??
    str(d.Cause);
  const code = str(d.code) ?? str(d.name) ?? str(d.errorType) ?? str(nested.name) ?? str(d.Error);
  const rawTail = d.tail ?? d.logTail ?? d.outputTail ?? d.stderr ?? d.output ?? d.lines;
  const tail = Array.isArray(rawTail)
    ? lastLines(rawTail.filter((l) => typeof l === 'string').join('\n'))
    : typeof rawTail === 'string'
      ? lastLines(rawTail)
      : undefined;
  const phase = str(d.phase);
  const hint = str(d.hint);
  const logUrl = str(d.logUrl);
  return {
    ...(message ? { message } : {}),
    ...(code ? { code } : {}),
    ...(phase ? { phase } : {}),
    ...(hint ? { hint } : {}),
    ...(logUrl ? { logUrl } : {}),
    ...(tail ? { tail } : {}),
  };
}

function lastLines(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').replace(/\n+$/, '').split('\n').slice(-MAX_TAIL_LINES);
  const joined = lines.join('\n');
  return joined.length > MAX_TAIL_CHARS ? `…${joined.slice(-MAX_TAIL_CHARS)}` : joined;
}

const oneLine = (text: string) =>
  text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[.\s]+$/, '');

type Stage = 'lock' | 'plan' | 'approval' | 'apply' | 'unknown';

function stageOf(state: ParsedState, error: string): Stage {
  if (state.approval?.approved === true && state.apply === undefined) return 'apply';
  if (state.plan === undefined) return error.startsWith('DynamoDB.') ? 'lock' : 'plan';
  if (state.approval === undefined) return 'approval';
  return 'unknown';
}

const STALE = /\b(stale|checksum mismatch|sha-?256 mismatch|does not match the approved)\b/i;

/**
 * Turns the caught error (and the runner's report, if any) into a readable `{ Error, Cause }`.
 * Exported for tests and for local mode's console output.
 */
export function readableError(
  state: ParsedState,
  report: RunnerReport | undefined,
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

  const stage = stageOf(state, caught.Error);
  const what = oneLine(report?.message ?? '') || oneLine(detail) || caught.Error;
  const inPhase = report?.phase ? ` (${report.phase})` : '';
  const logUrl = report?.logUrl ?? state.plan?.summary.logUrl;
  const log = logUrl ? ` Log: ${logUrl}` : '';
  const todo = (fallback: string) => (report?.hint ? `${oneLine(report.hint)}.` : fallback);
  const timedOut = caught.Error === 'States.Timeout';
  const stale =
    stage === 'apply' &&
    (report?.code === 'PlanStale' ||
      report?.code === NotifyErrors.PlanStale ||
      STALE.test(report?.message ?? '') ||
      STALE.test(detail));
  let error: ReadableError;
  if (stale) {
    error = {
      Error: NotifyErrors.PlanStale,
      Cause: `Apply refused the saved plan: ${what}. Nothing was applied; start a new run to plan again.`,
    };
  } else if (stage === 'apply' && (report?.phase === 'verify' || report?.phase === 'download')) {
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

const EMAIL = /^[^\s@<>()[\]\\,;:"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

export function createNotifyHandler(deps: NotifyDeps): NotifyHandler {
  const { settings, notifier, artifacts } = deps;
  const logger = deps.logger ?? createLogger('notify');

  async function runnerReport(
    state: ParsedState,
    log: HandlerLogger,
  ): Promise<RunnerReport | undefined> {
    if (!artifacts || !state.error || state.error.Error.startsWith('DeployRunner.'))
      return undefined;
    const stage = stageOf(state, state.error.Error);
    if (stage !== 'plan' && stage !== 'apply') return undefined;
    const key = artifactKeys(state.request.runId).error(stage);
    try {
      const object = await artifacts.get(key);
      return parseRunnerReport(object.body.toString('utf8'));
    } catch (error) {
      if (errorName(error) !== 'ArtifactNotFoundError')
        log.warn('could not read the runner error report', { key, error: describeError(error) });
      return undefined;
    }
  }

  return async (event) => {
    const parsed = notifyPayloadSchema.safeParse(event);
    if (!parsed.success)
      throw new InvalidPayloadError(
        `Notify received a payload that does not match the workflow contract: ${parsed.error.issues
          .slice(0, 10)
          .map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`)
          .join('; ')}`,
      );
    const { phase, executionArn, state } = parsed.data;
    const log = invocationLogger(logger, executionArn);
    const plan = state.plan?.summary;
    if (phase === 'drift')
      return driftPhase({ executionArn, state, settings, notifier, drift: deps.drift });

    let kind: ResultKind;
    let readable: ReadableError | undefined;
    let tail: string | undefined;
    if (phase === 'finished') {
      kind =
        state.apply !== undefined
          ? 'applied'
          : plan?.hasChanges === false
            ? 'no-changes'
            : state.request.mode === 'plan-only'
              ? 'plan-ready'
              : 'applied';
    } else {
      const report = await runnerReport(state, log);
      const result = readableError(state, report);
      kind = result.kind;
      readable = result.error;
      tail = report?.tail ? scrub(report.tail, MAX_TAIL_CHARS) : undefined;
      if (state.request.drift !== undefined) {
        await driftPhase({ executionArn, state, settings, notifier, drift: deps.drift, readable });
        return readable;
      }
    }

    const input: ResultInput = {
      kind,
      request: state.request,
      ...(plan ? { plan } : {}),
      consoleUrl: consoleUrl(settings, executionArn),
      ...(state.approval?.approver ? { approver: state.approval.approver } : {}),
      ...(readable ? { error: readable } : {}),
      ...(tail ? { tail } : {}),
    };

    const emails = new Map<string, string>();
    for (const approver of settings.approvers ?? []) {
      if (approver.email) emails.set(approver.email.toLowerCase(), approver.email);
    }
    const requester = state.request.requestedBy?.trim();
    if (requester && EMAIL.test(requester)) emails.set(requester.toLowerCase(), requester);
    const slackTargets = settings.slackChannel
      ? [settings.slackChannel]
      : [
          ...new Set(
            (settings.approvers ?? []).flatMap((a) => (a.slackUserId ? [a.slackUserId] : [])),
          ),
        ];

    const email = resultEmail(input);
    const slack = resultSlack(input);
    const deliveries = [
      ...[...emails.values()].map((to) => notifier.sendEmail({ to, ...email })),
      ...slackTargets.map((channel) => notifier.sendSlack({ channel, ...slack })),
    ];
    const settled = await Promise.allSettled(deliveries);
    const failures = settled.flatMap((s) =>
      s.status === 'rejected' ? [describeError(s.reason)] : [],
    );
    const notified = settled.length - failures.length;
    if (failures.length > 0)
      log.warn('some result notifications could not be delivered', { failures, notified });
    if (settled.length === 0)
      log.warn('nobody to notify: no approver emails, requester email or Slack target');
    log.info('run outcome notified', { phase, outcome: kind, notified, ...(readable ?? {}) });

    if (readable) return readable;
    if (settled.length > 0 && notified === 0)
      throw new NotificationDeliveryError(
        `No result notification could be delivered: ${failures.slice(0, 3).join('; ')}`.slice(
          0,
          MAX_CAUSE_LENGTH,
        ),
        failures,
      );
    return { outcome: kind, notified };
  };
}

let lambdaHandler: NotifyHandler | undefined;

/** Lambda entry point (`Notify result`, `Notify failure`). */
export const handler: NotifyHandler = (event) => {
  lambdaHandler ??= (() => {
    const settings = settingsFromEnv(process.env, REQUIRED_SETTINGS.notify);
    return createNotifyHandler({
      settings,
      notifier: new AwsNotifier({
        ses: sesClient(),
        fromEmail: settings.fromEmail,
        ...(settings.slackTokenSecretArn
          ? { slackToken: cachedSecret(secretsClient, settings.slackTokenSecretArn) }
          : {}),
      }),
      ...(settings.artifactBucket
        ? {
            artifacts: new S3ArtifactStore({ bucket: settings.artifactBucket, client: s3Client() }),
          }
        : {}),
      ...(settings.tableName ? { drift: awsDriftDeps(settings.tableName) } : {}),
    });
  })();
  return lambdaHandler(event);
};
