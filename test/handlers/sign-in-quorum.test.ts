import { describe, expect, it } from 'vitest';
import {
  distinctApprovals,
  isRequester,
  outcomeOf,
  signedDecisionOf,
} from '../../handlers/shared/quorum';
import type { ApprovalRun, DecisionRecord } from '../../handlers/shared/store';
import type { VerifiedSubject } from '../../lib/contracts';
import { approvalRun, request, START } from './support/fixtures';

const NOW = new Date('2025-11-25T11:00:00.000Z');
const ISSUER = 'https://acme.okta.com';
const person = (sub: string, identity: string): VerifiedSubject => ({
  issuer: ISSUER,
  sub,
  identity,
});

const approve = (
  approverId: string,
  minute: number,
  verified?: VerifiedSubject,
): DecisionRecord => ({
  approverId,
  approverName: approverId.toUpperCase(),
  decision: 'approve',
  reason: '',
  decidedAt: new Date(START.getTime() + minute * 60_000).toISOString(),
  ...(verified ? { verified } : {}),
});

function run(decisions: DecisionRecord[], approvalsRequired = 2): ApprovalRun {
  return approvalRun({
    approvers: [
      { id: 'alice@example.com', name: 'Alice', email: 'alice@example.com' },
      { id: 'carol@example.com', name: 'Carol', email: 'carol@example.com', identity: '00u-carol' },
    ],
    approvalsRequired,
    decisions: Object.fromEntries(decisions.map((d) => [d.approverId, d])),
  });
}

describe('N-of-M with sign-in: distinct verified people', () => {
  it('counts two approvers signed in as one person once', () => {
    const same = person('00u-alice', 'alice@example.com');
    const r = run([approve('alice@example.com', 1, same), approve('carol@example.com', 2, same)]);
    expect(distinctApprovals(r)).toHaveLength(1);
    expect(outcomeOf(r, NOW)).toBeUndefined();
  });

  it('counts distinct people, and signs who each of them is', () => {
    const r = run([
      approve('alice@example.com', 1, person('00u-alice', 'alice@example.com')),
      approve('carol@example.com', 2, person('00u-carol', '00u-carol')),
    ]);
    const outcome = outcomeOf(r, NOW);
    expect(outcome?.approved).toBe(true);
    expect(signedDecisionOf(r, outcome as NonNullable<typeof outcome>).approvers).toEqual([
      expect.objectContaining({
        id: 'alice@example.com',
        verified: person('00u-alice', 'alice@example.com'),
      }),
      expect.objectContaining({
        id: 'carol@example.com',
        verified: person('00u-carol', '00u-carol'),
      }),
    ]);
  });

  it('keeps records without sign-in as before: one per approver, no verified field', () => {
    const r = run([approve('alice@example.com', 1), approve('carol@example.com', 2)]);
    const outcome = outcomeOf(r, NOW) as NonNullable<ReturnType<typeof outcomeOf>>;
    expect(signedDecisionOf(r, outcome).approvers.map((a) => Object.keys(a).sort())).toEqual([
      ['decidedAt', 'id', 'name'],
      ['decidedAt', 'id', 'name'],
    ]);
  });

  it("treats the requester's configured and verified identities as theirs", () => {
    const carol = run([]).approvers[1] as ApprovalRun['approvers'][number];
    const asRequester = (requestedBy: string) => ({ request: { ...request, requestedBy } });
    expect(isRequester(asRequester('00u-carol'), carol)).toBe(true);
    expect(isRequester(asRequester('carol.c@corp.example'), carol)).toBe(false);
    const verified = person('00u-9', 'carol.c@corp.example');
    expect(isRequester(asRequester('CAROL.C@corp.example'), carol, verified)).toBe(true);
    expect(isRequester(asRequester('00u-9'), carol, verified)).toBe(true);
  });
});
