import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApprovalPageHandler } from '../../handlers/approval-page';
import { createRequestApprovalHandler } from '../../handlers/request-approval';
import { hashCapability } from '../../handlers/shared/capability';
import { readAttestation } from '../../handlers/shared/decision-signing';
import { createLogger } from '../../handlers/shared/logger';
import { approvalDecisionSchema } from '../../lib/contracts';
import { LocalDecisionKey } from '../../lib/local/decision-key';
import { type FunctionUrlServer, serveFunctionUrl } from '../../lib/local/http-adapter';
import { MemoryApprovalStore } from '../../lib/local/memory-store';
import { type LocalOidcProvider, startLocalOidcProvider } from '../../lib/local/oidc-provider';
import {
  counterBytes,
  planResult,
  request,
  requestApprovalPayload,
  settings,
} from '../handlers/support/fixtures';
import { RecordingNotifier } from '../handlers/support/recording-notifier';
import { launchChromium, type SharedPage, sharedPage } from './chromium';

/**
 * Approver sign-in end to end in headless Chromium: the real approval page (node:http adapter)
 * and a real OpenID provider on loopback (lib/local/oidc-provider.ts), through the authorization
 * code flow with PKCE, the provider's login page, the callback and the session cookie.
 */

const sfnMock = mockClient(SFNClient);
const store = new MemoryApprovalStore();
const notifier = new RecordingNotifier();
// The provider's tokens carry the real time, so the page runs on the real clock too.
const clock = () => new Date();
const logger = createLogger('sign-in-browser-test');
logger.setLogLevel('ERROR');
const signer = LocalDecisionKey.generate();
const approvers = [
  { name: 'Alice Admin', email: 'alice@example.com' },
  { name: 'Carol Chief', email: 'carol@example.com' },
];

let browser: Browser;
let server: FunctionUrlServer;
let provider: LocalOidcProvider;
let shared: SharedPage;
let context: BrowserContext;
let page: Page;
let runCount = 0;

async function newRun(options: { requestedBy?: string; approvalsRequired?: number } = {}) {
  runCount += 1;
  const runId = `sign-in-${runCount}`;
  const executionArn = `arn:aws:states:us-east-1:123456789012:execution:deploy-runner:${runId}`;
  await createRequestApprovalHandler({
    settings: { ...settings, approvalBaseUrl: server.url },
    store,
    notifier,
    clock,
    randomBytes: counterBytes(runCount * 100),
    logger,
  })({
    ...requestApprovalPayload({
      plan: planResult(),
      approvers,
      approvalsRequired: options.approvalsRequired ?? 1,
    }),
    executionArn,
    request: {
      ...request,
      executionArn,
      runId,
      lockExpiresAt: String(Math.floor(Date.now() / 1000) + 3600),
      ...(options.requestedBy ? { requestedBy: options.requestedBy } : {}),
    },
  });
  const sent = notifier.emails.filter((e) => e.text.includes(runId));
  const link = (to: string) =>
    /http:\/\/127\.0\.0\.1:\d+\/a\/[A-Za-z0-9_-]{43}/.exec(
      sent.find((e) => e.to === to)?.text ?? '',
    )?.[0] as string;
  return { executionArn, alice: link('alice@example.com'), carol: link('carol@example.com') };
}

/** What a decision would have spent: the run's decisions and status, and the links' status. */
async function spent(run: { executionArn: string; alice: string; carol: string }) {
  const stored = await store.getRun(run.executionArn);
  const linkOf = async (url: string) =>
    (await store.getLink(hashCapability(new URL(url).pathname.split('/')[2] as string)))?.status;
  return {
    status: stored?.status,
    decisions: Object.keys(stored?.decisions ?? {}),
    links: [await linkOf(run.alice), await linkOf(run.carol)],
    sent: sfnMock.commandCalls(SendTaskSuccessCommand).length,
  };
}
const nothingSpent = { status: 'pending', decisions: [], links: ['open', 'open'], sent: 0 };

/** Clicks "Sign in to decide" and signs in at the provider's login page as `login`. */
async function signInAs(login: string) {
  await page.click('#sign-in');
  await page.waitForURL((url) => url.href.startsWith(provider.issuer));
  await page.fill('input[name=login]', login);
  await Promise.all([
    page.waitForURL((url) => url.href.startsWith(server.url)),
    page.click('button[type=submit]'),
  ]);
}

beforeAll(async () => {
  provider = await startLocalOidcProvider({
    accounts: [
      { accountId: 'alice', email: 'alice@example.com', email_verified: true, name: 'Alice' },
      { accountId: 'carol', email: 'carol@example.com', email_verified: true, name: 'Carol' },
      { accountId: 'mallory', email: 'mallory@example.com', email_verified: true, name: 'M' },
    ],
    redirectUris: [],
  });
  const { approvalBaseUrl: _, ...pageSettings } = settings;
  const handler = createApprovalPageHandler({
    // No approval base URL, as in AWS: the redirect URI comes from the page's own origin.
    settings: {
      ...pageSettings,
      signIn: {
        issuer: provider.issuer,
        clientId: provider.clientId,
        clientSecretName: 'deploy-runner/oidc-client',
        claim: 'email',
      },
      signInClientSecret: provider.clientSecret,
    },
    store,
    sfn: new SFNClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    }),
    signer,
    clock,
    logger,
  });
  server = await serveFunctionUrl(handler);
  provider.setRedirectUris([`${server.url}/a/signin`]);
  browser = await launchChromium();
  shared = await sharedPage(browser, { viewport: { width: 900, height: 900 } });
  ({ context, page } = shared);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await provider?.close();
});

