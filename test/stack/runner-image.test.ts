import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { IgnoreStrategy } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  PACKAGE_ROOT,
  RUNNER_BUILD_CONTEXT_EXCLUDE,
  RUNNER_DOCKERFILE,
} from '../../lib/constructs/private/paths';
import { type Built, buildStack, ROOT } from './helpers';

/** The runner image asset: built for ARM64 from containers/runner/Dockerfile, lean context. */

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
