import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRunnerEnv } from '../../containers/runner/src/env';
import { InputRefusedError } from '../../containers/runner/src/errors';
import { gitEnvironment, repoTransport } from '../../containers/runner/src/git';
import { basicAuthValue, SecretMasker } from '../../containers/runner/src/mask';
import type { Spawn } from '../../containers/runner/src/process';
import { runRunner } from '../../containers/runner/src/runner';
import { resolveTool, toolEnvironment } from '../../containers/runner/src/tool';
import { resolveModuleDir } from '../../containers/runner/src/workspace';
import { FolderArtifactStore } from '../../lib/artifacts/folder-store';

const tmp = () => mkdtempSync(join(tmpdir(), 'runner-unit-'));
const REPO = {
  url: 'https://github.com/acme/infra.git',
  allowedRefs: ['main'],
  allowedPaths: ['envs/*'],
  allowCommits: true,
  tool: 'terraform' as const,
  terragrunt: false,
};
const ENV = {
  DR_MODE: 'plan',
  DR_ALLOWLIST: JSON.stringify({ infra: REPO }),
  DR_REPO: 'infra',
  DR_REF: 'main',
  DR_PATH: 'envs/dev',
  DR_RUN_ID: 'infra-envs-dev-abc1234-42',
  DR_EXECUTION_ARN: 'arn:aws:states:us-east-1:123456789012:execution:sm:x',
  DR_ARTIFACT_DIR: '/tmp/artifacts',
};

