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

/** The sums published in each release's SHA256SUMS file. */
const PUBLISHED = {
  terraform_1_11_4_linux_arm64: 'a43d1d0da9b9bab214a8305a39db0e40869572594ccf50c416a7756499143633',
  terraform_1_11_4_linux_amd64: '1ce994251c00281d6845f0f268637ba50c0005657eb3cf096b92f753b42ef4dc',
  tofu_1_10_1_linux_arm64: '102ca3c409da379f13baf272d0301afcd4f5e4a558970b7bc4473f2f286d4598',
  tofu_1_10_1_linux_amd64: 'e90b948d2606d7c69653ddbb9319c2edb8c229f091950a21f3e198f621d888a9',
};

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

  it('pins the published SHA-256 of each download', () => {
    const key = (tool: string, version: string, arch: string) =>
      `${tool}_${version.replace(/\./g, '_')}_linux_${arch}` as keyof typeof PUBLISHED;
    for (const arch of ['arm64', 'amd64']) {
      const tf = key('terraform', args.TERRAFORM_VERSION ?? '', arch);
      const tofu = key('tofu', args.TOFU_VERSION ?? '', arch);
      expect(args[`TERRAFORM_SHA256_${arch.toUpperCase()}`]).toBe(PUBLISHED[tf]);
      expect(args[`TOFU_SHA256_${arch.toUpperCase()}`]).toBe(PUBLISHED[tofu]);
    }
  });

  it('verifies the downloads with sha256sum -c before unpacking them', () => {
    const tools = stages[1]?.join('\n') ?? '';
    // Docker build arguments, not JavaScript placeholders.
    const arg = (name: string) => `\${${name}}`;
    expect(tools).toContain(
      `https://releases.hashicorp.com/terraform/${arg('TERRAFORM_VERSION')}/terraform_${arg('TERRAFORM_VERSION')}_linux_${arg('TARGETARCH')}.zip`,
    );
    expect(tools).toContain(
      `https://github.com/opentofu/opentofu/releases/download/v${arg('TOFU_VERSION')}/tofu_${arg('TOFU_VERSION')}_linux_${arg('TARGETARCH')}.zip`,
    );
    expect(tools).toMatch(
      /printf '%s {2}terraform\.zip\\n%s {2}tofu\.zip\\n' "\$\{tf_sum\}" "\$\{tofu_sum\}"/,
    );
    const check = tools.indexOf('sha256sum -c SHA256SUMS');
    expect(check).toBeGreaterThan(0);
    expect(tools.indexOf('unzip -q terraform.zip')).toBeGreaterThan(check);
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
