import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCli } from '../../lib/cli/build';

describe('buildCli', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deploy-runner-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // An installed package resolves the bundle's dependencies from its node_modules; here, ours.
  const node = (outfile: string, ...args: string[]) =>
    spawnSync(process.execPath, [outfile, ...args], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, NODE_PATH: join(__dirname, '..', '..', 'node_modules') },
    });

  it('bundles the CLI into one file that keeps its commands and exit codes', async () => {
    const bundle = await buildCli(join(dir, 'cli.js'));
    expect(bundle.warnings).toEqual([]);
    const help = node(bundle.outfile, '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
    expect(help.stdout).toMatch(/^ {2}local/m);
    const usage = node(bundle.outfile, 'start');
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain("required option '--repo <name>' not specified");
  });
});
