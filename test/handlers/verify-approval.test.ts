import { KMSClient, VerifyCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  attestDecision,
  canonicalJson,
  type DecisionSigner,
} from '../../handlers/shared/decision-signing';
import {
  createVerifyApprovalHandler,
  handler as lambdaHandler,
} from '../../handlers/verify-approval';
import { type SignedDecision, verifiedApprovalSchema } from '../../lib/contracts';
import { LocalDecisionKey } from '../../lib/local/decision-key';
import { EXECUTION_ARN, planResult, request, START, settings, testClock } from './support/fixtures';

const key = LocalDecisionKey.generate();
const otherKey = LocalDecisionKey.generate();
const plan = planResult();

const record = (overrides: Partial<SignedDecision> = {}): SignedDecision => ({
  v: 1,
  executionArn: EXECUTION_ARN,
  runId: request.runId,
  planSha256: plan.planSha256,
  commit: plan.commit,
  approvers: [{ id: 'alice@example.com', name: 'Alice Admin', decidedAt: START.toISOString() }],
  approvalsRequired: 1,
  decidedAt: START.toISOString(),
  ...overrides,
});

const approval = (attestation?: unknown) => ({
  approved: true,
  approver: 'Alice Admin',
  reason: '',
  decidedAt: START.toISOString(),
  planSha256: plan.planSha256,
  ...(attestation !== undefined && { attestation }),
});

const payload = async (
  decision: SignedDecision = record(),
  signer: DecisionSigner = key,
  overrides: Record<string, unknown> = {},
) => ({
  executionArn: EXECUTION_ARN,
  request,
  plan,
  approval: approval(await attestDecision(signer, decision)),
  ...overrides,
});

function verify(overrides: { approvalsRequired?: number } = {}) {
  return createVerifyApprovalHandler({
    settings: { ...settings, approvalsRequired: overrides.approvalsRequired ?? 1 },
    verifier: key.verifier(),
    clock: testClock(),
  });
}

