import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * SDK clients, created once per Lambda container and only when first used, so importing a
 * handler module has no side effects (local mode and tests import them freely).
 */

function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => {
    value ??= make();
    return value;
  };
}

export const sfnClient = once(
  () => new SFNClient(process.env.DR_SFN_ENDPOINT ? { endpoint: process.env.DR_SFN_ENDPOINT } : {}),
);
export const sesClient = once(() => new SESv2Client({}));
export const secretsClient = once(() => new SecretsManagerClient({}));
export const s3Client = once(() => new S3Client({}));
export const kmsClient = once(() => new KMSClient({}));
export const documentClient = once(() =>
  DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  }),
);

/**
 * Reads a secret string once and caches it for the container's life; a failed read is not
 * cached, so the next invocation tries again. JSON secrets `{ "token": ... }` / `{ "key": ... }`
 * are unwrapped.
 */
export function cachedSecret(client: () => SecretsManagerClient, secretId: string) {
  let pending: Promise<string> | undefined;
  return (): Promise<string> => {
    pending ??= (async () => {
      const out = await client().send(new GetSecretValueCommand({ SecretId: secretId }));
      const text = out.SecretString ?? '';
      return unwrapSecret(text);
    })().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}

function unwrapSecret(text: string): string {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      const parsed = JSON.parse(trimmed) as Record<string, unknown>;
      for (const key of ['token', 'botToken', 'key', 'secret', 'value']) {
        if (typeof parsed[key] === 'string') return parsed[key] as string;
      }
    } catch {
      // Not JSON after all: the whole string is the secret.
    }
  }
  return trimmed;
}
