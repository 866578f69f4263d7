import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { hashCapability } from '../../handlers/shared/capability';
import {
  CALLBACK_PATH,
  cookieValue,
  FLOW_COOKIE,
  openFlow,
  SESSION_COOKIE,
  sealFlow,
  setCookie,
  signInKey,
  signSession,
  verifySession,
} from '../../handlers/shared/sign-in/cookies';
import { createSignIn, type LinkApprover } from '../../handlers/shared/sign-in/flow';
import { linkNonce, SignInRefused, verifyIdToken } from '../../handlers/shared/sign-in/id-token';
import type { SignInSession } from '../../lib/contracts';
import { MemoryApprovalStore } from '../../lib/local/memory-store';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  fakeIdp,
  ISSUER,
  idToken,
  type TestKey,
  testKeyPair,
} from './support/fake-idp';

const NOW = new Date('2026-11-29T22:00:00Z');
const PAGE_KEY = Buffer.from('page-key-for-the-sign-in-tests-0123456789', 'utf8');
const CAP_ADA = 'A'.repeat(43);
const CAP_GRACE = 'G'.repeat(43);

describe('ID token checks (jose)', () => {
  let key: TestKey;
  let keys: JWTVerifyGetKey;
  let otherKey: TestKey;
  const NONCE = 'nonce-for-this-link';
  const expectations = {
    issuer: ISSUER,
    clientId: CLIENT_ID,
    nonce: NONCE,
    claim: 'email',
    now: NOW,
  };
  const good = {
    sub: '00u-ada',
    email: 'ada@acme.example',
    email_verified: true,
    nonce: NONCE,
  };

  beforeAll(async () => {
    const pair = await testKeyPair();
    key = pair.privateKey;
    keys = createLocalJWKSet({ keys: [pair.jwk] });
    otherKey = (await testKeyPair()).privateKey;
  });

  const refusal = async (token: string, overrides: Partial<typeof expectations> = {}) => {
    try {
      await verifyIdToken(token, keys, { ...expectations, ...overrides });
    } catch (error) {
      if (error instanceof SignInRefused) return error.code;
      throw error;
    }
    return 'accepted';
  };

  it('accepts a token of the configured provider for this client and nonce', async () => {
    const token = await idToken(key, good, { now: NOW });
    await expect(verifyIdToken(token, keys, expectations)).resolves.toEqual({
      issuer: ISSUER,
      sub: '00u-ada',
      identity: 'ada@acme.example',
    });
  });

  it('refuses a wrong issuer', async () => {
    const token = await idToken(key, { ...good, iss: 'https://evil.test' }, { now: NOW });
    expect(await refusal(token)).toBe('issuer');
  });

  it('refuses a wrong audience, and a shared audience without azp of this client', async () => {
    expect(await refusal(await idToken(key, { ...good, aud: 'other-app' }, { now: NOW }))).toBe(
      'audience',
    );
    const shared = { ...good, aud: [CLIENT_ID, 'other-app'] };
    expect(await refusal(await idToken(key, { ...shared, azp: 'other-app' }, { now: NOW }))).toBe(
      'audience',
    );
    expect(await refusal(await idToken(key, { ...shared, azp: CLIENT_ID }, { now: NOW }))).toBe(
      'accepted',
    );
  });

  it('refuses a wrong nonce, and a token without one', async () => {
    expect(await refusal(await idToken(key, { ...good, nonce: 'other' }, { now: NOW }))).toBe(
      'nonce',
    );
    const { nonce: _, ...noNonce } = good;
    expect(await refusal(await idToken(key, noNonce, { now: NOW }))).toBe('claim-missing');
  });

  it('refuses an expired token and one issued too long ago', async () => {
    const old = new Date(NOW.getTime() - 3600_000);
    expect(await refusal(await idToken(key, good, { now: old }))).toBe('expired');
    const longLived = { ...good, exp: Math.floor(NOW.getTime() / 1000) + 3600 };
    expect(await refusal(await idToken(key, longLived, { now: old }))).toBe('expired');
  });

  it('refuses an unverified email, and accepts other claims without email_verified', async () => {
    expect(
      await refusal(await idToken(key, { ...good, email_verified: false }, { now: NOW })),
    ).toBe('email-unverified');
    const { email_verified: _, ...unsaid } = good;
    expect(await refusal(await idToken(key, unsaid, { now: NOW }))).toBe('email-unverified');
    const token = await idToken(key, { ...unsaid, preferred_username: 'ada' }, { now: NOW });
    await expect(
      verifyIdToken(token, keys, { ...expectations, claim: 'preferred_username' }),
    ).resolves.toMatchObject({ identity: 'ada' });
  });

  it('refuses a token signed by another key, and one without the claim', async () => {
    expect(await refusal(await idToken(otherKey, good, { now: NOW }))).toBe('signature');
    expect(await refusal(await idToken(key, good, { now: NOW }), { claim: 'upn' })).toBe(
      'claim-missing',
    );
  });
});

