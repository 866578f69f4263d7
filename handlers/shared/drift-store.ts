import type * as LibDynamoDB from '@aws-sdk/lib-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { DRIFT_KEY_PREFIX } from '../../lib/drift-input';
import { lazyModule } from '../../lib/lazy-module';

// Loaded at the first drift report, not at import: see lib/lazy-module.ts.
const { GetCommand, PutCommand } = lazyModule<typeof LibDynamoDB>(() =>
  require('@aws-sdk/lib-dynamodb'),
);

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
