import { createHash } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  ArtifactNotFoundError,
  type ArtifactObject,
  type ArtifactStore,
} from '../../lib/artifact-store';
import { errorName } from './errors';

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

/**
 * Read-only access to the artifact bucket for the handlers (runner error reports for notify, the
 * plan text for the approval page). The handlers' roles may only read, so only `get` exists here.
 */
export class S3ArtifactReader implements Pick<ArtifactStore, 'get'> {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async get(key: string, versionId?: string): Promise<ArtifactObject> {
    try {
      const out = await this.s3.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(versionId ? { VersionId: versionId } : {}),
        }),
      );
      const body = Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
      return {
        key,
        versionId: out.VersionId ?? versionId ?? 'null',
        sha256: createHash('sha256').update(body).digest('hex'),
        body,
      };
    } catch (error) {
      const name = errorName(error);
      if (name === 'NoSuchKey' || name === 'NoSuchVersion' || name === 'NotFound')
        throw new ArtifactNotFoundError(key, versionId, { cause: error });
      throw error;
    }
  }
}
