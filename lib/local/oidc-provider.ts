import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  Adapter,
  AdapterPayload,
  ClientMetadata,
  Configuration,
  default as Provider,
} from 'oidc-provider';
import { html, page, SECURITY_HEADERS } from '../../handlers/shared/html';

/**
 * A real OpenID Provider on loopback (the `oidc-provider` package, certified by the OpenID
 * Foundation), so local mode and the browser tests sign approvers in through the same
 * authorization code flow an Okta, Entra ID, Google or Cognito tenant runs: discovery, JWKS,
 * PKCE, a login page, signed ID tokens. Everything lives in memory and ends with `close()`.
 *
 * Unlike a real tenant it asks whom to sign in as on every authorization (no remembered
 * session), so one browser can play several approvers, and it consents on the person's behalf
 * (one first-party client). It never logs: the client secret, codes and tokens stay in memory.
 */

export interface LocalOidcAccount {
  /** The ID token's `sub`. */
  readonly accountId: string;
  readonly email: string;
  readonly email_verified: boolean;
  readonly name: string;
  /**
   * Other claims this account's ID token carries under the `profile` scope, such as the claim
   * `approvals.signIn.claim` names when it is not `email` (`oid`, `preferred_username`).
   */
  readonly claims?: Readonly<Record<string, string>>;
}

export interface LocalOidcProviderOptions {
  readonly accounts: readonly LocalOidcAccount[];
  /** Where the client may be sent back; `setRedirectUris` replaces them (a server's port known later). */
  readonly redirectUris: readonly string[];
  /**
   * How the client authenticates at the token endpoint; the provider accepts only the registered
   * one, as Okta does. @default 'client_secret_basic'
   */
  readonly tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
  /** Receives one line per internal provider error (its class and message, never a token). */
  readonly onError?: (line: string) => void;
}

export interface LocalOidcProvider {
  /** `http://127.0.0.1:<port>`; discovery is at `${issuer}/.well-known/openid-configuration`. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Replaces the client's registered redirect URIs (exact match, as every real provider). */
  setRedirectUris(uris: readonly string[]): void;
  close(): Promise<void>;
}

/** The login page's path; the provider sends the browser here whenever it needs a person. */
const INTERACTION_PATH = '/interaction/';

/** The scopes and claims a deploy-runner approval page asks for. */
const CLAIMS = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name'],
};

/** The login page's CSP: the shared one without form-action, which Chromium also applies to the redirect back to the client. */
const LOGIN_PAGE_HEADERS: Readonly<Record<string, string>> = {
  ...SECURITY_HEADERS,
  'content-security-policy': (SECURITY_HEADERS['content-security-policy'] ?? '')
    .split('; ')
    .filter((directive) => !directive.startsWith('form-action'))
    .join('; '),
};

export async function startLocalOidcProvider(
  options: LocalOidcProviderOptions,
): Promise<LocalOidcProvider> {
  const accounts = new Map(options.accounts.map((account) => [account.accountId, account]));
  if (accounts.size !== options.accounts.length)
    throw new Error('local OpenID provider: two accounts share an accountId');
  const clientId = `deploy-runner-local-${randomBytes(6).toString('hex')}`;
  const clientSecret = randomBytes(32).toString('base64url');
  let redirectUris = [...options.redirectUris];
  const client = (): ClientMetadata => ({
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: options.tokenEndpointAuthMethod ?? 'client_secret_basic',
  });

  // The port is the issuer's, so the server listens before the provider exists.
  let provider: Provider | undefined;
  const server = createServer((req, res) => {
    if (!provider) {
      res.writeHead(503).end();
      return;
    }
    // Only its own name, as the local server (DNS rebinding): no page elsewhere drives a sign-in.
    if (req.headers.host !== new URL(issuer).host) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('wrong Host\n');
      return;
    }
    if (req.url?.startsWith(INTERACTION_PATH)) {
      interaction(provider, accounts, req, res).catch((error: unknown) => {
        options.onError?.(`local OpenID provider: ${describe(error)}`);
        if (!res.headersSent) res.writeHead(500, LOGIN_PAGE_HEADERS);
        res.end();
      });
      return;
    }
    void providerCallback(req, res);
  });
  let providerCallback: ReturnType<Provider['callback']> = async () => {};
  let issuer = '';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  try {
    // oidc-provider is an ES module: imported here, so local mode without sign-in never loads it.
    const oidc = await import('oidc-provider');
    provider = new oidc.default(issuer, configuration(oidc, accounts, client));
    provider.app.silent = true;
    provider.on('server_error', (_ctx, error) =>
      options.onError?.(`local OpenID provider: ${describe(error)}`),
    );
    providerCallback = provider.callback();
  } catch (error) {
    server.close();
    throw error;
  }

  return {
    issuer,
    clientId,
    clientSecret,
    setRedirectUris: (uris) => {
      redirectUris = [...uris];
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

type OidcModule = typeof import('oidc-provider');

function configuration(
  oidc: OidcModule,
  accounts: ReadonlyMap<string, LocalOidcAccount>,
  client: () => ClientMetadata,
): Configuration {
  const { interactionPolicy } = oidc;
  const policy = interactionPolicy.base();
  // Every authorization asks whom to sign in as, unless this very interaction just said it.
  policy
    .get('login')
    ?.checks.add(
      new interactionPolicy.Check(
        'account_choice',
        'the local provider asks for the account on every authorization',
        (ctx) => !ctx.oidc.result?.login,
      ),
    );
  const store = new Map<string, { payload: AdapterPayload; expiresAt: number }>();
  const extra = [...accounts.values()].flatMap((account) => Object.keys(account.claims ?? {}));
  return {
    adapter: (name: string) => memoryAdapter(name, store, client),
    claims: { ...CLAIMS, profile: [...new Set([...CLAIMS.profile, ...extra])] },
    // The claims of the requested scopes go in the ID token too, as Okta, Google and Cognito put them.
    conformIdTokenClaims: false,
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: { devInteractions: { enabled: false } },
    findAccount: (_ctx, id) => {
      const account = accounts.get(id);
      if (!account) return undefined;
      return {
        accountId: account.accountId,
        claims: () => ({
          ...account.claims,
          sub: account.accountId,
          email: account.email,
          email_verified: account.email_verified,
          name: account.name,
        }),
      };
    },
    interactions: {
      policy,
      url: (_ctx, interaction) => `${INTERACTION_PATH}${interaction.uid}`,
    },
    jwks: { keys: [signingKey()] },
    // The one first-party client gets the scopes it asks for without a consent screen.
    loadExistingGrant: async (ctx) => {
      const { oidc: request } = ctx;
      if (!request.session?.accountId || !request.client) return undefined;
      const grant = new request.provider.Grant({
        clientId: request.client.clientId,
        accountId: request.session.accountId,
      });
      const requested = String(request.params?.scope ?? 'openid')
        .split(' ')
        .filter((scope) => scope in CLAIMS);
      grant.addOIDCScope(requested.join(' '));
      await grant.save();
      return grant;
    },
    pkce: { methods: ['S256'], required: () => true },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.set(LOGIN_PAGE_HEADERS);
      ctx.body = page(
        'Sign-in error',
        html`<h1>Sign-in error</h1><p>${out.error}: ${out.error_description ?? ''}</p>`,
      );
    },
    responseTypes: ['code'],
    scopes: Object.keys(CLAIMS),
    ttl: {
      AccessToken: 300,
      AuthorizationCode: 60,
      Grant: 600,
      IdToken: 300,
      Interaction: 600,
      Session: 600,
    },
  };
}

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex') };
}

