import * as z from 'zod';
import type { ArtifactStore } from '../lib/artifact-store';
import { S3ArtifactStore } from '../lib/artifacts/s3-store';
import {
  artifactKeys,
  type DriftFanOut,
  type DriftOutcome,
  type RunnerErrorReport,
} from '../lib/contracts';
import { s3Client } from './shared/clients/s3';
import { cachedSecret, secretsClient } from './shared/clients/secrets';
import { sesClient } from './shared/clients/ses';
import { fanOutDrift } from './shared/drift-fan-out';
import {
  awsDriftDeps,
  type DriftNotifyDeps,
  driftPhase,
  stateMachineArnOf,
} from './shared/drift-notify';
import {
  describeError,
  errorName,
  InvalidPayloadError,
  NotificationDeliveryError,
} from './shared/errors';
import {
  MAX_CAUSE_LENGTH,
  type NotifyState,
  notifyStateSchema,
  parseRunnerReport,
  type ReadableError,
  readableError,
  reportMode,
  reportTail,
} from './shared/failure';
import { createLogger, type HandlerLogger, invocationLogger } from './shared/logger';
import { type ResultInput, type ResultKind, resultEmail, resultSlack } from './shared/messages';
import { AwsNotifier, type Notifier } from './shared/notifier';
import { routeResult } from './shared/routing';
import { lambdaEntry, parsePayload } from './shared/scaffold';
import { consoleUrl, type SettingsWith } from './shared/settings';

/**
 * `Notify result` and `Notify failure`: tells how the run ended, with the console link, to whom
 * handlers/shared/routing.ts says (config `notifications.results`).
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

export const notifyPayloadSchema = z.object({
  // `drift`: the report of a drift check (handlers/shared/drift-report.ts); `drift-fan-out`: a
  // drift glob's checks, one per listed path (handlers/shared/drift-fan-out.ts).
  phase: z.enum(['finished', 'failed', 'drift', 'drift-fan-out']),
  executionArn: z.string().min(1),
  state: notifyStateSchema,
});
export type NotifyPayload = z.input<typeof notifyPayloadSchema>;

export type NotifyResult =
  | ReadableError
  | DriftOutcome
  | DriftFanOut
  | { readonly outcome: ResultKind; readonly notified: number };
export type NotifyHandler = (event: unknown) => Promise<NotifyResult>;

export function createNotifyHandler(deps: NotifyDeps): NotifyHandler {
  const { settings, notifier, artifacts } = deps;
  const logger = deps.logger ?? createLogger('notify');

  async function runnerReport(
    state: NotifyState,
    log: HandlerLogger,
  ): Promise<RunnerErrorReport | undefined> {
    const mode = reportMode(state);
    if (!artifacts || !mode) return undefined;
    const key = artifactKeys(state.request.runId).error(mode);
    try {
      const object = await artifacts.get(key);
      const read = parseRunnerReport(object.body.toString('utf8'));
      if (!read.report)
        log.warn('the runner error report does not match its contract', {
          key,
          problem: read.problem,
        });
      return read.report;
    } catch (error) {
      if (errorName(error) !== 'ArtifactNotFoundError')
        log.warn('could not read the runner error report', { key, error: describeError(error) });
      return undefined;
    }
  }

  return async (event) => {
    const { phase, executionArn, state } = parsePayload(notifyPayloadSchema, event, 'Notify');
    const log = invocationLogger(logger, executionArn);
    const plan = state.plan?.summary;
    if (phase === 'drift')
      return driftPhase({ executionArn, state, settings, notifier, drift: deps.drift });
    if (phase === 'drift-fan-out') {
      const startRun = deps.drift?.startRun;
      if (!artifacts || !startRun)
        throw new InvalidPayloadError(
          'Notify received a drift glob but cannot read artifacts or start runs (DR_ARTIFACT_BUCKET, DR_TABLE_NAME)',
        );
      const machine = stateMachineArnOf(executionArn);
      const out = await fanOutDrift(state.request, {
        artifacts,
        startRun: (input, name) => startRun(machine, input, name),
        executionArnOf: (name) => `${machine.replace(':stateMachine:', ':execution:')}:${name}`,
      });
      // A glob that works again is told again when it next breaks (drift-report.ts's rule).
      const { repo, path } = state.request;
      const store = deps.drift?.store;
      if ((await store?.get(repo, path))?.status === 'failed')
        await store?.put(repo, path, {
          status: 'clean',
          at: (deps.drift?.now ?? (() => new Date()))().toISOString(),
          executionArn,
          fingerprint: '',
        });
      log.info('drift checks started', { glob: path, checks: out.checks.length });
      return out;
    }

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
      tail = reportTail(report);
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
      ...(state.approval?.reason ? { comment: state.approval.reason } : {}),
      ...(readable ? { error: readable } : {}),
      ...(tail ? { tail } : {}),
    };

    const route = routeResult({
      routing: settings.resultRouting,
      mode: state.request.mode,
      phase,
      requestedBy: state.request.requestedBy,
      approvers: settings.approvers ?? [],
      slackChannel: settings.slackChannel,
      fromEmail: settings.fromEmail,
    });
    const email = resultEmail(input);
    const slack = resultSlack(input);
    const deliveries = [
      ...route.emails.map((to) => notifier.sendEmail({ to, ...email })),
      ...route.slack.map((channel) => notifier.sendSlack({ channel, ...slack })),
    ];
    const settled = await Promise.allSettled(deliveries);
    const failures = settled.flatMap((s) =>
      s.status === 'rejected' ? [describeError(s.reason)] : [],
    );
    const notified = settled.length - failures.length;
    if (failures.length > 0)
      log.warn('some result notifications could not be delivered', { failures, notified });
    if (settled.length === 0 && route.audience !== 'none')
      log.warn(
        `nobody to notify: no ${route.audience === 'requester' ? 'requester email or Slack channel' : 'approver emails, requester email or Slack target'}`,
      );
    log.info('run outcome notified', {
      phase,
      outcome: kind,
      notified,
      audience: route.audience,
      rule: route.rule,
      ...(route.fellBack ? { fellBack: true } : {}),
      ...(readable ?? {}),
    });

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

/** Lambda entry point (`Notify result`, `Notify failure`). */
export const handler = lambdaEntry('notify', (settings, logger) =>
  createNotifyHandler({
    settings,
    logger,
    notifier: new AwsNotifier({
      ses: sesClient(),
      fromEmail: settings.fromEmail,
      ...(settings.slackTokenSecretArn
        ? { slackToken: cachedSecret(secretsClient, settings.slackTokenSecretArn) }
        : {}),
    }),
    ...(settings.artifactBucket
      ? { artifacts: new S3ArtifactStore({ bucket: settings.artifactBucket, client: s3Client() }) }
      : {}),
    ...(settings.tableName ? { drift: awsDriftDeps(settings.tableName) } : {}),
  }),
);
