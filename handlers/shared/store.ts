import { readFileSync, renameSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type * as LibDynamoDB from '@aws-sdk/lib-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ApprovalDecision, PlanResult, RunRequest } from '../../lib/contracts';
import { lazyModule } from '../../lib/lazy-module';
import { privateDir, writeFileAtomic } from '../../lib/local/durable';
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
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function withoutPk<T>(item: Record<string, unknown> | undefined): T | undefined {
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

export interface MemoryApprovalStoreOptions {
  /** Persist every write to this JSON file (atomic rename) and load it on construction. @default - memory only */
  readonly file?: string;
  /** Used to emulate TTL expiry of lock items. @default - the system clock */
  readonly clock?: () => Date;
  /** Receives problems with the file (damaged, disk full). @default - ignored */
  readonly onWarning?: (line: string) => void;
}

type Item = Record<string, unknown> & { pk: string };

/**
 * In-memory implementation with DynamoDB's semantics. Each operation checks and writes without
 * awaiting in between, so it is atomic with respect to every other operation, as a conditional
 * write or a transaction is. Lock items past their `expiresAt` count as deleted, as DynamoDB's
 * TTL sweep would eventually make them.
 */
export class MemoryApprovalStore implements ApprovalStore {
  private readonly items = new Map<string, Item>();
  private readonly file: string | undefined;
  private readonly clock: () => Date;
  private readonly warn: (line: string) => void;
  /** Set while the last write failed (a full disk): memory is ahead of the file until a retry. */
  private retry: NodeJS.Timeout | undefined;

  constructor(options: MemoryApprovalStoreOptions = {}) {
    this.file = options.file;
    this.clock = options.clock ?? (() => new Date());
    this.warn = options.onWarning ?? (() => {});
    if (this.file) this.load(this.file);
  }

  /** Every live lock item (local mode checks them against its runs at start). */
  locks(): LockItem[] {
    return [...this.items.keys()]
      .filter((pk) => pk.startsWith('lock#'))
      .map((pk) => this.liveLock(pk))
      .filter((lock): lock is Item => lock !== undefined)
      .map((lock) => plain(lock) as unknown as LockItem);
  }

  /** Writes what a failed write left in memory only; called on close. */
  flush(): void {
    if (this.retry) {
      clearTimeout(this.retry);
      this.retry = undefined;
      this.persist();
    }
  }

  /** The stored items, serialized deterministically; tests compare it to prove reads do not write. */
  snapshot(): string {
    return JSON.stringify([...this.items.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  async createRun(run: ApprovalRun, links: readonly ApprovalLink[]): Promise<void> {
    for (const link of links) {
      if (this.items.has(linkKey(link.hash)))
        throw conditionalCheckFailed(`link ${link.hash.slice(0, 8)}... exists`);
    }
    const previous = this.read<ApprovalRun>(runKey(run.executionArn));
    this.items.set(runKey(run.executionArn), { pk: runKey(run.executionArn), ...plain(run) });
    for (const link of links)
      this.items.set(linkKey(link.hash), { pk: linkKey(link.hash), ...plain(link) });
    if (previous) this.voidHashes(previous.linkHashes);
    this.persist();
  }

  async getRun(executionArn: string): Promise<ApprovalRun | undefined> {
    return this.read<ApprovalRun>(runKey(executionArn));
  }

  async getLink(hash: string): Promise<ApprovalLink | undefined> {
    return this.read<ApprovalLink>(linkKey(hash));
  }

  async recordDecision(
    linkHash: string,
    executionArn: string,
    decision: DecisionRecord,
    nowSeconds: number,
  ): Promise<RecordDecisionResult> {
    const link = this.items.get(linkKey(linkHash));
    if (
      link?.status !== 'open' ||
      !((link.validUntil as number) > nowSeconds) ||
      link.executionArn !== executionArn
    )
      return 'link-closed';
    const run = this.items.get(runKey(executionArn));
    const decisions = run?.decisions as Record<string, DecisionRecord> | undefined;
    if (run?.status !== 'pending' || !decisions || decision.approverId in decisions)
      return 'run-closed';
    Object.assign(link, {
      status: 'used',
      usedAt: decision.decidedAt,
      decision: decision.decision,
    });
    decisions[decision.approverId] = plain(decision);
    this.persist();
    return 'recorded';
  }

  async closeRun(executionArn: string, outcome: ApprovalDecision): Promise<boolean> {
    const run = this.items.get(runKey(executionArn));
    if (run?.status !== 'pending') return false;
    Object.assign(run, {
      status: outcome.approved ? 'approved' : 'rejected',
      outcome: plain(outcome),
    });
    this.persist();
    return true;
  }

  async reopenRun(executionArn: string, decidedAt: string): Promise<boolean> {
    const run = this.items.get(runKey(executionArn));
    const outcome = run?.outcome as ApprovalDecision | undefined;
    if (!run || outcome?.decidedAt !== decidedAt) return false;
    run.status = 'pending';
    delete run.outcome;
    this.persist();
    return true;
  }

  async endRun(executionArn: string, reason: string, at: string): Promise<boolean> {
    const run = this.items.get(runKey(executionArn));
    if (run?.status !== 'pending') return false;
    Object.assign(run, { status: 'ended', endedAt: at, endedReason: reason });
    this.persist();
    return true;
  }

  async voidLinks(executionArn: string): Promise<number> {
    const run = this.read<ApprovalRun>(runKey(executionArn));
    if (!run) return 0;
    const count = this.voidHashes(run.linkHashes);
    if (count > 0) this.persist();
    return count;
  }

  async acquireLock(item: LockItem): Promise<boolean> {
    if (this.liveLock(item.pk)) return false;
    this.items.set(item.pk, plain(item) as unknown as Item);
    this.persist();
    return true;
  }

  async getLock(lockKey: string): Promise<LockItem | undefined> {
    const lock = this.liveLock(lockKey);
    return lock ? (plain(lock) as unknown as LockItem) : undefined;
  }

  async releaseLock(lockKey: string, executionArn: string): Promise<boolean> {
    const lock = this.items.get(lockKey);
    if (!lock || lock.executionArn !== executionArn) return false;
    this.items.delete(lockKey);
    this.persist();
    return true;
  }

  private liveLock(lockKey: string): Item | undefined {
    const lock = this.items.get(lockKey);
    if (!lock) return undefined;
    const expiresAt = Number(lock.expiresAt);
    if (Number.isFinite(expiresAt) && expiresAt * 1000 <= this.clock().getTime()) {
      this.items.delete(lockKey);
      this.persist();
      return undefined;
    }
    return lock;
  }

  private voidHashes(hashes: readonly string[]): number {
    let count = 0;
    for (const hash of hashes) {
      const link = this.items.get(linkKey(hash));
      if (link?.status === 'open') {
        link.status = 'void';
        count++;
      }
    }
    return count;
  }

  private read<T>(pk: string): T | undefined {
    const item = this.items.get(pk);
    return item ? withoutPk<T>(plain(item)) : undefined;
  }

  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    let items: Item[];
    try {
      items = (JSON.parse(text) as { items?: Item[] }).items ?? [];
    } catch (error) {
      // Keep the damaged file for a person to look at, and carry on with what can be read.
      items = recoverItems(text);
      const aside = `${file}.damaged-${Date.now()}`;
      renameSync(file, aside);
      this.warn(
        `${basename(file)} could not be read (${(error as Error).name}: ${(error as Error).message}): it was kept as ${basename(aside)} and ${items.length} whole item(s) were recovered from it. Runs whose approval or lock was lost end at this start; look at the kept file, then delete it.`,
      );
      for (const item of items) this.items.set(item.pk, item);
      this.persist();
      return;
    }
    for (const item of items) this.items.set(item.pk, item);
  }

  private persist(): void {
    if (!this.file) return;
    try {
      privateDir(dirname(this.file));
      // One item per line: a damaged file still yields every line that is whole.
      const lines = [...this.items.values()].map((item) => JSON.stringify(item));
      writeFileAtomic(this.file, `{"version":1,"items":[\n${lines.join(',\n')}\n]}\n`);
      if (this.retry) {
        clearTimeout(this.retry);
        this.retry = undefined;
        this.warn(`${basename(this.file)} is saved again`);
      }
    } catch (error) {
      // A full disk must not take the server down: memory stays the truth and is written again.
      if (!this.retry)
        this.warn(
          `could not save ${this.file} (${(error as Error).message}); changes are kept in memory and saved again once the disk takes them`,
        );
      else clearTimeout(this.retry);
      this.retry = setTimeout(() => this.persist(), 2000);
      this.retry.unref?.();
    }
  }
}

/** The whole `{...}` items of a damaged store file: each object inside its `items` array. */
function recoverItems(text: string): Item[] {
  const items: Item[] = [];
  const start = text.indexOf('[', text.indexOf('"items"'));
  if (start < 0) return items;
  let depth = 0;
  let inString = false;
  let from = -1;
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') {
      if (depth === 0) from = i;
      depth++;
    } else if (c === '}') {
      depth--;
      if (depth === 0 && from >= 0) {
        try {
          const item = JSON.parse(text.slice(from, i + 1)) as Item;
          if (typeof item.pk === 'string') items.push(item);
        } catch {
          // Not whole: skipped.
        }
        from = -1;
      }
    } else if (c === ']' && depth === 0) break;
  }
  return items;
}

function conditionalCheckFailed(message: string): Error {
  const error = new Error(`The conditional request failed: ${message}`);
  error.name = 'ConditionalCheckFailedException';
  return error;
}
