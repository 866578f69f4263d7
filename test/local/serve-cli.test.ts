import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userTmpdir } from '../user-tmpdir';

/**
 * What a newcomer meets first: `deploy-runner local serve` with a taken port, an invalid
 * config, or a data folder it cannot write, each answered by one line with the cause and the
 * fix, and exit code 2.
 */

const ROOT = resolve(__dirname, '..', '..');
/**
 * What `npx deploy-runner` runs: the launcher loads the TypeScript with tsx's require hook, a
 * few hundred ms of CPU less per process than `node --import tsx` and its loader thread.
 */
const CLI = join(ROOT, 'bin', 'deploy-runner.js');

function serve(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [CLI, 'local', 'serve', ...args],
      {
        cwd: ROOT,
        timeout: 60_000,
        env: { ...process.env, NO_COLOR: '1', ...userTmpdir() },
      },
      (error, stdout, stderr) =>
        resolvePromise({
          code: error ? ((error as { code?: number }).code ?? null) : 0,
          stdout,
          stderr,
        }),
    );
  });
}

describe('deploy-runner local serve: first-run errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dr-serve-'));
  const validConfig = join(dir, 'ok.json');
  let blocker: Server;
  let takenPort = 0;

  beforeAll(async () => {
    writeFileSync(
      validConfig,
      JSON.stringify({
        repos: { infra: { url: 'file:///tmp/x', allowedRefs: ['main'], allowedPaths: ['envs/*'] } },
        approvals: { approvers: [{ email: 'a@example.com' }] },
        notifications: { fromEmail: 'deploy@example.com' },
      }),
    );
    blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    takenPort = (blocker.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => blocker.close(() => r())));

  const table: Array<[string, () => string[], RegExp]> = [
    [
      'a port that is taken',
      () => ['--port', String(takenPort), '--config', validConfig, '--data-dir', join(dir, 'd1')],
      /port \d+ on 127\.0\.0\.1 is already in use.*pass --port <free port>/,
    ],
    [
      'a config file that does not exist',
      () => ['--config', join(dir, 'missing.json'), '--data-dir', join(dir, 'd2')],
      /cannot read the file \(ENOENT\): create it from examples\/deploy-runner\.config\.json/,
    ],
    [
      'an invalid config',
      () => {
        const bad = join(dir, 'bad.json');
        writeFileSync(
          bad,
          JSON.stringify({
            repos: {
              infra: {
                url: 'git@github.com:acme/infra.git',
                allowedRefs: ['main'],
                allowedPaths: ['x'],
              },
            },
            approvals: { approvers: [{ email: 'a@example.com' }] },
            notifications: { fromEmail: 'deploy@example.com' },
          }),
        );
        return ['--config', bad, '--data-dir', join(dir, 'd3')];
      },
      /repos\.infra\.url: "git@github\.com:acme\/infra\.git": is an SSH URL but no SSH key is configured: use the HTTPS form "https:\/\/github\.com\/acme\/infra\.git"/,
    ],
    [
      'a data folder that cannot be written',
      () => ['--config', validConfig, '--data-dir', join(validConfig, 'inside-a-file')],
      /the data folder .* is not writable \(ENOTDIR\): pass --data-dir <a folder you can write>/,
    ],
  ];

  it.each(table)(
    '%s: one line with the cause and the fix, exit 2',
    async (_name, args, message) => {
      const result = await serve(args());
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    },
  );
});
