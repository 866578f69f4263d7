import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeExecutionCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type * as ApprovalPageModule from '../../handlers/approval-page';
import {
  createApprovalPageHandler,
  crossSiteProblem,
  isRequester,
  handler as lambdaHandler,
} from '../../handlers/approval-page';
import { createNotifyHandler } from '../../handlers/notify';
import { createRequestApprovalHandler } from '../../handlers/request-approval';
import { MAX_PLAN_RESOURCES, MAX_PLAN_TEXT_BYTES } from '../../handlers/shared/approval-views';
import { MAX_PLAN_TEXT_READ_BYTES } from '../../handlers/shared/artifacts';
import { type DecisionSigner, readAttestation } from '../../handlers/shared/decision-signing';
import { SettingsError } from '../../handlers/shared/errors';
import { createLogger } from '../../handlers/shared/logger';
import { type ApprovalStore, DynamoApprovalStore } from '../../handlers/shared/store';
import { createVerifyApprovalHandler } from '../../handlers/verify-approval';
import {
  ArtifactNotFoundError,
  type ArtifactObject,
  type ArtifactStore,
  ArtifactTooLargeError,
} from '../../lib/artifact-store';
import { FolderArtifactStore } from '../../lib/artifacts/folder-store';
import { S3ArtifactStore } from '../../lib/artifacts/s3-store';
import {
  type ApproverContract,
  approvalDecisionSchema,
  artifactKeys,
  type PlanResult,
  type RunRequest,
} from '../../lib/contracts';
import { LocalDecisionKey } from '../../lib/local/decision-key';
import { MemoryApprovalStore } from '../../lib/local/memory-store';
import { fakeDynamo, testDocumentClient } from './support/fake-dynamo';
import {
  approvers,
  captureOutput,
  counterBytes,
  destructivePlan,
  EXECUTION_ARN,
  pageEvent,
  planResult,
  request,
  requestApprovalPayload,
  settings,
  sha,
  TASK_TOKEN,
  testClock,
} from './support/fixtures';
import { RecordingNotifier } from './support/recording-notifier';

const sfnMock = mockClient(SFNClient);
const ddbMock = mockClient(DynamoDBDocumentClient);
const secretsMock = mockClient(SecretsManagerClient);

interface SetupOptions {
  plan?: PlanResult;
  /** The page's read access to run artifacts (the plan text). */
  artifacts?: Pick<ArtifactStore, 'get'>;
  approvalsRequired?: number;
  request?: RunRequest;
  approvers?: readonly ApproverContract[];
  store?: ApprovalStore;
  /** Log at INFO (tests that read the logs). */
  verbose?: boolean;
  /** The page's cap on plan text. */
  maxPlanTextBytes?: number;
  /** Signs approvals. */
  signer?: DecisionSigner;
}

async function setup(options: SetupOptions = {}) {
  const store = options.store ?? new MemoryApprovalStore();
  const notifier = new RecordingNotifier();
  const clock = testClock();
  const logger = createLogger('approval-page-test', options.verbose ? { logLevel: 'INFO' } : {});
  await createRequestApprovalHandler({
    settings,
    store,
    notifier,
    clock,
    randomBytes: counterBytes(),
    logger,
  })(
    requestApprovalPayload({
      ...(options.plan ? { plan: options.plan } : {}),
      ...(options.request ? { request: options.request } : {}),
      ...(options.approvers ? { approvers: options.approvers } : {}),
      approvalsRequired: options.approvalsRequired ?? 1,
    }),
  );
  const handler = createApprovalPageHandler({
    settings,
    store,
    sfn: new SFNClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    }),
    clock,
    randomBytes: counterBytes(1000),
    logger,
    ...(options.artifacts ? { artifacts: options.artifacts } : {}),
    ...(options.maxPlanTextBytes ? { maxPlanTextBytes: options.maxPlanTextBytes } : {}),
    ...(options.signer ? { signer: options.signer } : {}),
  });
  const bodies: string[] = [];
  const call = async (...args: Parameters<typeof pageEvent>) => {
    const result = await handler(pageEvent(...args));
    bodies.push(JSON.stringify(result));
    return result;
  };
  const pathOf = (link: string) => new URL(link).pathname;
  const links = {
    alice: pathOf(notifier.linkFor('alice@example.com')),
    bob: pathOf(notifier.linkFor('U0BOB1234')),
    carol: pathOf(notifier.linkFor('carol@example.com')),
  };
  const nonceOf = (body: string) => /name="nonce" value="([^"]+)"/.exec(body)?.[1] ?? '';
  /** Opens the page and submits one of its forms. */
  const submit = async (path: string, form: Record<string, string>) => {
    const page = await call('GET', path);
    return call('POST', path, { nonce: nonceOf(page.body), ...form });
  };
  return { store, notifier, clock, handler, call, submit, links, nonceOf, bodies, logger };
}

const decisions = () =>
  sfnMock.commandCalls(SendTaskSuccessCommand).map((c) => {
    expect(c.args[0].input.taskToken).toBe(TASK_TOKEN);
    return approvalDecisionSchema.parse(JSON.parse(c.args[0].input.output as string));
  });

beforeEach(() => {
  sfnMock.reset();
  ddbMock.reset();
  secretsMock.reset();
  sfnMock.on(SendTaskSuccessCommand).resolves({});
});

