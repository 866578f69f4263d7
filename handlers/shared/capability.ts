import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Approval links are capabilities: whoever holds one may decide for one approver. They are
 * 256-bit random, travel only in the link, and are stored only as their SHA-256.
 */

/** 32 random bytes, base64url: always 43 characters. */
export const CAPABILITY_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export type RandomBytes = (size: number) => Buffer;

export interface Capability {
  /** The secret that goes into the link, and nowhere else. */
  readonly capability: string;
  /** Lowercase hex SHA-256 of the capability: the only form that is stored. */
  readonly hash: string;
}

export function newCapability(randomBytes: RandomBytes): Capability {
  const bytes = randomBytes(32);
  if (bytes.length !== 32) throw new Error('randomBytes must return 32 bytes');
  const capability = bytes.toString('base64url');
  return { capability, hash: hashCapability(capability) };
}

export function hashCapability(capability: string): string {
  return createHash('sha256').update(capability, 'utf8').digest('hex');
}

/** The link an approver receives. */
export function approvalLink(baseUrl: string, capability: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/a/${capability}`;
}

/**
 * Per-page nonces: a stateless HMAC over the link hash and the time the page was issued, so a
 * POST proves it came from a page this service rendered for this link recently. GET stays
 * free of writes.
 */
export const NONCE_MAX_AGE_SECONDS = 30 * 60;
/** Clock skew tolerated for a nonce issued "in the future". */
const NONCE_SKEW_SECONDS = 60;

function mac(key: Buffer, linkHash: string, issuedAt: number): string {
  return createHmac('sha256', key).update(`page-nonce:${linkHash}:${issuedAt}`).digest('base64url');
}

export function issueNonce(key: Buffer, linkHash: string, now: Date): string {
  const issuedAt = Math.floor(now.getTime() / 1000);
  return `${issuedAt}.${mac(key, linkHash, issuedAt)}`;
}

export type NonceVerdict = 'ok' | 'missing' | 'invalid' | 'expired';

export function verifyNonce(
  key: Buffer,
  linkHash: string,
  nonce: string | undefined,
  now: Date,
): NonceVerdict {
  if (nonce === undefined || nonce === '') return 'missing';
  const match = /^([0-9]{1,12})\.([A-Za-z0-9_-]{43})$/.exec(nonce);
  if (!match) return 'invalid';
  const issuedAt = Number(match[1]);
  const expected = Buffer.from(mac(key, linkHash, issuedAt));
  const given = Buffer.from(match[2] as string);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'invalid';
  const age = Math.floor(now.getTime() / 1000) - issuedAt;
  if (age > NONCE_MAX_AGE_SECONDS || age < -NONCE_SKEW_SECONDS) return 'expired';
  return 'ok';
}

/**
 * The HMAC key of the page nonces: the local key (local mode), or the secret named by
 * `pageSecretArn`, read through `readSecret` once per cold start.
 */
export function nonceKey(
  settings: {
    readonly pageSecret?: string | undefined;
    readonly pageSecretArn?: string | undefined;
  },
  readSecret: (secretId: string) => () => Promise<string>,
): () => Promise<Buffer> {
  if (settings.pageSecret !== undefined) {
    const key = Buffer.from(settings.pageSecret, 'utf8');
    return async () => key;
  }
  if (settings.pageSecretArn === undefined)
    throw new Error('pageSecretArn or pageSecret must be set: it keys the page nonces');
  const read = readSecret(settings.pageSecretArn);
  return async () => Buffer.from(await read(), 'utf8');
}
