import { randomBytes as nodeRandomBytes } from 'node:crypto';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type * as ClientSFN from '@aws-sdk/client-sfn';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  ArtifactChecksumError,
  ArtifactNotFoundError,
  type ArtifactStore,
  ArtifactTooLargeError,
} from '../lib/artifact-store';
import { S3ArtifactStore } from '../lib/artifacts/s3-store';
import { type Outcome as RunOutcome, outcomeOf as runOutcomeOf } from '../lib/cli/exit-codes';
import {
  type ApprovalDecision,
  approvalDecisionSchema,
  artifactKeys,
  type SignedDecision,
} from '../lib/contracts';
import { isRequesterIdentity } from '../lib/identity';
import { lazyModule } from '../lib/lazy-module';
import {
  blockedReason,
  decisionPage,
  type MessageView,
  messagePage,
  type PlanTextView,
} from './shared/approval-views';
import { MAX_PLAN_TEXT_READ_BYTES, readVerifiedArtifact } from './shared/artifacts';
import {
  CAPABILITY_PATTERN,
  hashCapability,
  issueNonce,
  type RandomBytes,
  verifyNonce,
} from './shared/capability';
import { documentClient } from './shared/clients/dynamodb';
import { kmsClient } from './shared/clients/kms';
import { s3Client } from './shared/clients/s3';
import { cachedSecret, secretsClient } from './shared/clients/secrets';
import { sfnClient } from './shared/clients/sfn';
import { attestDecision, type DecisionSigner, KmsDecisionSigner } from './shared/decision-signing';
import { describeError, errorName, SettingsError } from './shared/errors';
import { html, SECURITY_HEADERS } from './shared/html';
import {
  createLogger,
  type HandlerLogger,
  invocationLogger,
  registerSecret,
} from './shared/logger';
import { formatTime, isDestructive } from './shared/messages';
import { checkPlanText } from './shared/plan-check';
import { parsePlanText } from './shared/plan-text';
import { lambdaEntry } from './shared/scaffold';
import { consoleUrl, type SettingsWith } from './shared/settings';
import {
  type ApprovalLink,
  type ApprovalRun,
  type ApprovalStore,
  type ApproverRef,
  type DecisionRecord,
  DynamoApprovalStore,
} from './shared/store';

// Loaded when a decision is sent or a run's status read, not at import: see lib/lazy-module.ts.
const { DescribeExecutionCommand, SendTaskSuccessCommand } = lazyModule<typeof ClientSFN>(() =>
  require('@aws-sdk/client-sfn'),
);

/**
 * The approval page (Lambda Function URL, auth NONE: the capability in the path is the
 * credential). `GET /a/<capability>` shows what would be approved and never writes anything:
 * mail scanners follow links. `POST /a/<capability>` decides, guarded by a per-page nonce.
 */

export type ApprovalPageSettings = SettingsWith<'consoleUrlTemplate'>;

export interface ApprovalPageDeps {
  /** Needs `consoleUrlTemplate`, and `pageSecret` (local mode) or `pageSecretArn`. */
  readonly settings: ApprovalPageSettings;
  readonly store: ApprovalStore;
  readonly sfn: SFNClient;
  /**
   * Read access to run artifacts: the page shows the run's plan text, verified against its
   * recorded SHA-256, and blocks approval when it cannot. The Lambda entry always passes the
   * bucket. @default - no plan text section; approval works from the summary alone
   */
  readonly artifacts?: Pick<ArtifactStore, 'get'>;
  /** Largest plan text the page reads; larger blocks approval. @default MAX_PLAN_TEXT_READ_BYTES */
  readonly maxPlanTextBytes?: number;
  /**
   * Signs approvals (docs/architecture.md, property 8): `Verify approval` applies nothing without the page's
   * signature. The Lambda entry signs with the KMS key, local mode with its local key pair.
   * @default - approvals are sent unsigned, and every run fails at `Verify approval`
   */
  readonly signer?: DecisionSigner;
  /** Secrets Manager, for `pageSecretArn`. @default - the shared client */
  readonly secrets?: () => SecretsManagerClient;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** @default crypto.randomBytes */
  readonly randomBytes?: RandomBytes;
  /** @default - a Powertools logger for this handler */
  readonly logger?: HandlerLogger;
}

