import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { bundleRunner, type RunnerBundle } from '../containers/runner/bundle';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The runner and simulator bundles, built once for the whole run (test/e2e/harness.ts). */
    runnerBundle: RunnerBundle;
  }
}

/**
 * Work every worker would otherwise repeat: each test file runs in its own process, so a bundle
 * memoised in the harness was rebuilt by every file that starts a local server.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const removeTempRoot = useTempRoot();
  const dir = mkdtempSync(join(tmpdir(), 'dr-bundle-'));
  project.provide('runnerBundle', await bundleRunner(dir));
  return () => {
    rmSync(dir, { recursive: true, force: true });
    removeTempRoot();
  };
}

/**
 * Points TMPDIR at one folder for the whole run, removed at its end: the workers and what they
 * start inherit it, so the temp folders of tests that stop early (a failure, a timeout) are not
 * left behind in the machine's /tmp, run after run. Once per run, whichever project asks first.
 */
function useTempRoot(): () => void {
  if (process.env.DR_TEST_TMPDIR !== undefined) return () => {};
  const root = mkdtempSync(join(tmpdir(), 'deploy-runner-tests-'));
  process.env.DR_TEST_TMPDIR = root;
  process.env.TMPDIR = root;
  return () => rmSync(root, { recursive: true, force: true });
}
