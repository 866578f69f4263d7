import { createHash, createPublicKey, type JsonWebKey, randomBytes, verify } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalOidcProvider, startLocalOidcProvider } from '../../lib/local/oidc-provider';
import { launchChromium, sharedPage } from '../browser/chromium';

const ACCOUNTS = [
  { accountId: 'alice', email: 'alice@example.com', email_verified: true, name: 'Alice' },
  {
    accountId: 'bob',
    email: 'bob@example.com',
    email_verified: false,
    name: 'Bob',
    claims: { oid: '6f1b7c1e-0000-4000-8000-000000000002' },
  },
];
/** The client's side: a callback that only says "back" (the tests read the code from the URL). */
let client: Server;
let REDIRECT = '';

beforeAll(async () => {
  client = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'text/plain' }).end('back'),
  );
  await new Promise<void>((resolve) => client.listen(0, '127.0.0.1', resolve));
  REDIRECT = `http://127.0.0.1:${(client.address() as AddressInfo).port}/a/sign-in/callback`;
});
afterAll(() => new Promise<void>((resolve) => client.close(() => resolve())));

/** A cookie jar for one user agent, enough for the provider's own cookies. */
class Jar {
  private readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

const b64url = (bytes: Buffer) => bytes.toString('base64url');

function decodeJwt(jwt: string) {
  const [header = '', payload = '', signature = ''] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')),
    signed: Buffer.from(`${header}.${payload}`),
    signature: Buffer.from(signature, 'base64url'),
  };
}

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  code_challenge_methods_supported: string[];
}

