import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, IgnoreStrategy, Stack } from 'aws-cdk-lib';
import { DockerImageAsset } from 'aws-cdk-lib/aws-ecr-assets';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  PACKAGE_ROOT,
  RUNNER_BUILD_CONTEXT_EXCLUDE,
  RUNNER_DOCKERFILE,
} from '../../lib/constructs/private/paths';
import { RUNNER_IMAGE_ASSET_OPTIONS } from '../../lib/constructs/private/runner-image';
import { type Built, buildStack, ROOT } from './helpers';

/** The runner image asset: built for ARM64 from containers/runner/Dockerfile, lean context. */

const TSX_CLI = require.resolve('tsx/cli');

let built: Built;
beforeAll(() => {
  built = buildStack();
});

describe('the runner image', () => {
  it('is one ARM64 image asset built from containers/runner/Dockerfile at the repository root', () => {
    const assembly = built.app.synth();
    const manifest = JSON.parse(
      readFileSync(path.join(assembly.directory, 'DeployRunner.assets.json'), 'utf8'),
    ) as { dockerImages: Record<string, { source: Record<string, unknown> }> };
    const images = Object.values(manifest.dockerImages);
    expect(images).toHaveLength(1);
    expect(images[0]?.source).toMatchObject({
      dockerFile: 'containers/runner/Dockerfile',
      platform: 'linux/arm64',
    });
    expect(PACKAGE_ROOT).toBe(ROOT);
  });

  it('has in its build context everything the Dockerfile copies, and no node_modules', () => {
    const ignore = IgnoreStrategy.docker(ROOT, RUNNER_BUILD_CONTEXT_EXCLUDE);
    const dockerfile = readFileSync(path.join(ROOT, RUNNER_DOCKERFILE), 'utf8');
    const sources = dockerfile
      .split('\n')
      .filter((line) => /^COPY\s/i.test(line) && !/--from=/.test(line))
      .flatMap((line) =>
        line
          .trim()
          .split(/\s+/)
          .slice(1, -1)
          .filter((token) => !token.startsWith('--')),
      );
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(path.join(ROOT, source)), source).toBe(true);
      expect(ignore.ignores(path.join(ROOT, source)), source).toBe(false);
    }
    expect(ignore.ignores(path.join(ROOT, 'node_modules', 'zod', 'package.json'))).toBe(true);
    expect(ignore.ignores(path.join(ROOT, 'handlers', 'notify.ts'))).toBe(true);
    expect(ignore.ignores(path.join(ROOT, 'cdk.out', 'manifest.json'))).toBe(true);
  });
});

describe('the runner image asset hash', () => {
  /** The asset hash CDK gives the runner image built from `root`, with the stack's options. */
  const assetHash = (root: string) =>
    new DockerImageAsset(new Stack(new App(), 'Hash'), 'Runner', {
      directory: root,
      ...RUNNER_IMAGE_ASSET_OPTIONS,
    }).assetHash;

  /** A copy of the repository (without node_modules and git) to edit. */
  function copyOfRepository(): string {
    const copy = mkdtempSync(path.join(tmpdir(), 'dr-image-hash-'));
    cpSync(ROOT, copy, {
      recursive: true,
      filter: (source) => !/[\\/](node_modules|\.git|cdk\.out)$/.test(source),
    });
    return copy;
  }

  it('does not change when the terraform simulator changes, and does when the runner does', () => {
    const copy = copyOfRepository();
    try {
      const before = assetHash(copy);
      appendFileSync(path.join(copy, 'tools', 'terraform-sim', 'sim.ts'), '\n// edited\n');
      appendFileSync(path.join(copy, 'tools', 'terraform-sim', 'terraform-sim.ts'), '\n');
      expect(assetHash(copy)).toBe(before);
      // The same check notices an edit to what the image is built from.
      appendFileSync(path.join(copy, 'containers', 'runner', 'src', 'main.ts'), '\n// edited\n');
      expect(assetHash(copy)).not.toBe(before);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('leaves the simulator out of the build context, and builds the image bundle without it', () => {
    const ignore = IgnoreStrategy.docker(ROOT, RUNNER_BUILD_CONTEXT_EXCLUDE);
    for (const file of ['sim.ts', 'terraform-sim.ts'])
      expect(ignore.ignores(path.join(ROOT, 'tools', 'terraform-sim', file)), file).toBe(true);
    const dockerfile = readFileSync(path.join(ROOT, RUNNER_DOCKERFILE), 'utf8');
    expect(dockerfile).not.toMatch(/simulator|terraform-sim|COPY\s+tools/);
    // The Dockerfile's build step, run on exactly the build context (node_modules as `npm ci`
    // would install them): it bundles what the image runs, and nothing it cannot see.
    const context = mkdtempSync(path.join(tmpdir(), 'dr-image-context-'));
    try {
      cpSync(ROOT, context, {
        recursive: true,
        // Folders are walked (a file inside may be let back in); files are copied if included.
        filter: (source) =>
          statSync(source).isDirectory()
            ? !/[\\/](node_modules|\.git)$/.test(source)
            : !ignore.ignores(source),
      });
      expect(existsSync(path.join(context, 'tools', 'terraform-sim', 'sim.ts'))).toBe(false);
      symlinkSync(path.join(ROOT, 'node_modules'), path.join(context, 'node_modules'), 'dir');
      execFileSync(
        process.execPath,
        [TSX_CLI, 'containers/runner/bundle.ts', path.join(context, 'out')],
        { cwd: context, stdio: 'pipe' },
      );
      expect(readdirSync(path.join(context, 'out')).sort()).toEqual(['runner.js', 's3-store.js']);
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
  });
});
