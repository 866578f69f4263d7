import { createHash } from 'node:crypto';
import { matchesAny } from '../../lib/allowlist';
import type { ArtifactStore } from '../../lib/artifact-store';
import {
  artifactKeys,
  DRIFT_FAN_OUT_MAX,
  type DriftFanOut,
  type DriftPathList,
  driftPathListSchema,
  type ExecutionInput,
  type RunRequest,
} from '../../lib/contracts';
import { driftExecutionPrefix, driftInput } from '../../lib/drift-input';
import { pathPatternProblem } from '../../lib/patterns';
import { ArtifactTamperedError, errorName, InvalidPayloadError } from './errors';

/**
 * `Drift: start a check per path` (the notify function's `drift-fan-out` phase, docs/drift.md):
 * reads the paths the runner's list mode found for a drift glob at the ref, checks them, and
 * starts one ordinary drift check of this state machine per path. A list that is not what the
 * runner writes is refused whole, and nothing is started.
 */

/** The glob matched no directory at the ref: the tick fails and is reported once, as a broken check is. */
export class DriftGlobMatchesNothingError extends Error {
  override readonly name = 'DeployRunner.DriftGlobMatchesNothing';
}

/** The glob matched more paths than one tick starts checks for. */
export class DriftGlobTooWideError extends Error {
  override readonly name = 'DeployRunner.DriftGlobTooWide';
}

/** The largest list the runner writes: 1000 paths of at most 256 characters, as JSON. */
const MAX_LIST_BYTES = 1024 * 1024;

export interface DriftFanOutDeps {
  readonly artifacts: Pick<ArtifactStore, 'get'>;
  /** StartExecution on this state machine; resolves to the execution ARN. */
  readonly startRun: (input: ExecutionInput, name: string) => Promise<string>;
  /** The ARN an execution of this state machine named `name` has (a child started before). */
  readonly executionArnOf: (name: string) => string;
}

/**
 * A child's execution name: `drift-<path>-` and a suffix derived from the parent execution and
 * the path, so a retried fan-out names the same children (Step Functions starts none twice) and
 * two paths with the same slug never share a name.
 */
export function childExecutionName(parentExecutionArn: string, path: string): string {
  const suffix = createHash('sha256')
    .update(`${parentExecutionArn}\n${path}`)
    .digest('hex')
    .slice(0, 32);
  return `${driftExecutionPrefix(path)}${suffix}`;
}

/** Why the list is not what the runner writes for this request, or undefined. */
export function driftListProblem(request: RunRequest, list: DriftPathList): string | undefined {
  if (list.repo !== request.repo || list.ref !== request.ref || list.glob !== request.path)
    return `it lists ${JSON.stringify(list.glob).slice(0, 80)} of ${JSON.stringify(list.repo).slice(0, 60)} at ${JSON.stringify(list.ref).slice(0, 60)}, not this check's glob`;
  if (list.paths.length !== Math.min(list.total, 1000))
    return `it says ${list.total} paths but holds ${list.paths.length}`;
  for (const [i, path] of list.paths.entries()) {
    const shown = JSON.stringify(path.slice(0, 80));
    if (path.includes('*') || pathPatternProblem(path) !== undefined)
      return `path ${shown} is not a plain relative path`;
    if (path.split('/').includes('.git')) return `path ${shown} points into .git`;
    if (!matchesAny(path, [list.glob])) return `path ${shown} does not match ${list.glob}`;
    if (i > 0 && !((list.paths[i - 1] as string) < path))
      return `paths are not sorted and distinct at ${shown}`;
  }
  return undefined;
}

/** Reads and checks the list, then starts the checks. */
export async function fanOutDrift(
  request: RunRequest,
  deps: DriftFanOutDeps,
): Promise<DriftFanOut> {
  if (!request.expandGlob || request.drift === undefined)
    throw new InvalidPayloadError('Drift fan-out received a request that is not a drift glob');
  const key = artifactKeys(request.runId).driftPaths;
  const refuse = (why: string) =>
    new ArtifactTamperedError(
      `The list of paths of ${request.repo} ${request.path} at ${request.ref} (${key}) was refused: ${why}. No drift check was started; the runner writes no such list, so find out who wrote it.`,
    );
  let text: string;
  try {
    text = (await deps.artifacts.get(key, undefined, { maxBytes: MAX_LIST_BYTES })).body.toString(
      'utf8',
    );
  } catch (error) {
    if (errorName(error) === 'ArtifactNotFoundError') throw refuse('it is missing');
    if (errorName(error) === 'ArtifactTooLargeError')
      throw refuse(`it is larger than the runner writes (${MAX_LIST_BYTES} bytes)`);
    throw error;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw refuse('it is not JSON');
  }
  const parsed = driftPathListSchema.safeParse(raw);
  if (!parsed.success) throw refuse('it does not match the contract of a list of paths');
  const list = parsed.data;
  const problem = driftListProblem(request, list);
  if (problem) throw refuse(problem);
  const at = `${request.ref} (${list.commit.slice(0, 12)})`;
  if (list.total === 0)
    throw new DriftGlobMatchesNothingError(
      `Drift glob ${request.path} of ${request.repo} matches nothing at ${at}: no directory with files matches it. No drift check was started; fix the glob in the drift config or add the paths.`,
    );
  if (list.total > DRIFT_FAN_OUT_MAX)
    throw new DriftGlobTooWideError(
      `Drift glob ${request.path} of ${request.repo} matches ${list.total} paths at ${at}; one schedule checks at most ${DRIFT_FAN_OUT_MAX}. No drift check was started; narrow the glob or split it into several drift entries.`,
    );
  const entry = { repo: request.repo, ref: request.ref, onDrift: request.drift };
  const checks: DriftFanOut['checks'] = [];
  for (const path of list.paths) {
    const name = childExecutionName(request.executionArn, path);
    let executionArn: string;
    try {
      executionArn = await deps.startRun(driftInput(entry, path), name);
    } catch (error) {
      // A retried fan-out: this child was started by the first attempt and has ended.
      if (errorName(error) !== 'ExecutionAlreadyExists') throw error;
      executionArn = deps.executionArnOf(name);
    }
    checks.push({ path, executionArn });
  }
  return {
    summary: `${checks.length} drift check${checks.length === 1 ? '' : 's'} started for ${request.path} at ${at}: ${list.paths.join(', ')}`,
    commit: list.commit,
    checks,
  };
}
