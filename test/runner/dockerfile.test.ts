import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../containers/runner/src/errors';

/**
 * The runner image: pinned tool versions verified against their published SHA-256 sums, a
 * non-root user, an exec-form entry point, and a README that says how `cdk deploy` builds it.
 */

const DIR = join(__dirname, '../../containers/runner');
const dockerfile = readFileSync(join(DIR, 'Dockerfile'), 'utf8');
const readme = readFileSync(join(DIR, 'README.md'), 'utf8');

/** Instructions with line continuations joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const stages = instructions.reduce<string[][]>((acc, line) => {
  if (/^FROM /i.test(line)) acc.push([]);
  acc.at(-1)?.push(line);
  return acc;
}, []);
const args = Object.fromEntries(
  instructions
    .filter((l) => l.startsWith('ARG ') && l.includes('='))
    .map((l) => l.slice(4).split('=') as [string, string]),
);

/**
 * `containers/runner/SHA256SUMS`: lines copied from each release's published SHA256SUMS file
 * (`<sha256>  <file>`, two spaces), the only place the sums live. The versions live only in the
 * Dockerfile's ARGs; the file names a version implies are what the build looks up.
 */
const pinnedSums = readFileSync(join(DIR, 'SHA256SUMS'), 'utf8');
const PUBLISHED_LINE =
  /^([0-9a-f]{64}) {2}((terraform|tofu)_(\d+\.\d+\.\d+)_linux_(arm64|amd64)\.zip)$/;

