import { defineConfig } from 'vitest/config';

/**
 * The load test (`npm run test:load`): slow by design, so outside `npm test`. Its files are
 * named `*.load.ts`, which the default config's `test/**\/*.test.ts` does not match.
 */
export default defineConfig({
  test: {
    include: ['test/load/**/*.load.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 20 * 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
