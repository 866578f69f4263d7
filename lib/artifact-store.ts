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
  /** Reads `key` at `versionId` (or the latest version). Throws `ArtifactNotFoundError` when absent. */
  get(key: string, versionId?: string): Promise<ArtifactObject>;
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
