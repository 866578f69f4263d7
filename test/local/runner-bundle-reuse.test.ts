import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleRunner } from '../../containers/runner/bundle';

/**
 * bundleRunner keeps its last build in node_modules/.cache and copies it instead of running
 * esbuild again: the copy must be exactly a fresh build, and a kept build that no longer matches
 * its recorded inputs or outputs must not be used.
 */

const KEPT = resolve(
  __dirname,
  '..',
  '..',
  'node_modules',
  '.cache',
  'deploy-runner',
  'runner-bundle',
);
const FILES = ['runner.js', 's3-store.js', 'terraform-sim.js'];
const temps: string[] = [];
const temp = () => {
  const dir = mkdtempSync(join(tmpdir(), 'dr-bundle-reuse-'));
  temps.push(dir);
  return dir;
};
const contents = (dir: string) => FILES.map((f) => readFileSync(join(dir, f), 'utf8'));
const mtimes = (dir: string) => FILES.map((f) => statSync(join(dir, f)).mtimeMs);

afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe('bundleRunner reuse', () => {
  it('copies the kept build, identical to a fresh one, and the simulator stays executable', async () => {
    const fresh = temp();
    await bundleRunner(fresh, { reuse: false });
    await bundleRunner(temp()); // keeps a build if none matches
    const copied = temp();
    const bundle = await bundleRunner(copied);
    expect(contents(copied)).toEqual(contents(fresh));
    expect(statSync(bundle.simulator).mode & 0o111).toBe(0o111);
    expect(bundle.runner).toBe(join(copied, 'runner.js'));
  });

  it('builds again when a recorded input hash, or a kept output, does not match', async () => {
    const fresh = temp();
    await bundleRunner(fresh, { reuse: false });
    await bundleRunner(temp());
    const latest = join(KEPT, 'latest.json');
    const kept = JSON.parse(readFileSync(latest, 'utf8')) as { inputs: Record<string, string> };
    const source = 'containers/runner/src/main.ts';
    expect(kept.inputs[source]).toMatch(/^[0-9a-f]{64}$/);

    // As if main.ts had changed since the kept build: its hash no longer matches.
    writeFileSync(
      latest,
      JSON.stringify({ ...kept, inputs: { ...kept.inputs, [source]: '0'.repeat(64) } }),
    );
    const afterInput = temp();
    const started = Date.now();
    await bundleRunner(afterInput);
    expect(contents(afterInput)).toEqual(contents(fresh));
    // Built (written after the start), and it replaced the stale entry with a matching one.
    expect(Math.min(...mtimes(afterInput))).toBeGreaterThanOrEqual(started - 1000);
    expect(JSON.parse(readFileSync(latest, 'utf8')).inputs[source]).toBe(kept.inputs[source]);

    // A damaged kept output is not copied.
    const { createHash } = await import('node:crypto');
    const text = readFileSync(latest, 'utf8');
    const dir = join(KEPT, createHash('sha256').update(text).digest('hex'));
    writeFileSync(join(dir, 'runner.js'), 'process.exit(0)\n');
    const afterDamage = temp();
    await bundleRunner(afterDamage);
    expect(contents(afterDamage)).toEqual(contents(fresh));
  });
});
