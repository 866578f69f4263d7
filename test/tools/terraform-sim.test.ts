import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { runSim } from '../../tools/terraform-sim/sim';
import { getBundle } from '../runner/helpers';

/** The simulator in-process: Terraform's commands, exit codes, JSON format and stale plans. */

let moduleDir: string;
let stateDir: string;

function sim(...argv: string[]): { code: number; stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  const code = runSim({
    argv,
    env: { TF_SIM_STATE_DIR: stateDir },
    cwd: moduleDir,
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    now: () => new Date('2026-01-01T00:00:00Z'),
  });
  return { code, stdout, stderr };
}

function configure(config: unknown): void {
  writeFileSync(join(moduleDir, 'resources.json'), JSON.stringify(config));
}

const BUCKET = { type: 'sim_bucket', name: 'logs', attributes: { name: 'logs', size: 1 } };

beforeEach(() => {
  const root = mkdtempSync(join(tmpdir(), 'sim-'));
  moduleDir = join(root, 'repo', 'envs', 'dev');
  stateDir = join(root, 'state');
  mkdirSync(join(root, 'repo', '.git'), { recursive: true });
  mkdirSync(moduleDir, { recursive: true });
  configure({ resources: [BUCKET], outputs: { bucket: { value: 'logs' } } });
});

describe('terraform-sim', () => {
  it('prints its version as text and JSON', () => {
    expect(sim('version').stdout).toMatch(/^Terraform v1\.11\.0-sim\n/);
    expect(sim('-version').code).toBe(0);
    expect(JSON.parse(sim('version', '-json').stdout)).toMatchObject({
      terraform_version: '1.11.0-sim',
    });
  });

  it('needs init before plan, like terraform', () => {
    const plan = sim('plan', '-input=false');
    expect(plan.code).toBe(1);
    expect(plan.stderr).toContain('please run "terraform init"');
    expect(sim('init', '-input=false', '-no-color').stdout).toContain(
      'Terraform has been successfully initialized!',
    );
  });

  it('plans with -detailed-exitcode: 2 with changes, 0 without, 1 on error', () => {
    sim('init');
    expect(sim('plan', '-out=p1', '-detailed-exitcode', '-lock-timeout=5m').code).toBe(2);
    expect(sim('apply', '-input=false', '-no-color', 'p1').code).toBe(0);
    const again = sim('plan', '-out=p2', '-detailed-exitcode');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('No changes. Your infrastructure matches the configuration.');
    configure({ resources: [BUCKET], fail: 'plan', failMessage: 'boom' });
    const failed = sim('plan', '-detailed-exitcode');
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('Error: boom');
    expect(sim('plan', '-bogus').stderr).toContain('flag provided but not defined: -bogus');
  });

  it('emits show -json in Terraform’s documented format', () => {
    sim('init');
    sim('plan', '-out=p1');
    sim('apply', 'p1');
    configure({
      resources: [
        { ...BUCKET, attributes: { name: 'renamed', size: 1 }, forceNew: ['name'] },
        { type: 'sim_db', name: 'main', attributes: { password: 'pw-1' }, sensitive: ['password'] },
      ],
      outputs: {},
    });
    sim('plan', '-out=p2');
    const json = JSON.parse(sim('show', '-json', 'p2').stdout);
    expect(json.format_version).toBe('1.2');
    expect(json.terraform_version).toBe('1.11.0-sim');
    expect(json.resource_changes).toEqual([
      expect.objectContaining({
        address: 'sim_bucket.logs',
        mode: 'managed',
        type: 'sim_bucket',
        name: 'logs',
        change: expect.objectContaining({
          actions: ['delete', 'create'],
          before: { name: 'logs', size: 1 },
          after: { name: 'renamed', size: 1 },
        }),
        action_reason: 'replace_because_cannot_update',
      }),
      expect.objectContaining({
        address: 'sim_db.main',
        change: expect.objectContaining({
          actions: ['create'],
          after_sensitive: { password: true },
        }),
      }),
    ]);
    expect(json.output_changes.bucket.actions).toEqual(['delete']);
  });

  it('renders the plan like terraform, masking sensitive values', () => {
    sim('init');
    sim('plan', '-out=p1');
    sim('apply', 'p1');
    configure({
      resources: [
        { ...BUCKET, attributes: { name: 'logs', size: 2 } },
        { type: 'sim_db', name: 'main', attributes: { password: 'pw-1' }, sensitive: true },
        {
          type: 'sim_x',
          name: 'y',
          count: 2,
          attributes: { v: 1 },
        },
      ],
    });
    sim('plan', '-out=p2');
    const text = sim('show', '-no-color', 'p2').stdout;
    expect(text).toContain('# sim_bucket.logs will be updated in-place');
    expect(text).toContain('~ size = 1 -> 2');
    expect(text).toContain('# sim_db.main will be created');
    expect(text).toContain('+ password = (sensitive value)');
    expect(text).toContain('# sim_x.y[1] will be created');
    expect(text).toContain('Plan: 3 to add, 1 to change, 0 to destroy.');
    expect(text).not.toContain('pw-1');
    configure({ resources: [{ ...BUCKET, attributes: { name: 'new' }, forceNew: ['name'] }] });
    sim('plan', '-out=p3');
    const replace = sim('show', 'p3').stdout;
    expect(replace).toContain('# sim_bucket.logs must be replaced');
    expect(replace).toContain('-/+ resource "sim_bucket" "logs" {');
    expect(replace).toContain('# forces replacement');
  });

  it('refuses a stale plan with Terraform’s message', () => {
    sim('init');
    sim('plan', '-out=p1');
    sim('plan', '-out=p2');
    expect(sim('apply', 'p2').code).toBe(0);
    const stale = sim('apply', '-input=false', 'p1');
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('Error: Saved plan is stale');
  });

  it('keeps state per module path in TF_SIM_STATE_DIR, shared by checkouts', () => {
    sim('init');
    sim('plan', '-out=p1');
    sim('apply', 'p1');
    const other = join(mkdtempSync(join(tmpdir(), 'sim-other-')), 'envs', 'dev');
    mkdirSync(join(other, '..', '..', '.git'), { recursive: true });
    mkdirSync(other, { recursive: true });
    writeFileSync(join(other, 'resources.json'), readFileSync(join(moduleDir, 'resources.json')));
    moduleDir = other;
    sim('init');
    expect(sim('plan', '-detailed-exitcode').code).toBe(0);
    expect(JSON.parse(sim('output', '-json').stdout)).toEqual({
      bucket: { sensitive: false, type: 'string', value: 'logs' },
    });
  });

  it('fails apply when told to', () => {
    configure({ resources: [BUCKET], fail: 'apply' });
    sim('init');
    sim('plan', '-out=p1');
    const applied = sim('apply', 'p1');
    expect(applied.code).toBe(1);
    expect(applied.stderr).toContain('simulated apply failure');
  });

  it('refuses a file that is not a plan', () => {
    sim('init');
    writeFileSync(join(moduleDir, 'junk'), 'not a plan');
    const shown = sim('show', '-json', 'junk');
    expect(shown.code).toBe(1);
    expect(shown.stderr).toContain('as a plan file');
  });
});

describe('the bundled simulator', () => {
  it('runs as an executable, like a terraform binary', async () => {
    const { simulator } = await getBundle();
    expect(execFileSync(simulator, ['version'], { encoding: 'utf8' })).toContain('Terraform v');
  });
});
