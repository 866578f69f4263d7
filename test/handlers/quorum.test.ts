import { describe, expect, it } from 'vitest';
import {
  approverOf,
  distinctApprovals,
  isRequester,
  outcomeOf,
  signedDecisionOf,
  undeliveredDecision,
} from '../../handlers/shared/quorum';
import type { ApprovalLink, ApprovalRun, DecisionRecord } from '../../handlers/shared/store';
import { approvalRun, EXECUTION_ARN, planResult, request, START } from './support/fixtures';

const NOW = new Date('2025-11-25T11:00:00.000Z');

function record(
  approverId: string,
  decision: 'approve' | 'reject',
  minute: number,
  reason = '',
): DecisionRecord {
  return {
    approverId,
    approverName: approverId.toUpperCase(),
    decision,
    reason,
    decidedAt: new Date(START.getTime() + minute * 60_000).toISOString(),
  };
}

function run(decisions: DecisionRecord[], approvalsRequired = 2): ApprovalRun {
  return approvalRun({
    approvers: [
      { id: 'alice', name: 'Alice', email: 'alice@example.com' },
      { id: 'bob', name: 'Bob', ciLogins: ['bob-gh'] },
    ],
    approvalsRequired,
    decisions: Object.fromEntries(decisions.map((d) => [d.approverId, d])),
  });
}

const link = (approverId: string, status: ApprovalLink['status'] = 'open'): ApprovalLink => ({
  hash: 'h',
  executionArn: EXECUTION_ARN,
  approverId,
  approverName: `${approverId} (from the link)`,
  validUntil: 0,
  expiresAt: 0,
  status,
});

describe('outcomeOf: N of M', () => {
  it('waits until approvalsRequired distinct approvers approved', () => {
    expect(outcomeOf(run([]), NOW)).toBe(undefined);
    expect(outcomeOf(run([record('alice', 'approve', 1)]), NOW)).toBe(undefined);
    const two = outcomeOf(run([record('alice', 'approve', 1), record('bob', 'approve', 2)]), NOW);
    expect(two).toEqual({
      approved: true,
      approver: 'ALICE, BOB',
      reason: '',
      decidedAt: NOW.toISOString(),
      planSha256: planResult().planSha256,
    });
  });

  it('counts one approver once, even under two record keys', () => {
    const r = run([]);
    const twice = {
      ...r,
      decisions: { a: record('alice', 'approve', 1), b: record('alice', 'approve', 2) },
    };
    expect(distinctApprovals(twice)).toHaveLength(1);
    expect(outcomeOf(twice, NOW)).toBe(undefined);
  });

  it('any rejection rejects, with its reason, even after enough approvals', () => {
    const r = run([
      record('alice', 'approve', 1),
      record('bob', 'reject', 2, 'not today'),
      record('carol', 'approve', 3),
    ]);
    expect(outcomeOf(r, NOW)).toMatchObject({
      approved: false,
      approver: 'BOB',
      reason: 'not today',
    });
  });

  it('one approver keeps their own comment; several are named beside theirs', () => {
    expect(outcomeOf(run([record('alice', 'approve', 1, 'lgtm')], 1), NOW)?.reason).toBe('lgtm');
    expect(
      outcomeOf(
        run([
          record('bob', 'approve', 2, 'fine'),
          record('alice', 'approve', 1, 'lgtm'),
          record('carol', 'approve', 3),
        ]),
        NOW,
      ),
    ).toMatchObject({ approver: 'ALICE, BOB, CAROL', reason: 'ALICE: lgtm; BOB: fine' });
  });
});

describe('signedDecisionOf', () => {
  it('signs the run, its plan and the approvers outcomeOf counted, in order', () => {
    const r = run([record('bob', 'approve', 2), record('alice', 'approve', 1)]);
    const outcome = outcomeOf(r, NOW);
    if (!outcome) throw new Error('expected an outcome');
    expect(signedDecisionOf(r, outcome)).toEqual({
      v: 1,
      executionArn: EXECUTION_ARN,
      runId: request.runId,
      planSha256: r.plan.planSha256,
      commit: r.plan.commit,
      approvers: [
        { id: 'alice', name: 'ALICE', decidedAt: r.decisions.alice?.decidedAt },
        { id: 'bob', name: 'BOB', decidedAt: r.decisions.bob?.decidedAt },
      ],
      approvalsRequired: 2,
      decidedAt: NOW.toISOString(),
    });
  });
});

describe('approverOf and isRequester', () => {
  it("takes the run's approver, else what the link records", () => {
    const r = run([]);
    expect(approverOf(r, link('alice')).email).toBe('alice@example.com');
    expect(approverOf(r, link('zed'))).toEqual({ id: 'zed', name: 'zed (from the link)' });
  });

  it('matches the requester by any identity, folded', () => {
    const r = run([]);
    const bob = approverOf(r, link('bob'));
    expect(isRequester({ request: { ...request, requestedBy: 'BOB-GH' } }, bob)).toBe(true);
    expect(isRequester({ request: { ...request, requestedBy: 'bob-gl' } }, bob)).toBe(false);
  });
});

describe('undeliveredDecision', () => {
  it("offers a used link's recorded decision again only while the run waits and it settles it", () => {
    const r = run([record('alice', 'approve', 1)], 1);
    expect(undeliveredDecision(link('alice', 'used'), r, NOW)).toEqual(r.decisions.alice);
    expect(undeliveredDecision(link('alice', 'open'), r, NOW)).toBe(undefined);
    expect(undeliveredDecision(link('alice', 'used'), { ...r, status: 'approved' }, NOW)).toBe(
      undefined,
    );
    // Not yet settled (waiting for a second approver): nothing to deliver.
    const waiting = run([record('alice', 'approve', 1)], 2);
    expect(undeliveredDecision(link('alice', 'used'), waiting, NOW)).toBe(undefined);
  });
});
