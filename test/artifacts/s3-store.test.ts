import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ArtifactNotFoundError } from '../../lib/artifact-store';
import {
  ArtifactChecksumError,
  BucketNotVersionedError,
  S3ArtifactStore,
} from '../../lib/artifacts';

const s3 = mockClient(S3Client);
const KMS = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';
const digest = (b: string) => createHash('sha256').update(b).digest();

// What the SDK hands back as GetObject's Body: only the method the store uses.
const bodyOf = (text: string) =>
  ({ transformToByteArray: async () => new Uint8Array(Buffer.from(text)) }) as never;

describe('S3ArtifactStore', () => {
  let store: S3ArtifactStore;
  beforeEach(() => {
    s3.reset();
    store = new S3ArtifactStore({ bucket: 'artifacts', kmsKeyArn: KMS, client: new S3Client({}) });
  });

  it('puts with SSE-KMS, the customer key and a SHA-256 checksum, and returns the version', async () => {
    s3.on(PutObjectCommand).resolves({ VersionId: 'v1' });
    const stored = await store.put('runs/r/plan.tfplan', 'plan-bytes');
    expect(stored).toEqual({
      key: 'runs/r/plan.tfplan',
      versionId: 'v1',
      sha256: digest('plan-bytes').toString('hex'),
    });
    const calls = s3.commandCalls(PutObjectCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toMatchObject({
      Bucket: 'artifacts',
      Key: 'runs/r/plan.tfplan',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: KMS,
      ChecksumAlgorithm: 'SHA256',
      ChecksumSHA256: digest('plan-bytes').toString('base64'),
      ContentType: 'application/octet-stream',
    });
  });

  it('refuses to pretend when the bucket is not versioned', async () => {
    s3.on(PutObjectCommand).resolves({});
    await expect(store.put('k', 'x', 'text/plain')).rejects.toBeInstanceOf(BucketNotVersionedError);
  });

  it('gets the exact version and computes the SHA-256 itself', async () => {
    s3.on(GetObjectCommand).resolves({
      Body: bodyOf('hello'),
      VersionId: 'v7',
      ChecksumSHA256: digest('hello').toString('base64'),
    });
    const object = await store.get('runs/r/plan.tfplan', 'v7');
    expect(object.body.toString()).toBe('hello');
    expect(object.sha256).toBe(digest('hello').toString('hex'));
    expect(s3.commandCalls(GetObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: 'artifacts',
      Key: 'runs/r/plan.tfplan',
      VersionId: 'v7',
      ChecksumMode: 'ENABLED',
    });
  });

  it('refuses bytes that do not match the checksum S3 stored', async () => {
    s3.on(GetObjectCommand).resolves({
      Body: bodyOf('tampered'),
      VersionId: 'v7',
      ChecksumSHA256: digest('original').toString('base64'),
    });
    await expect(store.get('k', 'v7')).rejects.toBeInstanceOf(ArtifactChecksumError);
  });

  it.each(['NoSuchKey', 'NoSuchVersion'])('maps %s to ArtifactNotFoundError', async (name) => {
    s3.on(GetObjectCommand).rejects(
      new S3ServiceException({ name, $fault: 'client', $metadata: {}, message: name }),
    );
    await expect(store.get('k', 'v1')).rejects.toBeInstanceOf(ArtifactNotFoundError);
  });

  it('lets other errors through', async () => {
    s3.on(GetObjectCommand).rejects(
      new S3ServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        $metadata: {},
        message: 'no',
      }),
    );
    await expect(store.get('k')).rejects.toThrow(/no/);
  });
});
