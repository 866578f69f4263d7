import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApprovalPageHandler } from '../../handlers/approval-page';
import { createRequestApprovalHandler } from '../../handlers/request-approval';
import { createLogger } from '../../handlers/shared/logger';
import { approvalDecisionSchema, type PlanResult } from '../../lib/contracts';
import { type FunctionUrlServer, serveFunctionUrl } from '../../lib/local/http-adapter';
import { MemoryApprovalStore } from '../../lib/local/memory-store';
import {
  counterBytes,
  destructivePlan,
  planResult,
  request,
  requestApprovalPayload,
  settings,
  TASK_TOKEN,
  testClock,
} from '../handlers/support/fixtures';
import { RecordingNotifier } from '../handlers/support/recording-notifier';
import { launchChromium, PHONE, type SharedPage, sharedPage } from './chromium';

/**
 * The approval page in headless Chromium, served by the real handler through the node:http
 * adapter, opened from the link the approver was sent. Screenshots land in
 * test-artifacts/screenshots/ (docs/screenshots/ holds copies for the README).
 */

const SCREENSHOTS = join(__dirname, '..', '..', 'test-artifacts', 'screenshots');
const sfnMock = mockClient(SFNClient);
const store = new MemoryApprovalStore();
const notifier = new RecordingNotifier();
// A fixed clock keeps the pages (and so the screenshots) identical from run to run.
const clock = testClock();
const logger = createLogger('browser-test');
logger.setLogLevel('ERROR');

let browser: Browser;
let server: FunctionUrlServer;
let shared: SharedPage;
let page: Page;
let runCount = 0;

/** Starts a run waiting for approval and returns its execution ARN and approver links. */
async function newRun(plan: PlanResult = planResult()) {
  runCount += 1;
  const executionArn = `arn:aws:states:us-east-1:123456789012:execution:deploy-runner:browser-${runCount}`;
  await createRequestApprovalHandler({
    settings: { ...settings, approvalBaseUrl: server.url },
    store,
    notifier,
    clock,
    randomBytes: counterBytes(runCount * 100),
    logger,
  })({
    ...requestApprovalPayload({ plan }),
    executionArn,
    request: { ...request, executionArn, runId: `browser-${runCount}` },
  });
  const sent = notifier.emails.filter((e) => e.text.includes(`browser-${runCount}`));
  const link = (to: string) =>
    /http:\/\/127\.0\.0\.1:\d+\/a\/[A-Za-z0-9_-]{43}/.exec(
      sent.find((e) => e.to === to)?.text ?? '',
    )?.[0] as string;
  return { executionArn, alice: link('alice@example.com'), carol: link('carol@example.com') };
}

const sentDecisions = () =>
  sfnMock.commandCalls(SendTaskSuccessCommand).map((c) => ({
    taskToken: c.args[0].input.taskToken,
    decision: approvalDecisionSchema.parse(JSON.parse(c.args[0].input.output as string)),
  }));

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const handler = createApprovalPageHandler({
    settings,
    store,
    sfn: new SFNClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    }),
    clock,
    logger,
  });
  server = await serveFunctionUrl(handler);
  browser = await launchChromium();
  shared = await sharedPage(browser, { viewport: { width: 900, height: 900 } });
  page = shared.page;
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

beforeEach(async () => {
  sfnMock.reset();
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  await shared.reset();
});