export type FunctionUrlResult = APIGatewayProxyStructuredResultV2 & {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
};

export type ApprovalPageHandler = (event: APIGatewayProxyEventV2) => Promise<FunctionUrlResult>;

/** Largest form body accepted (the form has four short fields). */
export const MAX_BODY_BYTES = 16 * 1024;
/** Longest reason or comment. */
export const MAX_REASON_LENGTH = 1000;

interface PageResponse {
  readonly status: number;
  readonly body: string;
  readonly headers?: Record<string, string>;
}

const TASK_GONE = new Set(['TaskDoesNotExist', 'TaskTimedOut', 'InvalidToken']);

/** Creates the page handler with its collaborators (local mode calls this directly). */
export function createApprovalPageHandler(deps: ApprovalPageDeps): ApprovalPageHandler {
  const settings = deps.settings;
  if (settings.pageSecret === undefined && settings.pageSecretArn === undefined)
    throw new SettingsError([
      'pageSecretArn (DR_PAGE_SECRET_ARN) or pageSecret (local mode) must be set: it keys the page nonces',
    ]);
  const store = deps.store;
  const clock = deps.clock ?? (() => new Date());
  const random = deps.randomBytes ?? nodeRandomBytes;
  const logger = deps.logger ?? createLogger('approval-page');
  const pageKey = nonceKey(settings, deps.secrets ?? secretsClient);

  const respond = (r: PageResponse, head = false): FunctionUrlResult => ({
    statusCode: r.status,
    headers: { ...SECURITY_HEADERS, ...r.headers },
    body: head ? '' : r.body,
    isBase64Encoded: false,
  });

  const message = (status: number, view: MessageView): PageResponse => ({
    status,
    body: messagePage(view),
  });

  /**
   * How the execution stands now, from Step Functions itself: the store only knows what this page
   * did, not whether the run went on to apply, failed, or left the wait some other way. Undefined
   * when it cannot be read; the page then says only what the store knows.
   */
  async function liveOutcome(
    run: ApprovalRun,
    log: HandlerLogger,
  ): Promise<RunOutcome | undefined> {
    try {
      const out = await deps.sfn.send(
        new DescribeExecutionCommand({ executionArn: run.executionArn }),
      );
      if (!out?.status) return undefined;
      return runOutcomeOf({
        status: out.status,
        ...(out.error !== undefined && { error: out.error }),
        ...(out.cause !== undefined && { cause: out.cause }),
        ...(out.output !== undefined && { output: out.output }),
      });
    } catch (error) {
      log.warn('could not read the execution status', { error: errorName(error) ?? 'Error' });
      return undefined;
    }
  }

  /** The page for a link that can no longer decide, or undefined when it still can. */
  function closedPage(
    link: ApprovalLink,
    run: ApprovalRun,
    now: Date,
    live?: RunOutcome,
  ): PageResponse | undefined {
    const common = { run, consoleUrl: consoleUrl(settings, run.executionArn) };
    const liveSentence = live ? liveOutcomeSentence(live) : undefined;
    // The execution left the approval wait without this page: nothing is decided here any more.
    if (run.status === 'pending' && live && live.result !== 'running')
      return message(409, {
        heading: 'This run already ended',
        paragraphs: [
          `The workflow no longer waits for a decision. ${liveSentence}`,
          'CI can start a new run.',
        ],
        ...common,
      });
    if (link.status === 'used') {
      const yours = run.decisions[link.approverId];
      return message(409, {
        heading: 'You already decided',
        paragraphs: [
          yours
            ? `You ${yours.decision === 'approve' ? 'approved' : 'rejected'} this run at ${formatTime(new Date(yours.decidedAt))}. A link works once.`
            : 'This link was already used. A link works once.',
          outcomeSentence(run),
          liveSentence ?? '',
        ].filter((p) => p !== ''),
        ...common,
      });
    }
    if (run.status === 'approved' || run.status === 'rejected')
      return message(409, {
        heading: 'This run was already decided',
        paragraphs: [
          outcomeSentence(run),
          ...(liveSentence ? [liveSentence] : []),
          'Nothing more is needed from you.',
        ],
        ...common,
      });
    if (run.status === 'ended')
      return message(409, {
        heading: 'This run already ended',
        paragraphs: [
          `The workflow ended before a decision was made${run.endedReason ? ` (${run.endedReason})` : ''}. ${liveSentence ?? 'Nothing was applied.'} CI can start a new run.`,
        ],
        ...common,
      });
    if (now.getTime() >= link.validUntil * 1000)
      return message(410, {
        heading: 'This link has expired',
        paragraphs: [
          `Decisions were possible until ${formatTime(new Date(link.validUntil * 1000))}. Nothing was applied; CI can start a new run.`,
        ],
        ...common,
      });
    if (link.status === 'void')
      return message(409, {
        heading: 'This link is no longer valid',
        paragraphs: [
          'The request it belonged to was replaced or closed. Use the most recent message you received.',
        ],
        ...common,
      });
    return undefined;
  }

  /**
   * The run's plan text, read at its recorded version and verified against its recorded
   * SHA-256. Any failure blocks approval; the log says why, never what the text holds.
   */
  async function planTextOf(run: ApprovalRun, log: HandlerLogger): Promise<PlanTextView> {
    const artifacts = deps.artifacts;
    if (!artifacts) return { status: 'unavailable' };
    const plan = run.plan;
    const ref = { key: plan.planTextKey, versionId: plan.planTextVersionId };
    // The record names the text; it must be this run's own (the role may read every run's).
    if (ref.key !== artifactKeys(run.runId).planText) {
      log.error('the plan text key is not this run’s; approval is blocked', ref);
      return { status: 'blocked', problem: 'unreadable' };
    }
    try {
      const body = await readVerifiedArtifact(artifacts, {
        ...ref,
        sha256: plan.planTextSha256,
        maxBytes: deps.maxPlanTextBytes ?? MAX_PLAN_TEXT_READ_BYTES,
      });
      const text = body.toString('utf8');
      const parsed = parsePlanText(text);
      const check = checkPlanText(parsed, plan);
      if (check.disagreements.length > 0)
        log.error('the plan text disagrees with the JSON plan; approval is blocked', {
          ...ref,
          disagreements: check.disagreements.length,
        });
      return { status: 'verified', plan: parsed, text, check };
    } catch (error) {
      if (error instanceof ArtifactTooLargeError) {
        log.error('the plan text is larger than the page reads; approval is blocked', {
          ...ref,
          maxBytes: error.maxBytes,
        });
        return { status: 'blocked', problem: 'too-large' };
      }
      if (error instanceof ArtifactChecksumError) {
        log.error('the plan text does not match its recorded checksum; approval is blocked', {
          ...ref,
          expectedSha256: error.expectedSha256,
          actualSha256: error.actualSha256,
        });
        return { status: 'blocked', problem: 'checksum-mismatch' };
      }
      const notFound = error instanceof ArtifactNotFoundError;
      log.error('the plan text could not be read; approval is blocked', {
        ...ref,
        error: errorName(error) ?? 'Error',
      });
      return { status: 'blocked', problem: notFound ? 'not-found' : 'unreadable' };
    }
  }

  async function decisionView(
    link: ApprovalLink,
    run: ApprovalRun,
    now: Date,
    status: number,
    log: HandlerLogger,
    extra: {
      error?: string;
      values?: { reason?: string; confirm?: string };
      planText?: PlanTextView;
    } = {},
  ): Promise<PageResponse> {
    const approver = approverOf(run, link);
    const planText = extra.planText ?? (await planTextOf(run, log));
    return {
      status,
      body: decisionPage({
        run,
        approver,
        nonce: issueNonce(await pageKey(), link.hash, now),
        consoleUrl: consoleUrl(settings, run.executionArn),
        selfApproval: isRequester(run, approver),
        ...extra,
        planText,
      }),
    };
  }

  /**
   * A decision that was recorded but never reached the workflow (SendTaskSuccess failed and the
   * run was reopened): the approver's link may send it again, and nothing else.
   */
  function undelivered(
    link: ApprovalLink,
    run: ApprovalRun,
    now: Date,
  ): DecisionRecord | undefined {
    const recorded = run.decisions[link.approverId];
    if (link.status !== 'used' || run.status !== 'pending' || !recorded) return undefined;
    return outcomeOf(run, now) ? recorded : undefined;
  }

  async function resendPage(
    link: ApprovalLink,
    run: ApprovalRun,
    record: DecisionRecord,
    now: Date,
  ) {
    const nonce = issueNonce(await pageKey(), link.hash, now);
    return message(200, {
      heading: 'Your decision has not reached the workflow yet',
      paragraphs: [
        `You ${record.decision === 'approve' ? 'approved' : 'rejected'} this run at ${formatTime(new Date(record.decidedAt))}, but delivering it failed. Send it again; nothing else changes.`,
        html`<form method="post"><input type="hidden" name="nonce" value="${nonce}"><input type="hidden" name="decision" value="${record.decision}"><button type="submit">Send my decision again</button></form>`,
      ],
      run,
      consoleUrl: consoleUrl(settings, run.executionArn),
    });
  }

  async function show(
    link: ApprovalLink,
    run: ApprovalRun,
    now: Date,
    log: HandlerLogger,
  ): Promise<PageResponse> {
    const live = await liveOutcome(run, log);
    const gone = run.status === 'pending' && live !== undefined && live.result !== 'running';
    const record = gone ? undefined : undelivered(link, run, now);
    if (record) return resendPage(link, run, record, now);
    return closedPage(link, run, now, live) ?? decisionView(link, run, now, 200, log);
  }

  async function decide(
    link: ApprovalLink,
    run: ApprovalRun,
    form: URLSearchParams,
    now: Date,
    log: HandlerLogger,
  ): Promise<PageResponse> {
    const live = await liveOutcome(run, log);
    const gone = run.status === 'pending' && live !== undefined && live.result !== 'running';
    const pending = gone ? undefined : undelivered(link, run, now);
    const closed = pending ? undefined : closedPage(link, run, now, live);
    if (closed) return closed;
    const nonce = verifyNonce(await pageKey(), link.hash, form.get('nonce') ?? undefined, now);
    if (nonce !== 'ok') {
      log.warn('refused a decision with a bad page nonce', { nonceCheck: nonce });
      return message(403, {
        heading: 'Please reload the page',
        tone: 'error',
        paragraphs: [
          nonce === 'expired'
            ? 'The page was open for too long. Open your link again and decide within 30 minutes.'
            : 'This form did not come from the approval page. Open your link again to decide.',
        ],
      });
    }
    if (pending) {
      // Only what was recorded is sent; the form cannot change the decision.
      log.info('sending a recorded decision again', { approver: pending.approverId });
      return finish(run.executionArn, pending, now, log);
    }
    const decision = form.get('decision');
    const reason = cleanText(form.get('reason') ?? '');
    const confirm = (form.get('confirm') ?? '').trim();
    if (decision !== 'approve' && decision !== 'reject')
      return message(400, {
        heading: 'The form could not be read',
        tone: 'error',
        paragraphs: ['Choose Approve or Reject on the approval page.'],
      });
    const values = { decision, reason, confirm } as const;
    if (reason.length > MAX_REASON_LENGTH)
      return decisionView(link, run, now, 400, log, {
        error: `Keep the reason under ${MAX_REASON_LENGTH} characters.`,
        values: { ...values, reason: reason.slice(0, MAX_REASON_LENGTH) },
      });
    const approver = approverOf(run, link);
    if (decision === 'reject' && reason === '')
      return decisionView(link, run, now, 400, log, {
        error: 'Say why you reject the run: the requester sees your reason.',
        values,
      });
    if (decision === 'approve') {
      if (isRequester(run, approver)) {
        log.warn('refused a self-approval', { approver: approver.id });
        return message(403, {
          heading: 'You cannot approve your own run',
          tone: 'error',
          paragraphs: [
            'You requested this run, so another approver must approve it. You can still reject it from your link.',
          ],
          run,
          consoleUrl: consoleUrl(settings, run.executionArn),
        });
      }
      // Nobody approves a plan they could not see: the text must read and verify, now.
      const planText = await planTextOf(run, log);
      const blocked = blockedReason({ planText, run });
      if (blocked) {
        log.warn('refused an approval: the plan text could not be verified', {
          approver: approver.id,
        });
        return decisionView(link, run, now, 409, log, {
          error: `Your approval was not recorded: ${blocked}, so this run cannot be approved. You can still reject it.`,
          planText,
        });
      }
      if (isDestructive(run.plan) && confirm !== run.request.path)
        return decisionView(link, run, now, 400, log, {
          error: `This plan destroys or replaces resources: type the path "${run.request.path}" exactly to approve.`,
          values,
          planText,
        });
    }

    const record: DecisionRecord = {
      approverId: approver.id,
      approverName: approver.name,
      decision,
      reason,
      decidedAt: now.toISOString(),
    };
    const recorded = await store.recordDecision(
      link.hash,
      run.executionArn,
      record,
      Math.floor(now.getTime() / 1000),
    );
    if (recorded !== 'recorded') {
      const [freshLink, freshRun] = await Promise.all([
        store.getLink(link.hash),
        store.getRun(run.executionArn),
      ]);
      const page = freshLink && freshRun ? closedPage(freshLink, freshRun, now) : undefined;
      return (
        page ??
        message(409, {
          heading: 'Your decision was not recorded',
          paragraphs: ['You, or this link, already decided on this run.'],
        })
      );
    }
    log.info('decision recorded', { approver: approver.id, decision });
    return finish(run.executionArn, record, now, log);
  }

  /** After a decision: completes the task when the outcome is known, exactly once. */
  async function finish(
    executionArn: string,
    record: DecisionRecord,
    now: Date,
    log: HandlerLogger,
  ): Promise<PageResponse> {
    const run = await store.getRun(executionArn);
    if (!run) throw new Error('the run disappeared after a decision was recorded');
    const common = { run, consoleUrl: consoleUrl(settings, executionArn) };
    const outcome = outcomeOf(run, now);
    if (!outcome) {
      const approvals = Object.values(run.decisions).filter((d) => d.decision === 'approve').length;
      return message(200, {
        heading: 'Your approval is recorded',
        paragraphs: [
          `${approvals} of ${run.approvalsRequired} required approvals so far. The run waits for the others; nothing is applied until then.`,
        ],
        ...common,
      });
    }
    if (!(await store.closeRun(executionArn, outcome))) {
      const latest = await store.getRun(executionArn);
      return message(200, {
        heading: 'Your decision is recorded',
        paragraphs: [latest ? outcomeSentence(latest) : 'The run was decided at the same moment.'],
        ...common,
      });
    }
    let output: ApprovalDecision = outcome;
    if (outcome.approved) {
      // Apply runs only on a decision this page signed; the callback alone is not enough.
      if (!deps.signer) log.warn('no decision signer: the approval is sent unsigned and will fail');
      else
        try {
          const attestation = await attestDecision(deps.signer, signedDecisionOf(run, outcome));
          output = { ...outcome, attestation };
        } catch (error) {
          await store.reopenRun(executionArn, outcome.decidedAt);
          throw new Error(`signing the decision failed: ${errorName(error) ?? 'Error'}`, {
            cause: error,
          });
        }
    }
    try {
      await deps.sfn.send(
        new SendTaskSuccessCommand({
          taskToken: run.taskToken,
          output: JSON.stringify(approvalDecisionSchema.parse(output)),
        }),
      );
    } catch (error) {
      const name = errorName(error) ?? 'Error';
      await store.reopenRun(executionArn, outcome.decidedAt);
      if (TASK_GONE.has(name)) {
        await store.endRun(executionArn, 'the workflow stopped waiting', now.toISOString());
        await store.voidLinks(executionArn);
        log.warn('the execution no longer waits for a decision', { error: name });
        const live = await liveOutcome(run, log);
        return message(name === 'TaskTimedOut' ? 410 : 409, {
          heading: 'This run already ended',
          paragraphs: [
            name === 'TaskTimedOut'
              ? 'The time to decide ran out before your decision arrived. Your decision was not applied; CI can start a new run.'
              : 'The workflow no longer waits for a decision (it was stopped, failed or answered otherwise). Your decision was not applied.',
            ...(live ? [liveOutcomeSentence(live)] : []),
          ],
          ...common,
        });
      }
      throw new Error(`SendTaskSuccess failed: ${name}`, { cause: error });
    }
    await store.voidLinks(executionArn);
    log.info('decision sent to the workflow', {
      approved: outcome.approved,
      approver: outcome.approver,
      planSha256: outcome.planSha256,
    });
    return message(200, {
      heading: outcome.approved
        ? 'Approved: the apply starts now'
        : 'Rejected: nothing will be applied',
      paragraphs: [
        outcome.approved
          ? `Approved by ${outcome.approver}. The workflow applies exactly the plan you saw (saved plan sha256:${outcome.planSha256.slice(0, 12)}…).`
          : `You rejected the run${record.reason ? `: “${record.reason}”` : ''}. The requester is told.`,
        ...(outcome.approved && record.reason
          ? [`Your comment, which the requester sees: “${record.reason}”`]
          : []),
      ],
      ...common,
    });
  }

  return async (event) => {
    const now = clock();
    const method = (event.requestContext?.http?.method ?? 'GET').toUpperCase();
    const head = method === 'HEAD';
    let log = logger;
    try {
      const path = event.rawPath ?? event.requestContext?.http?.path ?? '/';
      const match = /^\/a\/([^/]*)\/?$/.exec(path);
      if (!match)
        return respond(
          message(404, {
            heading: 'Nothing here',
            paragraphs: ['Open the approval link from your email or Slack message.'],
          }),
          head,
        );
      if (method !== 'GET' && method !== 'HEAD' && method !== 'POST')
        return respond(
          {
            ...message(405, {
              heading: 'Method not allowed',
              paragraphs: ['Open the approval link in a browser.'],
            }),
            headers: { allow: 'GET, POST' },
          },
          head,
        );
      const capability = match[1] as string;
      registerSecret(capability);
      const unknown = message(404, {
        heading: 'Unknown approval link',
        paragraphs: [
          'This link does not exist, or is so old that it was deleted. Check that the whole link was copied.',
        ],
      });
      if (!CAPABILITY_PATTERN.test(capability)) return respond(unknown, head);

      let form: URLSearchParams | undefined;
      if (method === 'POST') {
        const crossSite = crossSiteProblem(event, settings);
        if (crossSite) {
          logger.warn('refused a decision posted from another site', { reason: crossSite });
          return respond(
            message(403, {
              heading: 'This form came from another site',
              tone: 'error',
              paragraphs: [
                'Decisions are only accepted from the approval page itself. Nothing was recorded. Open your link again to decide.',
              ],
            }),
          );
        }
        const body = readBody(event);
        if (body === 'too-large')
          return respond(
            message(413, {
              heading: 'Too much data',
              tone: 'error',
              paragraphs: ['The form sent more than the page ever sends. Open your link again.'],
            }),
          );
        form = body;
      }

      const link = await store.getLink(hashCapability(capability));
      if (!link) return respond(unknown, head);
      const run = await store.getRun(link.executionArn);
      if (!run) return respond(unknown, head);
      registerSecret(run.taskToken);
      log = invocationLogger(logger, run.executionArn);

      if (method !== 'POST') return respond(await show(link, run, now, log), head);
      if (!form)
        return respond(
          message(400, {
            heading: 'The form could not be read',
            tone: 'error',
            paragraphs: ['Send the form from the approval page.'],
          }),
        );
      return respond(await decide(link, run, form, now, log));
    } catch (error) {
      const reference = random(6).toString('hex');
      log.error('the approval page failed', { reference, error: describeError(error) });
      return respond(
        message(500, {
          heading: 'Something went wrong',
          tone: 'error',
          paragraphs: [
            'Your request could not be completed. If you were deciding, open your link again to see whether your decision was recorded.',
            html`Quote the reference below to the team that runs deploy-runner.`,
          ],
          reference,
        }),
        head,
      );
    }
  };
}

