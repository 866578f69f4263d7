import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { userTmpdir } from '../user-tmpdir';

/**
 * docs/cli.md's local mode as a newcomer meets it: `local serve` with examples/configs/local.json
 * prints a command, and that command, pasted into a shell at the repo root, starts a run and
 * streams its plan with no --log-group and no --state-machine-arn.
 */

const ROOT = resolve(__dirname, '..', '..');
const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'dr-localdocs-'));

/** True while any process of the group is alive (npx, the CLI, the server it runs). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

afterAll(async () => {
  const groups = children.flatMap((child) => (child.pid ? [child.pid] : []));
  for (const pgid of groups) if (groupAlive(pgid)) process.kill(-pgid, 'SIGTERM');
  // The server writes its data folder until it has stopped: remove the folder after that.
  const until = Date.now() + 15_000;
  while (groups.some(groupAlive) && Date.now() < until)
    await new Promise((r) => setTimeout(r, 100));
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Runs a shell command in its own process group; resolves once stdout matches `until`. */
function runUntil(command: string, until: RegExp, ms: number): Promise<string> {
  const child = spawn('sh', ['-c', command], {
    cwd: ROOT,
    detached: true,
    env: {
      ...process.env,
      NO_COLOR: '1',
      CI: '',
      ...userTmpdir(),
    },
  });
  children.push(child);
  let out = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out; output so far:\n${out}`)), ms);
    const check = (chunk: Buffer) => {
      out += chunk.toString();
      if (until.test(out)) {
        clearTimeout(timer);
        resolvePromise(out);
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (!until.test(out)) reject(new Error(`exited ${code}:\n${out}`));
    });
  });
}

describe('docs/cli.md: local mode from a fresh clone', () => {
  it("local serve's hint, pasted, streams the plan with no --log-group", async () => {
    // The repo examples/configs/local.json names, made as docs/cli.md says, in this test's folder.
    const repo = join(dir, 'demo-infra');
    cpSync(join(ROOT, 'examples', 'demo-infra'), repo, { recursive: true });
    const git = (...args: string[]) =>
      execFileSync('git', [
        '-C',
        repo,
        '-c',
        'user.name=t',
        '-c',
        'user.email=t@example.com',
        ...args,
      ]);
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-q', '-m', 'demo');
    const example = readFileSync(join(ROOT, 'examples', 'configs', 'local.json'), 'utf8');
    expect(example).toContain('file:///tmp/deploy-runner-demo-infra');
    const config = join(dir, 'local.json');
    writeFileSync(
      config,
      example.replace('file:///tmp/deploy-runner-demo-infra', `file://${repo}`),
    );

    const port = await freePort();
    const served = await runUntil(
      `npx deploy-runner local serve --port ${port} --config ${config} --data-dir ${join(dir, 'data')}`,
      /try +.*--wait.*\n/,
      120_000,
    );
    const hint = /try +(.*--wait.*)\n/.exec(served)?.[1] ?? '';
    expect(hint).toBe(
      `npx deploy-runner start --endpoint http://127.0.0.1:${port} --repo demo --ref main --path envs/dev --wait --approval-poll 2`,
    );

    const output = await runUntil(hint, /Waiting for approval/, 180_000);
    expect(output).toMatch(/-> Plan\n/);
    expect(output).toMatch(/plan \| .*Plan: \d+ to add/);
    expect(output.indexOf('plan | ')).toBeLessThan(output.indexOf('Waiting for approval'));
  }, 320_000);
});
