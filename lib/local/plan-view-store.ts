import { existsSync, readFileSync } from 'node:fs';
import * as z from 'zod';
import type { PlanViewStore } from '../../handlers/shared/plan-view';
import { type PlanViewRecord, planViewRecordSchema } from '../contracts';
import { writeFileAtomic } from './durable';

/** Local mode and tests: the read-only plan views in memory, optionally persisted to a file. */
export class MemoryPlanViewStore implements PlanViewStore {
  private readonly items = new Map<string, PlanViewRecord>();

  constructor(private readonly file?: string) {
    if (file && existsSync(file)) {
      try {
        const doc = z
          .record(z.string(), planViewRecordSchema)
          .parse(JSON.parse(readFileSync(file, 'utf8')));
        for (const [hash, record] of Object.entries(doc)) this.items.set(hash, record);
      } catch {
        // A damaged file only costs the links it held: they answer "unknown link".
      }
    }
  }

  async putView(record: PlanViewRecord): Promise<void> {
    // DynamoDB's `attribute_not_exists(pk)`: a view is never replaced.
    if (this.items.has(record.hash)) throw new Error('ConditionalCheckFailedException');
    this.items.set(record.hash, planViewRecordSchema.parse(record));
    if (this.file) writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.items)));
  }

  async getView(hash: string): Promise<PlanViewRecord | undefined> {
    const record = this.items.get(hash);
    return record && planViewRecordSchema.parse(record);
  }
}
