import type * as ClientSecretsManager from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { lazyModule } from '../../../lib/lazy-module';
import { once } from './once';

const secretsManager = lazyModule<typeof ClientSecretsManager>(() =>
  require('@aws-sdk/client-secrets-manager'),
);
const { GetSecretValueCommand } = secretsManager;

export const secretsClient = once(() => new secretsManager.SecretsManagerClient({}));

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
