import type * as LibDynamoDB from '@aws-sdk/lib-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type * as z from 'zod';
import {
  type ApprovalDecision,
  type ApprovalLink,
  type ApprovalRun,
  type ApproverRef,
  approvalLinkSchema,
  approvalRunSchema,
  type DecisionRecord,
  type LinkStatus,
  type LockItem,
  lockItemSchema,
  type RunStatus,
  type SignInClaim,
} from '../../lib/contracts';
import { lazyModule } from '../../lib/lazy-module';
import { errorName, isConditionalCheckFailed } from './errors';

const { DeleteCommand, GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } = lazyModule<
  typeof LibDynamoDB
>(() => require('@aws-sdk/lib-dynamodb'));

/**
 * The approval store: one run item per execution waiting for approval, one link item per
 * approver capability (keyed by the capability's hash), and the repo+path lock the state
 * machine writes. DynamoDB in AWS, memory (optionally a JSON file) in local mode and tests;
 * both implement the same conditional semantics, so "first decision wins" holds in both.
 *
 * Items (table key `pk`, TTL attribute `expiresAt` in epoch seconds):
 * - `run#<executionArn>`: ApprovalRun, holds the task token (and nothing else does);
 * - `link#<sha256(capability)>`: ApprovalLink;
 * - `lock#<repo>#<path>`: LockItem (docs/workflow-contract.md, `Acquire lock`);
 * - `signin#<sha256(state)>`: SignInClaim, a completed sign-in callback (approvals.signIn).
 */

// The item shapes are contracts (lib/contracts.ts): the state machine writes the lock item too.
export type {
  ApprovalLink,
  ApprovalRun,
  ApproverRef,
  DecisionRecord,
  LinkStatus,
  LockItem,
  RunStatus,
};

/** `link-closed`: the link was used, voided or expired. `run-closed`: the run is decided or ended, or this approver already decided. */
export type RecordDecisionResult = 'recorded' | 'link-closed' | 'run-closed';

export interface ApprovalStore {
  /** Writes the run and its links. A retried `Request approval` replaces the run and voids the old links. */
  createRun(run: ApprovalRun, links: readonly ApprovalLink[]): Promise<void>;
  getRun(executionArn: string): Promise<ApprovalRun | undefined>;
  getLink(hash: string): Promise<ApprovalLink | undefined>;
  /**
   * Atomically uses the link (open, unexpired at `nowSeconds`) and records the decision in the
   * run (pending, no decision yet from this approver). First writer wins.
   */
  recordDecision(
    linkHash: string,
    executionArn: string,
    decision: DecisionRecord,
    nowSeconds: number,
  ): Promise<RecordDecisionResult>;
  /** pending → approved/rejected with the outcome; false when someone else closed it first. */
  closeRun(executionArn: string, outcome: ApprovalDecision): Promise<boolean>;
  /** Undoes `closeRun` (the outcome could not be delivered); false when the outcome changed. */
  reopenRun(executionArn: string, decidedAt: string): Promise<boolean>;
  /** pending → ended (the execution ended without a decision). False when not pending or absent. */
  endRun(executionArn: string, reason: string, at: string): Promise<boolean>;
  /** Voids every open link of the run; returns how many were open. */
  voidLinks(executionArn: string): Promise<number>;
  /** Conditional put (`attribute_not_exists(pk)`): false when another execution holds the lock. */
  acquireLock(item: LockItem): Promise<boolean>;
  getLock(lockKey: string): Promise<LockItem | undefined>;
  /** Deletes the lock only if `executionArn` holds it. Idempotent: false when not held by it. */
  releaseLock(lockKey: string, executionArn: string): Promise<boolean>;
  /**
   * Marks a sign-in callback (by the SHA-256 of its `state`) as completed: true the first time,
   * false for a replay. The item lives until `expiresAt` (epoch seconds), past the flow's life.
   */
  claimSignIn(stateHash: string, expiresAt: number): Promise<boolean>;
}

export const runKey = (executionArn: string) => `run#${executionArn}`;
export const linkKey = (hash: string) => `link#${hash}`;
export const signInKey = (stateHash: string) => `signin#${stateHash}`;

/** Drops `undefined` fields (DynamoDB rejects them) and shares no references with the caller. */
export function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** A stored item that does not match its contract: read as an error, never used. */
export class StoredItemInvalidError extends Error {
  override readonly name = 'StoredItemInvalidError';
}

/** Parses a stored item with the schema of its kind (which drops `pk`, unless it names it). */
export function parseItem<S extends z.ZodType>(
  schema: S,
  item: Record<string, unknown> | undefined,
): z.output<S> | undefined {
  if (item === undefined) return undefined;
  const parsed = schema.safeParse(item);
  if (!parsed.success)
    throw new StoredItemInvalidError(
      `the stored item ${String(item.pk).split('#')[0]}#… does not match its contract: ${parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; ')}`,
    );
  return parsed.data;
}