describe('verify-approval: only a decision the page signed for this run applies', () => {
  it('refuses an approver whose CI login requested the run, compared NFKC-folded', async () => {
    const handler = createVerifyApprovalHandler({
      settings: {
        ...settings,
        approvalsRequired: 1,
        approvers: [{ name: 'Alice Admin', email: 'alice@example.com', ciLogins: ['alice-gh'] }],
      },
      verifier: key.verifier(),
      clock: testClock(),
    });
    const event = await payload(record(), key, {
      request: { ...request, requestedBy: ' ＡＬＩＣＥ-GH ' },
    });
    await expect(handler(event)).rejects.toThrow(/requested this run and cannot approve it/);
  });

  // Each row: what an attacker (or a bug) sends, and the Cause the run fails with.
  it.each<[string, () => Promise<unknown>, RegExp, number?]>([
    [
      'no attestation (a bare SendTaskSuccess)',
      async () => ({ executionArn: EXECUTION_ARN, request, plan, approval: approval() }),
      /carries no decision signed by the approval page/,
    ],
    [
      'not an approval decision at all',
      async () => ({ executionArn: EXECUTION_ARN, request, plan, approval: { approved: 'yes' } }),
      /not an approval decision/,
    ],
    [
      'signed by another key that claims the page’s key ID',
      async () => {
        const forged = await attestDecision(otherKey, record());
        return {
          executionArn: EXECUTION_ARN,
          request,
          plan,
          approval: approval({ ...forged, keyId: key.keyId }),
        };
      },
      /signature is not valid/,
    ],
    [
      'signed by another key under its own ID',
      () => payload(record(), otherKey),
      /signed with key "local:/,
    ],
    [
      'a record altered after signing',
      async () => {
        const genuine = await attestDecision(key, record());
        const altered = Buffer.from(
          canonicalJson({ ...record(), approvalsRequired: 1, runId: 'other' }),
        ).toString('base64url');
        return {
          executionArn: EXECUTION_ARN,
          request,
          plan,
          approval: approval({ ...genuine, record: altered }),
        };
      },
      /signature is not valid/,
    ],
    [
      'signed, but not a decision record',
      async () => {
        const bytes = Buffer.from('{"approved":true}');
        const signature = (await key.sign(bytes)).toString('base64');
        return {
          executionArn: EXECUTION_ARN,
          request,
          plan,
          approval: approval({
            record: bytes.toString('base64url'),
            signature,
            keyId: key.keyId,
          }),
        };
      },
      /does not match the contract/,
    ],
    [
      'a genuine decision of another execution (replayed)',
      () => payload(record({ executionArn: `${EXECUTION_ARN}-other` })),
      /belongs to another execution/,
    ],
    [
      'a genuine decision of another run ID',
      () => payload(record({ runId: 'infra-envs-prod-abc1234-41' })),
      /belongs to another run/,
    ],
    [
      'a genuine decision for another plan',
      () => payload(record({ planSha256: 'f'.repeat(64) })),
      /approves another plan/,
    ],
    [
      'a genuine decision for another commit',
      () => payload(record({ commit: '0'.repeat(40) })),
      /approves another commit/,
    ],
    [
      'fewer distinct approvers than the config requires',
      () => payload(record()),
      /1 distinct approver\(s\) signed, 2 are required/,
      2,
    ],
    [
      'the same approver twice does not count twice',
      () =>
        payload(
          record({
            approvers: [
              { id: 'alice@example.com', name: 'Alice Admin', decidedAt: START.toISOString() },
              { id: 'alice@example.com', name: 'Alice', decidedAt: START.toISOString() },
            ],
          }),
        ),
      /1 distinct approver\(s\) signed, 2 are required/,
      2,
    ],
    [
      'fewer than the record itself says are required',
      () => payload(record({ approvalsRequired: 2 })),
      /2 are required/,
    ],
    [
      'an approver who is not configured',
      () =>
        payload(
          record({
            approvers: [{ id: 'mallory@example.com', name: 'M', decidedAt: START.toISOString() }],
          }),
        ),
      /"mallory@example.com" is not a configured approver/,
    ],
    [
      'the requester approving their own run',
      () =>
        payload(record(), key, {
          request: { ...request, requestedBy: 'Alice@Example.com' },
        }),
      /requested this run and cannot approve it/,
    ],
  ])('refuses %s', async (_name, build, cause, approvalsRequired) => {
    const handler = verify(approvalsRequired ? { approvalsRequired } : {});
    const error = await handler(await build()).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.name).toBe('DeployRunner.ApprovalNotVerified');
    expect(error?.message).toMatch(cause);
    expect(error?.message).toContain('Nothing was applied');
  });

  it('accepts the page’s decision and returns what Apply uses', async () => {
    const out = await verify()(await payload());
    expect(verifiedApprovalSchema.parse(out)).toEqual({
      planSha256: plan.planSha256,
      commit: plan.commit,
      approvers: ['Alice Admin'],
      keyId: key.keyId,
      verifiedAt: START.toISOString(),
    });
  });

  it('accepts N-of-M with distinct configured approvers (email and Slack identities)', async () => {
    const decision = record({
      approvers: [
        { id: 'alice@example.com', name: 'Alice Admin', decidedAt: START.toISOString() },
        { id: 'U0BOB1234', name: 'Bob Builder', decidedAt: START.toISOString() },
      ],
      approvalsRequired: 2,
    });
    const out = await verify({ approvalsRequired: 2 })(await payload(decision));
    expect(out.approvers).toEqual(['Alice Admin', 'Bob Builder']);
  });

  it('a payload that breaks the workflow contract is a wiring error, not a refusal', async () => {
    await expect(verify()({ executionArn: EXECUTION_ARN })).rejects.toMatchObject({
      name: 'DeployRunner.InvalidPayload',
    });
  });

  it('cannot be built without the approvers and how many must approve', () => {
    const { approvalsRequired: _dropped, ...without } = { ...settings, approvalsRequired: 1 };
    expect(() => createVerifyApprovalHandler({ settings: without, verifier: key })).toThrow(
      /approvalsRequired/,
    );
  });
});

describe('verify-approval Lambda entry', () => {
  const KEY_ARN = 'arn:aws:kms:eu-west-1:111111111111:key/0b6f1d7e-1111-2222-3333-444455556666';
  const kmsMock = mockClient(KMSClient);
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    kmsMock.reset();
  });

  it('will not verify without the key, the approvers and how many must approve', async () => {
    delete process.env.DR_DECISION_KEY_ARN;
    await expect(lambdaHandler(await payload())).rejects.toThrow(/DR_DECISION_KEY_ARN is not set/);
  });

  it('verifies with kms:Verify under DR_DECISION_KEY_ARN', async () => {
    process.env.DR_DECISION_KEY_ARN = KEY_ARN;
    process.env.DR_APPROVERS = JSON.stringify(settings.approvers);
    process.env.DR_APPROVALS_REQUIRED = '1';
    // KMS answers with a real P-256 verification of what it was sent.
    kmsMock
      .on(VerifyCommand)
      .callsFake(async (input: { Message: Uint8Array; Signature: Uint8Array }) => ({
        SignatureValid: await key.verify(Buffer.from(input.Message), Buffer.from(input.Signature)),
      }));
    const kmsSigned: DecisionSigner = { keyId: KEY_ARN, sign: (m) => key.sign(m) };
    const out = await lambdaHandler(await payload(record(), kmsSigned));
    expect(out.keyId).toBe(KEY_ARN);
    expect(kmsMock.commandCalls(VerifyCommand)[0]?.args[0].input).toMatchObject({
      KeyId: KEY_ARN,
      SigningAlgorithm: 'ECDSA_SHA_256',
    });
    await expect(lambdaHandler(await payload(record(), otherKey))).rejects.toMatchObject({
      name: 'DeployRunner.ApprovalNotVerified',
    });
  });
});
