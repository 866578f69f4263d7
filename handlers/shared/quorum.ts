import type { ApprovalDecision, SignedDecision } from '../../lib/contracts';
import { isRequesterIdentity } from '../../lib/identity';
import type { ApprovalLink, ApprovalRun, ApproverRef, DecisionRecord } from './store';

/**
 * N-of-M approval, pure: who a link speaks for, whether they requested the run, when the
 * recorded decisions settle it, and what the page signs. handlers/approval-page.ts records and
 * delivers; this module decides.
 */

/** The approver a link belongs to (falls back to what the link itself records). */
export function approverOf(run: ApprovalRun, link: ApprovalLink): ApproverRef {
  return (
    run.approvers.find((a) => a.id === link.approverId) ?? {
      id: link.approverId,
      name: link.approverName,
    }
  );
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

/** The decisions in the order they were made. */
function inOrder(run: Pick<ApprovalRun, 'decisions'>): DecisionRecord[] {
  return Object.values(run.decisions).sort((a, b) => a.decidedAt.localeCompare(b.decidedAt));
}

/**
 * The approvals that count: one per distinct approver (their latest), in the order they first
 * approved. Two records of one approver never make two approvals.
 */
export function distinctApprovals(run: Pick<ApprovalRun, 'decisions'>): DecisionRecord[] {
  const approvals = inOrder(run).filter((d) => d.decision === 'approve');
  return [...new Map(approvals.map((d) => [d.approverId, d])).values()];
}

/**
 * The decision to send, once known: any rejection rejects; `approvalsRequired` distinct
 * approvers approve. Undefined while waiting for more approvals.
 */
export function outcomeOf(run: ApprovalRun, now: Date): ApprovalDecision | undefined {
  const base = { decidedAt: now.toISOString(), planSha256: run.plan.planSha256 };
  const rejection = inOrder(run).find((d) => d.decision === 'reject');
  if (rejection)
    return { approved: false, approver: rejection.approverName, reason: rejection.reason, ...base };
  const approvers = distinctApprovals(run);
  if (approvers.length < run.approvalsRequired) return undefined;
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

/**
 * The record the page signs for an approval: this run, its plan and commit, and each distinct
 * approver who approved (the same ones `outcomeOf` counted).
 */
export function signedDecisionOf(run: ApprovalRun, outcome: ApprovalDecision): SignedDecision {
  return {
    v: 1,
    executionArn: run.executionArn,
    runId: run.runId,
    planSha256: run.plan.planSha256,
    commit: run.plan.commit,
    approvers: distinctApprovals(run).map((d) => ({
      id: d.approverId,
      name: d.approverName,
      decidedAt: d.decidedAt,
    })),
    approvalsRequired: run.approvalsRequired,
    decidedAt: outcome.decidedAt,
  };
}

/**
 * A decision that was recorded but never reached the workflow (SendTaskSuccess failed and the
 * run was reopened): the approver's link may send it again, and nothing else.
 */
export function undeliveredDecision(
  link: ApprovalLink,
  run: ApprovalRun,
  now: Date,
): DecisionRecord | undefined {
  const recorded = run.decisions[link.approverId];
  if (link.status !== 'used' || run.status !== 'pending' || !recorded) return undefined;
  return outcomeOf(run, now) ? recorded : undefined;
}
