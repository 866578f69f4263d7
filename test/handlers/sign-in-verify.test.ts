import { describe, expect, it } from 'vitest';
import { attestDecision } from '../../handlers/shared/decision-signing';
import { createVerifyApprovalHandler } from '../../handlers/verify-approval';
import type { SignedDecision, VerifiedSubject } from '../../lib/contracts';
import { LocalDecisionKey } from '../../lib/local/decision-key';
import { EXECUTION_ARN, planResult, request, START, settings, testClock } from './support/fixtures';

const key = LocalDecisionKey.generate();
const plan = planResult();
const ISSUER = 'https://acme.okta.com';
const signIn = { issuer: ISSUER, clientId: 'page', clientSecretName: 'oidc', claim: 'email' };
const approvers = [
  { name: 'Alice Admin', email: 'alice@example.com' },
  { name: 'Carol Chief', email: 'carol@example.com', identity: 'carol@corp.example' },
];

const who = (id: string, name: string, verified?: VerifiedSubject) => ({
  id,
  name,
  decidedAt: START.toISOString(),
  ...(verified ? { verified } : {}),
});
const alice = { issuer: ISSUER, sub: '00u-alice', identity: 'Alice@example.com' };
const carol = { issuer: ISSUER, sub: '00u-carol', identity: 'carol@corp.example' };

async function verify(
  signed: SignedDecision['approvers'],
  options: { required?: number; requestedBy?: string; signInOn?: boolean } = {},
) {
  const handler = createVerifyApprovalHandler({
    settings: {
      ...settings,
      approvers,
      approvalsRequired: options.required ?? 1,
      ...(options.signInOn === false ? {} : { signIn }),
    },
    verifier: key.verifier(),
    clock: testClock(),
  });
  const decision: SignedDecision = {
    v: 1,
    executionArn: EXECUTION_ARN,
    runId: request.runId,
    planSha256: plan.planSha256,
    commit: plan.commit,
    approvers: signed,
    approvalsRequired: options.required ?? 1,
    decidedAt: START.toISOString(),
  };
  return handler({
    executionArn: EXECUTION_ARN,
    request: { ...request, requestedBy: options.requestedBy ?? 'dave' },
    plan,
    approval: {
      approved: true,
      approver: signed.map((a) => a.name).join(', '),
      decidedAt: START.toISOString(),
      planSha256: plan.planSha256,
      attestation: await attestDecision(key, decision),
    },
  });
}

describe('verify-approval with approvals.signIn: N-of-M counts signed-in people', () => {
  it('accepts approvals by distinct signed-in approvers, each as themselves', async () => {
    await expect(
      verify(
        [
          who('alice@example.com', 'Alice Admin', alice),
          who('carol@example.com', 'Carol Chief', carol),
        ],
        { required: 2 },
      ),
    ).resolves.toMatchObject({ approvers: ['Alice Admin', 'Carol Chief'] });
  });

  it('refuses an approval made without signing in', async () => {
    await expect(verify([who('alice@example.com', 'Alice Admin')])).rejects.toThrow(
      /"alice@example\.com" approved without signing in/,
    );
    // Without sign-in configured, the same record verifies as before.
    await expect(
      verify([who('alice@example.com', 'Alice Admin')], { signInOn: false }),
    ).resolves.toMatchObject({ approvers: ['Alice Admin'] });
  });

  it('refuses one person counted twice, and an approval signed in as someone else', async () => {
    await expect(
      verify(
        [
          who('alice@example.com', 'Alice Admin', alice),
          who('carol@example.com', 'Carol Chief', { ...alice, identity: 'carol@corp.example' }),
        ],
        { required: 2 },
      ),
    ).rejects.toThrow(/1 distinct signed-in person\(s\) approved, 2 are required/);
    await expect(
      verify([
        who('carol@example.com', 'Carol Chief', { ...carol, identity: 'alice@example.com' }),
      ]),
    ).rejects.toThrow(/"carol@example\.com" signed in as someone else/);
    await expect(
      verify([who('alice@example.com', 'Alice Admin', { ...alice, issuer: 'https://evil.test' })]),
    ).rejects.toThrow(/approved without signing in/);
  });

  it("refuses the requester's own approval by their verified identity", async () => {
    await expect(
      verify([who('carol@example.com', 'Carol Chief', carol)], {
        requestedBy: 'CAROL@corp.example',
      }),
    ).rejects.toThrow(/"carol@example\.com" requested this run and cannot approve it/);
  });
});
