import { randomBytes } from 'node:crypto';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createApprovalPageHandler, type FunctionUrlResult } from '../../handlers/approval-page';
import { createRequestApprovalHandler } from '../../handlers/request-approval';
import { hashCapability } from '../../handlers/shared/capability';
import { SECURITY_HEADERS } from '../../handlers/shared/html';
import { createLogger } from '../../handlers/shared/logger';
import { approvalDecisionSchema, type PlanResult, type RunRequest } from '../../lib/contracts';
import { MemoryApprovalStore } from '../../lib/local/memory-store';
import {
  captureOutput,
  counterBytes,
  destructivePlan,
  EXECUTION_ARN,
  pageEvent,
  request,
  requestApprovalPayload,
  settings,
  TASK_TOKEN,
  testClock,
} from '../handlers/support/fixtures';
import { RecordingNotifier } from '../handlers/support/recording-notifier';

/**
 * The approval page under abuse: a table of attacks on links, methods, bodies, nonces and the
 * run's lifecycle, each run against the real page and request-approval handlers with an
 * in-memory store and a mocked Step Functions client. Besides each case's own expectations,
 * every response of every case is checked for the same things: a status that is an answer
 * (not a crash), all security headers, no stack trace, no task token, and no capability but
 * the one the request itself carried; the handlers' log lines hold neither either.
 */

const sfnMock = mockClient(SFNClient);

const OTHER_ARN = `${EXECUTION_ARN.slice(0, -2)}99`;
const OTHER_TOKEN = `AQCEAAAAKgAAAAMAAAAAAAAAAT${'Zq9w'.repeat(120)}OTHERTASKTOKEN`;

interface SetupOptions {
  readonly plan?: PlanResult;
  readonly approvalsRequired?: number;
  readonly request?: RunRequest;
}

type Call = (
  method: string,
  path: string,
  form?: Record<string, string> | string,
  options?: { base64?: boolean; contentType?: string; query?: string },
) => Promise<FunctionUrlResult>;

/** One run awaiting approval (and a second, unrelated one), and a way to call the page. */
async function setup(options: SetupOptions = {}) {
  const store = new MemoryApprovalStore();
  const notifier = new RecordingNotifier();
  const otherNotifier = new RecordingNotifier();
  const clock = testClock();
  const logger = createLogger('approval-abuse', { logLevel: 'DEBUG' });
  const requestApproval = (n: RecordingNotifier, seed: number) =>
    createRequestApprovalHandler({
      settings,
      store,
      notifier: n,
      clock,
      randomBytes: counterBytes(seed),
      logger,
    });
  await requestApproval(
    notifier,
    1,
  )(
    requestApprovalPayload({
      ...(options.plan ? { plan: options.plan } : {}),
      ...(options.request ? { request: options.request } : {}),
      approvalsRequired: options.approvalsRequired ?? 1,
    }),
  );
  await requestApproval(
    otherNotifier,
    500,
  )({
    ...requestApprovalPayload(),
    taskToken: OTHER_TOKEN,
    executionArn: OTHER_ARN,
    request: { ...request, executionArn: OTHER_ARN, runId: 'infra-envs-prod-abc1234-99' },
  });
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
  });
  const pathOf = (link: string) => new URL(link).pathname;
  const links = {
    alice: pathOf(notifier.linkFor('alice@example.com')),
    bob: pathOf(notifier.linkFor('U0BOB1234')),
    carol: pathOf(notifier.linkFor('carol@example.com')),
    otherAlice: pathOf(otherNotifier.linkFor('alice@example.com')),
  };
  const capabilities = Object.values(links).map((l) => l.slice(3));
  const responses: Array<{ path: string; result: FunctionUrlResult }> = [];
  const call: Call = async (method, path, form, opts = {}) => {
    const event: APIGatewayProxyEventV2 = pageEvent(method, path, form, opts);
    if (opts.query !== undefined) {
      event.rawQueryString = opts.query;
      event.queryStringParameters = Object.fromEntries(new URLSearchParams(opts.query));
    }
    const result = await handler(event);
    responses.push({ path, result });
    return result;
  };
  const nonceOf = (body: string) => /name="nonce" value="([^"]+)"/.exec(body)?.[1] ?? '';
  /** Opens the page (as a browser would) and returns its nonce. */
  const nonce = async (path: string) => nonceOf((await call('GET', path)).body);
  /** Opens the page and submits one of its forms. */
  const submit = async (path: string, form: Record<string, string>) =>
    call('POST', path, { nonce: await nonce(path), ...form });
  const sent = () =>
    sfnMock.commandCalls(SendTaskSuccessCommand).map((c) => ({
      token: c.args[0].input.taskToken,
      decision: approvalDecisionSchema.parse(JSON.parse(c.args[0].input.output as string)),
    }));
  return {
    store,
    clock,
    links,
    capabilities,
    responses,
    call,
    nonce,
    submit,
    sent,
    run: () => store.getRun(EXECUTION_ARN),
  };
}

