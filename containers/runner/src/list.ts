import { type Dirent, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { matchesAny, pathProblem } from '../../../lib/allowlist';
import { artifactKeys, type DriftPathList, driftPathListSchema } from '../../../lib/contracts';
import { type PhaseTracker, prepare, putOnce, type RunDeps } from './context';
import type { RunnerEnv } from './env';
import { InputRefusedError } from './errors';
import { checkoutRef } from './plan';

/**
 * List mode (`DR_MODE=list`, on the read-only plan task definition): a drift glob's scheduled
 * run clones the ref exactly as a plan does, lists the directories the glob matches that hold a
 * root module, and writes them once as `runs/<runId>/drift-paths.json`. The notify function's
 * `drift-fan-out` phase then starts one drift check per path. No tool runs here.
 */

/** Directories visited at most: a checkout this large is refused rather than listed in part. */
export const MAX_LISTED_DIRS = 50_000;
/** Paths written at most; `total` still counts them all, so the fan-out's cap can say how many. */
const MAX_WRITTEN_PATHS = 1000;

/**
 * The directories under `root` that match `glob`, pass the repo's path rules and directly hold a
 * file (a root module's files: what the CLI's `drift --path` expansion also counts), sorted.
 * Symlinks are never followed and `.git` is never entered: the listing stays in the checkout.
 */
export async function globDirectories(
  root: string,
  glob: string,
  allowed: (path: string) => boolean,
): Promise<string[]> {
  const found: string[] = [];
  const queue = [''];
  let visited = 0;
  while (queue.length > 0) {
    const dir = queue.shift() as string;
    if (++visited > MAX_LISTED_DIRS)
      throw new InputRefusedError(
        'list',
        `the checkout has more than ${MAX_LISTED_DIRS} directories: the drift glob was not listed`,
        'name the paths in the drift config instead of a glob',
      );
    const entries: Dirent[] = await fs.readdir(join(root, dir), { withFileTypes: true });
    if (dir !== '' && entries.some((e) => e.isFile()) && matchesAny(dir, [glob]) && allowed(dir))
      found.push(dir);
    for (const entry of entries)
      if (entry.isDirectory() && entry.name !== '.git')
        queue.push(dir === '' ? entry.name : `${dir}/${entry.name}`);
  }
  return found.sort();
}

/** Lists the drift glob's paths at the ref and writes the list; returns it. */
export async function runList(
  env: RunnerEnv,
  deps: RunDeps,
  phases: PhaseTracker,
): Promise<DriftPathList> {
  const prepared = await prepare(env, deps, phases);
  try {
    const commit = await checkoutRef(env, prepared, deps, phases);
    phases.enter('list', `directories matching ${env.path}`);
    const paths = await globDirectories(
      prepared.workspace.checkout,
      env.path,
      (path) => pathProblem(path, prepared.repo) === undefined,
    );
    deps.log.line(
      paths.length === 0
        ? `${env.path} matches no directory with files at ${commit}`
        : `${env.path} matches ${paths.length} path(s): ${paths.slice(0, 20).join(', ')}${paths.length > 20 ? ', ...' : ''}`,
    );
    // Parsed as the fan-out parses it, so a list it cannot read is never written.
    const list = driftPathListSchema.parse({
      repo: env.repo,
      ref: env.ref,
      glob: env.path,
      commit,
      paths: paths.slice(0, MAX_WRITTEN_PATHS),
      total: paths.length,
    } satisfies DriftPathList);
    phases.enter('upload', 'the list of paths');
    await putOnce(
      deps.store,
      'upload',
      artifactKeys(env.runId).driftPaths,
      JSON.stringify(list, null, 2),
      'application/json',
    );
    return list;
  } finally {
    await prepared.workspace.cleanup();
  }
}
