import { accessSync, constants, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { PortInUseError } from './http-server';

/**
 * The checks local mode runs before it starts, each failing with one line that says what is
 * wrong and what to do: newcomers meet these first.
 */

/** A problem local mode cannot start with; `message` is the cause and the fix in one line. */
export class LocalSetupError extends Error {
  override readonly name = 'LocalSetupError';
}

/** Finds an executable on PATH (no shell, no `which`). */
export function findOnPath(command: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function requireGit(): string {
  const git = findOnPath('git');
  if (!git)
    throw new LocalSetupError(
      'git is not on PATH: the runner clones the demo repo with git; install it (apt-get install git, brew install git) and retry',
    );
  return git;
}

/** Creates the data folder and proves it is writable. */
export function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new LocalSetupError(
      `the data folder ${dir} is not writable (${code}): pass --data-dir <a folder you can write>`,
    );
  }
}

export type ToolChoice =
  | { readonly kind: 'real'; readonly tool: 'terraform' | 'tofu'; readonly path: string }
  | { readonly kind: 'simulator'; readonly path: string };

/** Prefers the configured tool, then the other one; without either, the simulator. */
export function chooseTool(preferred: 'terraform' | 'tofu', simulatorPath: string): ToolChoice {
  for (const tool of [preferred, preferred === 'terraform' ? 'tofu' : 'terraform'] as const) {
    const path = findOnPath(tool);
    if (path) return { kind: 'real', tool, path };
  }
  return { kind: 'simulator', path: simulatorPath };
}

/** The loud notice local mode prints when it falls back to the simulator. */
export function simulatorNotice(): string {
  const line = '!'.repeat(78);
  return [
    line,
    '!! Neither terraform nor tofu is on PATH: local mode runs the',
    '!! terraform-compatible SIMULATOR (tools/terraform-sim). Plans and applies',
    '!! are simulated; nothing real is created. Install Terraform or OpenTofu',
    '!! and run again to use the real tool.',
    line,
  ].join('\n');
}

/** Fails fast, before the slow start-up work, when the port is taken. */
export async function assertPortFree(port: number, host = '127.0.0.1'): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(port) : error),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}