/** The HMAC key of the page nonces: the local key, or the Secrets Manager secret read once. */
function nonceKey(
  settings: ApprovalPageSettings,
  secrets: () => SecretsManagerClient,
): () => Promise<Buffer> {
  if (settings.pageSecret !== undefined) {
    const key = Buffer.from(settings.pageSecret, 'utf8');
    return async () => key;
  }
  const read = cachedSecret(secrets, settings.pageSecretArn as string);
  return async () => Buffer.from(await read(), 'utf8');
}

/** The approver a link belongs to (falls back to what the link itself records). */
function approverOf(run: ApprovalRun, link: ApprovalLink): ApproverRef {
  return (
    run.approvers.find((a) => a.id === link.approverId) ?? {
      id: link.approverId,
      name: link.approverName,
    }
  );
}

/**
 * The record the page signs for an approval: this run, its plan and commit, and each distinct
 * approver who approved (the same ones `outcomeOf` counted).
 */
export function signedDecisionOf(run: ApprovalRun, outcome: ApprovalDecision): SignedDecision {
  const approvals = Object.values(run.decisions)
    .filter((d) => d.decision === 'approve')
    .sort((a, b) => a.decidedAt.localeCompare(b.decidedAt));
  const distinct = new Map(approvals.map((d) => [d.approverId, d]));
  return {
    v: 1,
    executionArn: run.executionArn,
    runId: run.runId,
    planSha256: run.plan.planSha256,
    commit: run.plan.commit,
    approvers: [...distinct.values()].map((d) => ({
      id: d.approverId,
      name: d.approverName,
      decidedAt: d.decidedAt,
    })),
    approvalsRequired: run.approvalsRequired,
    decidedAt: outcome.decidedAt,
  };
}