/** The provider's storage, in memory; the one client is read through it so its redirect URIs can change. */
function memoryAdapter(
  name: string,
  store: Map<string, { payload: AdapterPayload; expiresAt: number }>,
  client: () => ClientMetadata,
): Adapter {
  const key = (id: string) => `${name}:${id}`;
  const live = (id: string) => {
    const entry = store.get(key(id));
    if (entry && entry.expiresAt <= Date.now()) store.delete(key(id));
    return store.get(key(id))?.payload;
  };
  const findBy = (field: 'uid' | 'userCode', value: string) => {
    for (const [k, entry] of store)
      if (k.startsWith(`${name}:`) && entry.payload[field] === value)
        return live(k.slice(name.length + 1));
    return undefined;
  };
  return {
    upsert: async (id, payload, expiresIn) => {
      store.set(key(id), { payload, expiresAt: Date.now() + expiresIn * 1000 });
    },
    find: async (id) => {
      if (name === 'Client') return id === client().client_id ? client() : undefined;
      return live(id);
    },
    findByUid: async (uid) => findBy('uid', uid),
    findByUserCode: async (userCode) => findBy('userCode', userCode),
    consume: async (id) => {
      const entry = store.get(key(id));
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
    },
    destroy: async (id) => {
      store.delete(key(id));
    },
    revokeByGrantId: async (grantId) => {
      for (const [k, entry] of store)
        if (k.startsWith(`${name}:`) && entry.payload.grantId === grantId) store.delete(k);
    },
  };
}

/** The login page: GET shows it, POST signs the typed account in and hands back to the provider. */
async function interaction(
  provider: Provider,
  accounts: ReadonlyMap<string, LocalOidcAccount>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const action = `${INTERACTION_PATH}${details.uid}`;
  if (req.method === 'GET' && req.url === action) {
    const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint : '';
    return sendLogin(res, 200, action, accounts, hint);
  }
  if (req.method !== 'POST' || req.url !== `${action}/login`) {
    res.writeHead(405, LOGIN_PAGE_HEADERS).end();
    return;
  }
  const form = new URLSearchParams(await readBody(req));
  const typed = (form.get('login') ?? '').trim().toLowerCase();
  const account = [...accounts.values()].find(
    (candidate) =>
      candidate.email.toLowerCase() === typed || candidate.accountId.toLowerCase() === typed,
  );
  if (!account) return sendLogin(res, 400, action, accounts, typed, 'No such account here.');
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: account.accountId, remember: false } },
    { mergeWithLastSubmission: false },
  );
}

function sendLogin(
  res: ServerResponse,
  status: number,
  action: string,
  accounts: ReadonlyMap<string, LocalOidcAccount>,
  value: string,
  problem?: string,
): void {
  const list = [...accounts.values()];
  const body = html`<h1>Sign in (local provider)</h1>
<p>This is deploy-runner's local OpenID provider: type the email of the account to sign in as. There is no password.</p>
${problem ? html`<p class="problem" role="alert">${problem}</p>` : ''}
<form method="post" action="${action}/login">
<label for="login">Email</label>
<input id="login" name="login" type="text" list="accounts" autocomplete="off" autofocus required value="${value}">
<datalist id="accounts">${list.map((a) => html`<option value="${a.email}">${a.name}</option>`)}</datalist>
<button type="submit">Sign in</button>
</form>
<p>Accounts: ${list.map((a, i) => html`${i > 0 ? ', ' : ''}<code>${a.email}</code>${a.email_verified ? '' : ' (email not verified)'}`)}</p>`;
  res.writeHead(status, LOGIN_PAGE_HEADERS).end(page('Sign in', body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 16_384) throw new Error('login form too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error';
}
