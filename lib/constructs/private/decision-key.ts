import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';

/** Who may use the decision key, and how. */
export interface DecisionKeyProps {
  /** The approval page's role: the only principal that may sign. */
  readonly signer: iam.IRole;
  /** `Verify approval`'s role: may verify and read the public key, never sign. */
  readonly verifier: iam.IRole;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * What the account may do with the decision key: run the key's life (describe, tag, disable,
 * schedule deletion, rewrite the policy), never use it. Deliberately absent: `kms:Sign`,
 * `kms:Verify`, and `kms:CreateGrant`, which would let an IAM policy hand signing to anyone.
 */
export const DECISION_KEY_ADMIN_ACTIONS = [
  'kms:CancelKeyDeletion',
  'kms:CreateAlias',
  'kms:DeleteAlias',
  'kms:DescribeKey',
  'kms:DisableKey',
  'kms:EnableKey',
  'kms:GetKeyPolicy',
  'kms:GetPublicKey',
  'kms:ListAliases',
  'kms:ListGrants',
  'kms:ListKeyPolicies',
  'kms:ListResourceTags',
  'kms:PutKeyPolicy',
  'kms:RetireGrant',
  'kms:RevokeGrant',
  'kms:ScheduleKeyDeletion',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:UpdateAlias',
  'kms:UpdateKeyDescription',
];

/**
 * The asymmetric key the approval page signs decisions with (docs/architecture.md, "Signed decisions"). The key
 * policy is written out instead of CDK's default, which gives the account root `kms:*` and so
 * lets any IAM policy in the account grant `kms:Sign`: here only the page's role is named for
 * Sign (and everyone else is denied it), only the verify function's role for Verify.
 */
export function createDecisionKey(scope: Construct, id: string, props: DecisionKeyProps): kms.Key {
  const stack = Stack.of(scope);
  const account = new iam.AccountRootPrincipal();
  const policy = new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid: 'AccountAdministersButNeverUses',
        principals: [account],
        actions: DECISION_KEY_ADMIN_ACTIONS,
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'OnlyTheApprovalPageSigns',
        principals: [new iam.ArnPrincipal(props.signer.roleArn)],
        actions: ['kms:Sign'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_256', 'kms:MessageType': 'RAW' },
        },
      }),
      new iam.PolicyStatement({
        sid: 'NobodyElseSigns',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:Sign'],
        resources: ['*'],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': props.signer.roleArn } },
      }),
      new iam.PolicyStatement({
        sid: 'VerifyApprovalVerifies',
        principals: [new iam.ArnPrincipal(props.verifier.roleArn)],
        actions: ['kms:Verify', 'kms:GetPublicKey'],
        resources: ['*'],
      }),
    ],
  });
  const key = new kms.Key(scope, id, {
    description: `deploy-runner (${stack.stackName}): signs approval decisions; only the approval page may sign`,
    keySpec: kms.KeySpec.ECC_NIST_P256,
    keyUsage: kms.KeyUsage.SIGN_VERIFY,
    policy,
    pendingWindow: Duration.days(30),
    removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
  });
  return key;
}
