import * as z from 'zod';
import {
  approvalDecisionSchema,
  RunErrors,
  runRequestSchema,
  type VerifiedApproval,
  verifiedApprovalSchema,
} from '../lib/contracts';
import { isRequesterIdentity } from '../lib/identity';
import { approverIdentity, sameIdentity } from '../lib/sign-in-config';
import { kmsClient } from './shared/clients/kms';
import {
  AttestationError,
  type DecisionVerifier,
  KmsDecisionVerifier,
  readAttestation,
} from './shared/decision-signing';
import { createLogger, type HandlerLogger, invocationLogger } from './shared/logger';
import { lambdaEntry, parsePayload } from './shared/scaffold';
import { requireSettings, type SettingsWith } from './shared/settings';

/**
 * `Verify approval`: the decision is the authority, not the callback (docs/architecture.md, property 8).
 * The task token is in the execution history, so anyone who can read the history and call
 * `SendTaskSuccess` can complete `Request approval`. Before `Apply`, this checks that the task
 * output carries a decision signed by the approval page's key, for this execution, this plan and
 * commit, by enough distinct configured approvers, none of them the requester. Anything else
 * fails the run with `DeployRunner.ApprovalNotVerified`; `Apply` reads only what this returns.
 */

export type VerifyApprovalSettings = SettingsWith<'approvers' | 'approvalsRequired'>;

export interface VerifyApprovalDeps {
  /** The configured approvers and how many must approve. */
  readonly settings: VerifyApprovalSettings;
  /** Checks signatures under the approval page's key (KMS in AWS, the local key pair locally). */
  readonly verifier: DecisionVerifier;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** @default - a Powertools logger for this handler */
  readonly logger?: HandlerLogger;
}

/** The payload `Verify approval` sends (docs/workflow-contract.md). */
export const verifyApprovalPayloadSchema = z.object({
  executionArn: z.string().min(1),
  request: runRequestSchema,
  /** `$.plan.summary`: only the facts the decision is bound to are read. */
  plan: z.looseObject({
    commit: z.string().regex(/^[0-9a-f]{40}$/),
    planSha256: z.string().regex(/^[0-9a-f]{64}$/),
  }),
  /** `$.approval`: whatever completed the task, so parsed here, not trusted. */
  approval: z.unknown(),
});
export type VerifyApprovalPayload = z.input<typeof verifyApprovalPayloadSchema>;

export type VerifyApprovalHandler = (event: unknown) => Promise<VerifiedApproval>;

/** The run fails with this; its message is the Cause the console and the CLI show. */
export class ApprovalNotVerifiedError extends Error {
  override readonly name = RunErrors.ApprovalNotVerified;
}

export function createVerifyApprovalHandler(deps: VerifyApprovalDeps): VerifyApprovalHandler {
  const { settings, verifier } = deps;
  // Optional in `Settings`, required here: checked when the handler is built.
  const approvalsRequired = requireSettings(settings, ['approvers', 'approvalsRequired'])
    .approvalsRequired as number;
  const clock = deps.clock ?? (() => new Date());
  const logger = deps.logger ?? createLogger('verify-approval');
  const configured = new Map(
    settings.approvers.map((a) => [a.email?.toLowerCase() ?? (a.slackUserId as string), a]),
  );

  return async (event) => {
    const payload = parsePayload(verifyApprovalPayloadSchema, event, 'Verify approval');
    const { executionArn, request, plan } = payload;
    const log = invocationLogger(logger, executionArn);
    const refuse = (problem: string): never => {
      log.warn('refused an approval that could not be verified', { problem });
      throw new ApprovalNotVerifiedError(
        `Approval not verified: ${problem}. Nothing was applied: only a decision made on the approval page applies.`,
      );
    };

    const approval = approvalDecisionSchema.safeParse(payload.approval);
    if (!approval.success) return refuse('the task output is not an approval decision');
    const attestation = approval.data.attestation;
    if (!attestation) return refuse('it carries no decision signed by the approval page');

    let decision: Awaited<ReturnType<typeof readAttestation>>;
    try {
      decision = await readAttestation(verifier, attestation);
    } catch (error) {
      if (error instanceof AttestationError) return refuse(error.message);
      throw error;
    }
    if (decision.executionArn !== executionArn)
      return refuse('the signed decision belongs to another execution');
    if (decision.runId !== request.runId)
      return refuse('the signed decision belongs to another run');
    if (decision.planSha256 !== plan.planSha256)
      return refuse('the signed decision approves another plan (different sha256)');
    if (decision.commit !== plan.commit)
      return refuse('the signed decision approves another commit');

    const ids = new Set(decision.approvers.map((a) => a.id));
    const required = Math.max(approvalsRequired, decision.approvalsRequired);
    if (ids.size < required)
      return refuse(
        `${ids.size} distinct approver(s) signed, ${required} ${required === 1 ? 'is' : 'are'} required`,
      );
    // With sign-in on, each approval is a person the provider vouched for; N-of-M is N people.
    const signIn = settings.signIn;
    if (signIn) {
      const people = new Set<string>();
      for (const a of decision.approvers) {
        const verified = a.verified;
        if (!verified || verified.issuer !== signIn.issuer)
          return refuse(`"${a.id.slice(0, 100)}" approved without signing in`);
        const approver = configured.get(a.id);
        const identity = approver && approverIdentity(approver, signIn.claim);
        if (identity === undefined || !sameIdentity(signIn.claim, verified.identity, identity))
          return refuse(`"${a.id.slice(0, 100)}" signed in as someone else`);
        people.add(`${verified.issuer} ${verified.sub}`);
      }
      if (people.size < required)
        return refuse(
          `${people.size} distinct signed-in person(s) approved, ${required} ${required === 1 ? 'is' : 'are'} required`,
        );
    }
    for (const a of decision.approvers) {
      const id = a.id;
      const approver = configured.get(id);
      if (!approver) return refuse(`"${id.slice(0, 100)}" is not a configured approver`);
      const identities = [
        id,
        approver.name,
        approver.email,
        approver.slackUserId,
        approver.identity,
        a.verified?.identity,
        a.verified?.sub,
        ...(approver.ciLogins ?? []),
      ];
      if (isRequesterIdentity(request.requestedBy, identities))
        return refuse(`"${id.slice(0, 100)}" requested this run and cannot approve it`);
    }

    log.info('approval verified', {
      approvers: [...ids],
      planSha256: decision.planSha256,
      keyId: attestation.keyId,
    });
    return verifiedApprovalSchema.parse({
      planSha256: decision.planSha256,
      commit: decision.commit,
      approvers: decision.approvers.map((a) => a.name),
      keyId: attestation.keyId,
      verifiedAt: clock().toISOString(),
    });
  };
}

/** Lambda entry point (`Verify approval`). */
export const handler = lambdaEntry('verify-approval', (settings, logger) =>
  createVerifyApprovalHandler({
    settings,
    logger,
    verifier: new KmsDecisionVerifier(kmsClient, settings.decisionKeyArn),
  }),
);
