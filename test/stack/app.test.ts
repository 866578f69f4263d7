import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cdkJsonContext } from '../../lib/definition';
import { exampleConfig, ROOT } from './helpers';

/** bin/app.ts as the CDK CLI runs it: the config file, and what a wrong one prints. */

const run = promisify(execFile);
/**
 * cdk.json's app command, as the CDK CLI runs it from the project folder; its paths and the tsx
 * hook are resolved there, so that tests can run it in another folder.
 */
const [COMMAND, ...ARGS] = (
  JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as { app: string }
).app
  .split(' ')
  .map((word) =>
    word.startsWith('bin/')
      ? path.join(ROOT, word)
      : word.startsWith('tsx/')
        ? require.resolve(word, { paths: [ROOT] })
        : word,
  );

async function app(options: { cwd: string; env?: Record<string, string>; context?: object }) {
  const outdir = mkdtempSync(path.join(tmpdir(), 'deploy-runner-app-'));
  try {
    const { stdout, stderr } = await run(COMMAND === 'node' ? process.execPath : COMMAND, ARGS, {
      cwd: options.cwd,
      env: {
        ...process.env,
        DEPLOY_RUNNER_CONFIG: '',
        CDK_OUTDIR: outdir,
        CDK_VALIDATION: 'false',
        // What the CDK CLI passes: cdk.json's context, plus no bundling to keep the test quick.
        CDK_CONTEXT_JSON: JSON.stringify({
          ...cdkJsonContext(),
          'aws:cdk:bundling-stacks': [],
          ...options.context,
        }),
        ...options.env,
      },
    });
    return { code: 0, stdout, stderr, outdir };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr, outdir };
  }
}

function writeConfig(config: unknown): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'deploy-runner-config-'));
  const file = path.join(dir, 'deploy-runner.config.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

describe('bin/app.ts', () => {
  it('without a config file, says in one line where to start', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'deploy-runner-empty-'));
    const result = await app({ cwd, env: { DEPLOY_RUNNER_CONFIG: '' } });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^deploy-runner: no config file at .*deploy-runner\.config\.json: copy examples\/deploy-runner\.config\.json there and edit it, or pass -c config=<file>$/,
      ),
    ]);
  });

  it('with a bad config, prints the field, the value and the fix, and no stack trace', async () => {
    const config = exampleConfig();
    config.repos.infra.url = 'git@github.com:acme/infra.git';
    const file = writeConfig(config);
    const result = await app({ cwd: ROOT, env: { DEPLOY_RUNNER_CONFIG: file } });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `${file} is invalid:\n  - repos.infra.url: "git@github.com:acme/infra.git": is an SSH URL but no SSH key is configured: use the HTTPS form "https://github.com/acme/infra.git", or set git.sshKeySecretName`,
    );
  });

  it('with a config Fargate cannot run, fails the same way', async () => {
    const config = exampleConfig();
    config.runner.memoryMiB = 1000;
    const file = writeConfig(config);
    const result = await app({ cwd: ROOT, context: { config: file } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /is invalid:\n {2}- runner\.memoryMiB: 1000: Fargate does not run/,
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('synthesizes the stack from deploy-runner.config.json in the cwd', async () => {
    const result = await app({ cwd: ROOT, env: { DEPLOY_RUNNER_CONFIG: '' } });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const template = path.join(result.outdir, 'DeployRunner.template.json');
    expect(existsSync(template)).toBe(true);
    const parsed = JSON.parse(readFileSync(template, 'utf8'));
    expect(Object.keys(parsed.Outputs)).toContain('StateMachineArn');
  });
});