describe('GET: the confirmation page', () => {
  it('renders the summary with security headers, a nonce and no script', async () => {
    const t = await setup();
    const res = await t.call('GET', t.links.alice);
    expect(res.statusCode).toBe(200);
    const style = /<style>([\s\S]*?)<\/style>/.exec(res.body)?.[1] ?? '';
    const hash = createHash('sha256').update(style).digest('base64');
    expect(res.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': `default-src 'none'; style-src 'sha256-${hash}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    for (const text of [
      '<html lang="en">',
      'name="viewport"',
      'infra',
      'envs/prod',
      planResult().commit,
      'dora@example.com',
      'https://github.com/acme/infra/actions/runs/42',
      'aws_lambda_function.api',
      'Approve and apply',
      'Reject',
      'Decide before',
      '2025-11-26 09:59 UTC',
      'Your decision, Alice Admin',
      '0 of 1 required approval',
    ])
      expect(res.body).toContain(text);
    expect(res.body).not.toMatch(/<script|javascript:|\son[a-z]+=/i);
    expect(t.nonceOf(res.body)).toMatch(/^\d+\.[A-Za-z0-9_-]{43}$/);
    expect(res.body).not.toContain(TASK_TOKEN);
    expect(res.body).not.toContain(t.links.alice.slice(3));
    // Accessible: every input that a person fills has a label.
    for (const id of res.body.matchAll(
      /<(?:input|textarea) type="text" id="([^"]+)"|<textarea id="([^"]+)"/g,
    ))
      expect(res.body).toContain(`for="${id[1] ?? id[2]}"`);
  });

  it('changes nothing, however often it is fetched (mail scanners follow links)', async () => {
    const t = await setup();
    const store = t.store as MemoryApprovalStore;
    const before = store.snapshot();
    for (let i = 0; i < 3; i++) {
      expect((await t.call('GET', t.links.alice)).statusCode).toBe(200);
      expect((await t.call('HEAD', t.links.bob)).body).toBe('');
    }
    expect(store.snapshot()).toBe(before);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });

  it('sends no write to DynamoDB on GET', async () => {
    const table = fakeDynamo(ddbMock);
    const t = await setup({
      store: new DynamoApprovalStore(testDocumentClient(), settings.tableName),
    });
    ddbMock.resetHistory();
    const before = table.snapshot();
    expect((await t.call('GET', t.links.alice)).statusCode).toBe(200);
    expect((await t.call('GET', '/a/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).statusCode).toBe(
      404,
    );
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(0);
    expect(ddbMock.commandCalls(DeleteCommand)).toHaveLength(0);
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
    expect(ddbMock.calls().length).toBeGreaterThan(0);
    expect(table.snapshot()).toBe(before);
  });

  it('lists destroys and replaces first, highlighted, and asks for the typed path', async () => {
    const t = await setup({ plan: destructivePlan() });
    const { body } = await t.call('GET', t.links.alice);
    const destroyed = body.indexOf('aws_s3_bucket.old_logs');
    const replaced = body.indexOf('aws_db_instance.main');
    const created = body.indexOf('aws_sqs_queue.jobs');
    expect(destroyed).toBeGreaterThan(0);
    expect(replaced).toBeLessThan(created);
    expect(destroyed).toBeLessThan(created);
    expect(body).toContain('class="danger"');
    expect(body).toContain('Destroyed or replaced (2)');
    expect(body).toMatch(/<input type="text" id="confirm" name="confirm" required/);
  });

  it('escapes everything that comes from the run', async () => {
    const t = await setup({
      request: { ...request, requestedBy: '<img src=x onerror=alert(1)>' },
      plan: planResult({
        changes: [{ address: 'aws_s3_bucket.x["<script>alert(1)</script>"]', actions: ['create'] }],
      }),
    });
    const { body } = await t.call('GET', t.links.alice);
    expect(body).not.toContain('<script>');
    expect(body).not.toContain('<img');
    expect(body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(body).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('answers unknown links, other paths and methods with clear pages', async () => {
    const t = await setup();
    const unknown = await t.call('GET', '/a/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    expect([unknown.statusCode, unknown.body]).toEqual([
      404,
      expect.stringContaining('Unknown approval link'),
    ]);
    expect((await t.call('GET', '/a/short')).statusCode).toBe(404);
    expect((await t.call('GET', '/')).statusCode).toBe(404);
    expect((await t.call('GET', '/favicon.ico')).statusCode).toBe(404);
    const put = await t.call('PUT', t.links.alice);
    expect(put.statusCode).toBe(405);
    expect(put.headers.allow).toBe('GET, POST');
    expect(put.headers['content-security-policy']).toContain("default-src 'none'");
  });
});

describe('POST: deciding', () => {
  it('approves: SendTaskSuccess once with the decision, other links voided, replay refused', async () => {
    const t = await setup();
    const res = await t.submit(t.links.alice, { decision: 'approve', reason: 'looks right' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Approved: the apply starts now');
    expect(decisions()).toEqual([
      {
        approved: true,
        approver: 'Alice Admin',
        reason: 'looks right',
        decidedAt: '2025-11-25T10:00:00.000Z',
        planSha256: planResult().planSha256,
      },
    ]);
    const replay = await t.call('POST', t.links.alice, { nonce: 'x', decision: 'approve' });
    expect(replay.statusCode).toBe(409);
    expect(replay.body).toContain('You already decided');
    const other = await t.call('GET', t.links.bob);
    expect(other.statusCode).toBe(409);
    expect(other.body).toContain('already decided');
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
  });

  it('accepts a base64-encoded form body (as Function URLs may send it)', async () => {
    const t = await setup();
    const page = await t.call('GET', t.links.alice);
    const res = await t.call(
      'POST',
      t.links.alice,
      { nonce: t.nonceOf(page.body), decision: 'approve' },
      { base64: true },
    );
    expect(res.statusCode).toBe(200);
    expect(decisions()[0]?.reason).toBe('');
  });

  it('rejects with the reason, which the decision carries', async () => {
    const t = await setup();
    const missing = await t.submit(t.links.bob, { decision: 'reject', reason: '   ' });
    expect(missing.statusCode).toBe(400);
    expect(missing.body).toContain('Say why you reject');
    const res = await t.submit(t.links.bob, {
      decision: 'reject',
      reason: 'not during the freeze',
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Rejected: nothing will be applied');
    expect(decisions()).toEqual([
      expect.objectContaining({
        approved: false,
        approver: 'Bob Builder',
        reason: 'not during the freeze',
      }),
    ]);
    expect((await t.call('GET', t.links.alice)).statusCode).toBe(409);
  });

  it('refuses a missing, forged, foreign or stale nonce with 403', async () => {
    const t = await setup();
    const page = await t.call('GET', t.links.alice);
    const nonce = t.nonceOf(page.body);
    const bobNonce = t.nonceOf((await t.call('GET', t.links.bob)).body);
    const forms: Record<string, string>[] = [
      { decision: 'approve' },
      { decision: 'approve', nonce: `${nonce.split('.')[0]}.${'A'.repeat(43)}` },
      { decision: 'approve', nonce: 'garbage' },
      { decision: 'approve', nonce: bobNonce },
    ];
    for (const form of forms) {
      const res = await t.call('POST', t.links.alice, form);
      expect(res.statusCode).toBe(403);
      expect(res.body).toContain('reload');
    }
    t.clock.advance(31 * 60);
    const stale = await t.call('POST', t.links.alice, { nonce, decision: 'approve' });
    expect([stale.statusCode, stale.body.includes('open for too long')]).toEqual([403, true]);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    expect((await t.call('GET', t.links.alice)).statusCode).toBe(200);
  });

  it('answers bad forms with 400 and oversized bodies with 413', async () => {
    const t = await setup();
    expect((await t.submit(t.links.alice, { decision: 'maybe' })).statusCode).toBe(400);
    const tooLong = await t.submit(t.links.alice, {
      decision: 'approve',
      reason: 'x'.repeat(1001),
    });
    expect([tooLong.statusCode, tooLong.body.includes('under 1000 characters')]).toEqual([
      400,
      true,
    ]);
    const json = await t.call('POST', t.links.alice, '{"decision":"approve"}', {
      contentType: 'application/json',
    });
    expect(json.statusCode).toBe(400);
    const huge = await t.call('POST', t.links.alice, { reason: 'x'.repeat(20_000) });
    expect(huge.statusCode).toBe(413);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });

  it('demands the typed path when the plan destroys or replaces', async () => {
    const t = await setup({ plan: destructivePlan() });
    const without = await t.submit(t.links.alice, { decision: 'approve' });
    expect(without.statusCode).toBe(400);
    expect(without.body).toContain('type the path &quot;envs/prod&quot; exactly');
    const wrong = await t.submit(t.links.alice, { decision: 'approve', confirm: 'envs/dev' });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.body).toContain('value="envs/dev"');
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    const right = await t.submit(t.links.alice, { decision: 'approve', confirm: ' envs/prod ' });
    expect(right.statusCode).toBe(200);
    expect(decisions()).toHaveLength(1);
  });

  it('does not demand the typed path to reject a destructive plan', async () => {
    const t = await setup({ plan: destructivePlan() });
    expect(
      (await t.submit(t.links.alice, { decision: 'reject', reason: 'too risky' })).statusCode,
    ).toBe(200);
  });
});

describe('cross-site form posts', () => {
  /** Opens Alice's page, then posts its own valid form with the given browser headers. */
  async function postWith(headers: Record<string, string>) {
    const t = await setup();
    const page = await t.call('GET', t.links.alice);
    const event = pageEvent('POST', t.links.alice, {
      nonce: t.nonceOf(page.body),
      decision: 'approve',
    });
    event.headers = { ...event.headers, ...headers };
    const res = await t.handler(event);
    const run = await t.store.getRun(EXECUTION_ARN);
    return { res, decisions: Object.keys(run?.decisions ?? {}) };
  }

  for (const headers of [
    { origin: 'https://evil.example' },
    { origin: 'null', 'sec-fetch-site': 'cross-site' },
    { origin: 'http://approve.example.com' },
    { origin: 'https://approve.example.com.evil.example' },
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'same-site', origin: 'https://approve.example.com' },
  ] as Record<string, string>[])
    it(`refuses a decision posted with ${JSON.stringify(headers)}, before reading it`, async () => {
      const { res, decisions } = await postWith(headers);
      expect(res.statusCode).toBe(403);
      expect(res.body).toContain('This form came from another site');
      expect(decisions).toEqual([]);
      expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    });

  for (const headers of [
    {},
    { origin: 'https://approve.example.com', 'sec-fetch-site': 'same-origin' },
    { origin: 'HTTPS://Approve.Example.com' },
    { 'sec-fetch-site': 'none' },
    // What Chromium sends for the page's own form under its no-referrer policy.
    { origin: 'null', 'sec-fetch-site': 'same-origin' },
  ] as Record<string, string>[])
    it(`accepts the page's own form with ${JSON.stringify(headers)}`, async () => {
      const { res, decisions } = await postWith(headers);
      expect(res.statusCode).toBe(200);
      expect(decisions).toEqual(['alice@example.com']);
    });

  it('takes the page origin from the host and the scheme its front end reports', () => {
    const event = (headers: Record<string, string>) => {
      const e = pageEvent('POST', '/a/x', {});
      e.headers = { ...headers };
      return e;
    };
    const local = { host: '127.0.0.1:4567', 'x-forwarded-proto': 'http' };
    expect(crossSiteProblem(event({ ...local, origin: 'http://127.0.0.1:4567' }), {})).toBe(
      undefined,
    );
    expect(crossSiteProblem(event({ ...local, origin: 'http://127.0.0.1:4568' }), {})).toMatch(
      /Origin "http:\/\/127\.0\.0\.1:4568" is not the page's own/,
    );
    // Without x-forwarded-proto the page is HTTPS, as a Function URL always is.
    expect(
      crossSiteProblem(
        event({
          host: 'abc.lambda-url.eu-west-1.on.aws',
          origin: 'http://abc.lambda-url.eu-west-1.on.aws',
        }),
        {},
      ),
    ).toBeDefined();
    expect(
      crossSiteProblem(
        event({
          host: 'abc.lambda-url.eu-west-1.on.aws',
          origin: 'https://abc.lambda-url.eu-west-1.on.aws',
        }),
        {},
      ),
    ).toBe(undefined);
    // The configured base URL is the page's too.
    expect(
      crossSiteProblem(event({ host: 'internal', origin: 'https://approve.example.com' }), {
        approvalBaseUrl: 'https://approve.example.com/prefix',
      }),
    ).toBe(undefined);
  });
});

describe('self-approval', () => {
  for (const [label, requestedBy] of [
    ['email, any case', 'ALICE@example.com'],
    ['display name', 'alice admin'],
  ] as const) {
    it(`refuses the requester's own approval when identities match (${label})`, async () => {
      const t = await setup({ request: { ...request, requestedBy } });
      const page = await t.call('GET', t.links.alice);
      expect(page.body).toContain('You requested this run, so you cannot approve it');
      expect(page.body).not.toContain('Approve and apply');
      const res = await t.call('POST', t.links.alice, {
        nonce: t.nonceOf(page.body),
        decision: 'approve',
      });
      expect(res.statusCode).toBe(403);
      expect(res.body).toContain('You cannot approve your own run');
      expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
      // Another approver still can, and the requester may still reject.
      expect((await t.call('GET', t.links.bob)).body).toContain('Approve and apply');
      expect(
        (await t.submit(t.links.alice, { decision: 'reject', reason: 'wrong branch' })).statusCode,
      ).toBe(200);
    });
  }

  it('matches Slack user IDs too, and nobody when the requester is unknown', () => {
    const bob = { id: 'U0BOB1234', name: 'Bob', slackUserId: 'U0BOB1234' };
    expect(isRequester({ request: { ...request, requestedBy: 'u0bob1234' } }, bob)).toBe(true);
    const { requestedBy: _, ...anonymous } = request;
    expect(isRequester({ request: anonymous }, bob)).toBe(false);
    expect(isRequester({ request }, bob)).toBe(false);
  });
});

describe('self-approval under a CI login', () => {
  /** Alice also signs in to CI as `alice-gh`; CI reports that login as `requestedBy`. */
  const withLogins = approvers.map((a) =>
    a.email === 'alice@example.com' ? { ...a, ciLogins: ['alice-gh', 'a.admin'] } : a,
  );

  for (const requestedBy of ['alice-gh', 'ALICE-GH', ' a.admin ', 'ａｌｉｃｅ－ｇｈ']) {
    it(`refuses Alice's approval of a run CI requested as ${JSON.stringify(requestedBy)}`, async () => {
      const t = await setup({ approvers: withLogins, request: { ...request, requestedBy } });
      const page = await t.call('GET', t.links.alice);
      expect(page.body).toContain('You requested this run, so you cannot approve it');
      const res = await t.call('POST', t.links.alice, {
        nonce: t.nonceOf(page.body),
        decision: 'approve',
      });
      expect(res.statusCode).toBe(403);
      expect(res.body).toContain('You cannot approve your own run');
      expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
      // Bob's logins are not Alice's: he still approves.
      expect((await t.submit(t.links.bob, { decision: 'approve' })).statusCode).toBe(200);
      expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
    });
  }

  it('keeps the CI logins with the run, so the page can compare them', async () => {
    const t = await setup({ approvers: withLogins });
    const run = await t.store.getRun(EXECUTION_ARN);
    expect(run?.approvers.find((a) => a.id === 'alice@example.com')?.ciLogins).toEqual([
      'alice-gh',
      'a.admin',
    ]);
  });
});

describe('isRequester (property)', () => {
  const loginArb = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/);
  /** The same login as a person or a CI system may spell it: case, fullwidth forms, padding. */
  const spellingArb = (login: string) =>
    fc
      .tuple(
        fc.array(fc.constantFrom('lower', 'upper', 'fullwidth', 'fullwidth-upper'), {
          minLength: login.length,
          maxLength: login.length,
        }),
        fc.constantFrom('', ' ', '\u3000', '\u00a0', '\t'),
        fc.constantFrom('', ' ', '\u3000', '\n'),
      )
      .map(([forms, before, after]) => {
        const chars = [...login].map((c, i) => {
          const form = forms[i];
          const cased = form === 'upper' || form === 'fullwidth-upper' ? c.toUpperCase() : c;
          // Fullwidth forms (U+FF01..U+FF5E) are ASCII shifted by 0xFEE0; NFKC maps them back.
          return form?.startsWith('fullwidth')
            ? String.fromCharCode(cased.charCodeAt(0) + 0xfee0)
            : cased;
        });
        return `${before}${chars.join('')}${after}`;
      });
  const approverWith = (login: string) => ({
    id: 'someone@example.com',
    name: 'Some One',
    email: 'someone@example.com',
    ciLogins: ['other-login-Ω', login],
  });
  const asRequest = (requestedBy: string) => ({ request: { ...request, requestedBy } });

  it('a login in any case, fullwidth or padded, is still the approver: 2,000 spellings', () => {
    fc.assert(
      fc.property(
        loginArb.chain((login) => fc.tuple(fc.constant(login), spellingArb(login))),
        ([login, spelled]) =>
          isRequester(asRequest(spelled), approverWith(login)) &&
          isRequester(asRequest(login), approverWith(spelled)),
      ),
      { numRuns: 2000 },
    );
  });

  it('a different login is never the approver: 2,000 pairs', () => {
    fc.assert(
      fc.property(
        fc
          .tuple(loginArb, loginArb)
          .filter(([a, b]) => a !== b)
          .chain(([a, b]) => fc.tuple(fc.constant(a), spellingArb(b))),
        ([login, other]) => !isRequester(asRequest(other), approverWith(login)),
      ),
      { numRuns: 2000 },
    );
  });

  it('the fold covers compatibility forms beyond fullwidth', () => {
    const approver = approverWith('jose');
    expect(isRequester(asRequest('JOSE'), approver)).toBe(true);
    // Long s (ſ) folds to s; a ligature (ﬀ) to ff; a circled letter to its letter.
    expect(isRequester(asRequest('joſe'), approver)).toBe(true);
    expect(isRequester(asRequest('staﬀ'), approverWith('staff'))).toBe(true);
    expect(isRequester(asRequest('ⓙose'), approver)).toBe(true);
    expect(isRequester(asRequest('josé'), approver)).toBe(false);
    expect(isRequester(asRequest('   '), approverWith(' '))).toBe(false);
  });
});

describe('N of M', () => {
  it('completes the task once the required number of distinct approvers agreed', async () => {
    const t = await setup({ approvalsRequired: 2 });
    const first = await t.submit(t.links.alice, { decision: 'approve', reason: 'ok' });
    expect(first.statusCode).toBe(200);
    expect(first.body).toContain('1 of 2 required approvals so far');
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    const page = await t.call('GET', t.links.bob);
    expect(page.body).toContain('Alice Admin</strong> approved');
    expect(page.body).toContain('1 of 2 required approvals');
    const second = await t.submit(t.links.bob, { decision: 'approve' });
    expect(second.statusCode).toBe(200);
    expect(decisions()).toEqual([
      expect.objectContaining({
        approved: true,
        approver: 'Alice Admin, Bob Builder',
        reason: 'Alice Admin: ok',
      }),
    ]);
    expect((await t.call('GET', t.links.carol)).statusCode).toBe(409);
  });

  it('rejects the run on any rejection, even after approvals', async () => {
    const t = await setup({ approvalsRequired: 2 });
    await t.submit(t.links.alice, { decision: 'approve' });
    await t.submit(t.links.carol, { decision: 'reject', reason: 'wait for the migration' });
    expect(decisions()).toEqual([
      expect.objectContaining({
        approved: false,
        approver: 'Carol Chief',
        reason: 'wait for the migration',
      }),
    ]);
  });

  it('sends exactly one SendTaskSuccess when the last approvals arrive together', async () => {
    const t = await setup({ approvalsRequired: 2 });
    const pages = await Promise.all([
      t.call('GET', t.links.alice),
      t.call('GET', t.links.bob),
      t.call('GET', t.links.carol),
    ]);
    const results = await Promise.all(
      [t.links.alice, t.links.bob, t.links.carol].flatMap((link, i) =>
        Array.from({ length: 5 }, () =>
          t.call('POST', link, { nonce: t.nonceOf(pages[i]?.body ?? ''), decision: 'approve' }),
        ),
      ),
    );
    expect(results.filter((r) => r.statusCode === 200).length).toBeGreaterThanOrEqual(2);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
    expect(decisions()[0]?.approved).toBe(true);
  });
});

describe('races, replays, expiry and ended runs', () => {
  it('many concurrent POSTs on one link: exactly one decision and one SendTaskSuccess', async () => {
    const t = await setup();
    const page = await t.call('GET', t.links.alice);
    const nonce = t.nonceOf(page.body);
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        t.call(
          'POST',
          t.links.alice,
          i % 2 ? { nonce, decision: 'approve' } : { nonce, decision: 'reject', reason: 'no' },
        ),
      ),
    );
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(results.filter((r) => r.statusCode === 409)).toHaveLength(29);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
    const run = await t.store.getRun(EXECUTION_ARN);
    expect(Object.keys(run?.decisions ?? {})).toHaveLength(1);
  });

  it('answers 410 once the link expired, for GET and POST', async () => {
    const t = await setup();
    const nonce = t.nonceOf((await t.call('GET', t.links.alice)).body);
    t.clock.advance(24 * 3600);
    const get = await t.call('GET', t.links.alice);
    expect(get.statusCode).toBe(410);
    expect(get.body).toContain('This link has expired');
    expect((await t.call('POST', t.links.alice, { nonce, decision: 'approve' })).statusCode).toBe(
      410,
    );
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });

  it('says the run ended when Step Functions no longer waits (TaskTimedOut → 410, TaskDoesNotExist → 409)', async () => {
    for (const [name, status] of [
      ['TaskTimedOut', 410],
      ['TaskDoesNotExist', 409],
    ] as const) {
      sfnMock.reset();
      sfnMock
        .on(SendTaskSuccessCommand)
        .rejects(Object.assign(new Error('Task Timed Out'), { name }));
      const t = await setup();
      const res = await t.submit(t.links.alice, { decision: 'approve' });
      expect(res.statusCode).toBe(status);
      expect(res.body).toContain('This run already ended');
      const run = await t.store.getRun(EXECUTION_ARN);
      expect(run?.status).toBe('ended');
      const other = await t.call('GET', t.links.bob);
      expect([other.statusCode, other.body.includes('already ended')]).toEqual([409, true]);
    }
  });

  it('shows a 500 page with a reference id, never a stack trace, and keeps the run open when SendTaskSuccess fails', async () => {
    sfnMock
      .on(SendTaskSuccessCommand)
      .rejects(Object.assign(new Error('socket hang up'), { name: 'InternalServerError' }));
    const t = await setup({ approvalsRequired: 1 });
    const out = captureOutput();
    let res: Awaited<ReturnType<typeof t.call>>;
    try {
      res = await t.submit(t.links.alice, { decision: 'approve' });
    } finally {
      out.restore();
    }
    expect(res.statusCode).toBe(500);
    const reference = /Reference: <code>([0-9a-f]{12})<\/code>/.exec(res.body)?.[1];
    expect(reference).toBeDefined();
    expect(res.body).not.toMatch(/\bat .+:\d+:\d+|socket hang up|InternalServerError/);
    expect(out.text()).toContain(reference);
    expect((await t.store.getRun(EXECUTION_ARN))?.status).toBe('pending');
  });

  it('shows a 500 page when the store fails', async () => {
    const t = await setup();
    const broken = createApprovalPageHandler({
      settings,
      store: {
        ...t.store,
        getLink: async () => Promise.reject(new Error('table gone')),
      } as unknown as ApprovalStore,
      sfn: new SFNClient({ region: 'us-east-1' }),
      logger: createLogger('quiet'),
    });
    const out = captureOutput();
    const res = await broken(pageEvent('GET', t.links.alice)).finally(() => out.restore());
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('table gone');
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('shows "already ended" after cleanup ended the run', async () => {
    const t = await setup();
    await t.store.voidLinks(EXECUTION_ARN);
    await t.store.endRun(
      EXECUTION_ARN,
      'the execution ended with status ABORTED',
      new Date().toISOString(),
    );
    const res = await t.call('GET', t.links.alice);
    expect(res.statusCode).toBe(409);
    expect(res.body).toContain('This run already ended');
  });
});

describe('signed decisions (docs/architecture.md property 8)', () => {
  const key = LocalDecisionKey.generate();

  it('an approval carries a decision signed for this run, plan, commit and its distinct approvers', async () => {
    const t = await setup({ approvalsRequired: 2, signer: key.signer() });
    await t.submit(t.links.alice, { decision: 'approve' });
    await t.submit(t.links.bob, { decision: 'approve' });
    const [sent] = decisions();
    const attestation = sent?.attestation;
    if (!attestation) throw new Error('the approval was sent unsigned');
    expect(attestation.keyId).toBe(key.keyId);
    expect(await readAttestation(key.verifier(), attestation)).toEqual({
      v: 1,
      executionArn: EXECUTION_ARN,
      runId: request.runId,
      planSha256: planResult().planSha256,
      commit: planResult().commit,
      approvers: [
        { id: 'alice@example.com', name: 'Alice Admin', decidedAt: '2025-11-25T10:00:00.000Z' },
        { id: 'U0BOB1234', name: 'Bob Builder', decidedAt: expect.any(String) },
      ],
      approvalsRequired: 2,
      decidedAt: sent.decidedAt,
    });
    // What the page sends is what Verify approval accepts.
    const verified = await createVerifyApprovalHandler({
      settings: { ...settings, approvalsRequired: 2 },
      verifier: key.verifier(),
    })({ executionArn: EXECUTION_ARN, request, plan: planResult(), approval: sent });
    expect(verified.approvers).toEqual(['Alice Admin', 'Bob Builder']);
  });

  it('a rejection is not signed', async () => {
    const t = await setup({ signer: key.signer() });
    await t.submit(t.links.alice, { decision: 'reject', reason: 'no' });
    expect(decisions()).toEqual([expect.not.objectContaining({ attestation: expect.anything() })]);
  });

  it('when signing fails, nothing is sent and the run stays open', async () => {
    const t = await setup({
      signer: {
        keyId: key.keyId,
        sign: async () => {
          throw Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
        },
      },
    });
    const res = await t.submit(t.links.alice, { decision: 'approve' });
    expect(res.statusCode).toBe(500);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    expect((await t.store.getRun(EXECUTION_ARN))?.status).toBe('pending');
  });
});

describe('the page shows how the run really ended (DescribeExecution)', () => {
  const ended = {
    status: 'FAILED',
    error: 'DeployRunner.ApprovalNotVerified',
    cause: JSON.stringify({
      errorType: 'DeployRunner.ApprovalNotVerified',
      errorMessage:
        'Approval not verified: it carries no decision signed by the approval page. Nothing was applied: only a decision made on the approval page applies.',
    }),
  } as const;

  it('never offers to decide on a run that left the approval wait without the page', async () => {
    const t = await setup();
    sfnMock.on(DescribeExecutionCommand).resolves(ended);
    const page = await t.call('GET', t.links.alice);
    expect(page.statusCode).toBe(409);
    expect(page.body).toContain('This run already ended');
    expect(page.body).toContain('Approval not verified');
    expect(page.body).not.toContain('value="approve"');
    const post = await t.call('POST', t.links.alice, {
      nonce: t.nonceOf((await t.call('GET', t.links.bob)).body),
      decision: 'approve',
    });
    expect(post.statusCode).toBe(409);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    expect(sfnMock.commandCalls(DescribeExecutionCommand)[0]?.args[0].input).toEqual({
      executionArn: EXECUTION_ARN,
    });
  });

  it.each([
    [
      'applied',
      { status: 'SUCCEEDED', output: JSON.stringify({ apply: { taskArn: 'arn:task' } }) },
      'Outcome of the run: Applied.',
    ],
    [
      'failed at apply',
      { status: 'FAILED', error: 'States.TaskFailed', cause: 'quota exceeded' },
      'Outcome of the run: Run failed (States.TaskFailed): quota exceeded.',
    ],
    ['still running', { status: 'RUNNING' }, 'The run is still running.'],
  ] as const)('after an approval, says the run was %s', async (_name, execution, sentence) => {
    const t = await setup();
    await t.submit(t.links.alice, { decision: 'approve' });
    sfnMock.on(DescribeExecutionCommand).resolves(execution);
    const page = await t.call('GET', t.links.bob);
    expect(page.statusCode).toBe(409);
    expect(page.body).toContain(sentence);
    expect(page.body).not.toContain('Nothing was applied');
  });

  it('offers the decision while the execution runs, and when its status cannot be read', async () => {
    const t = await setup();
    sfnMock.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
    expect((await t.call('GET', t.links.alice)).body).toContain('value="approve"');
    sfnMock
      .on(DescribeExecutionCommand)
      .rejects(Object.assign(new Error('no'), { name: 'AccessDeniedException' }));
    expect((await t.call('GET', t.links.alice)).body).toContain('value="approve"');
  });
});

describe('secrets', () => {
  it('never puts the task token in a page, message or log line, nor a capability in a log line', async () => {
    const out = captureOutput();
    let t: Awaited<ReturnType<typeof setup>>;
    try {
      t = await setup({ approvalsRequired: 2, verbose: true });
      await t.call('GET', t.links.alice);
      await t.call('POST', t.links.alice, { nonce: 'bad', decision: 'approve' });
      await t.submit(t.links.alice, { decision: 'approve' });
      await t.submit(t.links.bob, { decision: 'approve' });
      await t.call('GET', t.links.carol);
      await t.call('GET', `/a/${'Z'.repeat(43)}`);
    } finally {
      out.restore();
    }
    const logs = out.text();
    expect(logs).toContain('decision sent to the workflow');
    expect(logs).toContain(`"correlation_id":"${EXECUTION_ARN}"`);
    for (const line of out.lines()) expect(() => JSON.parse(line)).not.toThrow();
    for (const text of [logs, t.bodies.join('\n'), t.notifier.all()])
      expect(text).not.toContain(TASK_TOKEN);
    for (const link of Object.values(t.links)) expect(logs).not.toContain(link.slice(3));
  });

  it('reads the nonce key from Secrets Manager once when no local key is given', async () => {
    secretsMock
      .on(GetSecretValueCommand)
      .resolves({ SecretString: 'a-page-secret-from-secrets-manager' });
    const store = new MemoryApprovalStore();
    const notifier = new RecordingNotifier();
    const clock = testClock();
    await createRequestApprovalHandler({
      settings,
      store,
      notifier,
      clock,
      randomBytes: counterBytes(),
      logger: createLogger('t'),
    })(requestApprovalPayload());
    const { pageSecret: _, ...rest } = settings;
    const handler = createApprovalPageHandler({
      settings: {
        ...rest,
        pageSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:page',
      },
      store,
      sfn: new SFNClient({ region: 'us-east-1' }),
      clock,
      secrets: () => new SecretsManagerClient({ region: 'us-east-1' }),
    });
    const path = new URL(notifier.linkFor('alice@example.com')).pathname;
    const first = await handler(pageEvent('GET', path));
    await handler(pageEvent('GET', path));
    expect(first.body).toContain('name="nonce"');
    expect(secretsMock.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(() =>
      createApprovalPageHandler({
        settings: rest,
        store,
        sfn: new SFNClient({ region: 'us-east-1' }),
      }),
    ).toThrow(SettingsError);
  });
});

describe('wiring', () => {
  it('exports a Lambda entry that builds nothing on import', async () => {
    // Built on import, the entry would read its settings then and throw without them.
    const saved = { ...process.env };
    for (const name of Object.keys(process.env))
      if (name.startsWith('DR_') || name.startsWith('AWS_')) delete process.env[name];
    vi.resetModules();
    const out = captureOutput();
    try {
      const fresh = await vi.importActual<typeof ApprovalPageModule>(
        '../../handlers/approval-page',
      );
      expect(fresh.handler).not.toBe(lambdaHandler);
      expect(out.text()).toBe('');
      // The first call is what builds it, and says what is missing.
      const res = await fresh.handler(pageEvent('GET', '/a/x'));
      expect(res.statusCode).toBe(500);
      expect(out.text()).toContain('DR_TABLE_NAME is not set');
    } finally {
      out.restore();
      process.env = saved;
    }
  });
});

describe('Lambda entry', () => {
  it('answers with a 500 page, not a crash, when its environment is incomplete', async () => {
    const out = captureOutput();
    const res = await lambdaHandler(pageEvent('GET', '/a/x')).finally(() => out.restore());
    expect(res.statusCode).toBe(500);
    expect(res.body).toContain('not set up correctly');
    expect(out.text()).toContain('DR_TABLE_NAME is not set');
  });
});

// ---------------------------------------------------------------------------------------------
// Issue 9: the plan text on the page

const PLAN_TEXT = readFileSync(
  join(__dirname, '..', 'browser', 'fixtures', 'plan-text', 'aws-realistic.txt'),
  'utf8',
);
const PLAN_TEXT_VERSION = '0001764064800000-000000-0badc0de';

/** A versioned artifact store in memory that records every read. */
class MemoryArtifacts implements Pick<ArtifactStore, 'get'> {
  readonly objects = new Map<string, Buffer>();
  readonly reads: [string, string | undefined][] = [];
  failure?: Error;
  /** What `get` claims the checksum is (a lying store must not fool the page). */
  claimedSha256?: string;

  put(key: string, versionId: string, text: string | Buffer): this {
    this.objects.set(`${key}@${versionId}`, Buffer.from(text));
    return this;
  }

  async get(key: string, versionId?: string): Promise<ArtifactObject> {
    this.reads.push([key, versionId]);
    if (this.failure) throw this.failure;
    const body = this.objects.get(`${key}@${versionId}`);
    if (!body) throw new ArtifactNotFoundError(key, versionId);
    return {
      key,
      versionId: versionId as string,
      sha256: this.claimedSha256 ?? createHash('sha256').update(body).digest('hex'),
      body,
    };
  }
}

/** A destructive plan whose summary, and recorded plan text, match the AWS fixture. */
function textPlan(text = PLAN_TEXT, overrides: Partial<PlanResult> = {}): PlanResult {
  return planResult({
    counts: { add: 3, change: 3, destroy: 1, replace: 1 },
    changes: [
      { address: 'aws_s3_bucket.old_logs', actions: ['delete'] },
      { address: 'aws_db_instance.main', actions: ['delete', 'create'] },
      { address: 'aws_iam_role_policy.deploy', actions: ['update'] },
      { address: 'aws_instance.web[0]', actions: ['update'] },
      { address: 'aws_security_group.api', actions: ['update'] },
      { address: 'aws_sqs_queue.jobs', actions: ['create'] },
      { address: 'aws_ssm_parameter.api_key', actions: ['create'] },
      { address: 'module.dns.aws_route53_record.api["eu-west-1"]', actions: ['create'] },
    ],
    planTextVersionId: PLAN_TEXT_VERSION,
    planTextSha256: sha(text),
    ...overrides,
  });
}

function artifactsWith(text: string, plan = textPlan(text)) {
  return new MemoryArtifacts().put(plan.planTextKey, plan.planTextVersionId, text);
}

const approveForm = /<form method="post" class="decide" aria-labelledby="approve-h">/;

describe('the plan text on the page', () => {
  it('reads the recorded version, verifies it, and shows totals and one block per resource, destroys first', async () => {
    const artifacts = artifactsWith(PLAN_TEXT);
    const t = await setup({ plan: textPlan(), artifacts });
    const res = await t.call('GET', t.links.alice);
    expect(res.statusCode).toBe(200);
    expect(artifacts.reads).toEqual([[textPlan().planTextKey, PLAN_TEXT_VERSION]]);
    const body = res.body;
    expect(body).toContain('<h2 id="plan-h">The plan</h2>');
    expect(body).toContain('<p class="plan-total">Plan: 4 to add, 3 to change, 2 to destroy.</p>');
    // One checksum on the page, the saved plan's; the text's own is checked, not shown.
    expect(body).not.toContain(`sha256:${sha(PLAN_TEXT).slice(0, 12)}`);
    expect(body.match(/sha256:[0-9a-f]{12}/g)).toEqual([
      `sha256:${textPlan().planSha256.slice(0, 12)}`,
    ]);
    const order = [
      'To destroy (1)',
      'aws_s3_bucket.old_logs',
      'To replace (1)',
      'aws_db_instance.main',
      'To change in place (3)',
      'aws_iam_role_policy.deploy',
      'To add (3)',
      'module.dns.aws_route53_record.api[&quot;eu-west-1&quot;]',
      'Other (3)',
      'data.aws_iam_policy_document.assume',
      'Outputs (2)',
    ].map((text) => body.indexOf(text, body.indexOf('id="plan-h"')));
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(body.match(/<details class="res /g)).toHaveLength(12);
    expect(body).not.toMatch(/<details[^>]* open/);
    // Attribute changes inside, escaped, with the replacement cause marked.
    expect(body).toContain(
      '<span class="c f">      ~ identifier                = &quot;main&quot; -&gt; &quot;main-v2&quot; # forces replacement</span>',
    );
    expect(body).toContain('(sensitive value)');
    expect(body).not.toMatch(/<script|javascript:|\son[a-z]+=/i);
    expect(body).toMatch(approveForm);
    expect(body).not.toContain('id="plan-omitted"');
  });

  it('renders markup in addresses and values as text', async () => {
    const text = [
      '  # aws_s3_bucket.x["<script>alert(1)</script>"] will be created',
      '  + resource "aws_s3_bucket" "x" {',
      '      + bucket = "<img src=x onerror=alert(1)>"',
      '      + note   = "</pre></details><script>alert(2)</script>"',
      '    }',
      '',
      'Plan: 1 to add, 0 to change, 0 to destroy.',
    ].join('\n');
    const t = await setup({ plan: textPlan(text), artifacts: artifactsWith(text) });
    const { body } = await t.call('GET', t.links.alice);
    expect(body).not.toMatch(/<script|<img/i);
    expect(body).toContain('aws_s3_bucket.x[&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;]');
    expect(body).toContain('&lt;/pre&gt;&lt;/details&gt;&lt;script&gt;alert(2)&lt;/script&gt;');
  });

  it('shows text it cannot split into resources as it is', async () => {
    const text = 'Something a future Terraform prints <b>differently</b>\n  with details\n';
    const t = await setup({ plan: textPlan(text), artifacts: artifactsWith(text) });
    const { body } = await t.call('GET', t.links.alice);
    expect(body).toContain('shown as it is');
    expect(body).toContain('Something a future Terraform prints &lt;b&gt;differently&lt;/b&gt;');
    // Text that shows none of the plan's changes cannot be checked against it: no approval.
    expect(body).toContain('id="plan-mismatch"');
    expect(body).not.toMatch(approveForm);
  });

  it(`caps the page at ${MAX_PLAN_RESOURCES} resources and says how many were left out`, async () => {
    const text = Array.from(
      { length: 620 },
      (_, i) =>
        `  # aws_sqs_queue.q[${i}] will be created\n  + resource "aws_sqs_queue" "q" {\n      + name = "q-${i}"\n    }\n`,
    )
      .join('\n')
      .concat('\nPlan: 620 to add, 0 to change, 0 to destroy.\n');
    const plan = textPlan(text, {
      counts: { add: 620, change: 0, destroy: 0, replace: 0 },
      changes: Array.from({ length: 500 }, (_, i) => ({
        address: `aws_sqs_queue.q[${i}]`,
        actions: ['create' as const],
      })),
      changesOmitted: 120,
    });
    const t = await setup({ plan, artifacts: artifactsWith(text) });
    const { body } = await t.call('GET', t.links.alice);
    expect(body.match(/<details class="res /g)).toHaveLength(MAX_PLAN_RESOURCES);
    expect(body).toContain('To add (620)');
    expect(body).toContain('aws_sqs_queue.q[499]');
    expect(body).not.toContain('aws_sqs_queue.q[500]');
    expect(body).not.toContain('id="plan-mismatch"');
    expect(body).toMatch(
      /<p class="note" id="plan-omitted">Not shown here: 120 resources \(\d+ KiB of plan text\)\. This page shows at most 500 resources and 1\.0 MiB of plan text/,
    );
  });

  it('caps the page at 1 MiB of plan text, cutting a huge resource short', async () => {
    const value = `"${'x'.repeat(200)}"`;
    const huge = Array.from({ length: 8000 }, (_, i) => `      + line_${i} = ${value}`);
    const text = [
      '  # aws_iam_policy.big will be created',
      '  + resource "aws_iam_policy" "big" {',
      ...huge,
      '    }',
      '',
      '  # aws_sqs_queue.after will be created',
      '  + resource "aws_sqs_queue" "after" {',
      '      + name = "after"',
      '    }',
      '',
      'Plan: 2 to add, 0 to change, 0 to destroy.',
    ].join('\n');
    const plan = textPlan(text, {
      counts: { add: 2, change: 0, destroy: 0, replace: 0 },
      changes: [
        { address: 'aws_iam_policy.big', actions: ['create'] },
        { address: 'aws_sqs_queue.after', actions: ['create'] },
      ],
    });
    const t = await setup({ plan, artifacts: artifactsWith(text) });
    const { body } = await t.call('GET', t.links.alice);
    const pre = /<pre class="diff">([\s\S]*?)<\/pre>/.exec(body)?.[1] ?? '';
    expect(Buffer.byteLength(pre)).toBeLessThanOrEqual(MAX_PLAN_TEXT_BYTES + 200);
    expect(Buffer.byteLength(body)).toBeLessThan(MAX_PLAN_TEXT_BYTES + 64 * 1024);
    expect(body).toMatch(/… \d+ more lines of this resource not shown/);
    expect(body).not.toContain('aws_sqs_queue.after</code> <span class="why">');
    expect(body).not.toContain('id="plan-mismatch"');
    expect(body).toContain('Not shown here: 1 resource, the end of aws_iam_policy.big (');
  });
});

describe('a plan text that cannot be verified blocks approval', () => {
  async function quietly<T>(run: () => Promise<T>): Promise<{ result: T; logs: string }> {
    const out = captureOutput();
    try {
      const result = await run();
      return { result, logs: out.text() };
    } finally {
      out.restore();
    }
  }

  it('a tampered text (checksum mismatch): error instead of the plan, no approve form, a forged approve refused, reject still works', async () => {
    const plan = textPlan();
    // A value no timestamp or digest in a log line can contain by chance (a bare "9.6" can: 09:41:19.6…).
    const tampered = PLAN_TEXT.replace('"16.1"', '"9.6-tampered"');
    const artifacts = artifactsWith(tampered, plan);
    // The store even claims the recorded checksum: the page hashes the bytes itself.
    artifacts.claimedSha256 = plan.planTextSha256;
    const t = await setup({ plan, artifacts });
    const { result: page, logs } = await quietly(() => t.call('GET', t.links.alice));
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('id="plan-error"');
    expect(page.body).toContain('The plan text failed its integrity check');
    expect(page.body).not.toContain('aws_db_instance.main&quot;');
    expect(page.body).not.toContain('9.6-tampered');
    expect(page.body).not.toMatch(approveForm);
    expect(page.body).not.toContain('Approve and apply');
    expect(page.body).toContain('id="approval-blocked"');
    expect(page.body).toContain('<button type="submit" class="reject">Reject</button>');
    const line = logs.split('\n').find((l) => l.includes('does not match its recorded checksum'));
    expect(JSON.parse(line ?? '{}')).toMatchObject({
      level: 'ERROR',
      correlation_id: EXECUTION_ARN,
      key: plan.planTextKey,
      versionId: PLAN_TEXT_VERSION,
      expectedSha256: plan.planTextSha256,
      actualSha256: sha(tampered),
    });
    expect(logs).not.toContain('9.6-tampered');

    // A forged POST with a valid nonce (and the typed path) is refused and changes nothing.
    const before = (t.store as MemoryApprovalStore).snapshot();
    const { result: forged } = await quietly(() =>
      t.call('POST', t.links.alice, {
        nonce: t.nonceOf(page.body),
        decision: 'approve',
        confirm: 'envs/prod',
      }),
    );
    expect(forged.statusCode).toBe(409);
    expect(forged.body).toContain('Your approval was not recorded');
    expect(forged.body).toContain('The plan text failed its integrity check');
    expect(forged.body).not.toMatch(approveForm);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    expect((t.store as MemoryApprovalStore).snapshot()).toBe(before);

    const { result: rejected } = await quietly(() =>
      t.submit(t.links.alice, { decision: 'reject', reason: 'plan text tampered' }),
    );
    expect(rejected.statusCode).toBe(200);
    expect(decisions()).toEqual([
      expect.objectContaining({ approved: false, reason: 'plan text tampered' }),
    ]);
  });

  it.each([
    [
      'missing',
      (a: MemoryArtifacts) => a.objects.clear(),
      'The plan text is missing',
      'ArtifactNotFoundError',
    ],
    [
      'unreadable',
      (a: MemoryArtifacts) => {
        a.failure = Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
      },
      'The plan text could not be read',
      'AccessDenied',
    ],
  ] as const)(
    'a %s text: an error box, approval refused with 409',
    async (_, breakIt, heading, errorName) => {
      const artifacts = artifactsWith(PLAN_TEXT);
      breakIt(artifacts);
      const t = await setup({ plan: textPlan(), artifacts });
      const { result: page, logs } = await quietly(() => t.call('GET', t.links.alice));
      expect(page.body).toContain(heading);
      expect(page.body).not.toMatch(approveForm);
      expect(logs).toContain('the plan text could not be read; approval is blocked');
      expect(logs).toContain(`"error":"${errorName}"`);
      const { result: forged } = await quietly(() =>
        t.call('POST', t.links.alice, { nonce: t.nonceOf(page.body), decision: 'approve' }),
      );
      expect(forged.statusCode).toBe(409);
      expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    },
  );

  it('a record that names another run’s plan text is not read', async () => {
    const plan = textPlan(PLAN_TEXT, { planTextKey: 'runs/someone-else/plan.txt' });
    const artifacts = artifactsWith(PLAN_TEXT, plan);
    const t = await setup({ plan, artifacts });
    const { result: page, logs } = await quietly(() => t.call('GET', t.links.alice));
    expect(artifacts.reads).toEqual([]);
    expect(page.body).toContain('The plan text could not be read');
    expect(page.body).not.toMatch(approveForm);
    expect(logs).toContain('the plan text key is not this run’s');
  });

  it('verifies again on POST: a text tampered after the page was opened is refused', async () => {
    const plan = textPlan();
    const artifacts = artifactsWith(PLAN_TEXT, plan);
    const t = await setup({ plan, artifacts });
    const page = await t.call('GET', t.links.alice);
    expect(page.body).toMatch(approveForm);
    artifacts.put(plan.planTextKey, plan.planTextVersionId, `${PLAN_TEXT}\n# sneaky`);
    const { result } = await quietly(() =>
      t.call('POST', t.links.alice, {
        nonce: t.nonceOf(page.body),
        decision: 'approve',
        confirm: 'envs/prod',
      }),
    );
    expect(result.statusCode).toBe(409);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });

  it('approves once the text verifies (and the destructive plan’s path is typed)', async () => {
    const artifacts = artifactsWith(PLAN_TEXT);
    const t = await setup({ plan: textPlan(), artifacts });
    const res = await t.submit(t.links.alice, { decision: 'approve', confirm: 'envs/prod' });
    expect(res.statusCode).toBe(200);
    expect(decisions()).toEqual([expect.objectContaining({ approved: true })]);
  });

  it('reads the exact version from S3 through the artifact store', async () => {
    const s3Mock = mockClient(S3Client);
    try {
      const plan = textPlan();
      s3Mock.on(GetObjectCommand).resolves({
        VersionId: PLAN_TEXT_VERSION,
        Body: { transformToByteArray: async () => new Uint8Array(Buffer.from(PLAN_TEXT)) },
      } as never);
      const t = await setup({
        plan,
        artifacts: new S3ArtifactStore({
          bucket: 'artifact-bucket',
          client: new S3Client({ region: 'us-east-1' }),
        }),
      });
      const page = await t.call('GET', t.links.alice);
      expect(page.body).toContain('aws_s3_bucket.old_logs');
      expect(page.body).toMatch(approveForm);
      expect(s3Mock.commandCalls(GetObjectCommand).map((c) => c.args[0].input)).toEqual([
        {
          Bucket: 'artifact-bucket',
          Key: plan.planTextKey,
          VersionId: PLAN_TEXT_VERSION,
          ChecksumMode: 'ENABLED',
        },
      ]);
    } finally {
      s3Mock.restore();
    }
  });

  it('the Lambda entry will not start without the artifact bucket', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      DR_TABLE_NAME: 'table',
      DR_CONSOLE_URL_TEMPLATE: 'https://console/{executionArn}',
      DR_PAGE_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:page',
    });
    delete process.env.DR_ARTIFACT_BUCKET;
    try {
      const { result, logs } = await quietly(() => lambdaHandler(pageEvent('GET', '/a/x')));
      expect(result.statusCode).toBe(500);
      expect(logs).toContain('DR_ARTIFACT_BUCKET is not set');
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });
});

describe('messages stay summaries', () => {
  it('no email or Slack message carries the plan text, while the page shows it', async () => {
    const distinctive = 'zq-distinctive-attribute-value-7731';
    const text = PLAN_TEXT.replace('"jobs"', `"${distinctive}"`);
    const t = await setup({ plan: textPlan(text), artifacts: artifactsWith(text) });
    expect((await t.call('GET', t.links.alice)).body).toContain(distinctive);
    await t.submit(t.links.alice, { decision: 'approve', confirm: 'envs/prod' });
    const state = {
      request,
      plan: { summary: textPlan(text) },
      approval: decisions()[0] as NonNullable<ReturnType<typeof decisions>[0]>,
    };
    const notify = createNotifyHandler({
      settings,
      notifier: t.notifier,
      artifacts: artifactsWith(text),
      logger: t.logger,
    });
    await notify({
      phase: 'finished',
      executionArn: EXECUTION_ARN,
      state: { ...state, apply: { taskArn: 'task' } },
    });
    await notify({
      phase: 'failed',
      executionArn: EXECUTION_ARN,
      state: {
        ...state,
        error: { Error: 'DeployRunner.Rejected', Cause: 'Rejected by Alice Admin: no' },
      },
    });
    expect(t.notifier.emails.length).toBeGreaterThan(3);
    expect(t.notifier.slack.length).toBeGreaterThan(1);
    const sent = t.notifier.all();
    expect(sent).not.toContain(distinctive);
    expect(sent).not.toContain('Plan: 4 to add');
    expect(sent).not.toContain('main-v2');
    // The summaries are still there: counts and the destructive addresses.
    expect(sent).toContain('aws_s3_bucket.old_logs');
  });
});

// ---------------------------------------------------------------------------------------------
// Issue 12: the plan text cannot lie

describe('the plan text must agree with the JSON plan', () => {
  async function quietly<T>(run: () => Promise<T>): Promise<{ result: T; logs: string }> {
    const out = captureOutput();
    try {
      const result = await run();
      return { result, logs: out.text() };
    } finally {
      out.restore();
    }
  }

  it('a text that hides a destroy: why, escaped; no approve form; a forged approve refused with 409; reject works', async () => {
    // The stored text is genuine (its checksum verifies) but says an update where the plan
    // destroys, behind a right-to-left override in the address.
    const text = PLAN_TEXT.replace(
      '  # aws_s3_bucket.old_logs will be destroyed',
      '  # aws_s3_bucket.old_logs\u202e will be destroyed',
    );
    const plan = textPlan(text);
    const t = await setup({ plan, artifacts: artifactsWith(text, plan) });
    const { result: page, logs } = await quietly(() => t.call('GET', t.links.alice));
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('id="plan-mismatch"');
    expect(page.body).toContain(
      '<li><code>aws_s3_bucket.old_logs</code>: the JSON plan will destroy it, but the plan text does not show it as a change</li>',
    );
    expect(page.body).toContain('the plan text shows 0 destroy blocks, the JSON plan counts 1');
    // The override itself is shown, never laid out.
    expect(page.body).not.toContain('\u202e');
    expect(page.body).toContain('<span class="ctl" title="U+202E">\\u202E</span>');
    expect(page.body).not.toMatch(approveForm);
    expect(page.body).toContain(
      'Approval is blocked: the plan text does not agree with the JSON plan',
    );
    expect(logs).toContain('the plan text disagrees with the JSON plan; approval is blocked');

    const { result: forged } = await quietly(() =>
      t.call('POST', t.links.alice, {
        nonce: t.nonceOf(page.body),
        decision: 'approve',
        confirm: 'envs/prod',
      }),
    );
    expect(forged.statusCode).toBe(409);
    expect(forged.body).toContain('Your approval was not recorded: the plan text does not agree');
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);

    const { result: rejected } = await quietly(() =>
      t.submit(t.links.alice, { decision: 'reject', reason: 'the text hides a destroy' }),
    );
    expect(rejected.statusCode).toBe(200);
    expect(decisions()).toEqual([expect.objectContaining({ approved: false })]);
  });

  it('forged totals: the page says which numbers disagree and blocks approval', async () => {
    const text = PLAN_TEXT.replace(
      'Plan: 4 to add, 3 to change, 2 to destroy.',
      'Plan: 4 to add, 3 to change, 0 to destroy.',
    );
    const t = await setup({ plan: textPlan(text), artifacts: artifactsWith(text) });
    const { result: page } = await quietly(() => t.call('GET', t.links.alice));
    expect(page.body).toContain('the plan text&#39;s totals say 0 to destroy, the JSON plan 2');
    expect(page.body).not.toMatch(approveForm);
  });

  it('a capped JSON list: says what was checked, and approves when that agrees', async () => {
    const full = textPlan();
    const plan = textPlan(PLAN_TEXT, {
      changes: full.changes.slice(0, 5),
      changesOmitted: full.changes.length - 5,
    });
    const t = await setup({ plan, artifacts: artifactsWith(PLAN_TEXT, plan) });
    const page = await t.call('GET', t.links.alice);
    expect(page.body).toContain('id="plan-check-partial"');
    expect(page.body).toContain('The JSON plan lists 5 of 8 changes');
    expect(page.body).not.toContain('id="plan-mismatch"');
    expect(page.body).toMatch(approveForm);
  });

  it('destroys and replaces the plan result could not name block approval, even without a plan text', async () => {
    const plan = planResult({
      counts: { add: 0, change: 0, destroy: 3, replace: 0 },
      changes: [
        { address: 'aws_x.a', actions: ['delete'] },
        { address: 'aws_x.b', actions: ['delete'] },
      ],
      changesOmitted: 1,
    });
    const t = await setup({ plan });
    const page = await t.call('GET', t.links.alice);
    expect(page.body).toContain('id="destructive-unlisted"');
    expect(page.body).toContain('1 more destroyed or replaced resource is not listed');
    expect(page.body).not.toMatch(approveForm);
    const { result: forged } = await quietly(() =>
      t.call('POST', t.links.alice, {
        nonce: t.nonceOf(page.body),
        decision: 'approve',
        confirm: 'envs/prod',
      }),
    );
    expect(forged.statusCode).toBe(409);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });

  it('lists every destroy by name, destroys before replaces, and caps only the other changes', async () => {
    const destroys = Array.from({ length: 260 }, (_, i) => ({
      address: `aws_x.gone[${i}]`,
      actions: ['delete' as const],
    }));
    const creates = Array.from({ length: 230 }, (_, i) => ({
      address: `aws_x.new[${i}]`,
      actions: ['create' as const],
    }));
    const plan = planResult({
      counts: { add: 230, change: 0, destroy: 260, replace: 1 },
      changes: [{ address: 'aws_x.swap', actions: ['delete', 'create'] }, ...destroys, ...creates],
    });
    const t = await setup({ plan });
    const { body } = await t.call('GET', t.links.alice);
    for (const d of destroys) expect(body).toContain(`<code>${d.address}</code>`);
    expect(body.indexOf('aws_x.gone[259]')).toBeLessThan(body.indexOf('aws_x.swap'));
    expect(body).toContain('aws_x.new[199]');
    expect(body).not.toContain('aws_x.new[200]');
    expect(body).toContain('… and 30 more');
  });
});

describe('the plan text is read with a size cap', () => {
  it('a text over the cap: reading stops there, approval is blocked with a clear message', async () => {
    const plan = textPlan();
    let served = 0;
    const big: Pick<ArtifactStore, 'get'> = {
      // A store that honours the cap, as the S3 and folder stores do, and counts what it served.
      get: async (key, versionId, options) => {
        const body = Buffer.from(PLAN_TEXT);
        if (options?.maxBytes !== undefined && body.length > options.maxBytes)
          throw new ArtifactTooLargeError(key, versionId, options.maxBytes);
        served += body.length;
        return { key, versionId: versionId ?? '', sha256: sha(PLAN_TEXT), body };
      },
    };
    const t = await setup({ plan, artifacts: big, maxPlanTextBytes: 1024 });
    const out = captureOutput();
    let page: Awaited<ReturnType<typeof t.call>>;
    try {
      page = await t.call('GET', t.links.alice);
    } finally {
      out.restore();
    }
    expect(served).toBe(0);
    expect(page.body).toContain('The plan text is too large to show');
    expect(page.body).not.toMatch(approveForm);
    expect(out.text()).toContain(
      'the plan text is larger than the page reads; approval is blocked',
    );
  });

  it('a store that ignores the cap is held to it', async () => {
    const plan = textPlan();
    const t = await setup({
      plan,
      artifacts: artifactsWith(PLAN_TEXT, plan),
      maxPlanTextBytes: 1024,
    });
    const out = captureOutput();
    try {
      const page = await t.call('GET', t.links.alice);
      expect(page.body).toContain('The plan text is too large to show');
      expect(page.body).not.toMatch(approveForm);
    } finally {
      out.restore();
    }
  });

  it(`real size: a text one byte over ${MAX_PLAN_TEXT_READ_BYTES / 1024 / 1024} MiB in a folder store is refused`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dr-big-plan-'));
    try {
      const store = new FolderArtifactStore(dir);
      const filler = `${'#'.repeat(99)}\n`;
      const text = filler
        .repeat(Math.ceil((MAX_PLAN_TEXT_READ_BYTES + 1) / 100))
        .slice(0, MAX_PLAN_TEXT_READ_BYTES + 1);
      const stored = await store.put(artifactKeys(request.runId).planText, text);
      const plan = textPlan(text, {
        planTextKey: stored.key,
        planTextVersionId: stored.versionId,
        planTextSha256: stored.sha256,
      });
      const t = await setup({ plan, artifacts: store });
      const out = captureOutput();
      try {
        const page = await t.call('GET', t.links.alice);
        expect(page.body).toContain('The plan text is too large to show');
        expect(page.body).toContain('larger than the 8 MiB this page reads');
        expect(page.body).not.toMatch(approveForm);
      } finally {
        out.restore();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
