import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  type CDPSession,
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

/**
 * What `sharedPage` emulates on its one page instead of opening a context for it. Playwright sets
 * each of these per page over the DevTools protocol when a context is opened with it (viewport
 * and `isMobile` through `Emulation.setDeviceMetricsOverride`, `hasTouch` through
 * `Emulation.setTouchEmulationEnabled`, `javaScriptEnabled: false` through
 * `Emulation.setScriptExecutionDisabled`, `bypassCSP` through `Page.setBypassCSP`): the same
 * commands sent on the shared page put it in the same state, without a second renderer process.
 */
type Emulated = Pick<
  BrowserContextOptions,
  'viewport' | 'isMobile' | 'hasTouch' | 'javaScriptEnabled' | 'bypassCSP'
>;

/** The shared page of this worker process, by the context options it does not emulate. */
const pages = new Map<string, Promise<{ context: BrowserContext; page: Page; cdp: CDPSession }>>();

/**
 * One context and page for every test of every file in this worker process instead of one per
 * test: each new page starts a renderer process (about 2 s of CPU on this machine, several
 * navigations' worth) that also burns CPU while it idles for the rest of the process. What one
 * test (or file) could carry to the next is undone by `reset()`, which the caller runs before
 * each test and `sharedPage` runs before handing the page over: the cookies (the page's session
 * and the provider's), the listeners, and the emulated state (`Emulated`: viewport, phone, touch,
 * scripts off, CSP bypass), set again from the handle's own options. The pages under test keep
 * nothing else: they run no script of their own (so no storage) and answer
 * `cache-control: no-store`. Each test's first step is to open its own URL, which replaces the
 * previous document (a detour through about:blank would cost another navigation per test). A
 * test that needs a second cookie jar at the same time (a second person) still opens its own
 * context.
 */
export async function sharedPage(
  browser: Browser,
  options: BrowserContextOptions = {},
): Promise<SharedPage> {
  const { viewport, isMobile, hasTouch, javaScriptEnabled, bypassCSP, ...rest } = options;
  const key = JSON.stringify(rest);
  let opened = pages.get(key);
  if (!opened) {
    // Opened on the browser itself, not through the handle a file closes at its end.
    const raw = (await shared) ?? browser;
    opened = raw.newContext(rest).then(async (context) => {
      context.on('close', () => pages.delete(key));
      const page = await context.newPage();
      return { context, page, cdp: await context.newCDPSession(page) };
    });
    pages.set(key, opened);
    opened.catch(() => pages.delete(key));
  }
  const { context, page, cdp } = await opened;
  // Playwright's default viewport, as a context opened without options has it.
  const size = viewport ?? { width: 1280, height: 720 };
  const handle: SharedPage = {
    context,
    page,
    async reset() {
      for (const event of PAGE_EVENTS) await page.removeAllListeners(event);
      await context.clearCookies();
      await emulate(page, cdp, size, { isMobile, hasTouch, javaScriptEnabled, bypassCSP });
    },
  };
  await handle.reset();
  return handle;
}

/** Puts `page` in the `Emulated` state given, whatever state a previous handle left it in. */
async function emulate(
  page: Page,
  cdp: CDPSession,
  size: { width: number; height: number },
  state: Omit<Emulated, 'viewport'>,
): Promise<void> {
  // Playwright's own viewport (mobile: false); it skips the command when the size is the one it
  // last set, so a phone's override (sent below, which Playwright does not see) is undone by
  // sending the desktop metrics ourselves as well.
  await page.setViewportSize(size);
  const mobile = state.isMobile === true;
  await cdp.send('Emulation.setDeviceMetricsOverride', {
    mobile,
    width: size.width,
    height: size.height,
    screenWidth: size.width,
    screenHeight: size.height,
    deviceScaleFactor: 1,
    screenOrientation:
      mobile && size.height >= size.width
        ? { angle: 0, type: 'portraitPrimary' }
        : { angle: mobile ? 90 : 0, type: 'landscapePrimary' },
  });
  await cdp.send('Emulation.setTouchEmulationEnabled', { enabled: state.hasTouch === true });
  await cdp.send('Emulation.setScriptExecutionDisabled', {
    value: state.javaScriptEnabled === false,
  });
  await cdp.send('Page.setBypassCSP', { enabled: state.bypassCSP === true });
}