describe('sign-in cookies', () => {
  const sessionKey = signInKey(PAGE_KEY, 'session');
  const linkHash = hashCapability(CAP_ADA);
  const session: SignInSession = {
    v: 1,
    linkHash,
    subject: { issuer: ISSUER, sub: '00u-ada', identity: 'ada@acme.example' },
    exp: Math.floor(NOW.getTime() / 1000) + 600,
  };

  it('accepts its own session for its own link', () => {
    expect(verifySession(sessionKey, signSession(sessionKey, session), linkHash, NOW)).toEqual({
      ok: true,
      session,
    });
  });

  it('refuses a tampered session cookie', () => {
    const value = signSession(sessionKey, session);
    const [payload, mac] = value.split('.') as [string, string];
    const forged = Buffer.from(
      JSON.stringify({ ...session, subject: { ...session.subject, identity: 'eve@acme.example' } }),
    ).toString('base64url');
    expect(verifySession(sessionKey, `${forged}.${mac}`, linkHash, NOW)).toEqual({
      ok: false,
      problem: 'invalid',
    });
    expect(verifySession(sessionKey, `${payload}.${mac.slice(0, -1)}x`, linkHash, NOW)).toEqual({
      ok: false,
      problem: 'invalid',
    });
    // Signed with another key (the flow key, or another deployment's page key).
    const other = signSession(signInKey(PAGE_KEY, 'flow'), session);
    expect(verifySession(sessionKey, other, linkHash, NOW).ok).toBe(false);
  });

  it('refuses a session cookie for another link, and an expired one', () => {
    const value = signSession(sessionKey, session);
    expect(verifySession(sessionKey, value, hashCapability(CAP_GRACE), NOW)).toEqual({
      ok: false,
      problem: 'other-link',
    });
    const later = new Date(NOW.getTime() + 601_000);
    expect(verifySession(sessionKey, value, linkHash, later)).toEqual({
      ok: false,
      problem: 'expired',
    });
  });

  it('seals the flow so the browser can neither read nor change it', () => {
    const flowKey = signInKey(PAGE_KEY, 'flow');
    const flow = {
      v: 1 as const,
      capability: CAP_ADA,
      state: 's'.repeat(43),
      verifier: 'v'.repeat(43),
      exp: Math.floor(NOW.getTime() / 1000) + 600,
    };
    const sealed = sealFlow(flowKey, flow, randomBytes(12));
    expect(Buffer.from(sealed, 'base64url').toString('latin1')).not.toContain(CAP_ADA);
    expect(openFlow(flowKey, sealed, NOW)).toEqual(flow);
    const bytes = Buffer.from(sealed, 'base64url');
    bytes[20] = (bytes[20] as number) ^ 1;
    expect(openFlow(flowKey, bytes.toString('base64url'), NOW)).toBe('invalid');
    expect(openFlow(flowKey, sealed, new Date(NOW.getTime() + 601_000))).toBe('expired');
    expect(openFlow(flowKey, undefined, NOW)).toBe('missing');
  });

  it('sets HttpOnly, SameSite, path-scoped cookies, Secure except on http loopback', () => {
    expect(setCookie('n', 'v', { path: '/a/x', maxAgeSeconds: 60, secure: true })).toBe(
      'n=v; Path=/a/x; Max-Age=60; HttpOnly; Secure; SameSite=Lax',
    );
    expect(setCookie('n', 'v', { path: '/a/x', maxAgeSeconds: 60, secure: false })).not.toMatch(
      /Secure/,
    );
    expect(cookieValue(['a=1', 'n=v'], 'n')).toBe('v');
    expect(cookieValue(['n=v', 'n=w'], 'n')).toBeUndefined();
  });
});

