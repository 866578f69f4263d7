import { existsSync, readFileSync } from 'node:fs';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { DRIFT_KEY_PREFIX } from '../../lib/drift-input';
import { writeFileAtomic } from '../../lib/local/durable';

/**
 * The last result of the drift check of each repo and path, so a check that keeps failing (or
 * keeps finding the same drift) tells people once. One item per path in the deploy-runner
 * table, `drift#<repo>#<path>`.
 */

export const driftRecordSchema = z.object({
  status: z.enum(['clean', 'drifted', 'failed']),
  at: z.iso.datetime(),
  executionArn: z.string(),
  /** What the last message was about: the drifted addresses and actions, or the error name. */
  fingerprint: z.string(),
});
export type DriftRecord = z.infer<typeof driftRecordSchema>;

export const driftKey = (repo: string, path: string) => `${DRIFT_KEY_PREFIX}${repo}#${path}`;

export interface DriftStore {
  get(repo: string, path: string): Promise<DriftRecord | undefined>;
  put(repo: string, path: string, record: DriftRecord): Promise<void>;
}

/** DynamoDB implementation: the deploy-runner table. */
export class DynamoDriftStore implements DriftStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(repo: string, path: string): Promise<DriftRecord | undefined> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: driftKey(repo, path) },
        ConsistentRead: true,
      }),
    );
    const parsed = driftRecordSchema.safeParse(out.Item);
    return parsed.success ? parsed.data : undefined;
  }

  async put(repo: string, path: string, record: DriftRecord): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: driftKey(repo, path), ...driftRecordSchema.parse(record) },
      }),
    );
  }
}

/** Local mode and tests: memory, optionally persisted to a JSON file. */
export class MemoryDriftStore implements DriftStore {
  private readonly items = new Map<string, DriftRecord>();

  constructor(private readonly file?: string) {
    if (file && existsSync(file)) {
      try {
        const doc = z
          .record(z.string(), driftRecordSchema)
          .parse(JSON.parse(readFileSync(file, 'utf8')));
        for (const [key, record] of Object.entries(doc)) this.items.set(key, record);
      } catch {
        // A damaged file only costs one repeated message per path.
      }
    }
  }

  async get(repo: string, path: string): Promise<DriftRecord | undefined> {
    return this.items.get(driftKey(repo, path));
  }

  async put(repo: string, path: string, record: DriftRecord): Promise<void> {
    this.items.set(driftKey(repo, path), driftRecordSchema.parse(record));
    if (this.file) writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.items)));
  }
}
