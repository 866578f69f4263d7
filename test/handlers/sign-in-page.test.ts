import { randomBytes } from 'node:crypto';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createApprovalPageHandler } from '../../handlers/approval-page';
import { createRequestApprovalHandler } from '../../handlers/request-approval';
import { hashCapability } from '../../handlers/shared/capability';
import { createLogger } from '../../handlers/shared/logger';
import { signInKey, signSession } from '../../handlers/shared/sign-in/cookies';
import { MemoryApprovalStore } from '../../lib/local/memory-store';
import { CLIENT_ID, CLIENT_SECRET, fakeIdp, ISSUER } from './support/fake-idp';
import {
  pageEvent,
  planResult,
  request,
  requestApprovalPayload,
  settings,
} from './support/fixtures';
import { RecordingNotifier } from './support/recording-notifier';

const sfnMock = mockClient(SFNClient);
const logger = createLogger('sign-in-page-test');
logger.setLogLevel('ERROR');
const approvers = [
  { name: 'Alice Admin', email: 'alice@example.com' },
  { name: 'Carol Chief', email: 'carol@example.com' },
];
const signIn = { issuer: ISSUER, clientId: CLIENT_ID, clientSecretName: 'oidc', claim: 'email' };

async function setup(options: { signInOn?: boolean } = {}) {
  const store = new MemoryApprovalStore();
  const notifier = new RecordingNotifier();
  const clock = () => new Date();
  await createRequestApprovalHandler({ settings, store, notifier, clock, randomBytes, logger })({
    ...requestApprovalPayload({ plan: planResult(), approvers }),
    request: { ...request, lockExpiresAt: String(Math.floor(Date.now() / 1000) + 3600) },
  });
  const idp = await fakeIdp();
  const handler = createApprovalPageHandler({
    settings: {
      ...settings,
      ...(options.signInOn === false ? {} : { signIn, signInClientSecret: CLIENT_SECRET }),
    },
    store,
    sfn: new SFNClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    }),
    clock,
    logger,
    fetch: idp.fetch,
  });
  const path = (to: string) => new URL(notifier.linkFor(to)).pathname;
  return {
    store,
    handler,
    idp,
    alice: path('alice@example.com'),
    carol: path('carol@example.com'),
  };
}

const withCookies = (event: ReturnType<typeof pageEvent>, cookies: string[], query = '') => ({
  ...event,
  cookies,
  rawQueryString: query,
});
const capabilityOf = (path: string) => path.split('/')[2] as string;
const nonceOf = (body: string) => /name="nonce" value="([^"]+)"/.exec(body)?.[1] ?? '';

beforeEach(() => {
  sfnMock.reset();
  sfnMock.on(SendTaskSuccessCommand).resolves({});
});

describe('approval page with approvals.signIn', () => {
  it('shows "Sign in to decide" instead of the forms, and the GET writes nothing', async () => {
    const { store, handler, alice } = await setup();
    const before = store.snapshot();
    const page = await handler(pageEvent('GET', alice));
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('href="?signin"');
    expect(page.body).not.toContain('<form');
    expect(page.body).not.toContain(capabilityOf(alice));
    expect(store.snapshot()).toBe(before);
  });

  it('starts sign-in from ?signin with a redirect to the provider, writing nothing', async () => {
    const { store, handler, alice } = await setup();
    const before = store.snapshot();
    const page = await handler(withCookies(pageEvent('GET', alice), [], 'signin'));
    expect(page.statusCode).toBe(303);
    expect(page.headers.location).toMatch(/^https:\/\/idp\.test\/auth\?/);
    expect(page.headers.location).toContain(
      encodeURIComponent('https://approve.example.com/a/signin'),
    );
    expect(page.cookies?.[0]).toMatch(/^dr_signin_flow=.*; Path=\/a\/signin; /);
    expect(store.snapshot()).toBe(before);
  });

  it('refuses a decision with a tampered session or one for another link; nothing is spent', async () => {
    const { store, handler, alice, carol } = await setup();
    const key = signInKey(Buffer.from(settings.pageSecret as string, 'utf8'), 'session');
    const exp = Math.floor(Date.now() / 1000) + 600;
    const subject = { issuer: ISSUER, sub: '00u-alice', identity: 'alice@example.com' };
    const forCarol = signSession(key, {
      v: 1,
      linkHash: hashCapability(capabilityOf(carol)),
      subject,
      exp,
    });
    const forAlice = signSession(key, {
      v: 1,
      linkHash: hashCapability(capabilityOf(alice)),
      subject,
      exp,
    });
    // Alice's genuine session shows her forms, so the nonce below is a real one.
    const shown = await handler(withCookies(pageEvent('GET', alice), [`dr_signin=${forAlice}`]));
    expect(shown.body).toContain('Signed in as alice@example.com.');
    const nonce = nonceOf(shown.body);
    const before = store.snapshot();
    const [payload, mac] = forAlice.split('.') as [string, string];
    const tampered = `${payload.slice(0, -2)}xx.${mac}`;
    for (const cookie of [`dr_signin=${forCarol}`, `dr_signin=${tampered}`]) {
      const posted = await handler(
        withCookies(pageEvent('POST', alice, { decision: 'approve', reason: '', nonce }), [cookie]),
      );
      expect(posted.statusCode, cookie).toBe(403);
      expect(posted.body).toContain('<h1>Sign in to decide</h1>');
    }
    // Alice's session on Carol's link: another person's link, no forms and no decision.
    const onCarol = await handler(withCookies(pageEvent('GET', carol), [`dr_signin=${forAlice}`]));
    expect(onCarol.body).not.toContain('<form');
    expect(store.snapshot()).toBe(before);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });

  it('leaves the page as it was when sign-in is off', async () => {
    const { handler, alice } = await setup({ signInOn: false });
    const page = await handler(pageEvent('GET', alice));
    expect(page.body).toContain('<form method="post"');
    expect(page.body).not.toContain('?signin');
    const callback = await handler(pageEvent('GET', '/a/signin'));
    expect(callback.statusCode).toBe(404);
    expect(callback.cookies).toBeUndefined();
  });
});
