import { createHash } from 'node:crypto';
import { createRemoteJWKSet, type JWTVerifyGetKey, customFetch as joseFetch } from 'jose';
import * as client from 'openid-client';
import type { SignInSettings, VerifiedSubject } from '../../../lib/contracts';
import { isLoopbackUrl, sameIdentity } from '../../../lib/sign-in-config';
import { hashCapability, type RandomBytes } from '../capability';
import {
  CALLBACK_PATH,
  clearCookie,
  cookieValue,
  FLOW_COOKIE,
  FLOW_SECONDS,
  openFlow,
  SESSION_COOKIE,
  SESSION_SECONDS,
  type SessionVerdict,
  sealFlow,
  secureCookies,
  setCookie,
  signInKey,
  signSession,
  verifySession,
} from './cookies';
import { linkNonce, SignInRefused, verifyIdToken } from './id-token';

/**
 * Approver sign-in with the team's OpenID Connect provider (docs/sign-in.md): the authorization
 * code flow with PKCE (S256), `state` and `nonce` bound to the approval link, the code exchanged
 * by `openid-client` and the ID token checked again by `jose` (id-token.ts). Nothing here reads
 * or writes a run, a link or a decision: a sign-in, right or wrong, spends nothing.
 */

export interface SignInDeps {
  readonly settings: SignInSettings;
  /** The page's nonce key; the cookie keys derive from it. */
  readonly pageKey: () => Promise<Buffer>;
  /** The OAuth client secret (Secrets Manager, or local mode's own). */
  readonly clientSecret: () => Promise<string>;
  /** Where completed callbacks are remembered, so a replayed one is refused. */
  readonly claim: (stateHash: string, expiresAt: number) => Promise<boolean>;
  readonly randomBytes: RandomBytes;
  /** Fetch for discovery, the token endpoint and the JWKS. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

/** What the provider's callback came to. */
export type CallbackResult =
  | {
      readonly kind: 'signed-in';
      /** The link to go back to. */
      readonly capability: string;
      readonly subject: VerifiedSubject;
      readonly cookies: readonly string[];
    }
  | {
      readonly kind: 'refused';
      readonly status: number;
      /** Short code for the log; never a token or claim value. */
      readonly code: string;
      readonly heading: string;
      readonly message: string;
      readonly cookies: readonly string[];
      /** The link to offer going back to, when known. */
      readonly capability?: string;
    };

/** The approver a link belongs to, as sign-in needs them. */
export interface LinkApprover {
  readonly name: string;
  /** Their configured identity (config `identity`, or the email for the `email` claim). */
  readonly identity: string | undefined;
}

export interface SignIn {
  /** The redirect to the provider for a link, with the sealed flow cookie. */
  start(
    capability: string,
    now: Date,
    pageUrl: string,
  ): Promise<{ location: string; cookies: string[] }>;
  /**
   * Completes the provider's redirect back: checks the flow cookie and `state`, claims the
   * callback once, exchanges the code (PKCE), verifies the ID token, and checks the verified
   * person is the link's approver. Only then is a session cookie for that link set.
   */
  callback(
    query: URLSearchParams,
    cookies: readonly string[] | undefined,
    now: Date,
    approverOf: (linkHash: string) => Promise<LinkApprover | undefined>,
    pageUrl: string,
  ): Promise<CallbackResult>;
  /** The verified session the request carries for this link, if any. */
  session(
    cookies: readonly string[] | undefined,
    linkHash: string,
    now: Date,
  ): Promise<SessionVerdict>;
  /** Set-Cookie values that end the link's session. */
  signOut(capability: string, pageUrl: string): string[];
}

/**
 * The redirect URI and cookie paths for the page at `pageUrl` (its origin and any path prefix,
 * no trailing slash). The redirect URI is what the provider has registered: the page's URL +
 * {@link CALLBACK_PATH}.
 */
export function pagePaths(pageUrl: string) {
  const base = new URL(`${pageUrl.replace(/\/+$/, '')}/`);
  const prefix = base.pathname.replace(/\/+$/, '');
  return {
    redirectUri: `${base.origin}${prefix}${CALLBACK_PATH}`,
    flowPath: `${prefix}${CALLBACK_PATH}`,
    linkPath: (capability: string) => `${prefix}/a/${capability}`,
    secure: secureCookies(pageUrl),
  };
}

export function createSignIn(deps: SignInDeps): SignIn {
  const { settings } = deps;
  const issuerUrl = new URL(settings.issuer);
  const fetchImpl = deps.fetch;

  let configuration: Promise<client.Configuration> | undefined;
  const discovered = () => {
    configuration ??= deps
      .clientSecret()
      .then((secret) =>
        client.discovery(
          issuerUrl,
          settings.clientId,
          undefined,
          client.ClientSecretBasic(secret),
          {
            // Plain http only for a loopback issuer (local mode's own provider); config refuses others.
            execute:
              issuerUrl.protocol === 'http:' && isLoopbackUrl(issuerUrl)
                ? [client.allowInsecureRequests]
                : [],
            ...(fetchImpl ? { [client.customFetch]: fetchImpl } : {}),
          },
        ),
      )
      .catch((error: unknown) => {
        configuration = undefined;
        throw error;
      });
    return configuration;
  };

  let jwks: { uri: string; keys: JWTVerifyGetKey } | undefined;
  const keysOf = (config: client.Configuration): JWTVerifyGetKey => {
    const uri = config.serverMetadata().jwks_uri;
    if (!uri) throw new Error('the identity provider publishes no jwks_uri');
    if (jwks?.uri !== uri)
      jwks = {
        uri,
        keys: createRemoteJWKSet(new URL(uri), fetchImpl ? { [joseFetch]: fetchImpl } : {}),
      };
    return jwks.keys;
  };

  const keys = async () => {
    const pageKey = await deps.pageKey();
    return {
      flow: signInKey(pageKey, 'flow'),
      session: signInKey(pageKey, 'session'),
      nonce: signInKey(pageKey, 'nonce'),
    };
  };

  return {
    async start(capability, now, pageUrl) {
      const { redirectUri, flowPath, secure } = pagePaths(pageUrl);
      const config = await discovered();
      const k = await keys();
      const state = deps.randomBytes(32).toString('base64url');
      const verifier = deps.randomBytes(32).toString('base64url');
      const nonce = linkNonce(k.nonce, hashCapability(capability), state);
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: settings.claim === 'email' ? 'openid email' : 'openid email profile',
        response_type: 'code',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      const flow = sealFlow(
        k.flow,
        {
          v: 1,
          capability,
          state,
          verifier,
          exp: Math.floor(now.getTime() / 1000) + FLOW_SECONDS,
        },
        deps.randomBytes(12),
      );
      return {
        location: url.href,
        cookies: [
          setCookie(FLOW_COOKIE, flow, { path: flowPath, maxAgeSeconds: FLOW_SECONDS, secure }),
        ],
      };
    },

    async callback(query, cookies, now, approverOf, pageUrl) {
      const { redirectUri, flowPath, linkPath, secure } = pagePaths(pageUrl);
      const clearFlow = () => clearCookie(FLOW_COOKIE, { path: flowPath, secure });
      const k = await keys();
      const refuse = (
        status: number,
        code: string,
        heading: string,
        message: string,
        capability?: string,
      ): CallbackResult => ({
        kind: 'refused',
        status,
        code,
        heading,
        message,
        cookies: [clearFlow()],
        ...(capability ? { capability } : {}),
      });
      const flow = openFlow(k.flow, cookieValue(cookies, FLOW_COOKIE), now);
      if (typeof flow === 'string')
        return refuse(
          400,
          `flow-${flow}`,
          'Sign-in could not be completed',
          flow === 'expired'
            ? 'The sign-in took too long. Open your approval link again and sign in.'
            : 'This browser did not start this sign-in (or it was already completed). Open your approval link again and sign in from there.',
        );
      const state = query.get('state') ?? '';
      if (state !== flow.state)
        return refuse(
          400,
          'state',
          'Sign-in could not be completed',
          'The answer from the identity provider does not belong to the sign-in this browser started. Open your approval link again and sign in.',
          flow.capability,
        );
      const providerError = query.get('error');
      if (providerError !== null)
        return refuse(
          403,
          'provider-error',
          'Sign-in did not complete',
          `The identity provider ended the sign-in (${providerError.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 60)}). Nothing was recorded.`,
          flow.capability,
        );
      const stateHash = createHash('sha256').update(flow.state).digest('hex');
      const expiresAt = flow.exp + 86_400;
      if (!(await deps.claim(stateHash, expiresAt)))
        return refuse(
          409,
          'replay',
          'This sign-in was already used',
          'Each sign-in completes once. Open your approval link again and sign in.',
          flow.capability,
        );
      const linkHash = hashCapability(flow.capability);
      let subject: VerifiedSubject;
      try {
        const config = await discovered();
        const currentUrl = new URL(`${redirectUri}?${query.toString()}`);
        const tokens = await client.authorizationCodeGrant(config, currentUrl, {
          pkceCodeVerifier: flow.verifier,
          expectedState: flow.state,
          expectedNonce: linkNonce(k.nonce, linkHash, flow.state),
          idTokenExpected: true,
        });
        if (!tokens.id_token)
          throw new SignInRefused('malformed', 'The identity provider sent no ID token.');
        subject = await verifyIdToken(tokens.id_token, keysOf(config), {
          issuer: config.serverMetadata().issuer,
          clientId: settings.clientId,
          nonce: linkNonce(k.nonce, linkHash, flow.state),
          claim: settings.claim,
          now,
        });
      } catch (error) {
        if (error instanceof SignInRefused)
          return refuse(403, error.code, 'Sign-in refused', error.message, flow.capability);
        if (
          error instanceof client.ResponseBodyError ||
          error instanceof client.AuthorizationResponseError ||
          error instanceof client.ClientError
        )
          return refuse(
            403,
            'provider-refused',
            'Sign-in did not complete',
            'The identity provider did not accept the sign-in (it may have been used already). Open your approval link again and sign in.',
            flow.capability,
          );
        throw error;
      }
      const approver = await approverOf(linkHash);
      if (!approver)
        return refuse(
          404,
          'unknown-link',
          'Unknown approval link',
          'This link does not exist, or is so old that it was deleted. Nothing was recorded.',
        );
      if (
        approver.identity === undefined ||
        !sameIdentity(settings.claim, subject.identity, approver.identity)
      )
        return refuse(
          403,
          'wrong-person',
          'This link is for another approver',
          `You signed in as ${subject.identity}, but this approval link belongs to ${approver.name}. Only they can decide with it. Nothing was recorded; ask them to open their own link, or use the link sent to you.`,
          flow.capability,
        );
      const session = signSession(k.session, {
        v: 1,
        linkHash,
        subject,
        exp: Math.floor(now.getTime() / 1000) + SESSION_SECONDS,
      });
      return {
        kind: 'signed-in',
        capability: flow.capability,
        subject,
        cookies: [
          clearFlow(),
          setCookie(SESSION_COOKIE, session, {
            path: linkPath(flow.capability),
            maxAgeSeconds: SESSION_SECONDS,
            secure,
          }),
        ],
      };
    },

    async session(cookies, linkHash, now) {
      const k = await keys();
      return verifySession(k.session, cookieValue(cookies, SESSION_COOKIE), linkHash, now);
    },

    signOut(capability, pageUrl) {
      const { linkPath, secure } = pagePaths(pageUrl);
      return [clearCookie(SESSION_COOKIE, { path: linkPath(capability), secure })];
    },
  };
}