describe('approval page in Chromium', () => {
  it('renders the summary from the emailed link, styled under the strict CSP', async () => {
    const run = await newRun();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused/i.test(m.text())) violations.push(m.text());
    });
    const response = await page.goto(run.alice);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");
    await expect(page.title()).resolves.toBe('Approve infra envs/prod? · deploy-runner');
    expect(await page.locator('h1').textContent()).toBe('Deploy infra envs/prod?');
    const facts = await page.locator('dl.facts').textContent();
    for (const fact of [
      'infra',
      'envs/prod',
      planResult().commit,
      'dora@example.com',
      '2025-11-26 09:59 UTC',
    ])
      expect(facts).toContain(fact);
    expect(await page.locator('ul.counts').textContent()).toMatch(/2\s+to add/);
    // The hashed inline style applies: the approve button is green, not the browser default.
    const background = await page.evaluate(
      "getComputedStyle(document.querySelector('button.approve')).backgroundColor",
    );
    expect(background).toBe('rgb(11, 107, 42)');
    expect(await page.getByLabel('Why do you reject it?').count()).toBe(1);
    expect(violations).toEqual([]);
    expect(await page.content()).not.toContain(TASK_TOKEN);
    await page.screenshot({ path: join(SCREENSHOTS, 'approval-page.png'), fullPage: true });
  });

  it('Approve completes the task with the decision', async () => {
    const run = await newRun();
    await page.goto(run.alice);
    await page.getByLabel('Comment (optional)').fill('ship it');
    await page.getByRole('button', { name: 'Approve and apply' }).click();
    await expect(page.locator('h1').textContent()).resolves.toBe('Approved: the apply starts now');
    // (The page as approved is screenshot once, by 'after approving: the comment is echoed back'.)
    expect(sentDecisions()).toEqual([
      {
        taskToken: TASK_TOKEN,
        decision: expect.objectContaining({
          approved: true,
          approver: 'Alice Admin',
          reason: 'ship it',
          planSha256: planResult().planSha256,
        }),
      },
    ]);
    // The link works once; the other approver's link is closed too.
    await page.goto(run.alice);
    await expect(page.locator('h1').textContent()).resolves.toBe('You already decided');
    const other = await page.goto(run.carol);
    expect(other?.status()).toBe(409);
  });

  it('Reject records the reason', async () => {
    const run = await newRun();
    await page.goto(run.carol);
    await page
      .getByLabel('Why do you reject it?')
      .fill('Not during the release freeze <b>please</b>');
    await page.getByRole('button', { name: 'Reject' }).click();
    await expect(page.locator('h1').textContent()).resolves.toBe(
      'Rejected: nothing will be applied',
    );
    expect(await page.locator('main').textContent()).toContain(
      'Not during the release freeze <b>please</b>',
    );
    expect(sentDecisions().map((d) => d.decision)).toEqual([
      expect.objectContaining({
        approved: false,
        approver: 'Carol Chief',
        reason: 'Not during the release freeze <b>please</b>',
      }),
    ]);
    const stored = await store.getRun(run.executionArn);
    expect(stored?.decisions['carol@example.com']?.reason).toBe(
      'Not during the release freeze <b>please</b>',
    );
  });

  it('a destructive plan demands the typed path before it can be approved', async () => {
    const run = await newRun(destructivePlan());
    await page.goto(run.alice);
    await expect(page.locator('.danger h3').textContent()).resolves.toBe(
      'Destroyed or replaced (2)',
    );
    await page.screenshot({
      path: join(SCREENSHOTS, 'approval-page-destructive.png'),
      fullPage: true,
    });
    const approve = page.getByRole('button', { name: 'Approve and apply' });
    // The browser itself refuses to submit without the confirmation.
    await approve.click();
    expect(await page.evaluate("document.querySelector('#confirm').validity.valueMissing")).toBe(
      true,
    );
    expect(page.url()).toBe(run.alice);
    // A wrong path is refused by the server, which keeps what was typed.
    await page.getByLabel('Type the path envs/prod to confirm').fill('envs/dev');
    await approve.click();
    await expect(page.locator('#form-error').textContent()).resolves.toContain(
      'type the path "envs/prod" exactly',
    );
    expect(await page.locator('#confirm').inputValue()).toBe('envs/dev');
    expect(sentDecisions()).toEqual([]);
    await page.getByLabel('Type the path envs/prod to confirm').fill('envs/prod');
    await approve.click();
    await expect(page.locator('h1').textContent()).resolves.toBe('Approved: the apply starts now');
    expect(sentDecisions()).toHaveLength(1);
  });

  it('a form posted from another local origin is refused; the page’s own form works', async () => {
    const run = await newRun();
    // The attacker knows a valid nonce (read from the page) and posts Alice's form from their
    // own origin: only the origin checks stand in the way.
    const nonce = /name="nonce" value="([^"]+)"/.exec(await (await fetch(run.alice)).text())?.[1];
    expect(nonce).toBeDefined();
    const attacker = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        `<!doctype html><form method="post" action="${run.alice}"><input type="hidden" name="nonce" value="${nonce}"><input type="hidden" name="decision" value="approve"><button type="submit">Win a prize</button></form>`,
      );
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = attacker.address() as AddressInfo;
      await page.goto(`http://127.0.0.1:${port}/`);
      const [refused] = await Promise.all([
        page.waitForResponse((r) => r.url() === run.alice && r.request().method() === 'POST'),
        page.getByRole('button', { name: 'Win a prize' }).click(),
      ]);
      expect(refused.status()).toBe(403);
      await expect(page.locator('h1').textContent()).resolves.toBe(
        'This form came from another site',
      );
      expect(Object.keys((await store.getRun(run.executionArn))?.decisions ?? {})).toEqual([]);
      expect(sentDecisions()).toEqual([]);
    } finally {
      await new Promise((resolve) => attacker.close(resolve));
    }
    await page.goto(run.alice);
    await page.getByRole('button', { name: 'Approve and apply' }).click();
    await expect(page.locator('h1').textContent()).resolves.toBe('Approved: the apply starts now');
    expect(sentDecisions()).toHaveLength(1);
  });

  it('a GET-only visit (a mail scanner) leaves the approval pending', async () => {
    const run = await newRun();
    const before = store.snapshot();
    // The file's page, its cookies cleared, is as new to the links as a scanner's browser.
    await page.goto(run.alice);
    await page.goto(run.carol);
    expect((await shared.context.request.get(run.alice)).status()).toBe(200);
    expect((await shared.context.request.head(run.carol)).status()).toBe(200);
    expect(store.snapshot()).toBe(before);
    expect((await store.getRun(run.executionArn))?.status).toBe('pending');
    expect(sentDecisions()).toEqual([]);
  });
});

