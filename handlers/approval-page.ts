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
  type VerifiedSubject,
} from '../lib/contracts';
import { lazyModule } from '../lib/lazy-module';
import {
  APPROVAL_PAGE_ROUTES,
  type ApprovalRouteName,
  crossSiteProblem,
  matchRoute,
  type PageResponse,
  readForm,
  requestLine,
  toFunctionUrlResult,
} from './shared/approval-routes';
import {
  cleanText,
  closedPage,
  FIXED_PAGES,
  leftTheWait,
  MAX_REASON_LENGTH,
  messageResponse,
  outcomeSentence,
  resendPage,
  selfApprovalPage,
  sentPage,
  taskGonePage,
  waitingPage,
} from './shared/approval-text';
import {
  blockedReason,
  decisionPage,
  type PlanTextView,
  planViewPage,
} from './shared/approval-views';
import { MAX_PLAN_TEXT_READ_BYTES, readVerifiedArtifact } from './shared/artifacts';
import {
  CAPABILITY_PATTERN,
  hashCapability,
  issueNonce,
  nonceKey,
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
import {
  createLogger,
  type HandlerLogger,
  invocationLogger,
  registerSecret,
} from './shared/logger';
import { formatTime, isDestructive } from './shared/messages';
import { checkPlanText } from './shared/plan-check';
import { parsePlanText } from './shared/plan-text';
import { DynamoPlanViewStore, type PlanViewStore } from './shared/plan-view';
import {
  approverOf,
  distinctApprovals,
  isRequester,
  outcomeOf,
  signedDecisionOf,
  undeliveredDecision,
} from './shared/quorum';
import { lambdaEntry } from './shared/scaffold';
import { consoleUrl, type SettingsWith } from './shared/settings';
import { createPageSignIn, type PageSignIn, type SessionCheck } from './shared/sign-in/page';
import {
  type ApprovalLink,
  type ApprovalRun,
  type ApprovalStore,
  type DecisionRecord,
  DynamoApprovalStore,
} from './shared/store';

// Other modules import these from the handler; they live in the pure modules now.
export { crossSiteProblem, MAX_BODY_BYTES } from './shared/approval-routes';
export { MAX_REASON_LENGTH } from './shared/approval-text';
export { isRequester, outcomeOf, signedDecisionOf } from './shared/quorum';

// Loaded when a decision is sent or a run's status read, not at import: see lib/lazy-module.ts.
const { DescribeExecutionCommand, SendTaskSuccessCommand } = lazyModule<typeof ClientSFN>(() =>
  require('@aws-sdk/client-sfn'),
);

/**
 * The approval page (Lambda Function URL, auth NONE: the capability in the path is the
 * credential). `GET /a/<capability>` shows what would be approved and never writes anything:
 * mail scanners follow links. `POST /a/<capability>` decides, guarded by a per-page nonce.
 * This module wires collaborators only: routes are in shared/approval-routes.ts, N-of-M logic in
 * shared/quorum.ts, the words in shared/approval-text.ts and the HTML in shared/approval-views.ts.
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
  /**
   * The read-only plan views drift messages link (`/v/<capability>`).
   * @default - every view link answers "unknown link"
   */
  readonly views?: Pick<PlanViewStore, 'getView'>;
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
  /** Fetch for the identity provider (approvals.signIn). @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

export type FunctionUrlResult = APIGatewayProxyStructuredResultV2 & {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
};

export type ApprovalPageHandler = (event: APIGatewayProxyEventV2) => Promise<FunctionUrlResult>;

const TASK_GONE = new Set(['TaskDoesNotExist', 'TaskTimedOut', 'InvalidToken']);

/** What a route's action receives: the request as routed, and this invocation's logger. */
interface RouteRequest {
  readonly event: APIGatewayProxyEventV2;
  readonly method: 'GET' | 'POST';
  readonly head: boolean;
  readonly params: readonly string[];
  readonly now: Date;
  /** Replaces the logger once the request names a run, so the 500 page's log names it too. */
  readonly useLog: (log: HandlerLogger) => void;
}

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
  const secrets = deps.secrets ?? secretsClient;
  const pageKey = nonceKey(settings, (arn) => cachedSecret(secrets, arn));
  const consoleOf = (run: ApprovalRun) => consoleUrl(settings, run.executionArn);
  const signInSettings = settings.signIn;
  // Off unless configured: then links decide as their approver, exactly as without sign-in.
  const signIn: PageSignIn | undefined = signInSettings
    ? createPageSignIn({
        settings: signInSettings,
        ...(settings.approvalBaseUrl ? { approvalBaseUrl: settings.approvalBaseUrl } : {}),
        pageKey,
        clientSecret:
          settings.signInClientSecret !== undefined
            ? async () => settings.signInClientSecret as string
            : cachedSecret(secrets, signInSettings.clientSecretName),
        claim: (stateHash, expiresAt) => store.claimSignIn(stateHash, expiresAt),
        randomBytes: random,
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
      })
    : undefined;

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

  /**
   * The run's plan text, read at its recorded version and verified against its recorded
   * SHA-256. Any failure blocks approval; the log says why, never what the text holds.
   */
  async function planTextOf(
    run: Pick<ApprovalRun, 'plan' | 'runId'>,
    log: HandlerLogger,
  ): Promise<PlanTextView> {
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
      session?: SessionCheck;
    } = {},
  ): Promise<PageResponse> {
    const approver = approverOf(run, link);
    const { session, ...rest } = extra;
    const planText = rest.planText ?? (await planTextOf(run, log));
    const verified = session?.ok ? session.subject : undefined;
    return {
      status,
      body: decisionPage({
        run,
        approver,
        nonce: issueNonce(await pageKey(), link.hash, now),
        consoleUrl: consoleOf(run),
        selfApproval: isRequester(run, approver, verified),
        ...rest,
        planText,
        ...(signIn ? { signIn: verified ? { signedInAs: verified.identity } : {} } : {}),
      }),
    };
  }

  /**
   * How the run stands for this link: what Step Functions says, and a recorded decision still to
   * deliver (none once the execution left the wait).
   */
  async function standing(link: ApprovalLink, run: ApprovalRun, now: Date, log: HandlerLogger) {
    const live = await liveOutcome(run, log);
    const pending = leftTheWait(run, live) ? undefined : undeliveredDecision(link, run, now);
    return { live, pending };
  }

  async function show(
    link: ApprovalLink,
    run: ApprovalRun,
    now: Date,
    log: HandlerLogger,
    session: SessionCheck | undefined,
  ): Promise<PageResponse> {
    const { live, pending: record } = await standing(link, run, now, log);
    if (record)
      return resendPage(run, record, issueNonce(await pageKey(), link.hash, now), consoleOf(run));
    return (
      closedPage(link, run, now, consoleOf(run), live) ??
      decisionView(link, run, now, 200, log, session ? { session } : {})
    );
  }

  async function decide(
    link: ApprovalLink,
    run: ApprovalRun,
    form: URLSearchParams,
    now: Date,
    log: HandlerLogger,
    session: SessionCheck | undefined,
  ): Promise<PageResponse> {
    const { live, pending } = await standing(link, run, now, log);
    const closed = pending ? undefined : closedPage(link, run, now, consoleOf(run), live);
    if (closed) return closed;
    // With sign-in, only the link's approver, signed in, decides: a forwarded link or another
    // person's session spends nothing (no decision, no link, no task token).
    let verified: VerifiedSubject | undefined;
    if (signIn) {
      if (!session?.ok) {
        log.warn('refused a decision without a signed-in approver', {
          sessionCheck: session?.problem ?? 'missing',
        });
        return signIn.required(session?.ok === false ? session : { ok: false, problem: 'missing' });
      }
      verified = session.subject;
    }
    const nonce = verifyNonce(await pageKey(), link.hash, form.get('nonce') ?? undefined, now);
    if (nonce !== 'ok') {
      log.warn('refused a decision with a bad page nonce', { nonceCheck: nonce });
      return FIXED_PAGES.badNonce(nonce === 'expired');
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
      return FIXED_PAGES.unreadableForm('Choose Approve or Reject on the approval page.');
    const values = { decision, reason, confirm } as const;
    if (reason.length > MAX_REASON_LENGTH)
      return decisionView(link, run, now, 400, log, {
        error: `Keep the reason under ${MAX_REASON_LENGTH} characters.`,
        values: { ...values, reason: reason.slice(0, MAX_REASON_LENGTH) },
      });
    const approver = approverOf(run, link);
    const view = session ? { session } : {};
    if (decision === 'reject' && reason === '')
      return decisionView(link, run, now, 400, log, {
        error: 'Say why you reject the run: the requester sees your reason.',
        values,
        ...view,
      });
    if (decision === 'approve') {
      if (isRequester(run, approver, verified)) {
        log.warn('refused a self-approval', { approver: approver.id });
        return selfApprovalPage({ run, consoleUrl: consoleOf(run) });
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
      ...(verified ? { verified } : {}),
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
      const page =
        freshLink && freshRun
          ? closedPage(freshLink, freshRun, now, consoleOf(freshRun))
          : undefined;
      return page ?? FIXED_PAGES.notRecorded();
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
    const common = { run, consoleUrl: consoleOf(run) };
    const outcome = outcomeOf(run, now);
    if (!outcome) return waitingPage(distinctApprovals(run).length, run.approvalsRequired, common);
    if (!(await store.closeRun(executionArn, outcome))) {
      const latest = await store.getRun(executionArn);
      return messageResponse(200, {
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
        return taskGonePage(name, common, await liveOutcome(run, log));
      }
      throw new Error(`SendTaskSuccess failed: ${name}`, { cause: error });
    }
    await store.voidLinks(executionArn);
    log.info('decision sent to the workflow', {
      approved: outcome.approved,
      approver: outcome.approver,
      planSha256: outcome.planSha256,
    });
    return sentPage(outcome, record, common);
  }

  /** `/a/<capability>`: GET shows, POST decides. */
  async function approval(req: RouteRequest): Promise<PageResponse> {
    const capability = req.params[0] ?? '';
    registerSecret(capability);
    if (!CAPABILITY_PATTERN.test(capability)) return FIXED_PAGES.unknownLink();
    let form: URLSearchParams | undefined;
    if (req.method === 'POST') {
      const crossSite = crossSiteProblem(req.event, settings);
      if (crossSite) {
        logger.warn('refused a decision posted from another site', { reason: crossSite });
        return FIXED_PAGES.crossSite();
      }
      const body = readForm(req.event);
      if (body === 'too-large') return FIXED_PAGES.tooLarge();
      form = body;
    }
    const link = await store.getLink(hashCapability(capability));
    if (!link) return FIXED_PAGES.unknownLink();
    const run = await store.getRun(link.executionArn);
    if (!run) return FIXED_PAGES.unknownLink();
    registerSecret(run.taskToken);
    const log = invocationLogger(logger, run.executionArn);
    req.useLog(log);
    // A link that can no longer decide shows why instead of sending anyone to sign in. A used
    // link of a pending run may still need to send its recorded decision again, signed in.
    const open = link.status !== 'void' && run.status === 'pending';
    if (signIn && open && req.method === 'GET' && !req.head && wantsSignIn(req.event)) {
      log.info('sign-in started');
      return signIn.start(capability, req.event, req.now);
    }
    const session = signIn
      ? await signIn.session(req.event, link.hash, approverOf(run, link), req.now)
      : undefined;
    if (req.method !== 'POST') return show(link, run, req.now, log, session);
    if (!form) return FIXED_PAGES.unreadableForm('Send the form from the approval page.');
    return decide(link, run, form, req.now, log, session);
  }

  /** `/a/signin`: the identity provider's redirect back (approvals.signIn). */
  async function signInCallback(req: RouteRequest): Promise<PageResponse> {
    // Without sign-in, "signin" is just not a capability, as before the route existed.
    if (!signIn) return FIXED_PAGES.unknownLink();
    const { page, outcome } = await signIn.callback(req.event, req.now, async (linkHash) => {
      const link = await store.getLink(linkHash);
      const run = link && (await store.getRun(link.executionArn));
      return link && run ? signIn.linkApprover(approverOf(run, link)) : undefined;
    });
    // The outcome is a fixed code (never a token, claim or capability).
    if (outcome === 'signed-in') logger.info('approver signed in');
    else logger.warn('refused a sign-in', { outcome });
    return page;
  }

  /**
   * `/v/<capability>`: a drift check's plan, read-only. The route takes GET and HEAD only, so a
   * POST is refused before this runs; this reads and never writes.
   */
  async function view(req: RouteRequest): Promise<PageResponse> {
    const capability = req.params[0] ?? '';
    registerSecret(capability);
    if (!CAPABILITY_PATTERN.test(capability) || !deps.views) return FIXED_PAGES.unknownLink();
    const record = await deps.views.getView(hashCapability(capability));
    if (!record) return FIXED_PAGES.unknownLink();
    const log = invocationLogger(logger, record.executionArn);
    req.useLog(log);
    const runPage = consoleUrl(settings, record.executionArn);
    if (req.now.getTime() >= record.validUntil * 1000)
      return messageResponse(410, {
        heading: 'This link has expired',
        paragraphs: [
          `The plan could be viewed until ${formatTime(new Date(record.validUntil * 1000))}. The next drift check that finds drift sends a new link.`,
        ],
        consoleUrl: runPage,
      });
    return {
      status: 200,
      body: planViewPage({
        request: record.request,
        plan: record.plan,
        planText: await planTextOf(record, log),
        consoleUrl: runPage,
        validUntil: record.validUntil,
      }),
    };
  }

  const actions: Record<ApprovalRouteName, (req: RouteRequest) => Promise<PageResponse>> = {
    approval,
    signInCallback,
    view,
  };

  return async (event) => {
    const now = clock();
    const line = requestLine(event);
    const route = matchRoute(APPROVAL_PAGE_ROUTES, line.method, line.path);
    let log = logger;
    try {
      if (route.kind === 'not-found')
        return toFunctionUrlResult(FIXED_PAGES.notFound(), route.head);
      if (route.kind === 'method-not-allowed')
        return toFunctionUrlResult(FIXED_PAGES.methodNotAllowed(route.allow), route.head);
      const page = await actions[route.name]({
        event,
        method: route.method,
        head: route.head,
        params: route.params,
        now,
        useLog: (l) => {
          log = l;
        },
      });
      // A POST's answer always has a body: HEAD never reaches a POST action.
      return toFunctionUrlResult(page, route.head);
    } catch (error) {
      const reference = random(6).toString('hex');
      log.error('the approval page failed', { reference, error: describeError(error) });
      return toFunctionUrlResult(FIXED_PAGES.failed(reference), route.head);
    }
  };
}

/** A GET asking to sign in: `?signin` (the page's plain sign-in link). */
function wantsSignIn(event: APIGatewayProxyEventV2): boolean {
  return new URLSearchParams(event.rawQueryString ?? '').has('signin');
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
      views: new DynamoPlanViewStore(documentClient(), settings.tableName),
    }),
  {
    onSetupError: (error, logger): FunctionUrlResult => {
      const reference = nodeRandomBytes(6).toString('hex');
      logger.error('the approval page is misconfigured', {
        reference,
        error: describeError(error),
      });
      return toFunctionUrlResult(FIXED_PAGES.misconfigured(reference));
    },
  },
);