describe('local OpenID provider', () => {
  let op: LocalOidcProvider;
  let discovery: Discovery;
  const logged = vi.fn();
  const logSpies: ReturnType<typeof vi.spyOn>[] = [];

  beforeAll(async () => {
    for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const)
      logSpies.push(vi.spyOn(console, method).mockImplementation(logged));
    op = await startLocalOidcProvider({ accounts: ACCOUNTS, redirectUris: [REDIRECT] });
    discovery = (await (
      await fetch(`${op.issuer}/.well-known/openid-configuration`)
    ).json()) as Discovery;
  });
  afterAll(async () => {
    await op?.close();
    for (const spy of logSpies) spy.mockRestore();
  });

  /** Authorization request → login form → code at the redirect URI, as a browser would. */
  async function authorize(login: string, params: Record<string, string>) {
    const jar = new Jar();
    const get = async (url: string) => {
      const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } });
      jar.take(res);
      return res;
    };
    const query = new URLSearchParams({
      client_id: op.clientId,
      redirect_uri: REDIRECT,
      response_type: 'code',
      scope: 'openid email profile',
      ...params,
    });
    const start = await get(`${discovery.authorization_endpoint}?${query}`);
    expect(start.status).toBe(303);
    const loginPage = new URL(start.headers.get('location') ?? '', op.issuer);
    const form = await get(loginPage.href);
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('alice@example.com');
    const posted = await fetch(`${loginPage.href}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ login }),
    });
    jar.take(posted);
    expect(posted.status).toBe(303);
    const resumed = await get(new URL(posted.headers.get('location') ?? '', op.issuer).href);
    expect(resumed.status).toBe(303);
    return new URL(resumed.headers.get('location') ?? '');
  }

  async function token(code: string, verifier: string) {
    return fetch(discovery.token_endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${op.clientId}:${op.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
      }),
    });
  }

  it('serves a discovery document for its loopback issuer, with S256 PKCE', () => {
    expect(op.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(discovery.issuer).toBe(op.issuer);
    expect(discovery.authorization_endpoint.startsWith(op.issuer)).toBe(true);
    expect(discovery.code_challenge_methods_supported).toEqual(['S256']);
  });

  it('serves its public signing keys and no private part', async () => {
    const jwks = (await (await fetch(discovery.jwks_uri)).json()) as { keys: JsonWebKey[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA' });
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });

  it('runs the code flow with PKCE: the signed ID token names the account typed in', async () => {
    const verifier = b64url(randomBytes(32));
    const nonce = b64url(randomBytes(16));
    const state = b64url(randomBytes(16));
    const callback = await authorize('alice@example.com', {
      state,
      nonce,
      code_challenge: b64url(createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
    });
    expect(`${callback.origin}${callback.pathname}`).toBe(REDIRECT);
    expect(callback.searchParams.get('state')).toBe(state);
    expect(callback.searchParams.get('iss')).toBe(op.issuer);
    const code = callback.searchParams.get('code') ?? '';

    // The wrong verifier is refused, and so is the right one after the code was tried: codes are single use.
    expect((await token(code, b64url(randomBytes(32)))).status).toBe(400);
    const callback2 = await authorize('alice@example.com', {
      nonce,
      code_challenge: b64url(createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
    });
    const res = await token(callback2.searchParams.get('code') ?? '', verifier);
    expect(res.status).toBe(200);
    const { id_token } = (await res.json()) as { id_token: string };
    const jwt = decodeJwt(id_token);
    expect(jwt.payload).toMatchObject({
      iss: op.issuer,
      aud: op.clientId,
      sub: 'alice',
      nonce,
      email: 'alice@example.com',
      email_verified: true,
      name: 'Alice',
    });
    const jwks = (await (await fetch(discovery.jwks_uri)).json()) as { keys: JsonWebKey[] };
    const key = createPublicKey({ key: jwks.keys[0] as JsonWebKey, format: 'jwk' });
    expect(jwt.header.alg).toBe('RS256');
    expect(verify('sha256', jwt.signed, key, jwt.signature)).toBe(true);
  });

  it('asks again on every authorization, says when the email is not verified, and carries extra claims', async () => {
    const verifier = b64url(randomBytes(32));
    const callback = await authorize('bob@example.com', {
      nonce: 'n',
      code_challenge: b64url(createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
    });
    const res = await token(callback.searchParams.get('code') ?? '', verifier);
    const { id_token } = (await res.json()) as { id_token: string };
    expect(decodeJwt(id_token).payload).toMatchObject({
      sub: 'bob',
      email_verified: false,
      oid: '6f1b7c1e-0000-4000-8000-000000000002',
    });
  });

  it('refuses an authorization request without PKCE', async () => {
    const query = new URLSearchParams({
      client_id: op.clientId,
      redirect_uri: REDIRECT,
      response_type: 'code',
      scope: 'openid email',
    });
    const res = await fetch(`${discovery.authorization_endpoint}?${query}`, { redirect: 'manual' });
    const back = new URL(res.headers.get('location') ?? '');
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('sends the browser only to a registered redirect URI, and takes new ones', async () => {
    const other = REDIRECT.replace('/a/sign-in/callback', '/elsewhere');
    const query = (redirect: string) =>
      new URLSearchParams({
        client_id: op.clientId,
        redirect_uri: redirect,
        response_type: 'code',
        scope: 'openid',
        code_challenge: b64url(randomBytes(32)),
        code_challenge_method: 'S256',
      });
    const refused = await fetch(`${discovery.authorization_endpoint}?${query(other)}`, {
      redirect: 'manual',
    });
    expect(refused.status).toBe(400);
    op.setRedirectUris([REDIRECT, other]);
    const taken = await fetch(`${discovery.authorization_endpoint}?${query(other)}`, {
      redirect: 'manual',
    });
    expect(taken.status).toBe(303);
    expect(taken.headers.get('location')).toMatch(/^\/interaction\//);
    op.setRedirectUris([REDIRECT]);
  });

  it('answers only its own Host (DNS rebinding)', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(op.issuer);
      request(
        {
          host: url.hostname,
          port: url.port,
          path: '/.well-known/openid-configuration',
          headers: { host: `attacker.example:${url.port}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      )
        .on('error', reject)
        .end();
    });
    expect(status).toBe(421);
  });

  it('signs in through its login form in headless Chromium', async () => {
    const browser = await launchChromium();
    try {
      // The worker's page, reset, if a browser file before this one opened it.
      const { page } = await sharedPage(browser);
      const query = new URLSearchParams({
        client_id: op.clientId,
        redirect_uri: REDIRECT,
        response_type: 'code',
        scope: 'openid email',
        state: 'xyz',
        nonce: 'n',
        code_challenge: b64url(randomBytes(32)),
        code_challenge_method: 'S256',
        login_hint: 'alice@example.com',
      });
      await page.goto(`${discovery.authorization_endpoint}?${query}`);
      expect(await page.inputValue('input[name=login]')).toBe('alice@example.com');
      await page.fill('input[name=login]', 'nobody@example.com');
      await page.click('button[type=submit]');
      expect(await page.textContent('[role=alert]')).toContain('No such account');
      await page.fill('input[name=login]', 'bob@example.com');
      await Promise.all([page.waitForURL(`${REDIRECT}**`), page.click('button[type=submit]')]);
      expect(await page.textContent('body')).toBe('back');
      const back = new URL(page.url());
      expect(back.searchParams.get('state')).toBe('xyz');
      expect(back.searchParams.get('code')).toBeTruthy();
    } finally {
      await browser.close();
    }
  });

  it('never logs: no secret, code or token reaches the console', () => {
    expect(logged).not.toHaveBeenCalled();
  });
});

describe('local OpenID provider: closing', () => {
  it('closes with a connection still open, and then refuses connections', async () => {
    const op = await startLocalOidcProvider({ accounts: ACCOUNTS, redirectUris: [REDIRECT] });
    const res = await fetch(`${op.issuer}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    // The body is left unread: keep-alive holds the socket open.
    await op.close();
    await expect(fetch(`${op.issuer}/.well-known/openid-configuration`)).rejects.toThrow();
  });

  it('refuses two accounts with one accountId', async () => {
    await expect(
      startLocalOidcProvider({
        accounts: [ACCOUNTS[0], { ...ACCOUNTS[1], accountId: 'alice' }] as never,
        redirectUris: [REDIRECT],
      }),
    ).rejects.toThrow(/accountId/);
  });
});
