import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * Each handler bundled the way NodejsFunction bundles it (lib/constructs/private/handler-function.ts,
 * SDK external as on the Node 22 runtime). Size is what a cold start reads and parses; each
 * handler must require only its own SDK packages, and load none of them until it first uses a
 * client (lib/lazy-module.ts): loading them is most of a cold import (bench/handlers.ts).
 */

const ROOT = resolve(__dirname, '../..');
const LIMIT_BYTES = 300 * 1024;

const SDK_BY_HANDLER: Record<string, string[]> = {
  'validate-request': [],
  'request-approval': [
    '@aws-sdk/client-dynamodb',
    '@aws-sdk/client-secrets-manager',
    '@aws-sdk/client-sesv2',
    '@aws-sdk/lib-dynamodb',
  ],
  'approval-page': [
    '@aws-sdk/client-dynamodb',
    '@aws-sdk/client-kms',
    '@aws-sdk/client-s3',
    '@aws-sdk/client-secrets-manager',
    '@aws-sdk/client-sfn',
    '@aws-sdk/lib-dynamodb',
  ],
  // DynamoDB and Step Functions for drift checks: the last result per path, an approval run.
  notify: [
    '@aws-sdk/client-dynamodb',
    '@aws-sdk/client-s3',
    '@aws-sdk/client-secrets-manager',
    '@aws-sdk/client-sesv2',
    '@aws-sdk/client-sfn',
    '@aws-sdk/lib-dynamodb',
  ],
  cleanup: ['@aws-sdk/client-dynamodb', '@aws-sdk/lib-dynamodb'],
  'verify-approval': ['@aws-sdk/client-kms'],
  'inspect-plan': ['@aws-sdk/client-s3'],
};

async function bundle(name: string, outfile?: string) {
  const result = await build({
    entryPoints: [join(ROOT, 'handlers', `${name}.ts`)],
    bundle: true,
    minify: true,
    target: 'node22',
    platform: 'node',
    format: 'cjs',
    ...(outfile ? { outfile } : { write: false }),
    external: ['@aws-sdk/*', '@smithy/*'],
    metafile: true,
    logLevel: 'error',
  });
  const output = Object.values(result.metafile.outputs)[0];
  if (!output) throw new Error(`no output for ${name}`);
  return {
    bytes: output.bytes,
    text: result.outputFiles?.[0]?.text ?? '',
    inputs: Object.keys(output.inputs),
    sdk: [
      ...new Set(
        output.imports
          .filter((i) => i.external && i.path.startsWith('@aws-sdk/'))
          .map((i) => i.path),
      ),
    ].sort(),
  };
}

describe('handler bundles', () => {
  for (const [name, sdk] of Object.entries(SDK_BY_HANDLER)) {
    it(`${name} is under 300 KB, without zod's locales, and requires only its SDK clients`, async () => {
      const b = await bundle(name);
      expect(b.bytes).toBeLessThan(LIMIT_BYTES);
      // `import { z } from 'zod'` keeps every locale (about 260 KB); `import * as z` lets them go.
      expect(
        b.inputs.filter((i) => i.includes('zod/v4/locales/') && !i.endsWith('/en.js')),
      ).toEqual([]);
      expect(b.sdk).toEqual(sdk);
      // Local-mode code (the local signing key, the memory store, ...) stays out of Lambda.
      expect(b.inputs.filter((i) => i.startsWith('lib/local/'))).toEqual([]);
      expect(b.text).not.toContain('decision-signing-key.pem');
    });
  }
});

describe('handler cold import', () => {
  it('loads no SDK package in any handler until a client is first used, and then the real one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dr-bundle-'));
    try {
      const files = Object.keys(SDK_BY_HANDLER).map((name) => join(dir, `${name}.js`));
      await Promise.all(Object.keys(SDK_BY_HANDLER).map((name, i) => bundle(name, files[i])));
      // A fresh node, as a cold Lambda: what does requiring every bundle load, and what does the
      // first SDK client built through a lazy stand-in load?
      const script = [
        ...files.map((file) => `require(${JSON.stringify(file)});`),
        `const sdk = () => Object.keys(require.cache).filter((f) => f.includes('/@aws-sdk/')).length;`,
        'const atImport = sdk();',
        `const { lazyModule } = require(${JSON.stringify(join(ROOT, 'lib/lazy-module.ts'))});`,
        `const s3 = lazyModule(() => require('@aws-sdk/client-s3'));`,
        'const stand = s3.GetObjectCommand; const before = sdk();',
        `const command = new stand({ Bucket: 'b', Key: 'k' });`,
        `const real = require('@aws-sdk/client-s3').GetObjectCommand;`,
        'process.stdout.write(JSON.stringify({ atImport, before, after: sdk(),',
        '  real: command instanceof real, viaStand: command instanceof stand, input: command.input }));',
      ].join('\n');
      const out = execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { PATH: process.env.PATH, NODE_PATH: join(ROOT, 'node_modules') },
      });
      const seen = JSON.parse(out) as Record<string, unknown>;
      expect(seen).toMatchObject({ atImport: 0, before: 0, real: true, viaStand: true });
      expect(seen.after).toBeGreaterThan(0);
      expect(seen.input).toEqual({ Bucket: 'b', Key: 'k' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
