import { existsSync, readFileSync } from 'node:fs';
import * as z from 'zod';
import {
  type DriftRecord,
  type DriftStore,
  driftKey,
  driftRecordSchema,
} from '../../handlers/shared/drift-store';
import { writeFileAtomic } from './durable';

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
