import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCiBundle, buildCli, type CiBundle } from '../../lib/cli/build';

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

describe('buildCiBundle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deploy-runner-ci-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // No node_modules anywhere above the temp dir, and none on NODE_PATH.
  const env = { PATH: process.env.PATH, HOME: dir };
  let bundle: CiBundle;
  beforeAll(async () => {
    bundle = await buildCiBundle(join(dir, 'deploy-runner-ci.cjs'));
  }, 60_000);

  it('leaves out the CDK, local mode and its engine, and stays about a megabyte', () => {
    expect(bundle.warnings).toEqual([]);
    expect(bundle.inputs.some((f) => f.includes('lib/cli/program.ts'))).toBe(true);
    const forbidden = bundle.inputs.filter((f) =>
      /(^|\/)(aws-cdk-lib|constructs|cdk-nag|aws-local-stepfunctions|esbuild|undici|@aws-sdk\/client-(iam|cloudformation|sesv2))\/|^lib\/local\//.test(
        f,
      ),
    );
    expect(forbidden).toEqual([]);
    expect(bundle.bytes).toBeLessThan(1_400_000);
  });

  it('runs with no node_modules and writes its checksum in sha256sum format', () => {
    const help = spawnSync(process.execPath, [bundle.outfile, '--help'], {
      cwd: dir,
      encoding: 'utf8',
      env,
    });
    expect(help.stderr).toBe('');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^ {2}start/m);
    expect(help.stdout).not.toMatch(/^ {2}local/m);
    const sum = readFileSync(`${bundle.outfile}.sha256`, 'utf8');
    const actual = createHash('sha256').update(readFileSync(bundle.outfile)).digest('hex');
    expect(sum).toBe(`${actual}  deploy-runner-ci.cjs\n`);
    expect(bundle.sha256).toBe(actual);
  });

  describe('the GitHub action (action/main.js)', () => {
    const main = join(__dirname, '..', '..', 'action', 'main.js');
    const runAction = (bundlePath: string, inputs: Record<string, string>) =>
      spawnSync(process.execPath, [main], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...env, DEPLOY_RUNNER_CLI_BUNDLE: bundlePath, GITHUB_ACTIONS: 'true', ...inputs },
      });

    it('runs the bundle with the inputs as flags', () => {
      // No state machine anywhere: the CLI itself refuses, which proves the flags reached it.
      const result = runAction(bundle.outfile, {
        INPUT_REPO: 'infra',
        INPUT_REF: 'main',
        INPUT_PATH: 'envs/dev',
        'INPUT_PLAN-ONLY': 'true',
        INPUT_REGION: 'eu-west-1',
      });
      expect(`${result.stdout}${result.stderr}`).toContain('DEPLOY_RUNNER_STATE_MACHINE_ARN');
      expect(result.status).toBe(2);
    });

    it('refuses a bundle that does not match its checksum', () => {
      const tampered = join(dir, 'tampered.cjs');
      copyFileSync(bundle.outfile, tampered);
      copyFileSync(`${bundle.outfile}.sha256`, `${tampered}.sha256`);
      appendFileSync(tampered, '\n// changed\n');
      const result = runAction(tampered, {
        INPUT_REPO: 'infra',
        INPUT_REF: 'main',
        INPUT_PATH: 'x',
      });
      expect(result.status).toBe(1);
      expect(result.stdout).toContain('does not match its SHA-256');
    });

    it('says how to get a bundle when the ref has none', () => {
      const result = runAction(join(dir, 'missing.cjs'), {});
      expect(result.status).toBe(1);
      expect(result.stdout).toContain('npm run build:ci');
    });
  });
});
