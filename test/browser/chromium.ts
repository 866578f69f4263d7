import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  chromium,
  type Page,
} from 'playwright-core';

let shared: Promise<Browser> | undefined;

/**
 * Debian's Chromium, headless, as every browser test uses it: never a downloaded browser, and no
 * background networking (this machine's network is closed).
 *
 * One browser per worker process, shared by the files that run in it (vitest.config.ts's
 * `shared` project): a launch costs seconds of CPU. What keeps one test's pages apart from
 * another's is the browser context (cookies, storage, cache), which every caller opens for
 * itself (or shares, reset, through `sharedPage`); the handle returned closes only the contexts
 * opened through it, so a file's `close()` ends its own pages and leaves the browser (and the
 * shared pages) to the next file. Playwright ends the browser with the process.
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

/** A context and its one page, which a file's tests take turns on (see `sharedPage`). */
export interface SharedPage {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Puts the page back as a new one would be for the next test. */
  reset(): Promise<void>;
}

/** The page events tests listen to; a listener left by one test must not see the next one's page. */
const PAGE_EVENTS = ['console', 'dialog', 'pageerror', 'request', 'response'] as const;

/** A 390 px wide phone, as the page tests open it (one key for `sharedPage` across files). */
export const PHONE: BrowserContextOptions = {
  viewport: { width: 390, height: 844 },
  isMobile: true,
  hasTouch: true,
};

/** The shared pages of this worker process, by their context options. */
const pages = new Map<string, Promise<{ context: BrowserContext; page: Page }>>();

/**
 * One context and page for a file's tests instead of one per test: each new page starts a
 * renderer process (about 1.3 s of CPU on this machine, three navigations' worth). The page
 * outlives the file, like the browser: the next file in this worker process that asks for the
 * same context options gets it, reset. What one test (or file) could carry to the next is undone
 * by `reset()`, which the caller runs before each test and `sharedPage` runs before handing the
 * page over: the cookies (the page's session and the provider's), the listeners and the
 * viewport. The pages under test keep nothing else: they run no script of their own (so no
 * storage) and answer `cache-control: no-store`. Each test's first step is to open its own URL,
 * which replaces the previous document (a detour through about:blank would cost another
 * navigation per test). A test whose context differs (no JavaScript, no CSP, a phone, a second
 * person's cookie jar) still opens its own.
 */
export async function sharedPage(
  browser: Browser,
  options: BrowserContextOptions = {},
): Promise<SharedPage> {
  const key = JSON.stringify(options);
  let opened = pages.get(key);
  if (!opened) {
    // Opened on the browser itself, not through the handle a file closes at its end.
    const raw = (await shared) ?? browser;
    opened = raw.newContext(options).then(async (context) => {
      context.on('close', () => pages.delete(key));
      return { context, page: await context.newPage() };
    });
    pages.set(key, opened);
    opened.catch(() => pages.delete(key));
  }
  const { context, page } = await opened;
  const viewport = options.viewport === undefined ? { width: 1280, height: 720 } : options.viewport;
  const handle: SharedPage = {
    context,
    page,
    async reset() {
      for (const event of PAGE_EVENTS) await page.removeAllListeners(event);
      await context.clearCookies();
      if (viewport) await page.setViewportSize(viewport);
    },
  };
  await handle.reset();
  return handle;
}