beforeEach(async () => {
  sfnMock.reset();
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  await shared.reset();
});

describe('approver sign-in in Chromium, against the local OpenID provider', () => {
  it('the right approver signs in and approves; the signed record names who signed in', async () => {
    const run = await newRun();
    await page.goto(run.alice);
    expect(await page.locator('#decide-h').textContent()).toBe('Sign in to decide, Alice Admin');
    expect(await page.locator('form.decide').count()).toBe(0);
    await signInAs('alice@example.com');
    expect(page.url()).toBe(run.alice);
    expect(await page.locator('#signed-in').textContent()).toBe('Signed in as alice@example.com.');
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'dr_signin');
    expect(session).toMatchObject({
      httpOnly: true,
      sameSite: 'Lax',
      path: new URL(run.alice).pathname,
    });
    await page.click('button.approve');
    await expect(page.locator('h1').textContent()).resolves.toBe('Approved: the apply starts now');
    const calls = sfnMock.commandCalls(SendTaskSuccessCommand);
    expect(calls).toHaveLength(1);
    const output = approvalDecisionSchema.parse(
      JSON.parse(calls[0]?.args[0].input.output as string),
    );
    const record = await readAttestation(signer.verifier(), output.attestation as never);
    expect(record.approvers).toEqual([
      expect.objectContaining({
        id: 'alice@example.com',
        verified: { issuer: provider.issuer, sub: 'alice', identity: 'alice@example.com' },
      }),
    ]);
  });

  it('signing in as another approver is refused and spends nothing', async () => {
    const run = await newRun();
    await page.goto(run.carol);
    await signInAs('alice@example.com');
    expect(await page.locator('h1').textContent()).toBe('This link is for another approver');
    expect(await page.locator('body').textContent()).toContain(
      'You signed in as alice@example.com, but this approval link belongs to Carol Chief',
    );
    expect((await context.cookies()).some((c) => c.name === 'dr_signin')).toBe(false);
    // Back on the link: still no forms.
    await page.goto(run.carol);
    expect(await page.locator('form.decide').count()).toBe(0);
    expect(await spent(run)).toEqual(nothingSpent);
  });

  it('a forwarded link cannot decide: its holder is not its approver', async () => {
    const run = await newRun();
    // Alice signs in on her own link, then forwards it; Mallory's browser has no session.
    await page.goto(run.alice);
    await signInAs('alice@example.com');
    const mallory = await browser.newContext();
    try {
      const other = await mallory.newPage();
      await other.goto(run.alice);
      expect(await other.locator('form.decide').count()).toBe(0);
      // A decision posted without a session is refused before anything is recorded.
      const posted = await mallory.request.post(run.alice, {
        form: { decision: 'approve', reason: '', nonce: 'x' },
        maxRedirects: 0,
      });
      expect(posted.status()).toBe(403);
      expect(await posted.text()).toContain('<h1>Sign in to decide</h1>');
      // Signing in as herself gets Mallory nowhere.
      await other.click('#sign-in');
      await other.fill('input[name=login]', 'mallory@example.com');
      await Promise.all([
        other.waitForURL((url) => url.href.startsWith(server.url)),
        other.click('button[type=submit]'),
      ]);
      expect(await other.locator('h1').textContent()).toBe('This link is for another approver');
      // Alice's session cookie is Alice's browser's: copied into Mallory's it names another link.
      const aliceCookie = (await context.cookies()).find((c) => c.name === 'dr_signin');
      expect(aliceCookie).toBeDefined();
      await mallory.addCookies([
        { ...(aliceCookie as NonNullable<typeof aliceCookie>), path: new URL(run.carol).pathname },
      ]);
      await other.goto(run.carol);
      expect(await other.locator('form.decide').count()).toBe(0);
    } finally {
      await mallory.close();
    }
    expect(await spent(run)).toEqual(nothingSpent);
  });

  it('the requester cannot approve their own run, signed in or not', async () => {
    const run = await newRun({ requestedBy: 'ALICE@example.com' });
    await page.goto(run.alice);
    await signInAs('alice@example.com');
    expect(await page.locator('body').textContent()).toContain(
      'You requested this run, so you cannot approve it',
    );
    expect(await page.locator('button.approve').count()).toBe(0);
    // A hand-made approve with the page's own nonce is refused too.
    const nonce = await page.inputValue('form.decide input[name=nonce]');
    // The context's request client sends the browser's cookies, so the session goes along.
    const posted = await context.request.post(run.alice, {
      form: { decision: 'approve', reason: '', nonce },
      maxRedirects: 0,
    });
    expect(posted.status()).toBe(403);
    expect(await posted.text()).toContain('<h1>You cannot approve your own run</h1>');
    expect(await spent(run)).toEqual(nothingSpent);
  });

  it('scanner GETs change nothing with sign-in on', async () => {
    const run = await newRun();
    const before = store.snapshot();
    const requestContext = context.request;
    for (const url of [run.alice, run.carol, `${run.alice}?signin`, `${server.url}/a/signin`]) {
      const get = await requestContext.get(url, { maxRedirects: 0 });
      expect(get.status(), url).toBeLessThan(500);
      const head = await requestContext.head(url, { maxRedirects: 0 });
      expect(head.status(), url).toBeLessThan(500);
    }
    const forged = await requestContext.get(`${server.url}/a/signin?code=stolen&state=guess`, {
      maxRedirects: 0,
    });
    expect(forged.status()).toBe(400);
    expect(store.snapshot()).toBe(before);
    expect(await spent(run)).toEqual(nothingSpent);
  });
});