describe('containers/runner/Dockerfile', () => {
  it('is multi-stage: build (esbuild bundle), tools, accounts, node, runtime', () => {
    expect(stages).toHaveLength(5);
    expect(stages[0]?.[0]).toBe('FROM --platform=$BUILDPLATFORM node:22-bookworm-slim AS build');
    expect(stages[0]?.join('\n')).toMatch(/RUN npx tsx containers\/runner\/bundle\.ts \/out/);
    expect(stages[1]?.[0]).toBe('FROM --platform=$BUILDPLATFORM debian:bookworm-slim AS tools');
    expect(stages[4]?.[0]).toBe('FROM buildpack-deps:bookworm-scm');
  });

  it('runs every command on the build platform, so an x86_64 host builds the arm64 image without QEMU', () => {
    const runtime = stages.at(-1) ?? [];
    for (const stage of stages.slice(0, -1)) {
      if (!stage.some((l) => l.startsWith('RUN '))) continue;
      expect(stage[0], stage[0]).toMatch(/^FROM --platform=\$BUILDPLATFORM /);
    }
    expect(runtime.filter((l) => /^(RUN|ONBUILD) /.test(l))).toEqual([]);
    // The final stage runs on the target platform and copies from the others.
    expect(runtime[0]).not.toContain('--platform');
    // The tools are picked by the target architecture and never executed at build time.
    const tools = stages[1]?.join('\n') ?? '';
    expect(tools).toContain(`linux_${'$'}{TARGETARCH}.zip`);
    expect(tools).not.toMatch(/\.\/bin\/(terraform|tofu)\b/);
    // The runtime's passwd comes from the same base image as the one it replaces.
    const accounts = stages.find((s) => s[0]?.endsWith(' AS accounts')) ?? [];
    expect(accounts[0]?.replace('--platform=$BUILDPLATFORM ', '').replace(' AS accounts', '')).toBe(
      runtime[0],
    );
    expect(runtime).toContain('COPY --from=accounts /etc/passwd /etc/group /etc/');
  });

  it('pins exact Terraform and OpenTofu versions', () => {
    expect(args.TERRAFORM_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
    expect(args.TOFU_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
    expect(instructions.some((l) => /^ARG TARGETARCH$/.test(l))).toBe(true);
  });

  it('keeps the sums in the published SHA256SUMS format, one line per file', () => {
    const lines = pinnedSums.split('\n').filter((l) => l !== '');
    expect(pinnedSums.endsWith('\n')).toBe(true);
    for (const line of lines) expect(line, line).toMatch(PUBLISHED_LINE);
    const files = lines.map((l) => l.slice(66));
    expect(new Set(files).size).toBe(files.length);
  });

  it('has a pinned sum for every download the pinned versions imply, and no other', () => {
    const expected = ['arm64', 'amd64'].flatMap((arch) => [
      `terraform_${args.TERRAFORM_VERSION}_linux_${arch}.zip`,
      `tofu_${args.TOFU_VERSION}_linux_${arch}.zip`,
    ]);
    const files = pinnedSums
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.slice(66));
    // Bumping a version without pasting its sums (or leaving old sums behind) fails here.
    expect(files.sort()).toEqual(expected.sort());
  });

  it('keeps versions and sums in one place each', () => {
    // No sum in the Dockerfile: it reads them from containers/runner/SHA256SUMS.
    expect(dockerfile).not.toMatch(/[0-9a-f]{64}/);
    expect(Object.keys(args).filter((name) => /SHA256/.test(name))).toEqual([]);
    expect(stages[1]).toContain('COPY containers/runner/SHA256SUMS ./SHA256SUMS.pinned');
    // No version outside the Dockerfile's ARGs and the sums file.
    for (const version of [args.TERRAFORM_VERSION, args.TOFU_VERSION]) {
      expect(version).toMatch(/^\d+\.\d+\.\d+$/);
      expect(readme).not.toContain(version);
      expect(dockerfile.split(version as string)).toHaveLength(2);
    }
  });

  it('verifies the downloads with sha256sum -c --strict before unpacking them', () => {
    const tools = stages[1]?.join('\n') ?? '';
    // Docker build arguments, not JavaScript placeholders.
    const arg = (name: string) => `\${${name}}`;
    expect(tools).toContain(
      `tf_zip="terraform_${arg('TERRAFORM_VERSION')}_linux_${arg('TARGETARCH')}.zip"`,
    );
    expect(tools).toContain(
      `tofu_zip="tofu_${arg('TOFU_VERSION')}_linux_${arg('TARGETARCH')}.zip"`,
    );
    expect(tools).toContain(
      `https://releases.hashicorp.com/terraform/${arg('TERRAFORM_VERSION')}/${arg('tf_zip')}`,
    );
    expect(tools).toContain(
      `https://github.com/opentofu/opentofu/releases/download/v${arg('TOFU_VERSION')}/${arg('tofu_zip')}`,
    );
    // Exactly the two lines of these files, or the build stops: a missing sum is no pass.
    expect(tools).toContain(
      `grep -E "^[0-9a-f]{64}  (${arg('tf_zip')}|${arg('tofu_zip')})\\$" SHA256SUMS.pinned > SHA256SUMS`,
    );
    expect(tools).toContain('[ "$(wc -l < SHA256SUMS)" -eq 2 ] ||');
    const check = tools.indexOf('sha256sum -c --strict SHA256SUMS');
    expect(check).toBeGreaterThan(0);
    expect(tools.indexOf(`unzip -q "${arg('tf_zip')}"`)).toBeGreaterThan(check);
    expect(tools.indexOf(`unzip -q "${arg('tofu_zip')}"`)).toBeGreaterThan(check);
    expect(tools.indexOf('set -eu')).toBeGreaterThan(0);
    // Nothing fetched without verification.
    expect(dockerfile).not.toMatch(/^ADD\s+https?:/im);
    expect(dockerfile).not.toMatch(/\|\s*(ba)?sh/);
  });

  it('runs as a non-root user with an exec-form entry point', () => {
    const runtime = stages.at(-1) ?? [];
    const user = runtime.filter((l) => l.startsWith('USER '));
    expect(user).toHaveLength(1);
    expect(user[0]).not.toMatch(/^USER (root|0)(:|$)/);
    expect(user[0]).toBe('USER 10001:10001');
    const userIndex = runtime.indexOf(user[0] as string);
    expect(runtime.slice(userIndex).some((l) => l.startsWith('RUN '))).toBe(false);
    expect(runtime.at(-1)).toBe('ENTRYPOINT ["node", "/app/runner.js"]');
    expect(JSON.parse((runtime.at(-1) as string).slice('ENTRYPOINT '.length))).toEqual([
      'node',
      '/app/runner.js',
    ]);
    expect(runtime.some((l) => /^(CMD|SHELL) /.test(l))).toBe(false);
    expect(runtime).toContain('COPY --from=node /usr/local/bin/node /usr/local/bin/node');
    expect(runtime.join('\n')).toContain('COPY --from=build /out/runner.js /out/s3-store.js /app/');
  });
});

describe('containers/runner/README.md', () => {
  it('explains how cdk deploy builds the image', () => {
    expect(readme).toContain('## The image and how `cdk deploy` builds it');
    expect(readme).toMatch(/ContainerImage\.fromAsset/);
    expect(readme).toContain('sha256sum -c');
    expect(readme).toContain('**What the build host needs**');
    expect(readme).toMatch(/No QEMU/);
  });

  it('documents every exit code the runner uses', () => {
    for (const code of Object.values(ExitCode))
      expect(readme).toMatch(new RegExp(`^\\| ${code}\\s+\\|`, 'm'));
  });
});