type T = Awaited<ReturnType<typeof setup>>;

interface AbuseCase {
  readonly name: string;
  readonly setup?: SetupOptions;
  /** Step Functions answers SendTaskSuccess with this error name. @default - success */
  readonly sfnError?: string;
  readonly run: (t: T) => Promise<void>;
}

const FORGED = 'Q'.repeat(43);
const swapLast = (path: string) => `${path.slice(0, -1)}${path.endsWith('A') ? 'B' : 'A'}`;
const statuses = (rs: FunctionUrlResult[]) => rs.map((r) => r.statusCode);
const count = (rs: FunctionUrlResult[], status: number) =>
  rs.filter((r) => r.statusCode === status).length;

/** Asserts the run is still waiting, untouched: no decision, no task response. */
async function expectUndecided(t: T): Promise<void> {
  const run = await t.run();
  expect(run?.status).toBe('pending');
  expect(Object.keys(run?.decisions ?? {})).toHaveLength(0);
  expect(t.sent()).toHaveLength(0);
}

const cases: AbuseCase[] = [
  // ---- forged, truncated and tricked links --------------------------------------------
  {
    name: 'a forged link (well-formed, never issued) is unknown, for GET and POST',
    run: async (t) => {
      const nonce = await t.nonce(t.links.alice);
      expect((await t.call('GET', `/a/${FORGED}`)).statusCode).toBe(404);
      expect(
        (await t.call('POST', `/a/${FORGED}`, { nonce, decision: 'approve' })).statusCode,
      ).toBe(404);
      await expectUndecided(t);
    },
  },
  {
    name: 'a truncated link (42 characters) is unknown',
    run: async (t) => {
      expect((await t.call('GET', t.links.alice.slice(0, -1))).statusCode).toBe(404);
      await expectUndecided(t);
    },
  },
  {
    name: 'a link with one character changed is unknown',
    run: async (t) => {
      const nonce = await t.nonce(t.links.alice);
      const res = await t.call('POST', swapLast(t.links.alice), { nonce, decision: 'approve' });
      expect(res.statusCode).toBe(404);
      await expectUndecided(t);
    },
  },
  {
    name: 'a link with extra characters (44) is unknown',
    run: async (t) => {
      expect((await t.call('GET', `${t.links.alice}A`)).statusCode).toBe(404);
    },
  },
  {
    name: 'the stored hash of a capability is not a credential',
    run: async (t) => {
      const hash = hashCapability(t.links.alice.slice(3));
      expect((await t.call('GET', `/a/${hash}`)).statusCode).toBe(404);
      expect((await t.call('GET', `/a/${hash.slice(0, 43)}`)).statusCode).toBe(404);
    },
  },
  {
    name: 'path tricks: /a/../a/<link>, double slashes, trailing junk, encodings are not routed',
    run: async (t) => {
      const cap = t.links.alice.slice(3);
      for (const path of [
        `/a/../a/${cap}`,
        `/a/./${cap}`,
        `//a//${cap}`,
        `/a//${cap}`,
        `/a/${cap}//`,
        `/a/${cap}/x`,
        `/a/${cap}/..`,
        `/a/${cap}%00`,
        `/a/${cap}%2f`,
        `/a/${cap}.html`,
        `/a/${cap};x`,
        `/A/${cap}`,
        `/a/%${cap.slice(1)}`,
        `/x/a/${cap}`,
        '/a/',
        '/a',
        '/',
      ]) {
        const res = await t.call('GET', path);
        expect(res.statusCode, path).toBe(404);
        expect(res.body).not.toContain('name="nonce"');
      }
    },
  },
  {
    name: 'the one harmless variant, a trailing slash, reaches the same page',
    run: async (t) => {
      const res = await t.call('GET', `${t.links.alice}/`);
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('name="nonce"');
    },
  },
  {
    name: 'a query string carrying a real capability or the task token grants nothing and is not reflected',
    run: async (t) => {
      const cap = t.links.alice.slice(3);
      for (const query of [
        `capability=${cap}`,
        `a=${cap}&decision=approve`,
        `token=${encodeURIComponent(TASK_TOKEN)}`,
        `taskToken=${encodeURIComponent(TASK_TOKEN)}&nonce=1.${'A'.repeat(43)}`,
      ]) {
        const res = await t.call('GET', `/a/${FORGED}`, undefined, { query });
        expect(res.statusCode).toBe(404);
        const post = await t.call(
          'POST',
          `/a/${FORGED}`,
          { decision: 'approve' },
          {
            query,
          },
        );
        expect(post.statusCode).toBe(404);
      }
      // On a real link, a query string cannot stand in for the form's fields.
      const viaQuery = await t.call('POST', t.links.alice, '', {
        query: `nonce=${await t.nonce(t.links.alice)}&decision=approve`,
      });
      expect(viaQuery.statusCode).toBe(403);
      await expectUndecided(t);
    },
  },

  // ---- methods ----------------------------------------------------------------------------
  {
    name: 'HEAD answers like GET without a body and changes nothing',
    run: async (t) => {
      const before = t.store.snapshot();
      const res = await t.call('HEAD', t.links.alice);
      expect(res.statusCode).toBe(200);
      expect(res.body).toBe('');
      expect((await t.call('HEAD', `/a/${FORGED}`)).statusCode).toBe(404);
      expect(t.store.snapshot()).toBe(before);
    },
  },
  ...['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT'].map(
    (method): AbuseCase => ({
      name: `${method} is refused with 405 and an Allow header, even with a valid nonce`,
      run: async (t) => {
        const nonce = await t.nonce(t.links.alice);
        const res = await t.call(method, t.links.alice, { nonce, decision: 'approve' });
        expect(res.statusCode).toBe(405);
        expect(res.headers.allow).toBe('GET, POST');
        await expectUndecided(t);
      },
    }),
  ),
  {
    name: 'a mail scanner storm (50 GETs and HEADs on every link) writes nothing',
    run: async (t) => {
      const before = t.store.snapshot();
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          t.call(i % 2 ? 'HEAD' : 'GET', [t.links.alice, t.links.bob, t.links.carol][i % 3] ?? ''),
        ),
      );
      expect(t.store.snapshot()).toBe(before);
      expect(t.sent()).toHaveLength(0);
    },
  },

  // ---- bodies -----------------------------------------------------------------------------
  {
    name: 'an oversized body (17 KiB) is refused with 413 before anything is read',
    run: async (t) => {
      const nonce = await t.nonce(t.links.alice);
      const res = await t.call('POST', t.links.alice, {
        nonce,
        decision: 'approve',
        reason: 'x'.repeat(17 * 1024),
      });
      expect(res.statusCode).toBe(413);
      await expectUndecided(t);
    },
  },
  {
    name: 'an oversized base64 body is measured decoded, and refused with 413',
    run: async (t) => {
      const nonce = await t.nonce(t.links.alice);
      const body = new URLSearchParams({ nonce, decision: 'approve', pad: 'y'.repeat(20_000) });
      const res = await t.call('POST', t.links.alice, body.toString(), { base64: true });
      expect(res.statusCode).toBe(413);
      await expectUndecided(t);
    },
  },
  {
    name: 'a long reason within the body limit is refused with 400, nothing recorded',
    run: async (t) => {
      const res = await t.submit(t.links.alice, { decision: 'approve', reason: 'r'.repeat(1001) });
      expect(res.statusCode).toBe(400);
      await expectUndecided(t);
    },
  },
  {
    name: 'bad urlencoding: broken escapes neither crash nor decide',
    run: async (t) => {
      const nonce = await t.nonce(t.links.alice);
      for (const body of [
        `nonce=${nonce}&decision=appr%ZZove`,
        `nonce=${nonce}%E0%A4%A&decision=approve`,
        `nonce=%&decision=%`,
        `%%%%=%%%%&&&===`,
        `nonce=${nonce}&decision=approve%00`,
      ]) {
        const res = await t.call('POST', t.links.alice, body);
        expect([400, 403], body).toContain(res.statusCode);
      }
      await expectUndecided(t);
    },
  },
  {
    name: 'a binary body (random bytes, octet-stream) is unreadable: 400',
    run: async (t) => {
      const res = await t.call('POST', t.links.alice, randomBytes(512).toString('latin1'), {
        base64: true,
        contentType: 'application/octet-stream',
      });
      expect(res.statusCode).toBe(400);
      await expectUndecided(t);
    },
  },
  {
    name: 'a JSON body with a valid nonce is not a form: 400',
    run: async (t) => {
      const nonce = await t.nonce(t.links.alice);
      const json = JSON.stringify({ nonce, decision: 'approve' });
      expect(
        (await t.call('POST', t.links.alice, json, { contentType: 'application/json' })).statusCode,
      ).toBe(400);
      // The same JSON sent as a form carries no nonce field.
      expect((await t.call('POST', t.links.alice, json)).statusCode).toBe(403);
      await expectUndecided(t);
    },
  },
  {
    name: 'a form without a content type, or with a lookalike one, is not read',
    run: async (t) => {
      const nonce = await t.nonce(t.links.alice);
      const body = new URLSearchParams({ nonce, decision: 'approve' }).toString();
      for (const contentType of ['text/plain', 'multipart/form-data', 'application/x-www-form']) {
        const res = await t.call('POST', t.links.alice, body, { contentType });
        expect(res.statusCode, contentType).toBe(400);
      }
      expect((await t.call('POST', t.links.alice)).statusCode).toBe(400);
      await expectUndecided(t);
    },
  },
  {
    name: 'multiple nonce fields: a bad first nonce is not rescued by a good second one',
    run: async (t) => {
      const nonce = await t.nonce(t.links.alice);
      const body = `nonce=1.${'A'.repeat(43)}&nonce=${nonce}&decision=approve`;
      expect((await t.call('POST', t.links.alice, body)).statusCode).toBe(403);
      await expectUndecided(t);
    },
  },
  {
    name: 'multiple decision fields: exactly one decision is recorded, the first one',
    run: async (t) => {
      const nonce = await t.nonce(t.links.alice);
      const body = `nonce=${nonce}&decision=reject&decision=approve&reason=no&reason=yes`;
      expect((await t.call('POST', t.links.alice, body)).statusCode).toBe(200);
      const sent = t.sent();
      expect(sent).toHaveLength(1);
      expect(sent[0]?.decision).toMatchObject({ approved: false, reason: 'no' });
    },
  },

  // ---- nonces -----------------------------------------------------------------------------
  {
    name: 'a missing or empty nonce is refused with 403',
    run: async (t) => {
      expect((await t.call('POST', t.links.alice, { decision: 'approve' })).statusCode).toBe(403);
      expect(
        (await t.call('POST', t.links.alice, { nonce: '', decision: 'approve' })).statusCode,
      ).toBe(403);
      await expectUndecided(t);
    },
  },
  {
    name: "a foreign nonce (from another approver's page of the same run) is refused",
    run: async (t) => {
      const bobs = await t.nonce(t.links.bob);
      expect(
        (await t.call('POST', t.links.alice, { nonce: bobs, decision: 'approve' })).statusCode,
      ).toBe(403);
      await expectUndecided(t);
    },
  },
  {
    name: "a nonce from another run's page (same approver) is refused",
    run: async (t) => {
      const other = await t.nonce(t.links.otherAlice);
      expect(
        (await t.call('POST', t.links.alice, { nonce: other, decision: 'approve' })).statusCode,
      ).toBe(403);
      await expectUndecided(t);
    },
  },
  {
    name: 'a forged nonce (right time, wrong MAC) and one from the future are refused',
    run: async (t) => {
      const nonce = await t.nonce(t.links.alice);
      const [issued] = nonce.split('.');
      for (const forged of [
        `${issued}.${'A'.repeat(43)}`,
        `${Number(issued) + 7200}.${nonce.split('.')[1]}`,
        `${issued}.${nonce.split('.')[1]}=`,
        nonce.toUpperCase(),
        `${nonce}.${nonce}`,
      ])
        expect(
          (await t.call('POST', t.links.alice, { nonce: forged, decision: 'approve' })).statusCode,
          forged,
        ).toBe(403);
      await expectUndecided(t);
    },
  },
  {
    name: 'a stale nonce (page open for 31 minutes) asks for a reload',
    run: async (t) => {
      const nonce = await t.nonce(t.links.alice);
      t.clock.advance(31 * 60);
      const res = await t.call('POST', t.links.alice, { nonce, decision: 'approve' });
      expect(res.statusCode).toBe(403);
      expect(res.body).toContain('Please reload the page');
      await expectUndecided(t);
    },
  },

  // ---- replays, expiry, ended runs --------------------------------------------------------
  {
    name: 'a replayed POST (same nonce, same body) after the decision is refused: one task response',
    run: async (t) => {
      const nonce = await t.nonce(t.links.alice);
      const form = { nonce, decision: 'approve' };
      expect((await t.call('POST', t.links.alice, form)).statusCode).toBe(200);
      expect((await t.call('POST', t.links.alice, form)).statusCode).toBe(409);
      expect((await t.submit(t.links.alice, { decision: 'approve' })).statusCode).toBe(409);
      expect(t.sent()).toHaveLength(1);
    },
  },
  {
    name: 'an expired link answers 410 to GET and POST and decides nothing',
    run: async (t) => {
      const nonce = await t.nonce(t.links.alice);
      t.clock.advance(24 * 3600 + 1);
      expect((await t.call('GET', t.links.alice)).statusCode).toBe(410);
      expect((await t.call('POST', t.links.alice, { nonce, decision: 'approve' })).statusCode).toBe(
        410,
      );
      await expectUndecided(t);
    },
  },
  {
    name: 'a decision after the run ended (cleanup voided the links) is refused',
    run: async (t) => {
      const nonce = await t.nonce(t.links.alice);
      await t.store.voidLinks(EXECUTION_ARN);
      await t.store.endRun(EXECUTION_ARN, 'the execution ended with status ABORTED', 'now');
      const res = await t.call('POST', t.links.alice, { nonce, decision: 'approve' });
      expect(res.statusCode).toBe(409);
      expect(res.body).toContain('This run already ended');
      expect(t.sent()).toHaveLength(0);
    },
  },
  {
    name: 'a decision the workflow no longer waits for (TaskDoesNotExist) ends the run, voids the links',
    sfnError: 'TaskDoesNotExist',
    run: async (t) => {
      const res = await t.submit(t.links.alice, { decision: 'approve' });
      expect(res.statusCode).toBe(409);
      expect((await t.run())?.status).toBe('ended');
      expect((await t.submit(t.links.bob, { decision: 'approve' })).statusCode).toBe(409);
    },
  },
  {
    name: 'Step Functions failing (InternalServerError) shows a 500 with a reference, keeps the run open',
    sfnError: 'InternalServerError',
    run: async (t) => {
      const res = await t.submit(t.links.alice, { decision: 'approve' });
      expect(res.statusCode).toBe(500);
      expect(res.body).toMatch(/Reference: <code>[0-9a-f]{12}<\/code>/);
      expect(res.body).not.toContain('InternalServerError');
      expect((await t.run())?.status).toBe('pending');
    },
  },

  // ---- who decides ------------------------------------------------------------------------
  {
    name: 'self-approval: the requester cannot approve, in any spelling of their identity',
    setup: { request: { ...request, requestedBy: '  ALICE@Example.com ' } },
    run: async (t) => {
      const res = await t.submit(t.links.alice, { decision: 'approve' });
      expect(res.statusCode).toBe(403);
      expect(res.body).toContain('You cannot approve your own run');
      await expectUndecided(t);
      // Rejecting their own run stays possible.
      expect(
        (await t.submit(t.links.alice, { decision: 'reject', reason: 'oops' })).statusCode,
      ).toBe(200);
      expect(t.sent()[0]?.decision.approved).toBe(false);
    },
  },
  {
    name: 'reject then approve: the rejection stands, one task response',
    run: async (t) => {
      expect(
        (await t.submit(t.links.alice, { decision: 'reject', reason: 'freeze' })).statusCode,
      ).toBe(200);
      expect((await t.submit(t.links.bob, { decision: 'approve' })).statusCode).toBe(409);
      expect(t.sent().map((s) => s.decision.approved)).toEqual([false]);
    },
  },
  {
    name: 'approve then reject (1 of 3): the approval stands, one task response',
    run: async (t) => {
      expect((await t.submit(t.links.alice, { decision: 'approve' })).statusCode).toBe(200);
      expect((await t.submit(t.links.bob, { decision: 'reject', reason: 'late' })).statusCode).toBe(
        409,
      );
      expect(t.sent().map((s) => s.decision.approved)).toEqual([true]);
    },
  },
  {
    name: 'approve then reject (2 of 3): a rejection before the quorum rejects, exactly once',
    setup: { approvalsRequired: 2 },
    run: async (t) => {
      expect((await t.submit(t.links.alice, { decision: 'approve' })).statusCode).toBe(200);
      expect(t.sent()).toHaveLength(0);
      expect((await t.submit(t.links.bob, { decision: 'reject', reason: 'no' })).statusCode).toBe(
        200,
      );
      expect((await t.submit(t.links.carol, { decision: 'approve' })).statusCode).toBe(409);
      expect(t.sent().map((s) => s.decision.approved)).toEqual([false]);
    },
  },
  {
    name: 'one approver cannot count twice toward 2 of 3 (same link twice)',
    setup: { approvalsRequired: 2 },
    run: async (t) => {
      expect((await t.submit(t.links.alice, { decision: 'approve' })).statusCode).toBe(200);
      expect((await t.submit(t.links.alice, { decision: 'approve' })).statusCode).toBe(409);
      expect(t.sent()).toHaveLength(0);
      expect((await t.run())?.status).toBe('pending');
    },
  },
  {
    name: 'a destructive plan is not approved without the typed path, nor with a lookalike',
    setup: { plan: destructivePlan() },
    run: async (t) => {
      for (const confirm of ['', 'envs/prod/', 'ENVS/PROD', 'envs/prod\u200d', 'envs/../envs/prod'])
        expect(
          (await t.submit(t.links.alice, { decision: 'approve', confirm })).statusCode,
          confirm,
        ).toBe(400);
      await expectUndecided(t);
    },
  },

  // ---- races ------------------------------------------------------------------------------
  {
    name: '30 concurrent POSTs on one link: exactly one decision and one task response',
    run: async (t) => {
      const nonce = await t.nonce(t.links.alice);
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          t.call(
            'POST',
            t.links.alice,
            i % 2 ? { nonce, decision: 'approve' } : { nonce, decision: 'reject', reason: 'no' },
          ),
        ),
      );
      expect(count(results, 200)).toBe(1);
      expect(count(results, 409)).toBe(29);
      expect(Object.keys((await t.run())?.decisions ?? {})).toHaveLength(1);
      expect(t.sent()).toHaveLength(1);
    },
  },
  {
    name: '2 of 3: 10 concurrent POSTs from each approver give exactly one SendTaskSuccess',
    setup: { approvalsRequired: 2 },
    run: async (t) => {
      const links = [t.links.alice, t.links.bob, t.links.carol];
      const nonces = await Promise.all(links.map((l) => t.nonce(l)));
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          t.call('POST', links[i % 3] as string, {
            nonce: nonces[i % 3] as string,
            decision: 'approve',
          }),
        ),
      );
      // One decision per link, whatever the interleaving: three 200s, the rest refused.
      expect(count(results, 200), statuses(results).join(',')).toBe(3);
      expect(count(results, 409)).toBe(27);
      const sent = t.sent();
      expect(sent).toHaveLength(1);
      expect(sent[0]?.token).toBe(TASK_TOKEN);
      expect(sent[0]?.decision.approved).toBe(true);
      // Everyone named approved; at least the quorum (three when all landed before the send).
      const named = sent[0]?.decision.approver.split(', ') ?? [];
      expect(named.length).toBeGreaterThanOrEqual(2);
      const decisions = Object.values((await t.run())?.decisions ?? {});
      for (const name of named)
        expect(decisions.find((d) => d.approverName === name)?.decision).toBe('approve');
    },
  },
  {
    name: '2 of 3: a concurrent rejection and two approvals give one response, never two',
    setup: { approvalsRequired: 2 },
    run: async (t) => {
      const [a, b, c] = await Promise.all(
        [t.links.alice, t.links.bob, t.links.carol].map((l) => t.nonce(l)),
      );
      await Promise.all([
        t.call('POST', t.links.alice, { nonce: a as string, decision: 'approve' }),
        t.call('POST', t.links.bob, { nonce: b as string, decision: 'approve' }),
        t.call('POST', t.links.carol, { nonce: c as string, decision: 'reject', reason: 'stop' }),
      ]);
      const sent = t.sent();
      expect(sent).toHaveLength(1);
      const run = await t.run();
      expect(run?.status).toBe(sent[0]?.decision.approved ? 'approved' : 'rejected');
    },
  },
];

