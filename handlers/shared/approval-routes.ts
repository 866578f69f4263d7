import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { SECURITY_HEADERS } from './html';

/**
 * The approval page's HTTP surface, pure: which route a method and path reach, how a form body
 * is read, and whether a POST came from another site. handlers/approval-page.ts only wires each
 * route's action to its collaborators. A new route is one row in `APPROVAL_PAGE_ROUTES` and one
 * action in the handler's table (the type of that table makes a missing action a compile error).
 */

/** Largest form body accepted (the form has four short fields). */
export const MAX_BODY_BYTES = 16 * 1024;

/** Methods a route may accept; HEAD is accepted wherever GET is, and answered without a body. */
export type RouteMethod = 'GET' | 'POST';

export interface RouteSpec<N extends string = string> {
  readonly name: N;
  /** Matched against the whole path; its capture groups become the route's `params`. */
  readonly path: RegExp;
  readonly methods: readonly RouteMethod[];
}

/**
 * Every path the page answers. `GET` shows and never writes (mail scanners follow links);
 * `POST` decides, guarded by the page nonce and `crossSiteProblem`.
 */
export const APPROVAL_PAGE_ROUTES = [
  // Before `approval`, whose pattern it also matches ("signin" is never a capability).
  { name: 'signInCallback', path: /^\/a\/signin\/?$/, methods: ['GET'] },
  { name: 'approval', path: /^\/a\/([^/]*)\/?$/, methods: ['GET', 'POST'] },
  // A drift check's plan, read-only (handlers/shared/plan-view.ts): nothing to post, ever.
  { name: 'view', path: /^\/v\/([^/]*)\/?$/, methods: ['GET'] },
] as const satisfies readonly RouteSpec[];

export type ApprovalRouteName = (typeof APPROVAL_PAGE_ROUTES)[number]['name'];

export type RouteMatch<N extends string> =
  | {
      readonly kind: 'route';
      readonly name: N;
      readonly method: RouteMethod;
      /** A HEAD request: answer as GET, without the body. */
      readonly head: boolean;
      /** The path's capture groups, in order ('' for a group that took nothing). */
      readonly params: readonly string[];
    }
  | { readonly kind: 'not-found'; readonly head: boolean }
  | { readonly kind: 'method-not-allowed'; readonly head: boolean; readonly allow: string };

/** The method and path of a Function URL event, as the page routes them. */
export function requestLine(event: APIGatewayProxyEventV2): { method: string; path: string } {
  return {
    method: (event.requestContext?.http?.method ?? 'GET').toUpperCase(),
    path: event.rawPath ?? event.requestContext?.http?.path ?? '/',
  };
}

/**
 * The route a request reaches. The path decides first (an unknown path is 404 whatever the
 * method), then the method (405 with the route's `Allow`).
 */
export function matchRoute<N extends string>(
  routes: readonly RouteSpec<N>[],
  method: string,
  path: string,
): RouteMatch<N> {
  const upper = method.toUpperCase();
  const head = upper === 'HEAD';
  for (const route of routes) {
    const match = route.path.exec(path);
    if (!match) continue;
    const wanted: string = head ? 'GET' : upper;
    const accepted = route.methods.find((m) => m === wanted);
    if (!accepted) return { kind: 'method-not-allowed', head, allow: route.methods.join(', ') };
    return {
      kind: 'route',
      name: route.name,
      method: accepted,
      head,
      params: match.slice(1).map((p) => p ?? ''),
    };
  }
  return { kind: 'not-found', head };
}

export interface PageResponse {
  readonly status: number;
  readonly body: string;
  readonly headers?: Record<string, string>;
  /** Set-Cookie values (approver sign-in). @default none */
  readonly cookies?: readonly string[];
}

export interface FunctionUrlResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: false;
  cookies?: string[];
}

/** A page as the Function URL returns it: always with the security headers; HEAD has no body. */
export function toFunctionUrlResult(r: PageResponse, head = false): FunctionUrlResponse {
  return {
    statusCode: r.status,
    headers: { ...SECURITY_HEADERS, ...r.headers },
    body: head ? '' : r.body,
    isBase64Encoded: false,
    ...(r.cookies && r.cookies.length > 0 ? { cookies: [...r.cookies] } : {}),
  };
}

/**
 * The posted form: 'too-large' beyond `MAX_BODY_BYTES`, undefined when it is not a URL-encoded
 * form (the only kind the page's forms send).
 */
export function readForm(event: APIGatewayProxyEventV2): URLSearchParams | 'too-large' | undefined {
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) return 'too-large';
  const type = (headerOf(event, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return undefined;
  return new URLSearchParams(bytes.toString('utf8'));
}

/**
 * Why a POST looks like a cross-site form post, or undefined. Defense in depth beside the
 * nonce: browsers say where a form came from (`Sec-Fetch-Site`, `Origin`), and only the page's
 * own origin may decide. Requests without these headers (mail clients, old browsers, scripts),
 * or with `Origin: null`, pass on to the nonce check.
 */
export function crossSiteProblem(
  event: APIGatewayProxyEventV2,
  settings: { readonly approvalBaseUrl?: string | undefined },
): string | undefined {
  const site = headerOf(event, 'sec-fetch-site')?.trim().toLowerCase();
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    return `Sec-Fetch-Site is ${JSON.stringify(site.slice(0, 40))}`;
  const origin = headerOf(event, 'origin')?.trim();
  // "null" says nothing: the page's own no-referrer policy makes browsers send it for the page's
  // own form. Sec-Fetch-Site above still tells a cross-site post apart.
  if (origin === undefined || origin === '' || origin === 'null') return undefined;
  if (!pageOrigins(event, settings).has(origin.toLowerCase()))
    return `Origin ${JSON.stringify(origin.slice(0, 100))} is not the page's own`;
  return undefined;
}

/**
 * The page's own origins: the host the request was sent to, over the scheme its front end
 * reports (a Function URL is HTTPS and says so in `x-forwarded-proto`; so does local mode's
 * adapter), and the configured approval base URL.
 */
function pageOrigins(
  event: APIGatewayProxyEventV2,
  settings: { readonly approvalBaseUrl?: string | undefined },
): Set<string> {
  const origins = new Set<string>();
  const host = headerOf(event, 'host') ?? event.requestContext?.domainName;
  const proto = headerOf(event, 'x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
  if (host) origins.add(`${proto === 'http' ? 'http' : 'https'}://${host.toLowerCase()}`);
  if (settings.approvalBaseUrl) {
    try {
      origins.add(new URL(settings.approvalBaseUrl).origin.toLowerCase());
    } catch {
      // An unparsable setting adds nothing; the host still names the page.
    }
  }
  return origins;
}

/** A request header by name, whatever its case in the event. */
export function headerOf(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}
