import { type Browser, chromium } from 'playwright-core';

/**
 * Debian's Chromium, headless, as every browser test launches it: never a downloaded browser,
 * and no background networking (this machine's network is closed).
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
