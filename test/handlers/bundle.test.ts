import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * Each handler bundled the way NodejsFunction bundles it (lib/constructs/private/handler-function.ts,
 * SDK external as on the Node 22 runtime). Size is what a cold start reads and parses; the SDK
 * packages a bundle requires are loaded at import, so each handler must require only its own.
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
  notify: ['@aws-sdk/client-s3', '@aws-sdk/client-secrets-manager', '@aws-sdk/client-sesv2'],
  cleanup: ['@aws-sdk/client-dynamodb', '@aws-sdk/lib-dynamodb'],
  'verify-approval': ['@aws-sdk/client-kms'],
  'inspect-plan': ['@aws-sdk/client-s3'],
};

async function bundle(name: string) {
  const result = await build({
    entryPoints: [join(ROOT, 'handlers', `${name}.ts`)],
    bundle: true,
    minify: true,
    target: 'node22',
    platform: 'node',
    format: 'cjs',
    write: false,
    external: ['@aws-sdk/*', '@smithy/*'],
    metafile: true,
    logLevel: 'error',
  });
  const output = Object.values(result.metafile.outputs)[0];
  if (!output) throw new Error(`no output for ${name}`);
  return {
    bytes: output.bytes,
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
    });
  }
});
