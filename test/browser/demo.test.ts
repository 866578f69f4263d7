import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoResult, runDemo } from '../../lib/local/demo';
import { launchChromium } from './chromium';

/**
 * `npm start` as a person uses it: the demo prints the link from the approver's email, a real
 * Chromium opens it, the approver approves, and the run applies.
 */
describe('the demo in a browser', () => {
  let browser: Browser;
  let demo: DemoResult | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'dr-demo-'));
  const lines: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await demo?.server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints the approval link quickly, and clicking Approve applies the plan', async () => {
    const started = Date.now();
    demo = await runDemo({ dataDir, port: 0, exitWhenDone: false, out: (l) => lines.push(l) });
    let link: string | undefined;
    while (!link && Date.now() - started < 60_000) {
      link = lines.join('\n').match(/(http:\/\/127\.0\.0\.1:\d+\/a\/[A-Za-z0-9_-]+)/)?.[1];
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(link, lines.join('\n')).toBeDefined();
    // Issue 5: a newcomer sees the approval link within a minute (here: well within).
    expect(Date.now() - started).toBeLessThan(60_000);

    const page = await browser.newPage();
    await page.goto(link as string);
    expect(await page.locator('h1').textContent()).toMatch(/demo/i);
    mkdirSync('test-artifacts/screenshots', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/screenshots/demo-approval.png', fullPage: true });
    await page.getByRole('button', { name: /approve/i }).click();
    await page.waitForLoadState();

    expect(await demo.finished).toBe('SUCCEEDED');
    expect(lines.join('\n')).toMatch(/Applied [0-9a-f]{7}: 3 added/);
  });
});