describe(`approval page abuse matrix: ${cases.length} cases`, () => {
  beforeEach(() => {
    sfnMock.reset();
    sfnMock.on(SendTaskSuccessCommand).resolves({});
  });

  it('has at least 25 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  for (const c of cases)
    it(c.name, async () => {
      if (c.sfnError)
        sfnMock
          .on(SendTaskSuccessCommand)
          .rejects(
            Object.assign(new Error(`${c.sfnError} from the service`), { name: c.sfnError }),
          );
      const logs = captureOutput();
      let t: T;
      try {
        t = await setup(c.setup);
        await c.run(t);
      } finally {
        logs.restore();
      }
      expect(t.responses.length).toBeGreaterThan(0);

      for (const { path, result } of t.responses) {
        const where = `${result.statusCode} ${path.slice(0, 60)}`;
        // An answer, never a crash: 5xx only where the case provoked one.
        expect([200, 400, 403, 404, 405, 409, 410, 413, 500], where).toContain(result.statusCode);
        if (!c.sfnError) expect(result.statusCode, where).not.toBe(500);
        for (const [name, value] of Object.entries(SECURITY_HEADERS))
          expect(result.headers[name], `${where}: ${name}`).toBe(value);
        expect(result.body, where).not.toMatch(/\bat .+\.[jt]s:\d+:\d+|Error: |TypeError/);
        expect(result.body, where).not.toContain(TASK_TOKEN);
        expect(result.body, where).not.toContain(OTHER_TOKEN);
        // No capability leaves in a page, not even the one the request carried.
        for (const capability of t.capabilities)
          expect(result.body.includes(capability), where).toBe(false);
        for (const capability of t.capabilities)
          expect(result.body.includes(hashCapability(capability)), where).toBe(false);
      }
      // Every task response carries this run's own token, never another's.
      for (const s of t.sent()) expect(s.token).toBe(TASK_TOKEN);
      // What the handlers logged during the case holds no token and no capability.
      const logged = logs.text();
      expect(logged).toContain('"level"');
      expect(logged).not.toContain(TASK_TOKEN);
      expect(logged).not.toContain(OTHER_TOKEN);
      for (const capability of t.capabilities) expect(logged).not.toContain(capability);
    });
});

/** Found by the abuse matrix and fixed: a decision whose delivery failed can be sent again. */
describe('a decision whose delivery failed', () => {
  beforeEach(() => {
    sfnMock.reset();
    sfnMock
      .on(SendTaskSuccessCommand)
      .rejectsOnce(Object.assign(new Error('timed out'), { name: 'TimeoutError' }))
      .resolves({});
  });

  it('a decision whose SendTaskSuccess failed once reaches the workflow when the approver retries', async () => {
    const logs = captureOutput();
    try {
      const t = await setup();
      expect((await t.submit(t.links.alice, { decision: 'approve' })).statusCode).toBe(500);
      // What the 500 page tells the approver to do: open the link again, and decide again.
      // The resend sends what was recorded: the form cannot turn it into something else.
      const again = await t.submit(t.links.alice, {
        decision: 'reject',
        reason: 'changed my mind',
      });
      expect(again.statusCode).toBe(200);
      expect(t.sent()).toHaveLength(2);
      expect(t.sent()[1]?.decision.approved).toBe(true);
      // Delivered once: the link is closed for good.
      expect((await t.submit(t.links.alice, { decision: 'approve' })).statusCode).toBe(409);
      expect(t.sent()).toHaveLength(2);
    } finally {
      logs.restore();
    }
  });
});
