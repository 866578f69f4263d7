import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { SignInSettings, VerifiedSubject } from '../../../lib/contracts';
import { approverIdentity, sameIdentity } from '../../../lib/sign-in-config';
import { headerOf, type PageResponse } from '../approval-routes';
import { messageResponse } from '../approval-text';
import type { RandomBytes } from '../capability';
import { html } from '../html';
import type { ApproverRef } from '../store';
import { createSignIn, type LinkApprover, type SignIn } from './flow';

/**
 * Approver sign-in as the approval page uses it: the redirect to the provider, the callback, and
 * the session check before a decision, each answered as a page. Only the page's own routes call
 * this; with approvals.signIn off it is never built and the page works as before.
 */

export interface PageSignInOptions {
  readonly settings: SignInSettings;
  /** The configured approval base URL; without it, the page's own origin as the request names it. */
  readonly approvalBaseUrl?: string;
  readonly pageKey: () => Promise<Buffer>;
  readonly clientSecret: () => Promise<string>;
  readonly claim: (stateHash: string, expiresAt: number) => Promise<boolean>;
  readonly randomBytes: RandomBytes;
  readonly fetch?: typeof fetch;
}

/** Whether the request carries a session of the link's approver, and who they are. */
export type SessionCheck =
  | { readonly ok: true; readonly subject: VerifiedSubject }
  | { readonly ok: false; readonly problem: string };

export interface PageSignIn {
  /** `GET /a/<capability>?signin`: off to the identity provider. */
  start(capability: string, event: APIGatewayProxyEventV2, now: Date): Promise<PageResponse>;
  /** `GET /a/signin`: the provider's redirect back, and a short code of how it ended (for the log). */
  callback(
    event: APIGatewayProxyEventV2,
    now: Date,
    approverOf: (linkHash: string) => Promise<LinkApprover | undefined>,
  ): Promise<{ page: PageResponse; outcome: string }>;
  /** The verified person of the request's session, if it is this link's approver. */
  session(
    event: APIGatewayProxyEventV2,
    linkHash: string,
    approver: ApproverRef,
    now: Date,
  ): Promise<SessionCheck>;
  /** The page a POST without such a session gets: nothing is recorded. */
  required(check: Extract<SessionCheck, { ok: false }>): PageResponse;
  /** The approver as sign-in compares them. */
  linkApprover(approver: ApproverRef): LinkApprover;
}

/**
 * The page's base URL: the configured one, else the origin the request was sent to (a Function
 * URL knows no URL of its own; Lambda routes by Host, and `x-forwarded-proto` is its own).
 */
export function pageUrlOf(event: APIGatewayProxyEventV2, configured?: string): string {
  if (configured) return configured;
  const host = headerOf(event, 'host') ?? event.requestContext?.domainName ?? 'localhost';
  const proto = headerOf(event, 'x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
  return `${proto === 'http' ? 'http' : 'https'}://${host.toLowerCase()}`;
}

export function createPageSignIn(options: PageSignInOptions): PageSignIn {
  const { settings } = options;
  const flow: SignIn = createSignIn({
    settings,
    pageKey: options.pageKey,
    clientSecret: options.clientSecret,
    claim: options.claim,
    randomBytes: options.randomBytes,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const urlOf = (event: APIGatewayProxyEventV2) => pageUrlOf(event, options.approvalBaseUrl);
  const linkApprover = (approver: ApproverRef): LinkApprover => ({
    name: approver.name,
    identity: approverIdentity(approver, settings.claim),
  });

  return {
    linkApprover,

    async start(capability, event, now) {
      const { location, cookies } = await flow.start(capability, now, urlOf(event));
      return {
        status: 303,
        headers: { location },
        cookies,
        body: '',
      };
    },

    async callback(event, now, approverOf) {
      const query = new URLSearchParams(event.rawQueryString ?? '');
      const result = await flow.callback(query, event.cookies, now, approverOf, urlOf(event));
      if (result.kind === 'signed-in')
        return {
          outcome: 'signed-in',
          page: {
            status: 303,
            headers: { location: `${urlOf(event)}/a/${result.capability}` },
            cookies: result.cookies,
            body: '',
          },
        };
      // No link back: the refusal page never holds the capability. The approver's own link
      // (email, Slack) is where they start again.
      return {
        outcome: result.code,
        page: {
          ...messageResponse(result.status, {
            heading: result.heading,
            tone: 'error',
            paragraphs: [result.message],
          }),
          cookies: result.cookies,
        },
      };
    },

    async session(event, linkHash, approver, now) {
      const verdict = await flow.session(event.cookies, linkHash, now);
      if (!verdict.ok) return { ok: false, problem: verdict.problem };
      const identity = linkApprover(approver).identity;
      const subject = verdict.session.subject;
      if (identity === undefined || !sameIdentity(settings.claim, subject.identity, identity))
        return { ok: false, problem: 'other-person' };
      return { ok: true, subject };
    },

    required(check) {
      return messageResponse(403, {
        heading: 'Sign in to decide',
        tone: 'error',
        paragraphs: [
          check.problem === 'expired'
            ? 'Your sign-in has expired. Nothing was recorded.'
            : 'Deciding on this run needs you to sign in as the approver this link was sent to. Nothing was recorded.',
          html`<a id="sign-in" href="?signin">Sign in to decide</a>`,
        ],
      });
    },
  };
}
