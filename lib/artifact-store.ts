import { createHash } from 'node:crypto';

/**
 * Where run artifacts live: an S3 bucket (SSE-KMS, versioned) in AWS, a folder in local mode.
 * The runner writes plan files, plan text and results; `Inspect plan`, the approval page and
 * notifications read them. Implementations: `lib/artifacts/s3-store.ts`, `lib/artifacts/folder-store.ts`.
 */

/** A stored object version and its checksum. */
export interface StoredObject {
  readonly key: string;
  /** The object version; every put creates a new one, and readers pin the version they were given. */
  readonly versionId: string;
  /** Lowercase hex SHA-256 of the body. */
  readonly sha256: string;
}

export interface ArtifactObject extends StoredObject {
  readonly body: Buffer;
}

/** How a put may be refused. */
export interface PutOptions {
  /**
   * `'*'`: store only if `key` has no object yet (S3's `If-None-Match: *`); otherwise the put
   * fails with `ArtifactExistsError` and nothing is written. Run artifacts are written this way,
   * so no writer can replace another's. @default - always store a new version
   */
  readonly ifNoneMatch?: '*';
}

/** One entry of a key's version history: an object version or a delete marker. */
export interface ArtifactVersion {
  readonly key: string;
  readonly versionId: string;
  readonly isLatest: boolean;
  /** A delete marker hides the object; run artifacts are never deleted, so one means tampering. */
  readonly deleteMarker: boolean;
}

/** What the store recorded about an object version, without its body. */
export interface ArtifactHead {
  readonly key: string;
  readonly versionId: string;
  /**
   * Lowercase hex full-object SHA-256 the store recorded when the version was written, or
   * undefined when it has none (an object put without a checksum, or a multipart composite).
   */
  readonly sha256: string | undefined;
  readonly size: number;
}

export interface ArtifactStore {
  /** Stores a new version of `key`. */
  put(
    key: string,
    body: Uint8Array | string,
    contentType?: string,
    options?: PutOptions,
  ): Promise<StoredObject>;
  /**
   * Reads `key` at `versionId` (or the latest version), streaming and hashing as it reads.
   * Throws `ArtifactNotFoundError` when absent, `ArtifactTooLargeError` (having stopped reading)
   * when the object is larger than `options.maxBytes`.
   */
  get(key: string, versionId?: string, options?: ArtifactGetOptions): Promise<ArtifactObject>;
  /** Every version and delete marker of every key under `prefix`, in no particular order. */
  listVersions(prefix: string): Promise<ArtifactVersion[]>;
  /** The recorded checksum and size of `key` at `versionId`. Throws `ArtifactNotFoundError` when absent. */
  head(key: string, versionId: string): Promise<ArtifactHead>;
}

/** A write-once put found an object already stored under the key (S3: 412 PreconditionFailed). */
export class ArtifactExistsError extends Error {
  override readonly name = 'ArtifactExistsError';
  constructor(
    readonly key: string,
    options?: ErrorOptions,
  ) {
    super(
      `artifact ${key} already exists: it is written once, and another writer got there first`,
      options,
    );
  }
}

/**
 * A stored artifact whose bytes do not hash to the SHA-256 recorded for them: the checksum the
 * store kept (S3's full-object `ChecksumSHA256`) or the one the workflow recorded when the run
 * wrote it. One class for both, so every reader tells a checksum failure from an unreadable store.
 */
export class ArtifactChecksumError extends Error {
  override readonly name = 'ArtifactChecksumError';
  constructor(
    readonly key: string,
    readonly versionId: string | undefined,
    /** Lowercase hex, or base64 when S3's stored checksum was the reference. */
    readonly expectedSha256: string,
    readonly actualSha256: string,
  ) {
    super(
      `artifact ${key}${versionId ? ` (version ${versionId})` : ''} has sha256 ${actualSha256}, but ${expectedSha256} was recorded`,
    );
  }
}

/** How to read an artifact. */
export interface ArtifactGetOptions {
  /**
   * Largest body to read; a larger object is not read past this many bytes.
   * @default - no limit
   */
  readonly maxBytes?: number;
}

/** The object is larger than the reader allows; it was not read to the end. */
export class ArtifactTooLargeError extends Error {
  override readonly name = 'ArtifactTooLargeError';
  constructor(
    readonly key: string,
    readonly versionId: string | undefined,
    readonly maxBytes: number,
  ) {
    super(
      `artifact ${key}${versionId ? ` (version ${versionId})` : ''} is larger than ${maxBytes} bytes`,
    );
  }
}

/**
 * Reads a stream into one buffer, hashing as it goes, and stops (destroying the stream) as soon
 * as it would pass `maxBytes`: a huge object never sits in memory whole.
 */
export async function readCapped(
  stream: (AsyncIterable<Uint8Array | string> | Iterable<Uint8Array>) & {
    destroy?: (error?: Error) => void;
  },
  tooLarge: () => Error,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<{ body: Buffer; sha256: string }> {
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
    size += bytes.length;
    if (size > maxBytes) {
      stream.destroy?.();
      throw tooLarge();
    }
    hash.update(bytes);
    chunks.push(bytes);
  }
  return { body: Buffer.concat(chunks, size), sha256: hash.digest('hex') };
}

/** The object (or that version of it) does not exist. */
export class ArtifactNotFoundError extends Error {
  override readonly name = 'ArtifactNotFoundError';
  constructor(
    readonly key: string,
    readonly versionId?: string,
    options?: ErrorOptions,
  ) {
    super(`artifact ${key}${versionId ? ` (version ${versionId})` : ''} not found`, options);
  }
}
