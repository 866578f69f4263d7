import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ApprovalDecision, PlanResult, RunRequest } from '../../lib/contracts';
import { errorName, isConditionalCheckFailed } from './errors';

/**
 * The approval store: one run item per execution waiting for approval, one link item per
 * approver capability (keyed by the capability's hash), and the repo+path lock the state
 * machine writes. DynamoDB in AWS, memory (optionally a JSON file) in local mode and tests;
 * both implement the same conditional semantics, so "first decision wins" holds in both.
 *
 * Items (table key `pk`, TTL attribute `expiresAt` in epoch seconds):
 * - `run#<executionArn>`: ApprovalRun, holds the task token (and nothing else does);
 * - `link#<sha256(capability)>`: ApprovalLink;
 * - `lock#<repo>#<path>`: LockItem (docs/workflow-contract.md, `Acquire lock`).
 */

/** One approver as the run knows them. `id` is their identity for counting distinct approvals. */
export interface ApproverRef {
  /** Lowercased email, else the Slack user ID. */
  readonly id: string;
  /** Display name: configured name, else email, else Slack user ID. */
  readonly name: string;
  readonly email?: string;
  readonly slackUserId?: string;
  /** Their logins on CI systems (config `ciLogins`): identities that may appear as `requestedBy`. */
  readonly ciLogins?: readonly string[];
}

export interface DecisionRecord {
  readonly approverId: string;
  readonly approverName: string;
  readonly decision: 'approve' | 'reject';
  /** What the approver wrote; "" when nothing. */
  readonly reason: string;
  readonly decidedAt: string;
}

/** `pending` until decided; `approved`/`rejected` once the task was completed; `ended` when the execution ended first. */
export type RunStatus = 'pending' | 'approved' | 'rejected' | 'ended';

export interface ApprovalRun {
  readonly executionArn: string;
  readonly runId: string;
  /** The Step Functions task token: a bearer credential, never shown or logged. */
  readonly taskToken: string;
  readonly request: RunRequest;
  readonly plan: PlanResult;
  readonly approvers: readonly ApproverRef[];
  readonly approvalsRequired: number;
  readonly linkHashes: readonly string[];
  readonly createdAt: string;
  /** Epoch seconds after which no decision is accepted. */
  readonly validUntil: number;
  /** TTL (epoch seconds): kept a while after `validUntil` so late visitors get a clear page. */
  readonly expiresAt: number;
  readonly status: RunStatus;
  /** By approver id; at most one decision per approver. */
  readonly decisions: Readonly<Record<string, DecisionRecord>>;
  /** The decision sent to Step Functions, once sent. */
  readonly outcome?: ApprovalDecision;
  readonly endedAt?: string;
  readonly endedReason?: string;
}

export type LinkStatus = 'open' | 'used' | 'void';

export interface ApprovalLink {
  /** SHA-256 (hex) of the capability. */
  readonly hash: string;
  readonly executionArn: string;
  readonly approverId: string;
  readonly approverName: string;
  readonly validUntil: number;
  readonly expiresAt: number;
  readonly status: LinkStatus;
  readonly usedAt?: string;
  readonly decision?: 'approve' | 'reject';
}

/** The lock item of the `Acquire lock` state. */
export interface LockItem {
  readonly pk: string;
  readonly executionArn: string;
  readonly runId: string;
  readonly repo: string;
  readonly path: string;
  /** Who holds it, in words (`RunRequest.lockHolder`); absent on locks of older versions. */
  readonly holder?: string;
  readonly acquiredAt: string;
  /** Epoch seconds (the table's TTL attribute). */
  readonly expiresAt: number;
}

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
}

export const runKey = (executionArn: string) => `run#${executionArn}`;
export const linkKey = (hash: string) => `link#${hash}`;

/** Drops `undefined` fields (DynamoDB rejects them) and shares no references with the caller. */
export function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export function withoutPk<T>(item: Record<string, unknown> | undefined): T | undefined {
  if (item === undefined) return undefined;
  const { pk: _pk, ...rest } = item;
  return rest as T;
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
    return withoutPk<ApprovalRun>(out.Item);
  }

  async getLink(hash: string): Promise<ApprovalLink | undefined> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: linkKey(hash) },
        ConsistentRead: true,
      }),
    );
    return withoutPk<ApprovalLink>(out.Item);
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
    return out.Item as LockItem | undefined;
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
