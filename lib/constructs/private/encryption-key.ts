import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';

/**
 * The customer-managed key for plan files, logs and the page secret. Plan files hold what
 * Terraform needs to apply, secrets included, so they are never left to an AWS-owned key.
 */
export function createEncryptionKey(
  scope: Construct,
  id: string,
  removalPolicy: RemovalPolicy = RemovalPolicy.RETAIN,
): kms.Key {
  const key = new kms.Key(scope, id, {
    description: 'deploy-runner: plan artifacts, run logs and the approval page secret',
    enableKeyRotation: true,
    pendingWindow: Duration.days(30),
    removalPolicy,
  });
  const stack = Stack.of(scope);
  // CloudWatch Logs encrypts with the key itself, so it needs a key policy grant; it is scoped to
  // log groups of this account and region through the encryption context.
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowCloudWatchLogsOfThisAccount',
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
      actions: [
        'kms:Encrypt*',
        'kms:Decrypt*',
        'kms:ReEncrypt*',
        'kms:GenerateDataKey*',
        'kms:Describe*',
      ],
      resources: ['*'],
      conditions: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    }),
  );
  return key;
}
