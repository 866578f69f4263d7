import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { type ApproverContract, requestApprovalPayloadSchema } from '../lib/contracts';
import { decisionDeadline } from '../lib/deadline';
import { approvalLink, newCapability, type RandomBytes } from './shared/capability';
import { documentClient } from './shared/clients/dynamodb';
import { cachedSecret, secretsClient } from './shared/clients/secrets';
import { sesClient } from './shared/clients/ses';
import { describeError, InvalidPayloadError, NotificationDeliveryError } from './shared/errors';
import {
  createLogger,
  type HandlerLogger,
  invocationLogger,
  registerSecret,
} from './shared/logger';
import {
  approvalChannelSummary,
  approvalRequestEmail,
  approvalRequestSlack,
} from './shared/messages';
import { AwsNotifier, type Notifier } from './shared/notifier';
import { lambdaEntry, parsePayload } from './shared/scaffold';
import { consoleUrl, type SettingsWith } from './shared/settings';
import {
  type ApprovalLink,
  type ApprovalRun,
  type ApprovalStore,
  type ApproverRef,
  DynamoApprovalStore,
} from './shared/store';

/**
 * `Request approval` (`lambda:invoke.waitForTaskToken`): stores the task token with the run,
 * creates one single-use capability link per approver, and sends each approver a personal
 * email and/or Slack direct message. The state then waits until the approval page calls
 * SendTaskSuccess, or the state's timeout fires.
 *
 * Delivery policy: the request succeeds when at least `approvalsRequired` approvers were reached
 * on at least one channel (failures are logged as warnings), because those approvers can still
 * complete the run. Otherwise it throws `NotificationDeliveryError`: the state machine's Catch
 * fails the run with that cause and releases the lock, and the links are voided.
 */

export type RequestApprovalSettings = SettingsWith<'approvalBaseUrl' | 'consoleUrlTemplate'>;

export interface RequestApprovalDeps {
  readonly settings: RequestApprovalSettings;
  readonly store: ApprovalStore;
  readonly notifier: Notifier;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** @default crypto.randomBytes */
  readonly randomBytes?: RandomBytes;
  /** @default - a Powertools logger for this handler */
  readonly logger?: HandlerLogger;
}

export interface RequestApprovalResult {
  /** Approvers who got at least one message. */
  readonly reached: readonly string[];
  /** One line per failed delivery. */
  readonly failures: readonly string[];
  /** When the links expire (ISO). */
  readonly validUntil: string;
}

export type RequestApprovalHandler = (event: unknown) => Promise<RequestApprovalResult>;

/** Links outlive their use by this long, so late visitors see "expired" rather than "unknown". */
export const KEEP_AFTER_EXPIRY_SECONDS = 7 * 86_400;

/** The approvers as the run knows them, each once (by lowercased email, else Slack user ID). */
export function approverRefs(approvers: readonly ApproverContract[]): ApproverRef[] {
  const seen = new Set<string>();
  const out: ApproverRef[] = [];
  for (const a of approvers) {
    const id = a.email?.toLowerCase() ?? (a.slackUserId as string);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({
      id,
      name: a.name ?? a.email ?? (a.slackUserId as string),
      ...(a.email ? { email: a.email } : {}),
      ...(a.slackUserId ? { slackUserId: a.slackUserId } : {}),
      ...(a.ciLogins && a.ciLogins.length > 0 ? { ciLogins: [...a.ciLogins] } : {}),
      ...(a.identity ? { identity: a.identity } : {}),
    });
  }
  return out;
}

/**
 * Links expire no later than the state's timeout. The timeout runs from when the state was
 * entered, slightly before this function runs, so keep a small margin.
 */
export function linkValidUntil(nowSeconds: number, timeoutSeconds: number, lockExpiresAt: number) {
  return decisionDeadline(nowSeconds, timeoutSeconds, lockExpiresAt);
}

