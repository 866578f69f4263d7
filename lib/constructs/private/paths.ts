import * as path from 'node:path';

/** The repository root: handlers and the runner image are found relative to it, not the cwd. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');

/** The runner's Dockerfile, relative to its build context (the repository root). */
export const RUNNER_DOCKERFILE = 'containers/runner/Dockerfile';

/**
 * What of the repository goes into the runner image's build context (.dockerignore syntax):
 * only what the Dockerfile copies. It keeps `node_modules` out, and keeps the asset hash, and
 * so the image, unchanged when handlers, tests or docs change.
 */
export const RUNNER_BUILD_CONTEXT_EXCLUDE = [
  '*',
  '!package.json',
  '!package-lock.json',
  '!tsconfig.json',
  '!lib',
  '!containers/runner',
  '**/node_modules',
];

/** The lock file esbuild bundling resolves dependencies against. */
export const LOCK_FILE = path.join(PACKAGE_ROOT, 'package-lock.json');

/** The entry file of a Lambda handler, `handlers/<name>.ts`. */
export const handlerEntry = (name: string) => path.join(PACKAGE_ROOT, 'handlers', `${name}.ts`);
