import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCli } from '../../lib/cli/build';

describe('buildCli', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deploy-runner-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('bundles a CLI that runs without node_modules and keeps its exit codes', async () => {
    const bundle = await buildCli(join(dir, 'cli.js'));
    expect(bundle.bytes).toBeGreaterThan(10_000);
    const help = execFileSync(process.execPath, [bundle.outfile, '--help'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(help).toContain('Exit codes:');
    const usage = spawnSync(process.execPath, [bundle.outfile, 'start'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(usage.status).toBe(2);
  });
});