/** Whether an element lies wholly inside the first screen of the page as it opened. */
async function inFirstScreen(p: Page, selector: string): Promise<boolean> {
  const box = await p.locator(selector).first().boundingBox();
  const viewport = p.viewportSize();
  const scrollY = (await p.evaluate('window.scrollY')) as number;
  return (
    box !== null &&
    viewport !== null &&
    scrollY === 0 &&
    box.y >= 0 &&
    box.y + box.height <= viewport.height
  );
}

describe('approval page screenshots, one per situation an approver meets', () => {
  const shot = (p: Page, name: string) =>
    p.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

  it('no changes to show: the top box says so in words', async () => {
    const run = await newRun(
      planResult({ counts: { add: 0, change: 0, destroy: 0, replace: 0 }, changes: [] }),
    );
    await page.goto(run.alice);
    await expect(page.locator('#change-sentence').textContent()).resolves.toBe(
      'This plan changes no resources (only outputs or data sources). Nothing is destroyed or replaced.',
    );
    expect(await page.locator('.danger').count()).toBe(0);
    expect(await inFirstScreen(page, '#change-sentence')).toBe(true);
    await shot(page, 'approval-page-no-changes');
  });

  it('only additions: one sentence, one set of counts, no "Other changes" box, no destroy warning', async () => {
    const run = await newRun(
      planResult({
        counts: { add: 2, change: 0, destroy: 0, replace: 0 },
        changes: [
          { address: 'aws_s3_bucket.logs', actions: ['create'] },
          { address: 'aws_iam_role.ci', actions: ['create'] },
        ],
      }),
    );
    await page.goto(run.alice);
    await expect(page.locator('#change-sentence').textContent()).resolves.toBe(
      'This plan adds 2 resources. Nothing is destroyed or replaced.',
    );
    expect(await page.locator('ul.counts').count()).toBe(1);
    expect(await page.locator('main').textContent()).not.toContain('Other changes');
    expect(await page.locator('#confirm').count()).toBe(0);
    // One checksum, named for what it covers.
    const text = (await page.locator('main').textContent()) ?? '';
    expect(text.match(/sha256:[0-9a-f]{12}/g)).toEqual([
      `sha256:${planResult().planSha256.slice(0, 12)}`,
    ]);
    expect(await page.locator('dl.facts').textContent()).toContain('Saved plansha256:');
    await shot(page, 'approval-page-additions');
  });

  it('destroys: the warning and the typed confirmation are in the top box', async () => {
    const run = await newRun(destructivePlan());
    await page.goto(run.alice);
    await expect(page.locator('#change-sentence').textContent()).resolves.toBe(
      'This plan destroys 1, replaces 1 and adds 1 resources.',
    );
    await expect(page.locator('.danger li').allTextContents()).resolves.toEqual([
      'aws_s3_bucket.old_logsdestroy',
      'aws_db_instance.mainreplace',
    ]);
    expect(await page.locator('#confirm').count()).toBe(1);
    // The page as it opens is approval-page-destructive.png, taken by the typed-path test: the
    // same run, byte for byte the same picture.
  });

  it('a wrong confirmation: the error is the first thing seen, without JavaScript, and the comment is kept', async () => {
    const run = await newRun(destructivePlan());
    // The file's page with scripts off (as a `javaScriptEnabled: false` context has it); the next
    // test's reset turns them back on.
    const { page: p } = await sharedPage(browser, {
      viewport: { width: 900, height: 900 },
      javaScriptEnabled: false,
    });
    await p.goto(run.alice);
    expect(await p.evaluate("matchMedia('(scripting: none)').matches")).toBe(true);
    await p.getByLabel('Type the path envs/prod to confirm').fill('envs/dev');
    await p.getByLabel('Comment (optional)').fill('after the migration');
    await p.getByRole('button', { name: 'Approve and apply' }).click();
    await p.waitForLoadState();
    await expect(p.locator('#form-error').textContent()).resolves.toContain(
      'type the path "envs/prod" exactly',
    );
    expect(await inFirstScreen(p, '#form-error')).toBe(true);
    // The link takes the approver straight to the field to fix.
    await p.getByRole('link', { name: 'Type the path again' }).click();
    expect(p.url()).toMatch(/#confirm$/);
    expect(await p.locator('#approve-reason').inputValue()).toBe('after the migration');
    expect(await p.locator('#reject-reason').inputValue()).toBe('');
    await p.goto(run.alice);
    await p.getByLabel('Type the path envs/prod to confirm').fill('envs/dev');
    await p.getByRole('button', { name: 'Approve and apply' }).click();
    await p.waitForLoadState();
    await shot(p, 'approval-page-wrong-confirmation');
    expect(sentDecisions()).toEqual([]);
  });

  it('after approving: the comment is echoed back', async () => {
    const run = await newRun();
    await page.goto(run.alice);
    await page.getByLabel('Comment (optional)').fill('checked with the DBA');
    await page.getByRole('button', { name: 'Approve and apply' }).click();
    await expect(page.locator('h1').textContent()).resolves.toBe('Approved: the apply starts now');
    expect(await page.locator('main').textContent()).toContain('“checked with the DBA”');
    await shot(page, 'approval-page-approved');
  });

  it('after rejecting: the reason is echoed back', async () => {
    const run = await newRun();
    await page.goto(run.carol);
    await page.getByLabel('Why do you reject it?').fill('wrong account');
    await page.getByRole('button', { name: 'Reject' }).click();
    await expect(page.locator('h1').textContent()).resolves.toBe(
      'Rejected: nothing will be applied',
    );
    expect(await page.locator('main').textContent()).toContain('“wrong account”');
    await shot(page, 'approval-page-rejected');
  });

  it('on a 390 px wide phone: nothing overflows and the destroy warning is on the first screens', async () => {
    const run = await newRun(destructivePlan());
    const { page: p } = await sharedPage(browser, PHONE);
    await p.goto(run.alice);
    // The phone emulated on the file's page: its width, and a touch screen.
    expect(await p.evaluate('[window.innerWidth, navigator.maxTouchPoints > 0]')).toEqual([
      390,
      true,
    ]);
    const overflow = await p.evaluate('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    const danger = await p.locator('.danger').boundingBox();
    expect(danger?.y ?? Infinity).toBeLessThan(2 * 844);
    await shot(p, 'approval-page-mobile');
  });
});
