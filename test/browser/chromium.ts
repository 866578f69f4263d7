import { type Browser, type BrowserContext, chromium } from 'playwright-core';

let shared: Promise<Browser> | undefined;

/**
 * Debian's Chromium, headless, as every browser test uses it: never a downloaded browser, and no
 * background networking (this machine's network is closed).
 *
 * One browser per worker process, shared by the files that run in it (vitest.config.ts's
 * `shared` project): a launch costs seconds of CPU. What keeps one test's pages apart from
 * another's is the browser context (cookies, storage, cache), which every caller opens for
 * itself; the handle returned closes only the contexts opened through it, so a file's
 * `close()` ends its own pages and leaves the browser to the next file. Playwright ends the
 * browser with the process.
 */
export async function launchChromium(): Promise<Browser> {
  shared ??= chromium
    .launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    })
    .then((browser) => {
      browser.on('disconnected', () => {
        shared = undefined;
      });
      return browser;
    });
  const browser = await shared;
  const opened = new Set<BrowserContext>();
  const track = (context: BrowserContext) => {
    opened.add(context);
    context.on('close', () => opened.delete(context));
    return context;
  };
  return new Proxy(browser, {
    get(target, property) {
      if (property === 'newContext')
        return async (...args: Parameters<Browser['newContext']>) =>
          track(await target.newContext(...args));
      if (property === 'newPage')
        return async (...args: Parameters<Browser['newPage']>) => {
          const page = await target.newPage(...args);
          track(page.context());
          return page;
        };
      if (property === 'contexts') return () => [...opened];
      if (property === 'close')
        return async () => {
          await Promise.all([...opened].map((context) => context.close()));
        };
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
