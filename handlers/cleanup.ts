import * as z from 'zod';
import { lockKeyFor } from '../lib/contracts';
import { documentClient } from './shared/clients/dynamodb';
import { createLogger, type HandlerLogger, invocationLogger } from './shared/logger';
import { lambdaEntry, parsePayload } from './shared/scaffold';
import { type ApprovalStore, DynamoApprovalStore } from './shared/store';

/**
 * Cleanup for executions that ended without running their own `Release lock` state: StopExecution,
 * the state machine timeout, or a failure outside any Catch. EventBridge delivers the
 * "Step Functions Execution Status Change" event; this releases the lock the execution holds
 * (conditional on its ARN, so a newer run's lock is never touched), voids its open approval
 * links and marks its approval run ended. Idempotent: a repeated event changes nothing.
 */

export interface CleanupDeps {
  readonly store: ApprovalStore;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** @default - a Powertools logger for this handler */
  readonly logger?: HandlerLogger;
}

/** The part of the EventBridge event this function reads. */
export const executionStatusChangeSchema = z.object({
  'detail-type': z.literal('Step Functions Execution Status Change').optional(),
  detail: z.object({
    executionArn: z.string().min(1),
    status: z.string().min(1),
    /** The execution input as a JSON string; null when the rule omits execution data. */
    input: z.string().nullish(),
  }),
});
export type ExecutionStatusChangeEvent = z.input<typeof executionStatusChangeSchema>;

const inputSchema = z.object({ repo: z.string().min(1), path: z.string().min(1) });

export interface CleanupResult {
  readonly executionArn: string;
  readonly status: string;
  /** The lock key looked at, when it could be worked out. */
  readonly lockKey?: string;
  /** Whether this execution held the lock and it was deleted now. */
  readonly lockReleased: boolean;
  readonly linksVoided: number;
  readonly runEnded: boolean;
}

export type CleanupHandler = (event: unknown) => Promise<CleanupResult>;

/** Only these end an execution without its own cleanup states. */
const CLEANUP_STATUSES = new Set(['ABORTED', 'TIMED_OUT', 'FAILED']);

export function createCleanupHandler(deps: CleanupDeps): CleanupHandler {
  const { store } = deps;
  const clock = deps.clock ?? (() => new Date());
  const logger = deps.logger ?? createLogger('cleanup');

  return async (event) => {
    // EventBridge's "Step Functions Execution Status Change" event.
    const { executionArn, status, input } = parsePayload(
      executionStatusChangeSchema,
      event,
      'cleanup',
    ).detail;
    const log = invocationLogger(logger, executionArn);
    if (!CLEANUP_STATUSES.has(status)) {
      log.info('nothing to clean up for this status', { status });
      return { executionArn, status, lockReleased: false, linksVoided: 0, runEnded: false };
    }

    const run = await store.getRun(executionArn);
    let lockKey = run?.request.lockKey;
    if (lockKey === undefined && input) {
      try {
        const fields = inputSchema.safeParse(JSON.parse(input));
        if (fields.success) lockKey = lockKeyFor(fields.data.repo, fields.data.path);
      } catch {
        log.warn('the execution input is not JSON; cannot tell which lock it held');
      }
    }

    const lockReleased = lockKey ? await store.releaseLock(lockKey, executionArn) : false;
    const linksVoided = await store.voidLinks(executionArn);
    const runEnded = await store.endRun(
      executionArn,
      `the execution ended with status ${status}`,
      clock().toISOString(),
    );
    if (!lockKey) log.warn('no lock key: neither an approval run nor repo/path in the input');
    log.info('cleaned up after the execution', {
      status,
      lockKey,
      lockReleased,
      linksVoided,
      runEnded,
    });
    return {
      executionArn,
      status,
      ...(lockKey ? { lockKey } : {}),
      lockReleased,
      linksVoided,
      runEnded,
    };
  };
}

/** Lambda entry point (EventBridge rule on ABORTED, TIMED_OUT and FAILED executions). */
export const handler = lambdaEntry('cleanup', (settings, logger) =>
  createCleanupHandler({
    store: new DynamoApprovalStore(documentClient(), settings.tableName),
    logger,
  }),
);