/**
 * Whether the approver is the requester: any of their identities (id, name, email, Slack user
 * ID, CI logins) is `requestedBy`, compared trimmed, NFKC-normalized and case-folded, so a
 * fullwidth or differently cased login is still theirs.
 */
export function isRequester(run: Pick<ApprovalRun, 'request'>, approver: ApproverRef): boolean {
  return isRequesterIdentity(run.request.requestedBy, [
    approver.id,
    approver.name,
    approver.email,
    approver.slackUserId,
    ...(approver.ciLogins ?? []),
  ]);
}

/**
 * The decision to send, once known: any rejection rejects; `approvalsRequired` distinct
 * approvers approve. Undefined while waiting for more approvals.
 */
export function outcomeOf(run: ApprovalRun, now: Date): ApprovalDecision | undefined {
  const all = Object.values(run.decisions).sort((a, b) => a.decidedAt.localeCompare(b.decidedAt));
  const base = { decidedAt: now.toISOString(), planSha256: run.plan.planSha256 };
  const rejection = all.find((d) => d.decision === 'reject');
  if (rejection)
    return { approved: false, approver: rejection.approverName, reason: rejection.reason, ...base };
  const approvals = all.filter((d) => d.decision === 'approve');
  const distinct = new Map(approvals.map((d) => [d.approverId, d]));
  if (distinct.size < run.approvalsRequired) return undefined;
  const approvers = [...distinct.values()];
  const withReason = approvers.filter((d) => d.reason !== '');
  const reason =
    approvers.length === 1
      ? (approvers[0]?.reason ?? '')
      : withReason.map((d) => `${d.approverName}: ${d.reason}`).join('; ');
  return {
    approved: true,
    approver: approvers.map((d) => d.approverName).join(', '),
    reason,
    ...base,
  };
}

