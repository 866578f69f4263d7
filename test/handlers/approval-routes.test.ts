import { describe, expect, it } from 'vitest';
import {
  APPROVAL_PAGE_ROUTES,
  crossSiteProblem,
  headerOf,
  MAX_BODY_BYTES,
  matchRoute,
  type RouteSpec,
  readForm,
  requestLine,
  toFunctionUrlResult,
} from '../../handlers/shared/approval-routes';
import { SECURITY_HEADERS } from '../../handlers/shared/html';
import { pageEvent } from './support/fixtures';

const CAP = 'A'.repeat(43);

describe('matchRoute: the approval page route table', () => {
  it('routes GET and POST on /a/<capability> with the capability as its param', () => {
    expect(matchRoute(APPROVAL_PAGE_ROUTES, 'GET', `/a/${CAP}`)).toEqual({
      kind: 'route',
      name: 'approval',
      method: 'GET',
      head: false,
      params: [CAP],
    });
    expect(matchRoute(APPROVAL_PAGE_ROUTES, 'post', `/a/${CAP}/`)).toMatchObject({
      kind: 'route',
      method: 'POST',
      params: [CAP],
    });
  });

  it('answers HEAD as GET, flagged so the body is dropped', () => {
    expect(matchRoute(APPROVAL_PAGE_ROUTES, 'HEAD', `/a/${CAP}`)).toMatchObject({
      kind: 'route',
      method: 'GET',
      head: true,
    });
  });

  it('an empty capability is still the route (the handler says the link is unknown)', () => {
    expect(matchRoute(APPROVAL_PAGE_ROUTES, 'GET', '/a/')).toMatchObject({ params: [''] });
  });

  it('decides by path first: an unknown path is not found whatever the method', () => {
    for (const path of ['/', '/a', `/a/${CAP}/x`, `/b/${CAP}`, `//a/${CAP}`])
      for (const method of ['GET', 'PUT'])
        expect(matchRoute(APPROVAL_PAGE_ROUTES, method, path).kind).toBe('not-found');
  });

  it("refuses other methods with the route's Allow", () => {
    for (const method of ['PUT', 'DELETE', 'PATCH', 'OPTIONS'])
      expect(matchRoute(APPROVAL_PAGE_ROUTES, method, `/a/${CAP}`)).toEqual({
        kind: 'method-not-allowed',
        head: false,
        allow: 'GET, POST',
      });
  });

  it('takes new routes from the table: a GET-only route refuses POST and HEAD works on it', () => {
    const routes: RouteSpec<'approval' | 'view'>[] = [
      ...APPROVAL_PAGE_ROUTES,
      { name: 'view', path: /^\/v\/([^/]*)\/?$/, methods: ['GET'] },
    ];
    expect(matchRoute(routes, 'GET', `/v/${CAP}`)).toMatchObject({ name: 'view', params: [CAP] });
    expect(matchRoute(routes, 'HEAD', `/v/${CAP}`)).toMatchObject({ name: 'view', head: true });
    expect(matchRoute(routes, 'POST', `/v/${CAP}`)).toMatchObject({
      kind: 'method-not-allowed',
      allow: 'GET',
    });
    // A POST-only route does not answer HEAD.
    const postOnly: RouteSpec[] = [{ name: 'callback', path: /^\/cb$/, methods: ['POST'] }];
    expect(matchRoute(postOnly, 'HEAD', '/cb').kind).toBe('method-not-allowed');
  });
});

describe('requestLine', () => {
  it('takes the raw path, else the HTTP path, and upper-cases the method', () => {
    const e = pageEvent('get', '/a/x');
    expect(requestLine(e)).toEqual({ method: 'GET', path: '/a/x' });
    const { rawPath: _, ...noRaw } = e;
    expect(requestLine({ ...noRaw, rawPath: undefined as unknown as string }).path).toBe('/a/x');
  });
});

