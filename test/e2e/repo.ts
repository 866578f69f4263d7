import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runGit } from '../../lib/local/git';

/**
 * The e2e fixtures that need no server: a repo of simulator modules and an approver's decision
 * over HTTP. Apart from test/e2e/harness.ts (which re-exports them) so a test that runs local
 * mode in child processes (test/local/crash.test.ts) does not load the server's modules into
 * its own worker as well.
 */

export type SimResource = {
  type: string;
  name: string;
  attributes?: Record<string, unknown>;
  forceNew?: string[];
};

export interface ModuleFixture {
  resources: SimResource[];
  fail?: 'init' | 'plan' | 'apply';
  failMessage?: string;
  /** Milliseconds the simulator takes to plan or apply. */
  delayMs?: { plan?: number; apply?: number };
  /** The simulator's apply waits until this file exists. */
  applyWaitsFor?: string;
}

const git = (cwd: string, ...args: string[]) => runGit(cwd, 'Test', ...args);

/** A git repository of root modules for the simulator; `commit` writes modules and commits. */
export class InfraRepo {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    git(dir, 'init', '-q', '-b', 'main');
  }

  commit(modules: Record<string, ModuleFixture>, message = 'change'): string {
    for (const [path, module] of Object.entries(modules)) {
      const file = join(this.dir, path, 'resources.json');
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify({ backend: { key: path }, ...module }, null, 2));
    }
    git(this.dir, 'add', '-A');
    git(this.dir, 'commit', '-q', '--allow-empty', '-m', message);
    return git(this.dir, 'rev-parse', 'HEAD');
  }

  get url(): string {
    return `file://${this.dir}`;
  }
}

export const resources = (...names: string[]): SimResource[] =>
  names.map((name) => ({ type: 'sim_thing', name, attributes: { name } }));

/** Opens the page like a browser, then posts the chosen form with its nonce. */
export async function decide(
  link: string,
  decision: 'approve' | 'reject',
  fields: { reason?: string; confirm?: string } = {},
): Promise<{ status: number; body: string }> {
  const page = await fetch(link);
  const html = await page.text();
  const nonce = /name="nonce" value="([^"]+)"/.exec(html)?.[1];
  if (!nonce) throw new Error(`no nonce on the approval page (HTTP ${page.status})`);
  const body = new URLSearchParams({ nonce, decision, ...fields });
  const res = await fetch(link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
    redirect: 'manual',
  });
  return { status: res.status, body: await res.text() };
}
