import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import {
  ArtifactNotFoundError,
  type ArtifactObject,
  type ArtifactStore,
  type StoredObject,
} from '../artifact-store';

/**
 * The artifact store of local mode: a folder that behaves like a versioned bucket.
 *
 * Layout: every version of `key` is the file `<dir>/<key>/<versionId>`, and `<dir>/<key>/.latest`
 * names the newest one. Writes go to a temporary file first and are renamed into place, so a
 * reader never sees half an object, even when another process is writing.
 */

/** Characters a key segment may hold; no segment may start with "." (hidden files are ours). */
const KEY_SEGMENT = /^[A-Za-z0-9_@=+-][A-Za-z0-9._@=+-]*$/;
/** Version IDs this store creates: a zero-padded clock, a counter and a random suffix. */
const VERSION_ID = /^[0-9]{13}-[0-9]{6}-[0-9a-f]{8}$/;
const LATEST = '.latest';

/** A key or version ID the folder store refuses (it would leave the folder, or it is malformed). */
export class InvalidArtifactKeyError extends Error {
  override readonly name = 'InvalidArtifactKeyError';
}

/** Why `key` cannot be stored in a folder, or undefined when it can. */
export function folderKeyProblem(key: string): string | undefined {
  if (key.length === 0 || key.length > 1024) return 'must be 1-1024 characters';
  const segments = key.split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..')
      return 'has an empty, "." or ".." segment';
    if (!KEY_SEGMENT.test(segment))
      return 'may only contain letters, digits and . _ @ = + -, and no segment may start with "."';
  }
  return undefined;
}

const sha256Hex = (body: Uint8Array) => createHash('sha256').update(body).digest('hex');

export class FolderArtifactStore implements ArtifactStore {
  private counter = 0;
  private lastMillis = 0;

  /** @param dir the data folder; created on first write. */
  constructor(
    readonly dir: string,
    private readonly now: () => number = Date.now,
  ) {}

  async put(key: string, body: Uint8Array | string, _contentType?: string): Promise<StoredObject> {
    const keyDir = this.keyDir(key);
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
    // Owner-only: the folder holds plan files, which can carry secrets.
    await fs.mkdir(keyDir, { recursive: true, mode: 0o700 });
    const versionId = this.nextVersionId();
    await writeAtomically(join(keyDir, versionId), bytes);
    // The pointer is written after the version, so `.latest` never names a missing file.
    await writeAtomically(join(keyDir, LATEST), Buffer.from(versionId, 'utf8'));
    return { key, versionId, sha256: sha256Hex(bytes) };
  }

  async get(key: string, versionId?: string): Promise<ArtifactObject> {
    const keyDir = this.keyDir(key);
    let version = versionId;
    if (version === undefined) {
      try {
        version = (await fs.readFile(join(keyDir, LATEST), 'utf8')).trim();
      } catch (error) {
        throw new ArtifactNotFoundError(key, undefined, { cause: error });
      }
    }
    // A version ID is looked up as a file name: anything but our own format is refused.
    if (!VERSION_ID.test(version)) throw new ArtifactNotFoundError(key, version);
    let body: Buffer;
    try {
      body = await fs.readFile(join(keyDir, version));
    } catch (error) {
      throw new ArtifactNotFoundError(key, versionId, { cause: error });
    }
    return { key, versionId: version, sha256: sha256Hex(body), body };
  }

  private keyDir(key: string): string {
    const problem = folderKeyProblem(key);
    if (problem)
      throw new InvalidArtifactKeyError(`artifact key ${JSON.stringify(key)} ${problem}`);
    return join(this.dir, ...key.split('/'));
  }

  /** Increases within this process; the random part keeps concurrent writers apart. */
  private nextVersionId(): string {
    const millis = Math.max(this.now(), this.lastMillis);
    this.counter = millis === this.lastMillis ? this.counter + 1 : 0;
    this.lastMillis = millis;
    return `${String(millis).padStart(13, '0')}-${String(this.counter).padStart(6, '0')}-${randomBytes(4).toString('hex')}`;
  }
}

async function writeAtomically(file: string, bytes: Buffer): Promise<void> {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    const handle = await fs.open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(bytes);
      // Durable before it is visible: a crash after the rename never leaves an empty version.
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}