describe('readForm', () => {
  it('reads a URL-encoded form, plain or base64', () => {
    expect(readForm(pageEvent('POST', '/a/x', { decision: 'approve' }))?.toString()).toBe(
      'decision=approve',
    );
    const b64 = readForm(pageEvent('POST', '/a/x', { reason: 'é ok' }, { base64: true }));
    expect(b64 instanceof URLSearchParams && b64.get('reason')).toBe('é ok');
  });

  it('refuses more than MAX_BODY_BYTES, counting bytes, not characters', () => {
    const justRight = 'a='.padEnd(MAX_BODY_BYTES, 'x');
    expect(readForm(pageEvent('POST', '/a/x', justRight))).toBeInstanceOf(URLSearchParams);
    expect(readForm(pageEvent('POST', '/a/x', `${justRight}x`))).toBe('too-large');
    // 'é' is two bytes in UTF-8: half as many characters already exceed the cap.
    expect(readForm(pageEvent('POST', '/a/x', `a=${'é'.repeat(MAX_BODY_BYTES / 2)}`))).toBe(
      'too-large',
    );
  });

  it('reads nothing that is not a URL-encoded form', () => {
    for (const contentType of ['application/json', 'multipart/form-data', 'text/plain'])
      expect(readForm(pageEvent('POST', '/a/x', 'decision=approve', { contentType }))).toBe(
        undefined,
      );
    const form = readForm(
      pageEvent('POST', '/a/x', 'decision=approve', {
        contentType: 'Application/X-WWW-Form-Urlencoded; charset=UTF-8',
      }),
    );
    expect(form instanceof URLSearchParams && form.get('decision')).toBe('approve');
  });
});

describe('crossSiteProblem', () => {
  const post = (headers: Record<string, string>) => {
    const e = pageEvent('POST', '/a/x', {});
    e.headers = { host: 'approve.example.com', ...headers };
    return e;
  };

  it('refuses a cross-site or same-site Sec-Fetch-Site, and allows same-origin and none', () => {
    expect(crossSiteProblem(post({ 'Sec-Fetch-Site': 'cross-site' }), {})).toMatch(/cross-site/);
    expect(crossSiteProblem(post({ 'sec-fetch-site': 'same-site' }), {})).toMatch(/same-site/);
    expect(crossSiteProblem(post({ 'sec-fetch-site': 'same-origin' }), {})).toBe(undefined);
    expect(crossSiteProblem(post({ 'sec-fetch-site': 'none' }), {})).toBe(undefined);
  });

  it('refuses a foreign Origin and lets a missing or null one through to the nonce', () => {
    expect(crossSiteProblem(post({ origin: 'https://evil.example' }), {})).toMatch(/evil/);
    expect(crossSiteProblem(post({ origin: 'https://approve.example.com' }), {})).toBe(undefined);
    expect(crossSiteProblem(post({ origin: 'null' }), {})).toBe(undefined);
    expect(crossSiteProblem(post({}), {})).toBe(undefined);
  });

  it('ignores an unparsable approval base URL instead of failing', () => {
    expect(
      crossSiteProblem(post({ origin: 'https://approve.example.com' }), {
        approvalBaseUrl: 'not a url',
      }),
    ).toBe(undefined);
  });
});

describe('headerOf and toFunctionUrlResult', () => {
  it('finds a header whatever its case', () => {
    const e = pageEvent('GET', '/');
    e.headers = { 'X-Forwarded-Proto': 'http' };
    expect(headerOf(e, 'x-forwarded-proto')).toBe('http');
    expect(headerOf(e, 'X-FORWARDED-PROTO')).toBe('http');
    expect(headerOf(e, 'origin')).toBe(undefined);
  });

  it('always adds the security headers, and HEAD drops the body', () => {
    const page = { status: 405, body: '<p>no</p>', headers: { allow: 'GET' } };
    expect(toFunctionUrlResult(page)).toEqual({
      statusCode: 405,
      headers: { ...SECURITY_HEADERS, allow: 'GET' },
      body: '<p>no</p>',
      isBase64Encoded: false,
    });
    expect(toFunctionUrlResult(page, true).body).toBe('');
  });
});