describe('sign-in flow (authorization code + PKCE, fake provider)', () => {
  const PAGE_URL = 'https://page.example';
  // openid-client checks the token against the real clock, so the flow runs at the real time.
  const now = () => new Date();
  const approvers: Record<string, LinkApprover> = {
    [hashCapability(CAP_ADA)]: { name: 'Ada', identity: 'ada@acme.example' },
    [hashCapability(CAP_GRACE)]: { name: 'Grace', identity: 'grace@acme.example' },
  };
  const approverOf = async (hash: string) => approvers[hash];
  const ada = { sub: '00u-ada', email: 'ADA@acme.example', email_verified: true };

  async function setup() {
    const idp = await fakeIdp();
    const store = new MemoryApprovalStore();
    const signIn = createSignIn({
      settings: { issuer: ISSUER, clientId: CLIENT_ID, clientSecretName: 'oidc', claim: 'email' },
      pageKey: async () => PAGE_KEY,
      clientSecret: async () => CLIENT_SECRET,
      claim: (hash, expiresAt) => store.claimSignIn(hash, expiresAt),
      randomBytes,
      fetch: idp.fetch,
    });
    return { idp, store, signIn };
  }

  /** The browser's cookie jar, as far as these tests need one: name=value of each Set-Cookie. */
  const jar = (setCookies: readonly string[]) =>
    setCookies.map((c) => c.split(';')[0] as string).filter((c) => !c.endsWith('='));

  it('signs the right approver in: PKCE S256, state and a nonce bound to the link', async () => {
    const { idp, signIn, store } = await setup();
    const before = store.snapshot();
    const start = await signIn.start(CAP_ADA, now(), PAGE_URL);
    const auth = new URL(start.location);
    expect(auth.origin + auth.pathname).toBe(`${ISSUER}/auth`);
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.searchParams.get('redirect_uri')).toBe(`${PAGE_URL}${CALLBACK_PATH}`);
    const state = auth.searchParams.get('state') as string;
    expect(auth.searchParams.get('nonce')).toBe(
      linkNonce(signInKey(PAGE_KEY, 'nonce'), hashCapability(CAP_ADA), state),
    );
    // The capability never leaves for the provider.
    expect(start.location).not.toContain(CAP_ADA);
    expect(start.cookies[0]).toMatch(
      new RegExp(
        `^${FLOW_COOKIE}=[A-Za-z0-9_-]+; Path=/a/signin; Max-Age=600; HttpOnly; Secure; SameSite=Lax$`,
      ),
    );
    expect(store.snapshot()).toBe(before);

    const result = await signIn.callback(
      idp.authorize(start.location, ada),
      jar(start.cookies),
      now(),
      approverOf,
      PAGE_URL,
    );
    expect(result).toMatchObject({
      kind: 'signed-in',
      capability: CAP_ADA,
      subject: { issuer: ISSUER, sub: '00u-ada', identity: 'ADA@acme.example' },
    });
    const session = result.cookies.find((c) => c.startsWith(`${SESSION_COOKIE}=`)) as string;
    expect(session).toMatch(
      new RegExp(`; Path=/a/${CAP_ADA}; Max-Age=1800; HttpOnly; Secure; SameSite=Lax$`),
    );
    const verdict = await signIn.session(jar([session]), hashCapability(CAP_ADA), now());
    expect(verdict.ok && verdict.session.subject.sub).toBe('00u-ada');
    expect((await signIn.session(jar([session]), hashCapability(CAP_GRACE), now())).ok).toBe(false);
  });

  it("refuses another approver's identity and sets no session", async () => {
    const { idp, signIn } = await setup();
    const start = await signIn.start(CAP_GRACE, now(), PAGE_URL);
    const result = await signIn.callback(
      idp.authorize(start.location, ada),
      jar(start.cookies),
      now(),
      approverOf,
      PAGE_URL,
    );
    expect(result).toMatchObject({ kind: 'refused', status: 403, code: 'wrong-person' });
    expect(result.kind === 'refused' && result.message).toMatch(
      /You signed in as ADA@acme\.example, but this approval link belongs to Grace/,
    );
    expect(result.cookies.some((c) => c.startsWith(`${SESSION_COOKIE}=`))).toBe(false);
  });

  it('refuses an unverified email from the provider', async () => {
    const { idp, signIn } = await setup();
    const start = await signIn.start(CAP_ADA, now(), PAGE_URL);
    const result = await signIn.callback(
      idp.authorize(start.location, { ...ada, email_verified: false }),
      jar(start.cookies),
      now(),
      approverOf,
      PAGE_URL,
    );
    expect(result).toMatchObject({ kind: 'refused', code: 'email-unverified' });
  });

  it('refuses a replayed callback, even with the flow cookie copied', async () => {
    const { idp, signIn } = await setup();
    const start = await signIn.start(CAP_ADA, now(), PAGE_URL);
    const query = idp.authorize(start.location, ada);
    const first = await signIn.callback(query, jar(start.cookies), now(), approverOf, PAGE_URL);
    expect(first.kind).toBe('signed-in');
    const tokenCalls = idp.requests.filter((r) => r.endsWith('/token')).length;
    const again = await signIn.callback(query, jar(start.cookies), now(), approverOf, PAGE_URL);
    expect(again).toMatchObject({ kind: 'refused', status: 409, code: 'replay' });
    // Refused before the code went to the provider again.
    expect(idp.requests.filter((r) => r.endsWith('/token')).length).toBe(tokenCalls);
  });

  it('refuses a callback this browser did not start, or with another state', async () => {
    const { idp, signIn } = await setup();
    const start = await signIn.start(CAP_ADA, now(), PAGE_URL);
    const query = idp.authorize(start.location, ada);
    expect(await signIn.callback(query, [], now(), approverOf, PAGE_URL)).toMatchObject({
      kind: 'refused',
      code: 'flow-missing',
    });
    const other = await signIn.start(CAP_ADA, now(), PAGE_URL);
    expect(
      await signIn.callback(query, jar(other.cookies), now(), approverOf, PAGE_URL),
    ).toMatchObject({
      kind: 'refused',
      code: 'state',
    });
    const late = new Date(Date.now() + 11 * 60_000);
    expect(
      await signIn.callback(query, jar(start.cookies), late, approverOf, PAGE_URL),
    ).toMatchObject({
      kind: 'refused',
      code: 'flow-expired',
    });
  });

  it('refuses an error answer from the provider without exchanging anything', async () => {
    const { idp, signIn } = await setup();
    const start = await signIn.start(CAP_ADA, now(), PAGE_URL);
    const state = new URL(start.location).searchParams.get('state') as string;
    const result = await signIn.callback(
      new URLSearchParams({ error: 'access_denied', state }),
      jar(start.cookies),
      now(),
      approverOf,
      PAGE_URL,
    );
    expect(result).toMatchObject({ kind: 'refused', code: 'provider-error' });
    expect(idp.requests.some((r) => r.endsWith('/token'))).toBe(false);
  });
});
