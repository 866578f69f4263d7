import { type Dirent, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, sep } from 'node:path';
import { matchesAny, pathProblem } from '../../../lib/allowlist';
import type { Allowlist } from '../../../lib/contracts';
import { InputRefusedError, PathNotFoundError } from './errors';

/** The folders of one run: the checkout, the secrets (0700) and the plan file. */
export interface Workspace {
  readonly root: string;
  readonly checkout: string;
  readonly secrets: string;
  readonly planFile: string;
  /**
   * Removes the secrets and the plan file always, and the whole root when it was a temporary
   * folder (a given DR_WORK_DIR keeps the checkout for inspection).
   */
  cleanup(): Promise<void>;
}

/** Creates the run's folders under `workDir`, or under a fresh temporary folder. */
export async function createWorkspace(workDir?: string): Promise<Workspace> {
  const owned = workDir === undefined;
  if (!owned) await fs.mkdir(workDir, { recursive: true });
  const root = owned
    ? await fs.mkdtemp(join(tmpdir(), 'deploy-runner-'))
    : await fs.mkdtemp(join(workDir, 'run-'));
  await fs.mkdir(root, { recursive: true, mode: 0o700 });
  const secrets = join(root, 'secrets');
  await fs.mkdir(secrets, { mode: 0o700 });
  return {
    root,
    checkout: join(root, 'checkout'),
    secrets,
    planFile: join(root, 'plan.tfplan'),
    cleanup: async () => {
      await fs.rm(secrets, { recursive: true, force: true });
      await fs.rm(join(root, 'plan.tfplan'), { force: true });
      if (owned) await fs.rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * The module directory for `path`, refusing anything that leaves the checkout. The path was
 * already checked against the allowlist; this checks what the commit actually contains, because
 * a symlink inside the repository can point anywhere.
 */
export async function resolveModuleDir(
  checkout: string,
  path: string,
  repo: Allowlist[string],
): Promise<string> {
  const refuse = (why: string) =>
    new InputRefusedError(
      'validate',
      `path ${JSON.stringify(path.slice(0, 60))} ${why}`,
      'send the path of a root module inside the repository',
    );
  const problem = pathProblem(path, repo);
  if (problem) throw refuse(problem);
  if (path.split('/').some((segment) => segment === '.git'))
    throw refuse('points into the .git folder');
  const root = await fs.realpath(checkout);
  let real: string;
  try {
    real = await fs.realpath(join(root, path));
  } catch {
    throw await pathNotFound(root, path, repo);
  }
  const rel = relative(root, real);
  if (rel === '') throw refuse('resolves to the repository root through a symlink');
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
    throw refuse('resolves outside the repository (through a symlink)');
  if (rel.split(sep).includes('.git')) throw refuse('resolves into the .git folder');
  const stat = await fs.stat(real);
  if (!stat.isDirectory()) throw refuse('is not a directory');
  return real;
}

/** How many existing paths a PathNotFound message names: enough to spot a typo, short to read. */
export const MAX_LISTED_PATHS = 20;
/** Directories visited at most while listing: a huge checkout must not stall the run's failure. */
const MAX_VISITED_DIRS = 5000;

/**
 * The error for an allowed path the commit does not have, naming the directories of the commit
 * that the repo's `allowedPaths` do match, so the caller can correct the request.
 */
async function pathNotFound(
  root: string,
  path: string,
  repo: Allowlist[string],
): Promise<PathNotFoundError> {
  const { paths, more } = await matchingDirectories(root, repo.allowedPaths);
  const allowed = repo.allowedPaths.join(', ');
  const listed =
    paths.length === 0
      ? `no directory at this commit matches the allowed paths (${allowed})`
      : `existing paths matching the allowed paths (${allowed}): ${paths.join(', ')}${more ? ', and more' : ''}`;
  return new PathNotFoundError(
    'validate',
    `path ${JSON.stringify(path.slice(0, 60))} does not exist at this commit; ${listed}`,
    'send the path of a root module that exists at this commit',
  );
}

/**
 * Directories under `root` whose relative path matches one of `patterns`, sorted, at most
 * {@link MAX_LISTED_PATHS}. Symlinks are not followed (the listing must not leave the checkout)
 * and `.git` is never entered.
 */
export async function matchingDirectories(
  root: string,
  patterns: readonly string[],
): Promise<{ paths: string[]; more: boolean }> {
  const found: string[] = [];
  const queue = [''];
  let visited = 0;
  while (queue.length > 0 && visited < MAX_VISITED_DIRS) {
    const dir = queue.shift() as string;
    visited++;
    let entries: Dirent[];
    try {
      entries = await fs.readdir(join(root, dir), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (!entry.isDirectory() || entry.name === '.git') continue;
      const rel = dir === '' ? entry.name : `${dir}/${entry.name}`;
      if (matchesAny(rel, patterns)) found.push(rel);
      queue.push(rel);
    }
  }
  found.sort();
  return { paths: found.slice(0, MAX_LISTED_PATHS), more: found.length > MAX_LISTED_PATHS };
}
