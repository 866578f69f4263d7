import { createHash } from 'node:crypto';
import type { ArtifactStore } from '../../lib/artifact-store';

/** A stored artifact whose bytes do not hash to the SHA-256 recorded when it was written. */
export class ArtifactChecksumError extends Error {
  override readonly name = 'ArtifactChecksumError';
  constructor(
    readonly key: string,
    readonly versionId: string,
    readonly expectedSha256: string,
    readonly actualSha256: string,
  ) {
    super(
      `artifact ${key} (version ${versionId}) has sha256 ${actualSha256}, but ${expectedSha256} was recorded`,
    );
  }
}

/** Which artifact to read, and what its bytes must hash to. */
export interface ArtifactRef {
  readonly key: string;
  readonly versionId: string;
  /** Lowercase hex SHA-256 recorded when the artifact was written. */
  readonly sha256: string;
}

/**
 * Reads exactly the recorded version of an artifact and checks its bytes against the recorded
 * SHA-256 (hashed here, not taken from the store's answer). Throws `ArtifactChecksumError` on
 * a mismatch, `ArtifactNotFoundError` when that version is gone.
 */
export async function readVerifiedArtifact(
  store: Pick<ArtifactStore, 'get'>,
  ref: ArtifactRef,
): Promise<Buffer> {
  const object = await store.get(ref.key, ref.versionId);
  const actual = createHash('sha256').update(object.body).digest('hex');
  if (actual !== ref.sha256.toLowerCase())
    throw new ArtifactChecksumError(ref.key, ref.versionId, ref.sha256, actual);
  return object.body;
}
