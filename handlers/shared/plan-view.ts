import { randomBytes as nodeRandomBytes } from 'node:crypto';
import type * as LibDynamoDB from '@aws-sdk/lib-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  type PlanResult,
  type PlanViewRecord,
  planViewRecordSchema,
  type RunRequest,
} from '../../lib/contracts';
import { DRIFT_KEY_PREFIX } from '../../lib/drift-input';
import { lazyModule } from '../../lib/lazy-module';
import { newCapability, type RandomBytes } from './capability';

// Loaded when a view is issued or read, not at import: see lib/lazy-module.ts.
const { GetCommand, PutCommand } = lazyModule<typeof LibDynamoDB>(() =>
  require('@aws-sdk/lib-dynamodb'),
);

/**
 * Read-only plan links (docs/drift.md): a drift message links `/v/<capability>`, a view of the
 * check's plan rendered as the approval page renders it, without any decision control. The
 * capability follows the approval links' rules (handlers/shared/capability.ts): 256-bit random,
 * only its SHA-256 stored, expiring; the page answers GET and HEAD only.
 */

/** How long a view link works: a week of checks, so a message read after a weekend still opens. */
export const PLAN_VIEW_SECONDS = 7 * 86_400;
/** Kept this long after expiry (DynamoDB TTL), so a late visitor reads "expired", not "unknown". */
const KEPT_AFTER_EXPIRY_SECONDS = 7 * 86_400;

/** In the drift items' key space, so the notify function's `drift#*` grant covers it. */
export const planViewKey = (hash: string) => `${DRIFT_KEY_PREFIX}view#${hash}`;

/** The read-only link of a capability. */
export function planViewLink(baseUrl: string, capability: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/v/${capability}`;
}

export interface PlanViewStore {
  /** Writes a new view; never replaces one. */
  putView(record: PlanViewRecord): Promise<void>;
  getView(hash: string): Promise<PlanViewRecord | undefined>;
}

/** DynamoDB implementation: the deploy-runner table. */
export class DynamoPlanViewStore implements PlanViewStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async putView(record: PlanViewRecord): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: planViewKey(record.hash), ...planViewRecordSchema.parse(record) },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async getView(hash: string): Promise<PlanViewRecord | undefined> {
    const out = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: planViewKey(hash) } }),
    );
    if (!out.Item) return undefined;
    const { pk: _pk, ...item } = out.Item;
    return planViewRecordSchema.parse(item);
  }
}

/**
 * Issues a view of a drift check's plan: stores its hash with the plan, returns the link (the
 * only place the capability goes) and until when it works.
 */
export async function issuePlanView(
  deps: {
    readonly store: PlanViewStore;
    readonly baseUrl: string;
    readonly now: Date;
    readonly randomBytes?: RandomBytes;
  },
  run: { readonly executionArn: string; readonly request: RunRequest; readonly plan: PlanResult },
): Promise<{ link: string; validUntil: number }> {
  const { capability, hash } = newCapability(deps.randomBytes ?? nodeRandomBytes);
  const nowSeconds = Math.floor(deps.now.getTime() / 1000);
  const validUntil = nowSeconds + PLAN_VIEW_SECONDS;
  await deps.store.putView({
    hash,
    executionArn: run.executionArn,
    runId: run.request.runId,
    request: run.request,
    plan: run.plan,
    createdAt: deps.now.toISOString(),
    validUntil,
    expiresAt: validUntil + KEPT_AFTER_EXPIRY_SECONDS,
  });
  return { link: planViewLink(deps.baseUrl, capability), validUntil };
}
