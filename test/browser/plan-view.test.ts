import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApprovalPageHandler } from '../../handlers/approval-page';
import { createRequestApprovalHandler } from '../../handlers/request-approval';
import { createLogger } from '../../handlers/shared/logger';
import { FolderArtifactStore } from '../../lib/artifacts/folder-store';
import { artifactKeys, type PlanResult } from '../../lib/contracts';
import { type FunctionUrlServer, serveFunctionUrl } from '../../lib/local/http-adapter';
import { MemoryApprovalStore } from '../../lib/local/memory-store';
import {
  counterBytes,
  planResult,
  request,
  requestApprovalPayload,
  settings,
  testClock,
} from '../handlers/support/fixtures';
import { RecordingNotifier } from '../handlers/support/recording-notifier';
import { launchChromium, PHONE, type SharedPage, sharedPage } from './chromium';
import { AWS_PLAN, AWS_PLAN_SUMMARY } from './fixtures/aws-realistic-plan';

/**
 * The plan text on the approval page, in headless Chromium: the real handler behind the node:http
 * adapter reads the plan text from a folder artifact store, as in local mode. The screenshot of
 * the realistic plan lands in test-artifacts/screenshots/ (docs/screenshots/ holds the copy for
 * the README).
 */

const SCREENSHOTS = join(__dirname, '..', '..', 'test-artifacts', 'screenshots');
const HOSTILE = join(__dirname, 'fixtures', 'plan-text', 'hostile');
/** Real Terraform 1.11 output whose values hold CR, U+202E, U+200B, U+2066, NUL and ESC. */
const HOSTILE_PLAN = readFileSync(join(HOSTILE, 'plan.txt'), 'utf8');
const HOSTILE_RESULT: Partial<PlanResult> = {
  counts: { add: 1, change: 0, destroy: 1, replace: 1 },
  changes: [
    { address: 'terraform_data.z_victim', actions: ['delete'] },
    { address: 'terraform_data.replaced', actions: ['delete', 'create'] },
    { address: 'terraform_data.a_payload', actions: ['create'] },
  ],
};
const sfnMock = mockClient(SFNClient);
const store = new MemoryApprovalStore();
const notifier = new RecordingNotifier();
const clock = testClock();
const logger = createLogger('plan-view-test', { logLevel: 'SILENT' });
const dataDir = mkdtempSync(join(tmpdir(), 'dr-plan-view-'));
const artifacts = new FolderArtifactStore(dataDir);

let browser: Browser;
let server: FunctionUrlServer;
let shared: SharedPage;
let context: BrowserContext;
let page: Page;
let runCount = 0;

/**
 * Uploads `text` as a run's plan text (as the runner does) and starts that run waiting for
 * approval. Returns Alice's link and where the stored text lives.
 */
async function newRun(text: string, plan: Partial<PlanResult> = {}) {
  runCount += 1;
  const runId = `plan-view-${runCount}`;
  const executionArn = `arn:aws:states:us-east-1:123456789012:execution:deploy-runner:${runId}`;
  const stored = await artifacts.put(artifactKeys(runId).planText, text, 'text/plain');
  await createRequestApprovalHandler({
    settings: { ...settings, approvalBaseUrl: server.url },
    store,
    notifier,
    clock,
    randomBytes: counterBytes(runCount * 100),
    logger,
  })({
    ...requestApprovalPayload({
      plan: planResult({
        ...AWS_PLAN_SUMMARY,
        planTextKey: stored.key,
        planTextVersionId: stored.versionId,
        planTextSha256: stored.sha256,
        ...plan,
      }),
    }),
    executionArn,
    request: { ...request, executionArn, runId },
  });
  const email = notifier.emails.find((e) => e.to === 'alice@example.com' && e.text.includes(runId));
  const link = /http:\/\/127\.0\.0\.1:\d+\/a\/[A-Za-z0-9_-]{43}/.exec(email?.text ?? '')?.[0];
  if (!link) throw new Error(`no link for ${runId}`);
  return { link, file: join(dataDir, ...stored.key.split('/'), stored.versionId) };
}

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  server = await serveFunctionUrl(
    createApprovalPageHandler({
      settings,
      store,
      sfn: new SFNClient({
        region: 'us-east-1',
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      }),
      artifacts,
      clock,
      logger,
    }),
  );
  browser = await launchChromium();
  shared = await sharedPage(browser, { viewport: { width: 900, height: 900 } });
  ({ context, page } = shared);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

