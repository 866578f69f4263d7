import { readFileSync, renameSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import {
  type ApprovalLink,
  type ApprovalRun,
  type ApprovalStore,
  type DecisionRecord,
  type LockItem,
  linkKey,
  parseItem,
  plain,
  type RecordDecisionResult,
  runKey,
  signInKey,
} from '../../handlers/shared/store';
import {
  type ApprovalDecision,
  approvalLinkSchema,
  approvalRunSchema,
  lockItemSchema,
} from '../contracts';
import { privateDir, writeFileAtomic } from './durable';

/**
 * Local mode's approval table: DynamoDB's semantics in memory, persisted to a file in the data
 * folder. Not part of any Lambda bundle.
 */

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
      .flatMap((lock) => parseItem(lockItemSchema, plain(lock)) ?? []);
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
    const previous = parseItem(approvalRunSchema, this.plainItem(runKey(run.executionArn)));
    this.items.set(runKey(run.executionArn), { pk: runKey(run.executionArn), ...plain(run) });
    for (const link of links)
      this.items.set(linkKey(link.hash), { pk: linkKey(link.hash), ...plain(link) });
    if (previous) this.voidHashes(previous.linkHashes);
    this.persist();
  }

  async getRun(executionArn: string): Promise<ApprovalRun | undefined> {
    return parseItem(approvalRunSchema, this.plainItem(runKey(executionArn)));
  }

  async getLink(hash: string): Promise<ApprovalLink | undefined> {
    return parseItem(approvalLinkSchema, this.plainItem(linkKey(hash)));
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
    const run = parseItem(approvalRunSchema, this.plainItem(runKey(executionArn)));
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
    return lock ? parseItem(lockItemSchema, plain(lock)) : undefined;
  }

  async releaseLock(lockKey: string, executionArn: string): Promise<boolean> {
    const lock = this.items.get(lockKey);
    if (!lock || lock.executionArn !== executionArn) return false;
    this.items.delete(lockKey);
    this.persist();
    return true;
  }

  async claimSignIn(stateHash: string, expiresAt: number): Promise<boolean> {
    const pk = signInKey(stateHash);
    if (this.items.has(pk)) return false;
    this.items.set(pk, { pk, expiresAt });
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

  private plainItem(pk: string): Item | undefined {
    const item = this.items.get(pk);
    return item ? plain(item) : undefined;
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
