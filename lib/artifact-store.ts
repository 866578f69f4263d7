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

export interface ArtifactStore {
  /** Stores a new version of `key`. */
  put(key: string, body: Uint8Array | string, contentType?: string): Promise<StoredObject>;
  /**
   * Reads `key` at `versionId` (or the latest version), streaming and hashing as it reads.
   * Throws `ArtifactNotFoundError` when absent, `ArtifactTooLargeError` (having stopped reading)
   * when the object is larger than `options.maxBytes`.
   */
  get(key: string, versionId?: string, options?: ArtifactGetOptions): Promise<ArtifactObject>;
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
