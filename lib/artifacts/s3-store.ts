import { createHash } from 'node:crypto';
import type * as ClientS3 from '@aws-sdk/client-s3';
import type {
  GetObjectCommandOutput,
  HeadObjectCommandOutput,
  ListObjectVersionsCommandOutput,
  PutObjectCommandOutput,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  ArtifactChecksumError,
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
import { lazyModule } from '../lazy-module';

// Loaded at the first request, not at import: see lib/lazy-module.ts.
const s3 = lazyModule<typeof ClientS3>(() => require('@aws-sdk/client-s3'));
const { GetObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, PutObjectCommand } = s3;

/** Settings of {@link S3ArtifactStore}. */
export interface S3ArtifactStoreProps {
  /** The versioned artifact bucket. */
  readonly bucket: string;
  /**
   * Customer-managed KMS key that encrypts every object.
   * @default - the bucket's default encryption key (objects are still written with aws:kms)
   */
  readonly kmsKeyArn?: string;
  /**
   * The client to use.
   * @default - a new S3Client for `region`
   */
  readonly client?: S3Client;
  /**
   * Region of the default client.
   * @default - the SDK's default chain (AWS_REGION)
   */
  readonly region?: string;
}

/** The bucket answered a put without a version ID: versioning is off, so nothing can be pinned. */
export class BucketNotVersionedError extends Error {
  override readonly name = 'BucketNotVersionedError';
}

const NOT_FOUND = new Set(['NoSuchKey', 'NoSuchVersion', 'NotFound']);
/**
 * A conditional put lost: 412 when the key exists, 409 when another conditional write of the
 * key is in flight (S3 asks to retry, but a second writer of a run's artifact is never benign).
 */
const ALREADY_WRITTEN = new Set(['PreconditionFailed', 'ConditionalRequestConflict']);

const errorNameOf = (error: unknown) => (error as { name?: string }).name ?? '';
const httpStatusOf = (error: unknown) =>
  (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/**
 * The artifact store in AWS: a versioned S3 bucket, every object encrypted with SSE-KMS and
 * sent with a SHA-256 checksum that S3 verifies on arrival. The hex SHA-256 callers see is
 * computed here from the bytes, never taken from the service.
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly bucket: string;
  private readonly client: S3Client;
  private readonly kmsKeyArn?: string;

  constructor(props: S3ArtifactStoreProps) {
    this.bucket = props.bucket;
    this.kmsKeyArn = props.kmsKeyArn;
    this.client = props.client ?? new s3.S3Client(props.region ? { region: props.region } : {});
  }

  async put(
    key: string,
    body: Uint8Array | string,
    contentType?: string,
    options: PutOptions = {},
  ): Promise<StoredObject> {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
    const digest = createHash('sha256').update(bytes).digest();
    let result: PutObjectCommandOutput;
    try {
      result = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: bytes,
          ContentType: contentType ?? 'application/octet-stream',
          ServerSideEncryption: 'aws:kms',
          SSEKMSKeyId: this.kmsKeyArn,
          // A single-part put with SHA256 makes S3 record a full-object SHA-256 of the version,
          // which HeadObject returns later to whoever checks it (Inspect plan).
          ChecksumAlgorithm: 'SHA256',
          ChecksumSHA256: digest.toString('base64'),
          ...(options.ifNoneMatch && { IfNoneMatch: options.ifNoneMatch }),
        }),
      );
    } catch (error) {
      if (
        options.ifNoneMatch &&
        (ALREADY_WRITTEN.has(errorNameOf(error)) ||
          httpStatusOf(error) === 412 ||
          httpStatusOf(error) === 409)
      )
        throw new ArtifactExistsError(key, { cause: error });
      throw error;
    }
    if (!result.VersionId)
      throw new BucketNotVersionedError(
        `s3://${this.bucket}/${key} was stored without a version ID: enable versioning on the bucket`,
      );
    return { key, versionId: result.VersionId, sha256: digest.toString('hex') };
  }

  async get(
    key: string,
    versionId?: string,
    options?: ArtifactGetOptions,
  ): Promise<ArtifactObject> {
    let result: GetObjectCommandOutput;
    try {
      result = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          VersionId: versionId,
          ChecksumMode: 'ENABLED',
        }),
      );
    } catch (error) {
      if (NOT_FOUND.has(errorNameOf(error)))
        throw new ArtifactNotFoundError(key, versionId, { cause: error });
      throw error;
    }
    if (!result.Body) throw new ArtifactNotFoundError(key, versionId);
    const maxBytes = options?.maxBytes;
    const tooLarge = () =>
      new ArtifactTooLargeError(key, result.VersionId ?? versionId, maxBytes ?? 0);
    const stream = result.Body as unknown as Partial<AsyncIterable<Uint8Array>> & {
      destroy?: (error?: Error) => void;
    };
    // The length S3 announces is checked first; the streamed count still holds if it lies.
    if (maxBytes !== undefined && (result.ContentLength ?? 0) > maxBytes) {
      stream.destroy?.();
      throw tooLarge();
    }
    const read =
      typeof stream[Symbol.asyncIterator] === 'function'
        ? await readCapped(stream as AsyncIterable<Uint8Array>, tooLarge, maxBytes)
        : // Not a Node stream (a browser-style body): the SDK reads it whole.
          await readCapped([await result.Body.transformToByteArray()], tooLarge, maxBytes);
    const body = read.body;
    const digest = Buffer.from(read.sha256, 'hex');
    // A full-object checksum has no "-N" part suffix; multipart composites cannot be compared.
    const stored = result.ChecksumSHA256;
    if (stored && !stored.includes('-') && stored !== digest.toString('base64'))
      throw new ArtifactChecksumError(
        key,
        result.VersionId ?? versionId,
        stored,
        digest.toString('base64'),
      );
    return {
      key,
      versionId: result.VersionId ?? versionId ?? '',
      sha256: digest.toString('hex'),
      body,
    };
  }

  async listVersions(prefix: string): Promise<ArtifactVersion[]> {
    const versions: ArtifactVersion[] = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    for (;;) {
      const page: ListObjectVersionsCommandOutput = await this.client.send(
        new ListObjectVersionsCommand({
          Bucket: this.bucket,
          Prefix: prefix,
          KeyMarker: keyMarker,
          VersionIdMarker: versionIdMarker,
        }),
      );
      for (const v of page.Versions ?? [])
        versions.push({
          key: v.Key ?? '',
          versionId: v.VersionId ?? 'null',
          isLatest: v.IsLatest === true,
          deleteMarker: false,
        });
      for (const m of page.DeleteMarkers ?? [])
        versions.push({
          key: m.Key ?? '',
          versionId: m.VersionId ?? 'null',
          isLatest: m.IsLatest === true,
          deleteMarker: true,
        });
      if (!page.IsTruncated) return versions;
      keyMarker = page.NextKeyMarker;
      versionIdMarker = page.NextVersionIdMarker;
    }
  }

  async head(key: string, versionId: string): Promise<ArtifactHead> {
    let result: HeadObjectCommandOutput;
    try {
      result = await this.client.send(
        new HeadObjectCommand({
          Bucket: this.bucket,
          Key: key,
          VersionId: versionId,
          ChecksumMode: 'ENABLED',
        }),
      );
    } catch (error) {
      if (NOT_FOUND.has(errorNameOf(error)) || httpStatusOf(error) === 404)
        throw new ArtifactNotFoundError(key, versionId, { cause: error });
      throw error;
    }
    // Only a full-object checksum is the SHA-256 of the bytes; a composite ("...-N") is not.
    const stored = result.ChecksumSHA256;
    const fullObject =
      stored !== undefined &&
      !stored.includes('-') &&
      (result.ChecksumType === undefined || result.ChecksumType === 'FULL_OBJECT');
    return {
      key,
      versionId: result.VersionId ?? versionId,
      sha256: fullObject ? Buffer.from(stored, 'base64').toString('hex') : undefined,
      size: result.ContentLength ?? 0,
    };
  }
}
