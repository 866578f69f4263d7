import type { ExecutionInput } from './contracts';
import type { DriftEntry } from './drift-config';

/** Who a drift check says requested it (in the lock holder and messages). */
export const DRIFT_REQUESTER = 'drift-check';

/** The execution input of one drift check: the same for schedules, local mode and the CLI. */
export function driftInput(
  entry: Pick<DriftEntry, 'repo' | 'ref' | 'onDrift'>,
  path: string,
): ExecutionInput {
  return {
    repo: entry.repo,
    ref: entry.ref,
    path,
    requestedBy: DRIFT_REQUESTER,
    drift: entry.onDrift,
  };
}

/** Execution names of drift checks start with this, so `list` tells them from deploys. */
export const DRIFT_NAME_PREFIX = 'drift-';

/** Partition keys of the drift records in the deploy-runner table (`drift#<repo>#<path>`). */
export const DRIFT_KEY_PREFIX = 'drift#';

/**
 * `drift-<path>-`: the start of a drift check's execution name; the caller appends a unique
 * suffix (Scheduler's invocation ID, a timestamp). At most 42 characters, so 38 remain.
 */
export function driftExecutionPrefix(path: string): string {
  const slug = path
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 35);
  return `${DRIFT_NAME_PREFIX}${slug}-`;
}

/** Whether an execution name is a drift check's. */
export const isDriftRunName = (name: string | undefined) =>
  name?.startsWith(DRIFT_NAME_PREFIX) === true;
