import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApprovalPageHandler } from '../../handlers/approval-page';
import { hashCapability } from '../../handlers/shared/capability';
import { driftPhase } from '../../handlers/shared/drift-notify';
import { createLogger } from '../../handlers/shared/logger';
import { PLAN_VIEW_SECONDS } from '../../handlers/shared/plan-view';
import { FolderArtifactStore } from '../../lib/artifacts/folder-store';
import { artifactKeys } from '../../lib/contracts';
import { MemoryDriftStore } from '../../lib/local/drift-store';
import { type FunctionUrlServer, serveFunctionUrl } from '../../lib/local/http-adapter';
import { MemoryApprovalStore } from '../../lib/local/memory-store';
import { MemoryPlanViewStore } from '../../lib/local/plan-view-store';
import { planResult, request, settings, testClock } from '../handlers/support/fixtures';
import { RecordingNotifier } from '../handlers/support/recording-notifier';
import { launchChromium, sharedPage } from './chromium';
import { AWS_PLAN, AWS_PLAN_SUMMARY } from './fixtures/aws-realistic-plan';

/**
 * The read-only plan link of a drift message, in headless Chromium: the real page handler behind
 * the node:http adapter, the view issued by the notify function's drift phase, the plan text read
 * from a folder artifact store as in local mode.
 */

const SCREENSHOTS = join(__dirname, '..', '..', 'test-artifacts', 'screenshots');
const sfnMock = mockClient(SFNClient);
const clock = testClock();
const logger = createLogger('drift-plan-view-test', { logLevel: 'SILENT' });
const dataDir = mkdtempSync(join(tmpdir(), 'dr-drift-view-'));
const artifacts = new FolderArtifactStore(dataDir);
const views = new MemoryPlanViewStore();
const approvals = new MemoryApprovalStore();

let browser: Browser;
let server: FunctionUrlServer;
let page: Page;
let checks = 0;

/** A drift check of the realistic plan, reported: its message's read-only link. */
async function driftLink(): Promise<string> {
  checks += 1;
  const runId = `drift-envs-prod-${checks}`;
  const executionArn = `arn:aws:states:us-east-1:123456789012:execution:deploy-runner:${runId}`;
  const stored = await artifacts.put(artifactKeys(runId).planText, AWS_PLAN, 'text/plain');
  const notifier = new RecordingNotifier();
  await driftPhase({
    executionArn,
    state: {
      request: { ...request, runId, executionArn, mode: 'plan-only', drift: 'notify' },
      plan: {
        summary: planResult({
          ...AWS_PLAN_SUMMARY,
          planTextKey: stored.key,
          planTextVersionId: stored.versionId,
          planTextSha256: stored.sha256,
        }),
      },
    },
    settings: { ...settings, approvalBaseUrl: server.url },
    notifier,
    drift: { store: new MemoryDriftStore(), views, now: clock },
  });
  const link = /http:\/\/127\.0\.0\.1:\d+\/v\/[A-Za-z0-9_-]{43}/.exec(
    notifier.emails[0]?.text ?? '',
  )?.[0];
  if (!link) throw new Error('no read-only link in the drift message');
  return link;
}

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  server = await serveFunctionUrl(
    createApprovalPageHandler({
      settings,
      store: approvals,
      views,
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
  ({ page } = await sharedPage(browser, { viewport: { width: 900, height: 900 } }));
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

beforeEach(() => sfnMock.reset());

describe('the read-only plan link of a drift message', () => {
  it('shows the plan as the approval page does, with no form and no button', async () => {
    const link = await driftLink();
    const res = await page.goto(link);
    expect(res?.status()).toBe(200);
    await expect(page.locator('h1').textContent()).resolves.toBe('Plan of infra envs/prod');
    await expect(page.locator('#read-only').textContent()).resolves.toContain('Read-only');
    // The plan: the destructive changes named first, and Terraform's verified text.
    await expect(page.locator('#destructive-h').textContent()).resolves.toContain(
      'Destroyed or replaced (2)',
    );
    await expect(page.getByText('aws_db_instance.main').first().isVisible()).resolves.toBe(true);
    await expect(
      page.getByText('verified unchanged since the plan was made').count(),
    ).resolves.toBe(1);
    // Nothing to decide with.
    await expect(page.locator('form, button, input, textarea, select').count()).resolves.toBe(0);
    await page.screenshot({ path: join(SCREENSHOTS, 'drift-plan-view.png'), fullPage: true });
  });

  it('a form posted to it, as a browser sends one, is refused and changes nothing', async () => {
    const link = await driftLink();
    await page.goto(link);
    const before = await page.locator('main, body').first().textContent();
    const hash = hashCapability(link.split('/v/')[1] ?? '');
    const stored = JSON.stringify(await views.getView(hash));
    // A page elsewhere with a form aimed at the link (the view itself has no form to submit).
    await page.goto('about:blank');
    await page.setContent(
      `<form method="post" action="${link}"><input name="decision" value="approve"><input name="reason" value="drive-by"><button>go</button></form>`,
    );
    const [response] = await Promise.all([
      page.waitForNavigation(),
      page.locator('button').click(),
    ]);
    expect(response?.status()).toBe(405);
    expect(await response?.headerValue('allow')).toBe('GET');
    await expect(page.locator('h1').textContent()).resolves.toBe('Method not allowed');
    expect(JSON.stringify(await views.getView(hash))).toBe(stored);
    expect(await approvals.getLink(hash)).toBeUndefined();
    expect(sfnMock.calls()).toHaveLength(0);
    await page.goto(link);
    await expect(page.locator('main, body').first().textContent()).resolves.toBe(before);
  });

  it('an expired link shows that it expired, and no plan', async () => {
    const link = await driftLink();
    clock.advance(PLAN_VIEW_SECONDS);
    try {
      const res = await page.goto(link);
      expect(res?.status()).toBe(410);
      await expect(page.locator('h1').textContent()).resolves.toBe('This link has expired');
      await expect(page.getByText('aws_db_instance.main').count()).resolves.toBe(0);
    } finally {
      clock.advance(-PLAN_VIEW_SECONDS);
    }
  });
});
