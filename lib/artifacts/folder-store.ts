import { createHash, randomBytes } from 'node:crypto';
import { type Dirent, promises as fs } from 'node:fs';
import { join } from 'node:path';
import {
  ArtifactExistsError,
  type ArtifactGetOptions,
  type ArtifactHead,
  ArtifactNotFoundError,
  type ArtifactObject,
  type ArtifactStore,
  ArtifactTooLargeError,
  type ArtifactVersion,
  type PutOptions,
  readCapped,
  type StoredObject,
} from '../artifact-store';

/**
 * The artifact store of local mode: a folder that behaves like a versioned bucket.
 *
 * Layout: every version of `key` is the file `<dir>/<key>/<versionId>`, and `<dir>/<key>/.latest`
 * names the newest one. Writes go to a temporary file first and are renamed into place, so a
 * reader never sees half an object, even when another process is writing.
 *
 * A write-once put (`ifNoneMatch: '*'`) first creates `<dir>/<key>/.once` exclusively (`wx`):
 * of two concurrent writers only one can create it, as only one of two conditional PUTs wins in
 * S3, and a key that already has a version is refused too.
 */

/** Characters a key segment may hold; no segment may start with "." (hidden files are ours). */
const KEY_SEGMENT = /^[A-Za-z0-9_@=+-][A-Za-z0-9._@=+-]*$/;
/** Version IDs this store creates: a zero-padded clock, a counter and a random suffix. */
const VERSION_ID = /^[0-9]{13}-[0-9]{6}-[0-9a-f]{8}$/;
const LATEST = '.latest';
/** Claimed by the one write-once put a key may have. */
const ONCE = '.once';

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

  async put(
    key: string,
    body: Uint8Array | string,
    _contentType?: string,
    options: PutOptions = {},
  ): Promise<StoredObject> {
    const keyDir = this.keyDir(key);
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
    // Owner-only: the folder holds plan files, which can carry secrets.
    await fs.mkdir(keyDir, { recursive: true, mode: 0o700 });
    if (options.ifNoneMatch === '*') await this.claim(key, keyDir);
    const versionId = this.nextVersionId();
    await writeAtomically(join(keyDir, versionId), bytes);
    // The pointer is written after the version, so `.latest` never names a missing file.
    await writeAtomically(join(keyDir, LATEST), Buffer.from(versionId, 'utf8'));
    return { key, versionId, sha256: sha256Hex(bytes) };
  }

  async get(
    key: string,
    versionId?: string,
    options?: ArtifactGetOptions,
  ): Promise<ArtifactObject> {
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
    let file: fs.FileHandle;
    try {
      file = await fs.open(join(keyDir, version), 'r');
    } catch (error) {
      throw new ArtifactNotFoundError(key, versionId, { cause: error });
    }
    const maxBytes = options?.maxBytes;
    const tooLarge = () => new ArtifactTooLargeError(key, version, maxBytes ?? 0);
    try {
      // The size a file claims is checked first; the streamed count still holds if it grows.
      if (maxBytes !== undefined && (await file.stat()).size > maxBytes) throw tooLarge();
      const read = await readCapped(
        file.createReadStream({ autoClose: false }),
        tooLarge,
        maxBytes,
      );
      return { key, versionId: version, ...read };
    } finally {
      await file.close();
    }
  }

  async listVersions(prefix: string): Promise<ArtifactVersion[]> {
    const versions: ArtifactVersion[] = [];
    const walk = async (dir: string, key: string): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (error) {
        // Nothing stored under this path; any other failure is the store's, and must not read
        // as "no versions".
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return;
        throw error;
      }
      const ids = entries.filter((e) => e.isFile() && VERSION_ID.test(e.name)).map((e) => e.name);
      if (ids.length > 0 && key.startsWith(prefix)) {
        const latest = await fs.readFile(join(dir, LATEST), 'utf8').then(
          (text) => text.trim(),
          () => undefined,
        );
        for (const versionId of ids)
          versions.push({ key, versionId, isLatest: versionId === latest, deleteMarker: false });
      }
      for (const entry of entries)
        if (entry.isDirectory() && KEY_SEGMENT.test(entry.name)) {
          const child = key ? `${key}/${entry.name}` : entry.name;
          // Only descend where keys under `prefix` can be.
          if (child.startsWith(prefix) || prefix.startsWith(`${child}/`))
            await walk(join(dir, entry.name), child);
        }
    };
    await walk(this.dir, '');
    return versions;
  }

  async head(key: string, versionId: string): Promise<ArtifactHead> {
    const object = await this.get(key, versionId);
    return { key, versionId: object.versionId, sha256: object.sha256, size: object.body.length };
  }

  /** Takes the key's one write-once slot, or fails as S3's 412 does when the key is taken. */
  private async claim(key: string, keyDir: string): Promise<void> {
    try {
      const handle = await fs.open(join(keyDir, ONCE), 'wx', 0o600);
      await handle.close();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST')
        throw new ArtifactExistsError(key, { cause: error });
      throw error;
    }
    // An unconditional put may have written the key before: then it exists all the same.
    const existing = (await fs.readdir(keyDir)).some((name) => VERSION_ID.test(name));
    if (existing) throw new ArtifactExistsError(key);
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
