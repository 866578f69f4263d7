import * as path from 'node:path';

/** The repository root: handlers and the runner image are found relative to it, not the cwd. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');

/** The Docker build context of the runner image. */
export const RUNNER_IMAGE_DIR = path.join(PACKAGE_ROOT, 'containers', 'runner');

/** The lock file esbuild bundling resolves dependencies against. */
export const LOCK_FILE = path.join(PACKAGE_ROOT, 'package-lock.json');

/** The entry file of a Lambda handler, `handlers/<name>.ts`. */
export const handlerEntry = (name: string) => path.join(PACKAGE_ROOT, 'handlers', `${name}.ts`);