/** DynamoDB implementation (DocumentClient). */
export class DynamoApprovalStore implements ApprovalStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async createRun(run: ApprovalRun, links: readonly ApprovalLink[]): Promise<void> {
    if (links.length + 1 > 100)
      throw new Error(`too many approvers (${links.length}): DynamoDB transactions take 100 items`);
    const previous = await this.getRun(run.executionArn);
    await this.client.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: this.tableName,
              Item: { pk: runKey(run.executionArn), ...plain(run) },
            },
          },
          ...links.map((link) => ({
            Put: {
              TableName: this.tableName,
              Item: { pk: linkKey(link.hash), ...plain(link) },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          })),
        ],
      }),
    );
    if (previous) await this.voidHashes(previous.linkHashes);
  }

  async getRun(executionArn: string): Promise<ApprovalRun | undefined> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: runKey(executionArn) },
        ConsistentRead: true,
      }),
    );
    return parseItem(approvalRunSchema, out.Item);
  }

  async getLink(hash: string): Promise<ApprovalLink | undefined> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: linkKey(hash) },
        ConsistentRead: true,
      }),
    );
    return parseItem(approvalLinkSchema, out.Item);
  }

  async recordDecision(
    linkHash: string,
    executionArn: string,
    decision: DecisionRecord,
    nowSeconds: number,
  ): Promise<RecordDecisionResult> {
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: { pk: linkKey(linkHash) },
                UpdateExpression: 'SET #status = :used, usedAt = :at, decision = :decision',
                ConditionExpression:
                  '#status = :open AND validUntil > :now AND executionArn = :arn',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: {
                  ':used': 'used',
                  ':at': decision.decidedAt,
                  ':decision': decision.decision,
                  ':open': 'open',
                  ':now': nowSeconds,
                  ':arn': executionArn,
                },
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: { pk: runKey(executionArn) },
                UpdateExpression: 'SET decisions.#approver = :record',
                ConditionExpression:
                  '#status = :pending AND attribute_not_exists(decisions.#approver)',
                ExpressionAttributeNames: { '#status': 'status', '#approver': decision.approverId },
                ExpressionAttributeValues: { ':record': plain(decision), ':pending': 'pending' },
              },
            },
          ],
        }),
      );
      return 'recorded';
    } catch (error) {
      if (errorName(error) !== 'TransactionCanceledException') throw error;
      const reasons =
        (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
      if (reasons[0]?.Code === 'ConditionalCheckFailed') return 'link-closed';
      if (reasons[1]?.Code === 'ConditionalCheckFailed') return 'run-closed';
      throw error;
    }
  }

  async closeRun(executionArn: string, outcome: ApprovalDecision): Promise<boolean> {
    return this.conditionalUpdate({
      Key: { pk: runKey(executionArn) },
      UpdateExpression: 'SET #status = :status, outcome = :outcome',
      ConditionExpression: '#status = :pending',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':status': outcome.approved ? 'approved' : 'rejected',
        ':outcome': plain(outcome),
        ':pending': 'pending',
      },
    });
  }

  async reopenRun(executionArn: string, decidedAt: string): Promise<boolean> {
    return this.conditionalUpdate({
      Key: { pk: runKey(executionArn) },
      UpdateExpression: 'SET #status = :pending REMOVE outcome',
      ConditionExpression: 'outcome.decidedAt = :decidedAt',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':pending': 'pending', ':decidedAt': decidedAt },
    });
  }

  async endRun(executionArn: string, reason: string, at: string): Promise<boolean> {
    return this.conditionalUpdate({
      Key: { pk: runKey(executionArn) },
      UpdateExpression: 'SET #status = :ended, endedAt = :at, endedReason = :reason',
      ConditionExpression: '#status = :pending',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':ended': 'ended',
        ':at': at,
        ':reason': reason,
        ':pending': 'pending',
      },
    });
  }

  async voidLinks(executionArn: string): Promise<number> {
    const run = await this.getRun(executionArn);
    return run ? this.voidHashes(run.linkHashes) : 0;
  }

  private async voidHashes(hashes: readonly string[]): Promise<number> {
    const results = await Promise.all(
      hashes.map((hash) =>
        this.conditionalUpdate({
          Key: { pk: linkKey(hash) },
          UpdateExpression: 'SET #status = :void',
          ConditionExpression: '#status = :open',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':void': 'void', ':open': 'open' },
        }),
      ),
    );
    return results.filter(Boolean).length;
  }

  async acquireLock(item: LockItem): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: plain(item),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async getLock(lockKey: string): Promise<LockItem | undefined> {
    const out = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: lockKey }, ConsistentRead: true }),
    );
    return parseItem(lockItemSchema, out.Item);
  }

  async releaseLock(lockKey: string, executionArn: string): Promise<boolean> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: lockKey },
          ConditionExpression: 'executionArn = :arn',
          ExpressionAttributeValues: { ':arn': executionArn },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async claimSignIn(stateHash: string, expiresAt: number): Promise<boolean> {
    const item: SignInClaim = { pk: signInKey(stateHash), expiresAt };
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  private async conditionalUpdate(
    input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>,
  ): Promise<boolean> {
    try {
      await this.client.send(new UpdateCommand({ TableName: this.tableName, ...input }));
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }
}
