import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoResult, runDemo } from '../../lib/local/demo';
import { launchChromium, type SharedPage, sharedPage } from './chromium';

/**
 * `npm start -- --sign-in` (`local demo --sign-in`) as a person uses it: the demo prints whom to
 * sign in as, Chromium opens the link, signs in at the local OpenID provider (someone else first,
 * then the approver), and approves. Proves the local wiring end to end: config → template →
 * the page's DR_SIGN_IN, the client secret by name, the callback registered at the provider.
 */
// One person's session, step by step: each test goes on from where the previous one left the
// demo (started, approved, second run offered), so `--sequence.shuffle` keeps their order.
describe('local demo --sign-in in a browser', { shuffle: false }, () => {
  let browser: Browser;
  // One page for both sign-ins, its cookies cleared in between: the approver's browser is not the
  // one that tried someone else.
  let shared: SharedPage;
  let demo: DemoResult | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'dr-demo-sign-in-'));
  const lines: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    shared = await sharedPage(browser);
  });
  afterAll(async () => {
    await browser?.close();
    await demo?.server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  let link: string | undefined;

  it('says whom to sign in as, and prints the approval link', async () => {
    const started = Date.now();
    demo = await runDemo({
      dataDir,
      port: 0,
      exitWhenDone: false,
      signIn: true,
      // One run is enough here; the destroying second run has its own test (demo.test.ts).
      secondRun: 'skip',
      out: (l) => lines.push(l),
    });
    const printed = lines.join('\n');
    expect(printed).toMatch(
      /sign-in +on: approvers sign in at the local OpenID provider http:\/\/127\.0\.0\.1:\d+/,
    );
    expect(printed).toMatch(/type approver@example\.com +to sign in as You/);
    while (!link && Date.now() - started < 60_000) {
      link = lines.join('\n').match(/(http:\/\/127\.0\.0\.1:\d+\/a\/[A-Za-z0-9_-]+)/)?.[1];
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(link, lines.join('\n')).toBeDefined();
  }, 65_000);

  it('refuses someone else at the callback: no session, no decision form', async () => {
    const server = demo?.server;
    expect(server && link).toBeTruthy();
    await shared.reset();
    const { page } = shared;
    await page.goto(link as string);
    // Signed out: the plan, a way to sign in, and no decision form.
    expect(await page.getByRole('button', { name: /approve/i }).count()).toBe(0);
    await page.locator('#sign-in').click();
    await page.waitForSelector('input[name=login]');
    expect(page.url().startsWith(server?.url ?? '')).toBe(false);
    await page.fill('input[name=login]', 'someone-else@example.com');
    // Refused at the callback, whose page holds no link back (the capability stays unspent).
    await Promise.all([
      page.waitForURL(`${server?.url}/a/signin?**`),
      page.click('button[type=submit]'),
    ]);
    await page.waitForLoadState();
    expect(await page.getByRole('button', { name: /approve/i }).count()).toBe(0);
    expect(await page.locator('body').textContent()).toMatch(/someone-else@example\.com/);
  });

  it('lets the approver sign in and approve, and the run applies', async () => {
    await shared.reset();
    const { page } = shared;
    await page.goto(link as string);
    await page.locator('#sign-in').click();
    await page.waitForSelector('input[name=login]');
    await page.fill('input[name=login]', 'approver@example.com');
    await Promise.all([page.waitForURL(`${link}**`), page.click('button[type=submit]')]);
    mkdirSync('test-artifacts/screenshots', { recursive: true });
    await page.screenshot({
      path: 'test-artifacts/screenshots/local-sign-in-signed-in.png',
      fullPage: true,
    });
    await page.getByRole('button', { name: /approve/i }).click();
    await page.waitForLoadState();

    expect(await demo?.finished).toBe('SUCCEEDED');
    expect(lines.join('\n')).toMatch(/Applied [0-9a-f]{7}: 3 added/);
  });
});
