import { createHash } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';

/**
 * An OpenID provider in a fetch function: discovery, JWKS and a token endpoint that checks the
 * PKCE verifier, for unit tests of the sign-in flow without a network. Tokens are real JWTs
 * signed by a test key with `jose`; `claims` lets a test make them wrong.
 */

export const ISSUER = 'https://idp.test';
export const CLIENT_ID = 'deploy-runner-page';
export const CLIENT_SECRET = 'test-client-secret-0123456789';

export interface IssuedCode {
  readonly challenge: string;
  readonly nonce: string;
  readonly claims: JWTPayload;
  used: boolean;
}

export type TestKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

export async function testKeyPair() {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  return { privateKey, jwk };
}

/** Signs an ID token the way a provider does; `claims` override the defaults. */
export async function idToken(
  key: TestKey,
  claims: JWTPayload,
  options: { kid?: string; now?: Date } = {},
): Promise<string> {
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  return new SignJWT({
    iss: ISSUER,
    aud: CLIENT_ID,
    iat,
    exp: iat + 300,
    ...claims,
  })
    .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? 'test-key' })
    .sign(key);
}

// RSA keys are slow to make under load; every fake provider of a test file shares one.
let shared: ReturnType<typeof testKeyPair> | undefined;

export async function fakeIdp() {
  shared ??= testKeyPair();
  const { privateKey, jwk } = await shared;
  const codes = new Map<string, IssuedCode>();
  const requests: string[] = [];
  let next = 0;
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json' },
    });

  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    requests.push(`${init?.method ?? 'GET'} ${url.pathname}`);
    if (url.pathname === '/.well-known/openid-configuration')
      return json({
        issuer: ISSUER,
        authorization_endpoint: `${ISSUER}/auth`,
        token_endpoint: `${ISSUER}/token`,
        jwks_uri: `${ISSUER}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
      });
    if (url.pathname === '/jwks') return json({ keys: [jwk] });
    if (url.pathname === '/token') {
      const form = new URLSearchParams(String(init?.body ?? ''));
      const code = codes.get(form.get('code') ?? '');
      // RFC 6749 2.3.1: both halves form-encoded before base64 (openid-client encodes "-" too).
      const basic = (new Headers(init?.headers).get('authorization') ?? '').replace(/^Basic /, '');
      const [id, secret] = Buffer.from(basic, 'base64')
        .toString('utf8')
        .split(':')
        .map((part) => decodeURIComponent(part.replace(/\+/g, ' ')));
      if (id !== CLIENT_ID || secret !== CLIENT_SECRET)
        return json({ error: 'invalid_client' }, 401);
      if (!code || code.used) return json({ error: 'invalid_grant' }, 400);
      code.used = true;
      const challenge = createHash('sha256')
        .update(form.get('code_verifier') ?? '')
        .digest('base64url');
      if (challenge !== code.challenge)
        return json({ error: 'invalid_grant', error_description: 'PKCE' }, 400);
      return json({
        access_token: 'at',
        token_type: 'Bearer',
        expires_in: 300,
        id_token: await idToken(privateKey, { nonce: code.nonce, ...code.claims }),
      });
    }
    return json({ error: 'not_found' }, 404);
  }) as typeof fetch;

  return {
    fetch: fetchImpl,
    privateKey,
    jwk,
    requests,
    /**
     * What the provider does when the browser arrives at the authorization URL and the person
     * signs in: a code for these claims, and the redirect back.
     */
    authorize(authorizationUrl: string, claims: JWTPayload): URLSearchParams {
      const url = new URL(authorizationUrl);
      const code = `code-${++next}`;
      codes.set(code, {
        challenge: url.searchParams.get('code_challenge') ?? '',
        nonce: url.searchParams.get('nonce') ?? '',
        claims,
        used: false,
      });
      return new URLSearchParams({ code, state: url.searchParams.get('state') ?? '' });
    },
  };
}