describe('parseRunnerEnv', () => {
  it('reads plan inputs, storage and the log settings', () => {
    const env = parseRunnerEnv({ ...ENV, GIT_TOKEN: 't0ken-value', DR_LOG_URL: 'http://x' });
    expect(env).toMatchObject({
      mode: 'plan',
      repo: 'infra',
      ref: 'main',
      path: 'envs/dev',
      artifacts: { kind: 'folder', dir: '/tmp/artifacts' },
      gitToken: 't0ken-value',
      log: { localLogUrl: 'http://x' },
    });
    expect(env.allowlist.infra?.allowedRefs).toEqual(['main']);
    expect(env.apply).toBeUndefined();
  });

  it('prefers the bucket and reads the apply inputs', () => {
    const env = parseRunnerEnv({
      ...ENV,
      DR_MODE: 'apply',
      DR_ARTIFACT_BUCKET: 'b',
      DR_KMS_KEY_ARN: 'arn:k',
      AWS_REGION: 'eu-west-1',
      DR_COMMIT: 'a'.repeat(40),
      DR_PLAN_KEY: 'runs/x/plan.tfplan',
      DR_PLAN_VERSION_ID: 'v1',
      DR_PLAN_SHA256: 'b'.repeat(64),
    });
    expect(env.artifacts).toEqual({
      kind: 's3',
      bucket: 'b',
      kmsKeyArn: 'arn:k',
      region: 'eu-west-1',
    });
    expect(env.apply).toEqual({
      commit: 'a'.repeat(40),
      planKey: 'runs/x/plan.tfplan',
      planVersionId: 'v1',
      planSha256: 'b'.repeat(64),
    });
  });

  it('lists every problem at once and never quotes a secret', () => {
    let error: unknown;
    try {
      parseRunnerEnv({
        GIT_TOKEN: 'sup3r-secret',
        DR_RUN_ID: '../x',
        DR_ALLOWLIST: '{"infra": {"url": 1}}',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputRefusedError);
    const message = (error as Error).message;
    for (const text of [
      'DR_MODE',
      'DR_REPO',
      'DR_RUN_ID',
      'DR_ALLOWLIST.infra.url',
      'DR_ARTIFACT_DIR',
    ])
      expect(message).toContain(text);
    expect(message).not.toContain('sup3r-secret');
  });
});

describe('repoTransport', () => {
  it.each([
    ['https://github.com/acme/infra.git', 'https'],
    ['git@github.com:acme/infra.git', 'ssh'],
    ['ssh://git@github.com/acme/infra.git', 'ssh'],
    ['file:///srv/git/infra.git', 'file'],
    ['http://127.0.0.1:8080/infra.git', 'http-loopback'],
  ])('%s is %s', (url, transport) => {
    expect(repoTransport(url)).toBe(transport);
  });

  it.each([
    'http://git.example.com/infra.git',
    'https://user:pass@github.com/acme/infra.git',
    'ext::sh -c touch% /tmp/pwned',
    'git://github.com/acme/infra.git',
    '-uhttps://x',
  ])('refuses %s', (url) => {
    expect(() => repoTransport(url)).toThrow(InputRefusedError);
  });
});

describe('gitEnvironment', () => {
  it('passes the token only as an extraHeader in env config, scoped to the repo URL', async () => {
    const env = await gitEnvironment(
      { PATH: '/usr/bin', GIT_DIR: '/evil', GIT_SSH_COMMAND: 'evil', GIT_TOKEN: 'tok-123456' },
      REPO.url,
      { token: 'tok-123456' },
      tmp(),
    );
    expect(env.GIT_DIR).toBeUndefined();
    expect(env.GIT_SSH_COMMAND).toBeUndefined();
    expect(env.GIT_TOKEN).toBeUndefined();
    expect(env).toMatchObject({
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      PATH: '/usr/bin',
    });
    const pairs = Array.from({ length: Number(env.GIT_CONFIG_COUNT) }, (_, i) => [
      env[`GIT_CONFIG_KEY_${i}`],
      env[`GIT_CONFIG_VALUE_${i}`],
    ]);
    expect(pairs).toContainEqual([
      `http.${REPO.url}.extraHeader`,
      `Authorization: Basic ${basicAuthValue('tok-123456')}`,
    ]);
    expect(pairs).toContainEqual(['protocol.allow', 'never']);
    expect(pairs).toContainEqual(['protocol.https.allow', 'always']);
    expect(pairs.flat().filter((v) => v?.includes('tok-123456'))).toEqual([]);
  });

  const GITHUB_KEY =
    'github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
  const sshCommandOf = (env: NodeJS.ProcessEnv) =>
    Array.from({ length: Number(env.GIT_CONFIG_COUNT) }, (_, i) => [
      env[`GIT_CONFIG_KEY_${i}`],
      env[`GIT_CONFIG_VALUE_${i}`],
    ]).find(([k]) => k === 'core.sshCommand')?.[1] ?? '';

  it('writes the SSH key to a 0600 file named by core.sshCommand', async () => {
    const dir = join(tmp(), 'secrets');
    const env = await gitEnvironment(
      {},
      'git@github.com:acme/infra.git',
      { sshKey: '-----BEGIN KEY-----\nabc\n-----END KEY-----', knownHosts: GITHUB_KEY },
      dir,
    );
    const ssh = sshCommandOf(env);
    expect(ssh).toContain(`-i '${join(dir, 'id_git')}'`);
    expect(ssh).toContain('-o IdentitiesOnly=yes');
    expect(statSync(join(dir, 'id_git')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('verifies the SSH host against the configured known hosts only, never on first use', async () => {
    const dir = join(tmp(), 'secrets');
    const env = await gitEnvironment(
      {},
      'ssh://git@github.com/acme/infra.git',
      { sshKey: 'key', knownHosts: `${GITHUB_KEY}\n` },
      dir,
    );
    const ssh = sshCommandOf(env);
    expect(ssh).toContain('-o StrictHostKeyChecking=yes');
    expect(ssh).toContain(`-o UserKnownHostsFile='${join(dir, 'known_hosts')}'`);
    expect(ssh).toContain('-o GlobalKnownHostsFile=/dev/null');
    expect(ssh).not.toContain('accept-new');
    expect(readFileSync(join(dir, 'known_hosts'), 'utf8')).toBe(`${GITHUB_KEY}\n`);
  });

  it('refuses an SSH repo when no known hosts reached the runner', async () => {
    for (const knownHosts of [undefined, '', ' \n'])
      await expect(
        gitEnvironment({}, 'git@github.com:acme/infra.git', { sshKey: 'key', knownHosts }, tmp()),
      ).rejects.toThrow(/cloned over SSH but no host keys are configured/);
  });

  it('reads the known hosts from DR_GIT_KNOWN_HOSTS', () => {
    expect(parseRunnerEnv({ ...ENV, DR_GIT_KNOWN_HOSTS: GITHUB_KEY }).gitKnownHosts).toBe(
      GITHUB_KEY,
    );
    expect(parseRunnerEnv(ENV).gitKnownHosts).toBeUndefined();
  });

  it('keeps git from starting its housekeeping after a fetch: git itself reads the settings', async () => {
    const env = await gitEnvironment(
      { PATH: process.env.PATH },
      'file:///srv/infra.git',
      {},
      tmp(),
    );
    const read = (key: string) =>
      execFileSync('git', ['config', '--get', key], { env, encoding: 'utf8' }).trim();
    expect(read('maintenance.auto')).toBe('false');
    expect(read('gc.auto')).toBe('0');
  });

  it('adds no header for file:// URLs', async () => {
    const env = await gitEnvironment({}, 'file:///srv/infra.git', { token: 'tok-123456' }, tmp());
    expect(JSON.stringify(env)).not.toContain('extraHeader');
  });
});

describe('toolEnvironment', () => {
  it('drops git credentials, git config, DR_* and any value holding a secret', () => {
    const masker = new SecretMasker().addToken('tok-123456');
    const env = toolEnvironment(
      {
        PATH: '/usr/bin',
        AWS_REGION: 'us-east-1',
        GIT_TOKEN: 'tok-123456',
        GIT_SSH_KEY: 'k',
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_VALUE_0: 'x',
        DR_ALLOWLIST: '{}',
        SSH_AUTH_SOCK: '/tmp/agent',
        COPY_OF_TOKEN: 'Bearer tok-123456',
        TF_LOG: 'WARN',
      },
      masker,
    );
    expect(env).toEqual({
      PATH: '/usr/bin',
      AWS_REGION: 'us-east-1',
      TF_LOG: 'WARN',
      TF_IN_AUTOMATION: '1',
      TF_INPUT: '0',
      CHECKPOINT_DISABLE: '1',
    });
  });
});

describe('resolveTool', () => {
  it('uses DR_TOOL_PATH, else the repo tool on PATH, and says what is missing', async () => {
    const bin = tmp();
    writeFileSync(join(bin, 'tofu'), '#!/bin/sh\n', { mode: 0o755 });
    expect(
      await resolveTool({ ...REPO, tool: 'tofu' }, undefined, `/nowhere:${bin}`),
    ).toMatchObject({
      name: 'tofu',
      binary: join(bin, 'tofu'),
    });
    expect(await resolveTool(REPO, join(bin, 'tofu'), '')).toMatchObject({
      name: 'terraform',
      program: join(bin, 'tofu'),
    });
    await expect(resolveTool(REPO, undefined, bin)).rejects.toThrow(
      /terraform was not found on PATH/,
    );
    await expect(resolveTool(REPO, join(bin, 'nope'), bin)).rejects.toThrow(/DR_TOOL_PATH/);
  });

  it('puts terragrunt in front when the repo asks for it', async () => {
    const bin = tmp();
    for (const name of ['terraform', 'terragrunt'])
      writeFileSync(join(bin, name), '#!/bin/sh\n', { mode: 0o755 });
    const tool = await resolveTool({ ...REPO, terragrunt: true }, undefined, bin);
    expect(tool).toMatchObject({
      program: join(bin, 'terragrunt'),
      binary: join(bin, 'terraform'),
      extraEnv: { TG_TF_PATH: join(bin, 'terraform'), TERRAGRUNT_TFPATH: join(bin, 'terraform') },
    });
  });
});

describe('resolveModuleDir', () => {
  it('resolves real directories and refuses escapes', async () => {
    const root = tmp();
    const checkout = join(root, 'checkout');
    mkdirSync(join(checkout, 'envs/dev'), { recursive: true });
    mkdirSync(join(root, 'outside'));
    symlinkSync(join(root, 'outside'), join(checkout, 'envs/abs'));
    symlinkSync('../../outside', join(checkout, 'envs/rel'));
    symlinkSync('dev', join(checkout, 'envs/ok'));
    writeFileSync(join(checkout, 'envs/file'), '');
    const repo = { ...REPO, allowedPaths: ['envs/*'] };
    expect(await resolveModuleDir(checkout, 'envs/dev', repo)).toMatch(/checkout\/envs\/dev$/);
    expect(await resolveModuleDir(checkout, 'envs/ok', repo)).toMatch(/checkout\/envs\/dev$/);
    for (const path of ['envs/abs', 'envs/rel'])
      await expect(resolveModuleDir(checkout, path, repo)).rejects.toThrow(
        /outside the repository/,
      );
    await expect(resolveModuleDir(checkout, 'envs/file', repo)).rejects.toThrow(/not a directory/);
    await expect(resolveModuleDir(checkout, 'envs/none', repo)).rejects.toThrow(/does not exist/);
    await expect(resolveModuleDir(checkout, '../outside', repo)).rejects.toThrow(InputRefusedError);
  });
});

describe('runRunner with injected collaborators', () => {
  it.each([
    ['from show -json', { terraform_version: '1.6.0' }, '1.6.0', ['init', 'plan', 'show', 'show']],
    [
      'from a version call when show -json does not name it',
      {},
      '1.5.7',
      ['init', 'plan', 'show', 'version', 'show'],
    ],
    [
      'from a version call when show -json names something that is not a version',
      { terraform_version: '1.6.0\n<b>approved</b>' },
      '1.5.7',
      ['init', 'plan', 'show', 'version', 'show'],
    ],
  ])('records the tool version %s', async (_, versionField, expected, commands) => {
    const dir = tmp();
    const sha = 'a'.repeat(40);
    const tool: string[][] = [];
    const spawn: Spawn = async (file, args, options) => {
      const cwd = options.cwd ?? '';
      if (file === 'git') {
        // What a checkout leaves behind: a detached HEAD and the module's folder.
        if (args.includes('checkout')) {
          mkdirSync(join(cwd, '.git'), { recursive: true });
          writeFileSync(join(cwd, '.git', 'HEAD'), `${sha}\n`);
          mkdirSync(join(cwd, 'envs', 'dev'), { recursive: true });
        }
        return { code: 0, stdout: '', stderr: '' };
      }
      tool.push([...args]);
      const out = args.find((a) => a.startsWith('-out='));
      if (out) writeFileSync(out.slice('-out='.length), 'plan-bytes');
      const stdout =
        args[0] === 'version'
          ? JSON.stringify({ terraform_version: '1.5.7' })
          : args.includes('-json')
            ? JSON.stringify({ format_version: '1.2', ...versionField, resource_changes: [] })
            : '';
      return { code: 0, stdout, stderr: '' };
    };
    const bin = tmp();
    writeFileSync(join(bin, 'terraform'), '', { mode: 0o755 });
    const out: string[] = [];
    const code = await runRunner({
      env: { ...ENV, DR_ARTIFACT_DIR: dir, PATH: bin },
      stdout: (t) => out.push(t),
      stderr: (t) => out.push(t),
      spawn,
      clock: () => new Date('2026-01-01T00:00:00Z'),
    });
    expect(code, out.join('')).toBe(0);
    expect(tool.map((argv) => argv[0])).toEqual(commands);
    const result = JSON.parse(
      (
        await new FolderArtifactStore(dir).get(`runs/${ENV.DR_RUN_ID}/plan-result.json`)
      ).body.toString(),
    );
    expect(result).toMatchObject({ commit: sha, toolVersion: expected });
    expect(out.join('')).toContain(`terraform ${expected}\n`);
  });

  it('maps a git failure to exit 5 and writes the error report to the store', async () => {
    const dir = tmp();
    const calls: string[][] = [];
    const spawn: Spawn = async (file, args) => {
      calls.push([file, ...args]);
      if (args.includes('fetch'))
        return {
          code: 128,
          stdout: '',
          stderr: "fatal: couldn't find remote ref refs/heads/main\n",
        };
      return { code: 0, stdout: '', stderr: '' };
    };
    const bin = tmp();
    writeFileSync(join(bin, 'terraform'), '', { mode: 0o755 });
    const out: string[] = [];
    const code = await runRunner({
      env: { ...ENV, DR_ARTIFACT_DIR: dir, PATH: bin, GIT_TOKEN: 'tok-123456' },
      stdout: (t) => out.push(t),
      stderr: (t) => out.push(t),
      spawn,
      clock: () => new Date('2026-01-01T00:00:00Z'),
    });
    expect(code).toBe(5);
    expect(calls.map((c) => c.slice(0, 3))).toEqual([
      ['git', 'init', '--quiet'],
      ['git', 'fetch', '--depth=1'],
    ]);
    const report = JSON.parse(
      (
        await new FolderArtifactStore(dir).get(`runs/${ENV.DR_RUN_ID}/plan-error.json`)
      ).body.toString(),
    );
    expect(report).toMatchObject({
      mode: 'plan',
      phase: 'clone',
      exitCode: 5,
      hint: expect.stringContaining('does not exist'),
    });
    expect(out.join('')).not.toContain('tok-123456');
  });
});
