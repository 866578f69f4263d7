import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import {
  type SignInFlow,
  type SignInSession,
  signInFlowSchema,
  signInSessionSchema,
} from '../../../lib/contracts';

/**
 * The two cookies of approver sign-in (docs/sign-in.md). Both are keyed by the page's own nonce
 * key (DR_PAGE_SECRET_ARN), through a derived key per purpose, so neither cookie can be forged
 * or read without the secret the page already keeps, and no new secret is stored anywhere.
 *
 * - The flow cookie carries the PKCE verifier, `state` and the link from the sign-in redirect to
 *   the callback. It is sealed (AES-256-GCM): the browser holds it but cannot read or change it.
 * - The session cookie carries the verified person for one link. It is signed (HMAC-SHA256): its
 *   content is no secret, only its origin matters.
 */

/** Path of the provider's redirect back (the redirect URI is the approval page URL + this). */
export const CALLBACK_PATH = '/a/signin';
export const FLOW_COOKIE = 'dr_signin_flow';
export const SESSION_COOKIE = 'dr_signin';
/** A sign-in that is not completed within this long starts over. */
export const FLOW_SECONDS = 10 * 60;
/** How long a signed-in session may decide; long enough to read a plan, short enough to expire unused. */
export const SESSION_SECONDS = 30 * 60;

export type SignInKeyPurpose = 'flow' | 'session' | 'nonce';

/** A key for one purpose, derived from the page key: a cookie of one kind never passes as another. */
export function signInKey(pageKey: Buffer, purpose: SignInKeyPurpose): Buffer {
  return createHmac('sha256', pageKey).update(`deploy-runner sign-in ${purpose} v1`).digest();
}

/** Seals a flow into a cookie value (base64url of IV, ciphertext and tag). */
export function sealFlow(key: Buffer, flow: SignInFlow, iv: Buffer): string {
  if (iv.length !== 12) throw new Error('the IV must be 12 bytes');
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(flow), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** The flow a cookie value holds, or why not. */
export function openFlow(
  key: Buffer,
  value: string | undefined,
  now: Date,
): SignInFlow | 'missing' | 'invalid' | 'expired' {
  if (value === undefined || value === '') return 'missing';
  if (!/^[A-Za-z0-9_-]{40,2048}$/.test(value)) return 'invalid';
  const bytes = Buffer.from(value, 'base64url');
  if (bytes.length < 12 + 16 + 2) return 'invalid';
  let text: string;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    text = Buffer.concat([
      decipher.update(bytes.subarray(12, bytes.length - 16)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    return 'invalid';
  }
  const flow = parseJson(text, signInFlowSchema);
  if (!flow) return 'invalid';
  return flow.exp * 1000 <= now.getTime() ? 'expired' : flow;
}

const mac = (key: Buffer, payload: string) =>
  createHmac('sha256', key).update(`session:${payload}`).digest('base64url');

/** Signs a session into a cookie value: `<base64url JSON>.<HMAC>`. */
export function signSession(key: Buffer, session: SignInSession): string {
  const payload = Buffer.from(JSON.stringify(session), 'utf8').toString('base64url');
  return `${payload}.${mac(key, payload)}`;
}

export type SessionVerdict =
  | { readonly ok: true; readonly session: SignInSession }
  | { readonly ok: false; readonly problem: 'missing' | 'invalid' | 'expired' | 'other-link' };

/** The session a cookie value holds for this link, or why it does not count. */
export function verifySession(
  key: Buffer,
  value: string | undefined,
  linkHash: string,
  now: Date,
): SessionVerdict {
  if (value === undefined || value === '') return { ok: false, problem: 'missing' };
  const match = /^([A-Za-z0-9_-]{1,4096})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!match) return { ok: false, problem: 'invalid' };
  const payload = match[1] as string;
  const expected = Buffer.from(mac(key, payload));
  const given = Buffer.from(match[2] as string);
  if (expected.length !== given.length || !timingSafeEqual(expected, given))
    return { ok: false, problem: 'invalid' };
  const session = parseJson(
    Buffer.from(payload, 'base64url').toString('utf8'),
    signInSessionSchema,
  );
  if (!session) return { ok: false, problem: 'invalid' };
  if (session.linkHash !== linkHash) return { ok: false, problem: 'other-link' };
  if (session.exp * 1000 <= now.getTime()) return { ok: false, problem: 'expired' };
  return { ok: true, session };
}

function parseJson<T>(
  text: string,
  schema: { safeParse(v: unknown): { success: boolean; data?: T } },
): T | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export interface CookieOptions {
  /** Narrowest path the cookie is needed on. */
  readonly path: string;
  readonly maxAgeSeconds: number;
  /** False only when the page itself is plain http on loopback (local mode). */
  readonly secure: boolean;
}

/**
 * A Set-Cookie value. SameSite=Lax, not Strict: both cookies must arrive on a navigation the
 * provider started (its redirect to the callback, and the callback's redirect back to the link),
 * which Strict withholds. Cross-site POSTs, the only way to decide, never carry a Lax cookie.
 */
export function setCookie(name: string, value: string, options: CookieOptions): string {
  return [
    `${name}=${value}`,
    `Path=${options.path}`,
    `Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}`,
    'HttpOnly',
    ...(options.secure ? ['Secure'] : []),
    'SameSite=Lax',
  ].join('; ');
}

/** A Set-Cookie value that removes the cookie. */
export function clearCookie(name: string, options: Omit<CookieOptions, 'maxAgeSeconds'>): string {
  return setCookie(name, '', { ...options, maxAgeSeconds: 0 });
}

/**
 * A cookie's value from the request's cookies (a Function URL event lists them one per entry,
 * `name=value`). Undefined when absent or sent more than once: a second cookie of the same name
 * could only come from a path or domain this page did not set, so neither is trusted.
 */
export function cookieValue(
  cookies: readonly string[] | undefined,
  name: string,
): string | undefined {
  const values = (cookies ?? [])
    .flatMap((entry) => entry.split(/;\s*/))
    .filter((pair) => pair.startsWith(`${name}=`))
    .map((pair) => pair.slice(name.length + 1));
  return values.length === 1 ? values[0] : undefined;
}

/** Whether cookies may be marked Secure: everywhere but a plain-http page on loopback. */
export function secureCookies(pageUrl: string): boolean {
  try {
    const url = new URL(pageUrl);
    return !(
      url.protocol === 'http:' &&
      ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname.toLowerCase())
    );
  } catch {
    return true;
  }
}
