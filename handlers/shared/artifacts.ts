import { createHash } from 'node:crypto';
import {
  ArtifactChecksumError,
  type ArtifactStore,
  ArtifactTooLargeError,
} from '../../lib/artifact-store';

/**
 * Most plan text the approval page reads (8 MiB): its 256 MB function parses it with room to
 * spare, and a plan with more text than this is too large for anyone to review on a page.
 */
export const MAX_PLAN_TEXT_READ_BYTES = 8 * 1024 * 1024;

/** Which artifact to read, and what its bytes must hash to. */
export interface ArtifactRef {
  readonly key: string;
  readonly versionId: string;
  /** Lowercase hex SHA-256 recorded when the artifact was written. */
  readonly sha256: string;
  /**
   * Largest artifact to read; reading stops past it with `ArtifactTooLargeError`.
   * @default - no limit
   */
  readonly maxBytes?: number;
}

/**
 * Reads exactly the recorded version of an artifact and checks its bytes against the recorded
 * SHA-256 (hashed here, not taken from the store's answer). Throws `ArtifactChecksumError` on
 * a mismatch, `ArtifactNotFoundError` when that version is gone, `ArtifactTooLargeError` when it
 * is larger than `ref.maxBytes` (the store stops reading there).
 */
export async function readVerifiedArtifact(
  store: Pick<ArtifactStore, 'get'>,
  ref: ArtifactRef,
): Promise<Buffer> {
  const object = await store.get(
    ref.key,
    ref.versionId,
    ref.maxBytes === undefined ? undefined : { maxBytes: ref.maxBytes },
  );
  // A store that ignores the cap is held to it here.
  if (ref.maxBytes !== undefined && object.body.length > ref.maxBytes)
    throw new ArtifactTooLargeError(ref.key, ref.versionId, ref.maxBytes);
  const actual = createHash('sha256').update(object.body).digest('hex');
  if (actual !== ref.sha256.toLowerCase())
    throw new ArtifactChecksumError(ref.key, ref.versionId, ref.sha256, actual);
  return object.body;
}
