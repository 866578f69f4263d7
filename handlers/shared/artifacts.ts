import { createHash } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  ArtifactNotFoundError,
  type ArtifactObject,
  type ArtifactStore,
} from '../../lib/artifact-store';
import { errorName } from './errors';

/**
 * Read-only access to the artifact bucket for the handlers (error reports today, plan text for
 * the approval page later). The handlers' roles may only read, so only `get` exists here.
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