beforeEach(async () => {
  sfnMock.reset();
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  await shared.reset();
});

describe('the plan on the approval page', () => {
  it('groups destroys, replaces, changes, additions; each resource opens; totals on top', async () => {
    const { link } = await newRun(AWS_PLAN);
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused/i.test(m.text())) violations.push(m.text());
    });
    expect((await page.goto(link))?.status()).toBe(200);
    const plan = page.locator('section.plan');
    await expect(plan.locator('h3').allTextContents()).resolves.toEqual([
      'To destroy (1)',
      'To replace (1)',
      'To change in place (3)',
      'To add (3)',
      'Other (3)',
      'Outputs (2)',
    ]);
    const summaries = await plan.locator('details.res > summary').allTextContents();
    expect(summaries.slice(0, 8)).toEqual([
      'destroy aws_s3_bucket.old_logs will be destroyed',
      'replace aws_db_instance.main must be replaced',
      'change aws_iam_role_policy.deploy will be updated in-place',
      'change aws_instance.web[0] will be updated in-place',
      'change aws_security_group.api will be updated in-place',
      'add aws_sqs_queue.jobs will be created',
      'add aws_ssm_parameter.api_key will be created',
      'add module.dns.aws_route53_record.api["eu-west-1"] will be created',
    ]);
    // One set of counts on the page, in the words Terraform's own total uses; it comes first.
    expect(await page.locator('ul.counts').count()).toBe(1);
    await expect(plan.locator('.plan-total').textContent()).resolves.toBe(
      'Plan: 4 to add, 3 to change, 2 to destroy.',
    );
    const totalsY = (await plan.locator('.plan-total').boundingBox())?.y ?? Infinity;
    const firstY = (await plan.locator('details.res').first().boundingBox())?.y ?? -1;
    expect(totalsY).toBeLessThan(firstY);

    // Every block is closed, and opens on a click on its summary (no JavaScript on the page).
    const blocks = plan.locator('details.res');
    const n = await blocks.count();
    expect(n).toBe(12);
    for (let i = 0; i < n; i++) {
      const block = blocks.nth(i);
      await expect(block.locator('pre').isVisible()).resolves.toBe(false);
      await block.locator('summary').click();
      await expect(block.locator('pre').isVisible()).resolves.toBe(true);
    }
    await expect(
      blocks.nth(1).locator('pre').getByText('# forces replacement').first().isVisible(),
    ).resolves.toBe(true);
    expect(await page.locator('script').count()).toBe(0);
    expect(violations).toEqual([]);
    expect(await page.getByRole('button', { name: 'Approve and apply' }).count()).toBe(1);

    // The screenshot (for the README; under 200 KB): the plan section, destructive blocks open.
    await page.setViewportSize({ width: 760, height: 900 });
    await page.goto(link);
    for (const i of [0, 1]) await blocks.nth(i).locator('summary').click();
    const [top, bottom] = (await page.evaluate(
      `[document.querySelector('section.plan').getBoundingClientRect().top,
        document.querySelector('section.plan').getBoundingClientRect().bottom].map((y) => y + window.scrollY)`,
    )) as [number, number];
    await page.screenshot({
      path: join(SCREENSHOTS, 'approval-page-plan.png'),
      fullPage: true,
      clip: { x: 0, y: top - 16, width: 760, height: Math.ceil(bottom - top + 32) },
    });
  });

  it('fits a phone screen with a block open', async () => {
    const { link } = await newRun(AWS_PLAN);
    const { page: p } = await sharedPage(browser, PHONE);
    await p.goto(link);
    expect(await p.evaluate('[window.innerWidth, navigator.maxTouchPoints > 0]')).toEqual([
      390,
      true,
    ]);
    await p.locator('details.res > summary').nth(1).click();
    const overflow = await p.evaluate('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow).toBeLessThanOrEqual(0);
  });

  it('renders <script> in an address or a value as text, and runs nothing', async () => {
    const text = [
      '  # aws_s3_bucket.x["<script>window.__pwned=1</script>"] will be created',
      '  + resource "aws_s3_bucket" "x" {',
      '      + bucket = "<img src=x onerror=window.__pwned=2>"',
      '      + policy = "</pre></details><script>window.__pwned=3</script>"',
      '    }',
      '',
      'Plan: 1 to add, 0 to change, 0 to destroy.',
    ].join('\n');
    const { link } = await newRun(text, {
      counts: { add: 1, change: 0, destroy: 0, replace: 0 },
      changes: [
        {
          address: 'aws_s3_bucket.x["<script>window.__pwned=1</script>"]',
          actions: ['create'],
        },
      ],
    });
    // Without the page's CSP, so that only the escaping stands between the text and a script.
    // (The file's page with the CSP bypassed, as a `bypassCSP: true` context has it; the next
    // test's reset enforces it again.)
    const { page: p } = await sharedPage(browser, { bypassCSP: true });
    await p.goto(link);
    const block = p.locator('section.plan details.res').first();
    await block.locator('summary').click();
    await expect(block.locator('summary code').textContent()).resolves.toBe(
      'aws_s3_bucket.x["<script>window.__pwned=1</script>"]',
    );
    await expect(
      block.getByText('+ bucket = "<img src=x onerror=window.__pwned=2>"').isVisible(),
    ).resolves.toBe(true);
    await expect(
      block.getByText('</pre></details><script>window.__pwned=3</script>').isVisible(),
    ).resolves.toBe(true);
    expect(await p.evaluate('document.querySelectorAll("script, img").length')).toBe(0);
    expect(await p.evaluate('window.__pwned')).toBeUndefined();
    // The CSP was indeed out of the way: a script the page is given does run.
    expect(
      await p.evaluate(
        "(() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1'; document.head.append(s); return window.__ran; })()",
      ),
    ).toBe(1);
  });

  it('a tampered plan text: an error instead of the plan, no approve button, a forged approve refused', async () => {
    const { link, file } = await newRun(AWS_PLAN);
    // Someone with write access to the bucket changes the stored text after the plan.
    writeFileSync(file, AWS_PLAN.replace('"16.1"', '"9.6"'));
    expect((await page.goto(link))?.status()).toBe(200);
    const error = page.locator('#plan-error');
    await expect(error.isVisible()).resolves.toBe(true);
    await expect(error.textContent()).resolves.toContain(
      'The plan text failed its integrity check',
    );
    expect(await page.locator('section.plan details').count()).toBe(0);
    expect(await page.getByText('9.6').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Approve and apply' }).count()).toBe(0);
    await expect(page.locator('#approval-blocked').textContent()).resolves.toContain(
      'Approval is blocked',
    );

    // A forged POST with the page's own nonce and the typed path is refused.
    const nonce = await page.locator('input[name="nonce"]').first().inputValue();
    const forged = await context.request.post(link, {
      form: { nonce, decision: 'approve', confirm: 'envs/prod' },
    });
    expect(forged.status()).toBe(409);
    expect(await forged.text()).toContain('Your approval was not recorded');
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);

    // Rejecting stays possible.
    await page.getByLabel('Why do you reject it?').fill('the plan text was changed');
    await page.getByRole('button', { name: 'Reject' }).click();
    await expect(page.locator('h1').textContent()).resolves.toBe(
      'Rejected: nothing will be applied',
    );
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
  });

  it('shows CR, bidi, zero-width, NUL and ESC in a real Terraform plan as visible escapes; nothing is forged', async () => {
    const { link } = await newRun(HOSTILE_PLAN, HOSTILE_RESULT);
    expect((await page.goto(link))?.status()).toBe(200);
    const plan = page.locator('section.plan');
    // Terraform's own totals and blocks, not the ones the values tried to forge.
    await expect(plan.locator('.plan-total').textContent()).resolves.toBe(
      'Plan: 2 to add, 0 to change, 2 to destroy.',
    );
    await expect(plan.locator('h3').allTextContents()).resolves.toEqual([
      'To destroy (1)',
      'To replace (1)',
      'To add (1)',
      'Outputs (1)',
    ]);
    await expect(plan.locator('details.res > summary').allTextContents()).resolves.toEqual([
      'destroy terraform_data.z_victim will be destroyed',
      'replace terraform_data.replaced must be replaced',
      'add terraform_data.a_payload will be created',
      'outputs Changes to outputs',
    ]);
    expect(await page.getByText('phantom', { exact: false }).count()).toBe(1);

    const payload = plan.locator('details.res').nth(2);
    await payload.locator('summary').click();
    // biome-ignore lint/performance/useDomNodeTextContent: the lines as laid out are what is read
    const lines = ((await payload.locator('pre').innerText()) as string).split('\n');
    // The forged header, note and block stay on the one line they were printed on, CRs shown.
    const forged = lines.find((l) => l.includes('phantom')) ?? '';
    expect(forged).toContain('␍␍  # terraform_data.phantom will be destroyed␍');
    expect(forged).toContain('␍␍Note: Objects have changed outside of Terraform␍');
    const hidden = lines.find((l) => l.includes('evil')) ?? '';
    expect(hidden).toContain(
      'bidi \\u202Eevil\\u202C zero\\u200Bwidth \\u2066isolate\\u2069 nul ␀ esc ␛[2K end',
    );
    // Not one of those characters reaches the page as itself.
    const body = (await page.content()) as string;
    expect(body).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u202a-\u202e\u2066-\u2069\u200b]/);
    // Each escape is marked and takes room on screen.
    const marks = payload.locator('span.ctl');
    expect(await marks.count()).toBeGreaterThanOrEqual(15);
    await expect(marks.first().getAttribute('title')).resolves.toBe('U+000D');
    expect((await marks.first().boundingBox())?.width ?? 0).toBeGreaterThan(4);
    // Outputs: the forged total stays inside the output's value.
    const outputs = plan.locator('details.res').nth(3);
    await outputs.locator('summary').click();
    // biome-ignore lint/performance/useDomNodeTextContent: the lines as laid out are what is read
    await expect(outputs.locator('pre').innerText()).resolves.toContain(
      '␍Plan: 0 to add, 0 to change, 0 to destroy.',
    );
    // The text agrees with the JSON plan: approval is offered.
    expect(await page.locator('#plan-mismatch').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Approve and apply' }).count()).toBe(1);
    await page.screenshot({
      path: join(SCREENSHOTS, 'approval-page-hostile-plan.png'),
      fullPage: true,
    });
  });

  it('a text that disagrees with the JSON plan: says why, no approve button, a forged approve refused, reject works', async () => {
    // The JSON plan destroys z_victim; this stored (and checksum-true) text says it only changes.
    const text = HOSTILE_PLAN.replace(
      '  # terraform_data.z_victim will be destroyed',
      '  # terraform_data.z_victim will be updated in-place',
    );
    const { link } = await newRun(text, HOSTILE_RESULT);
    expect((await page.goto(link))?.status()).toBe(200);
    const mismatch = page.locator('#plan-mismatch');
    await expect(mismatch.isVisible()).resolves.toBe(true);
    await expect(mismatch.locator('li').allTextContents()).resolves.toEqual([
      'terraform_data.z_victim: the plan text shows update, but the JSON plan will destroy it',
      'the plan text shows 0 destroy blocks, the JSON plan counts 1',
      'the plan text shows 1 update block, the JSON plan counts 0',
    ]);
    expect(await page.getByRole('button', { name: 'Approve and apply' }).count()).toBe(0);
    await expect(page.locator('#approval-blocked').textContent()).resolves.toContain(
      'the plan text does not agree with the JSON plan',
    );
    // The destroy is still named at the top of the page, from the JSON plan.
    await expect(page.locator('.danger ul.changes li').allTextContents()).resolves.toEqual([
      'terraform_data.z_victimdestroy',
      'terraform_data.replacedreplace',
    ]);

    const nonce = await page.locator('input[name="nonce"]').first().inputValue();
    const forged = await context.request.post(link, {
      form: { nonce, decision: 'approve', confirm: 'envs/prod' },
    });
    expect(forged.status()).toBe(409);
    expect(await forged.text()).toContain('Your approval was not recorded');
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);

    await page.getByLabel('Why do you reject it?').fill('the plan text disagrees with the plan');
    await page.getByRole('button', { name: 'Reject' }).click();
    await expect(page.locator('h1').textContent()).resolves.toBe(
      'Rejected: nothing will be applied',
    );
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
  });
});
