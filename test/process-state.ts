import { createRequire } from 'node:module';
import { vi } from 'vitest';

/**
 * What a test file may change for its whole process, put back when the file ends
 * (test/setup.ts), so that files can share a worker process (vitest.config.ts's `shared`
 * project) and keep their imported modules instead of re-importing the SDK and CDK per file.
 */

// aws-sdk-client-mock stubs `send` in sinon's default sandbox; this is that same sinon
// instance (its CommonJS build: an `import` would load the separate ESM build).
const sinon: { restore(): void } = createRequire(require.resolve('aws-sdk-client-mock'))('sinon');

/**
 * SDK client classes loaded in this process whose prototype still has its own `send`: a mock
 * (aws-sdk-client-mock's `mockClient(Class)`) that outlived the file that made it. The SDK
 * defines `send` only on the base class every client extends, never on a client's own prototype.
 */
export function leakedClientMocks(): string[] {
  const leaked = new Set<string>();
  for (const [path, module] of Object.entries(require.cache)) {
    if (!module || !/[\\/]@aws-sdk[\\/]/.test(path)) continue;
    const exports: unknown = module.exports;
    if (!exports || typeof exports !== 'object') continue;
    for (const [name, value] of Object.entries(exports)) {
      if (typeof value !== 'function' || !name.endsWith('Client')) continue;
      const proto: unknown = value.prototype;
      if (!proto || typeof proto !== 'object' || !Object.hasOwn(proto, 'send')) continue;
      // The base class itself (re-exported as `__Client`) is where `send` belongs.
      if ('send' in Object.getPrototypeOf(proto)) leaked.add(name);
    }
  }
  return [...leaked].sort();
}

export interface ProcessSnapshot {
  /** Puts back what the file changed, then fails if a client mock survives that. */
  restore(): void;
}

/** Records the environment and working directory as the file starts. */
export function snapshotProcess(): ProcessSnapshot {
  const envObject = process.env;
  const env = { ...process.env };
  const cwd = process.cwd();
  return {
    restore() {
      sinon.restore();
      vi.restoreAllMocks();
      vi.unstubAllEnvs();
      vi.unstubAllGlobals();
      vi.useRealTimers();
      // Some files replace process.env with a copy; child processes and later files read it.
      if (process.env !== envObject) process.env = envObject;
      for (const key of Object.keys(process.env)) if (!(key in env)) delete process.env[key];
      for (const [key, value] of Object.entries(env))
        if (process.env[key] !== value) process.env[key] = value;
      const leaked = leakedClientMocks();
      if (leaked.length > 0)
        throw new Error(
          `SDK client mocks outlive their test file: ${leaked.join(', ')}. Make them in sinon's ` +
            "default sandbox (mockClient(Client) without { sandbox }) or restore them in the file's afterAll.",
        );
      if (process.cwd() !== cwd)
        throw new Error(`the test file left the working directory at ${process.cwd()}`);
    },
  };
}