/** What Step Functions says of the run, in one sentence. */
function liveOutcomeSentence(live: RunOutcome): string {
  if (live.result === 'running') return 'The run is still running.';
  const text = live.message.replace(/[.\s]+$/, '');
  return `Outcome of the run: ${text}.`;
}

function outcomeSentence(run: ApprovalRun): string {
  const o = run.outcome;
  if (!o) return '';
  return o.approved
    ? `The run was approved by ${o.approver} at ${formatTime(new Date(o.decidedAt))}.`
    : `The run was rejected by ${o.approver} at ${formatTime(new Date(o.decidedAt))}${o.reason ? `: “${o.reason}”` : ''}.`;
}

/** Free text from the form: no control characters except newlines and tabs, trimmed. */
function cleanText(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '')
    .trim();
}

function readBody(event: APIGatewayProxyEventV2): URLSearchParams | 'too-large' | undefined {
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) return 'too-large';
  const type = (headerOf(event, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return undefined;
  return new URLSearchParams(bytes.toString('utf8'));
}

/**
 * Why a POST looks like a cross-site form post, or undefined. Defense in depth beside the
 * nonce: browsers say where a form came from (`Sec-Fetch-Site`, `Origin`), and only the page's
 * own origin may decide. Requests without these headers (mail clients, old browsers, scripts),
 * or with `Origin: null`, pass on to the nonce check.
 */
export function crossSiteProblem(
  event: APIGatewayProxyEventV2,
  settings: Pick<ApprovalPageSettings, 'approvalBaseUrl'>,
): string | undefined {
  const site = headerOf(event, 'sec-fetch-site')?.trim().toLowerCase();
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    return `Sec-Fetch-Site is ${JSON.stringify(site.slice(0, 40))}`;
  const origin = headerOf(event, 'origin')?.trim();
  // "null" says nothing: the page's own no-referrer policy makes browsers send it for the page's
  // own form. Sec-Fetch-Site above still tells a cross-site post apart.
  if (origin === undefined || origin === '' || origin === 'null') return undefined;
  if (!pageOrigins(event, settings).has(origin.toLowerCase()))
    return `Origin ${JSON.stringify(origin.slice(0, 100))} is not the page's own`;
  return undefined;
}

/**
 * The page's own origins: the host the request was sent to, over the scheme its front end
 * reports (a Function URL is HTTPS and says so in `x-forwarded-proto`; so does local mode's
 * adapter), and the configured approval base URL.
 */
function pageOrigins(
  event: APIGatewayProxyEventV2,
  settings: Pick<ApprovalPageSettings, 'approvalBaseUrl'>,
): Set<string> {
  const origins = new Set<string>();
  const host = headerOf(event, 'host') ?? event.requestContext?.domainName;
  const proto = headerOf(event, 'x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
  if (host) origins.add(`${proto === 'http' ? 'http' : 'https'}://${host.toLowerCase()}`);
  if (settings.approvalBaseUrl) {
    try {
      origins.add(new URL(settings.approvalBaseUrl).origin.toLowerCase());
    } catch {
      // An unparsable setting adds nothing; the host still names the page.
    }
  }
  return origins;
}

function headerOf(event: APIGatewayProxyEventV2, name: string): string | undefined {
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}

/** Lambda entry point (Function URL). A misconfigured function still answers with a page. */
export const handler = lambdaEntry(
  'approval-page',
  (settings, logger): ApprovalPageHandler =>
    createApprovalPageHandler({
      settings,
      logger,
      store: new DynamoApprovalStore(documentClient(), settings.tableName),
      sfn: sfnClient(),
      signer: new KmsDecisionSigner(kmsClient, settings.decisionKeyArn),
      artifacts: new S3ArtifactStore({ bucket: settings.artifactBucket, client: s3Client() }),
    }),
  {
    onSetupError: (error, logger): FunctionUrlResult => {
      const reference = nodeRandomBytes(6).toString('hex');
      logger.error('the approval page is misconfigured', {
        reference,
        error: describeError(error),
      });
      return {
        statusCode: 500,
        headers: { ...SECURITY_HEADERS },
        body: messagePage({
          heading: 'Something went wrong',
          tone: 'error',
          paragraphs: ['The approval page is not set up correctly. Nothing was decided.'],
          reference,
        }),
        isBase64Encoded: false,
      };
    },
  },
);
