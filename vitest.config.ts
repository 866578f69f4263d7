import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    // Builds the runner bundle once for every file that starts a local server.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is one worker less than the cores: a single worker on a 2-core machine,
    // which then idles through every e2e file's waits (approval polls, runs, server restarts).
    // Two files at a time keep both cores busy (three made 30 s tests time out); the longest files
    // start first (by size, then by duration once vitest has a cache).
    maxWorkers: 2,
  },
});