export function createRequestApprovalHandler(deps: RequestApprovalDeps): RequestApprovalHandler {
  const { settings, store, notifier } = deps;
  const clock = deps.clock ?? (() => new Date());
  const random = deps.randomBytes ?? nodeRandomBytes;
  const logger = deps.logger ?? createLogger('request-approval');

  return async (event) => {
    const token = (event as { taskToken?: unknown } | null)?.taskToken;
    if (typeof token === 'string') registerSecret(token);
    const payload = parsePayload(requestApprovalPayloadSchema, event, 'Request approval');
    const log = invocationLogger(logger, payload.executionArn);
    const approvers = approverRefs(payload.approvers);
    if (payload.approvalsRequired > approvers.length)
      throw new InvalidPayloadError(
        `Request approval needs ${payload.approvalsRequired} distinct approvers but only ${approvers.length} are configured: add approvers or lower approvalsRequired`,
      );

    const now = clock();
    const nowSeconds = Math.floor(now.getTime() / 1000);
    const validUntil = linkValidUntil(
      nowSeconds,
      payload.timeoutSeconds,
      Number(payload.request.lockExpiresAt),
    );
    const expiresAt = validUntil + KEEP_AFTER_EXPIRY_SECONDS;
    const personal = approvers.map((approver) => {
      const cap = newCapability(random);
      registerSecret(cap.capability);
      const link: ApprovalLink = {
        hash: cap.hash,
        executionArn: payload.executionArn,
        approverId: approver.id,
        approverName: approver.name,
        validUntil,
        expiresAt,
        status: 'open',
      };
      return { approver, link, url: approvalLink(settings.approvalBaseUrl, cap.capability) };
    });
    const run: ApprovalRun = {
      executionArn: payload.executionArn,
      runId: payload.request.runId,
      taskToken: payload.taskToken,
      request: payload.request,
      plan: payload.plan,
      approvers,
      approvalsRequired: payload.approvalsRequired,
      linkHashes: personal.map((p) => p.link.hash),
      createdAt: now.toISOString(),
      validUntil,
      expiresAt,
      status: 'pending',
      decisions: {},
    };
    await store.createRun(
      run,
      personal.map((p) => p.link),
    );

    const context = {
      request: payload.request,
      plan: payload.plan,
      consoleUrl: consoleUrl(settings, payload.executionArn),
      validUntil: new Date(validUntil * 1000),
      approvalsRequired: payload.approvalsRequired,
    };
    const failures: string[] = [];
    const attempt = async (what: string, send: () => Promise<void>): Promise<boolean> => {
      try {
        await send();
        return true;
      } catch (error) {
        failures.push(
          error instanceof NotificationDeliveryError
            ? error.message
            : `${what}: ${describeError(error)}`,
        );
        return false;
      }
    };
    const channel = settings.slackChannel;
    const [results] = await Promise.all([
      Promise.all(
        personal.map(async ({ approver, url }) => {
          const input = { ...context, approverName: approver.name, link: url };
          const sent = await Promise.all([
            approver.email
              ? attempt(`email to ${approver.email}`, () =>
                  notifier.sendEmail({
                    to: approver.email as string,
                    ...approvalRequestEmail(input),
                  }),
                )
              : false,
            approver.slackUserId
              ? attempt(`Slack message to ${approver.slackUserId}`, () =>
                  notifier.sendSlack({
                    channel: approver.slackUserId as string,
                    ...approvalRequestSlack(input),
                  }),
                )
              : false,
          ]);
          return { approver, reached: sent.some(Boolean) };
        }),
      ),
      channel
        ? attempt(`Slack summary to ${channel}`, () =>
            notifier.sendSlack({
              channel,
              ...approvalChannelSummary({
                ...context,
                approverNames: approvers.map((a) => a.name),
              }),
            }),
          )
        : Promise.resolve(true),
    ]);

    const reached = results.filter((r) => r.reached).map((r) => r.approver.name);
    if (reached.length < payload.approvalsRequired) {
      await store.voidLinks(payload.executionArn);
      await store.endRun(
        payload.executionArn,
        'the approval requests could not be delivered',
        clock().toISOString(),
      );
      log.error('approval requests could not be delivered', { reached, failures });
      const shown = failures.slice(0, 3).join('; ');
      throw new NotificationDeliveryError(
        `Approval requests reached ${reached.length} of ${approvers.length} approvers, fewer than the ${payload.approvalsRequired} needed, so nobody can approve this run. ${shown}${failures.length > 3 ? ` (and ${failures.length - 3} more)` : ''}. Check the SES sender identity and the Slack bot token, then start a new run.`.slice(
          0,
          1000,
        ),
        failures,
      );
    }
    if (failures.length > 0)
      log.warn('some approval messages could not be delivered', { failures });
    log.info('approval requested', {
      approvers: approvers.map((a) => a.id),
      reached,
      approvalsRequired: payload.approvalsRequired,
      validUntil: new Date(validUntil * 1000).toISOString(),
    });
    return { reached, failures, validUntil: new Date(validUntil * 1000).toISOString() };
  };
}

/** Lambda entry point (`lambda:invoke.waitForTaskToken`). */
export const handler = lambdaEntry('request-approval', (settings, logger) =>
  createRequestApprovalHandler({
    settings,
    logger,
    store: new DynamoApprovalStore(documentClient(), settings.tableName),
    notifier: new AwsNotifier({
      ses: sesClient(),
      fromEmail: settings.fromEmail,
      ...(settings.slackTokenSecretArn
        ? { slackToken: cachedSecret(secretsClient, settings.slackTokenSecretArn) }
        : {}),
    }),
  }),
);
