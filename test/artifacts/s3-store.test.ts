import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { ArtifactExistsError, ArtifactNotFoundError } from '../../lib/artifact-store';
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

  it('a write-once put sends If-None-Match: * and a full-object SHA-256 checksum', async () => {
    s3.on(PutObjectCommand).resolves({ VersionId: 'v1' });
    await store.put('runs/r/plan-result.json', '{}', 'application/json', { ifNoneMatch: '*' });
    expect(s3).toReceiveCommandWith(PutObjectCommand, {
      Bucket: 'artifacts',
      Key: 'runs/r/plan-result.json',
      IfNoneMatch: '*',
      ChecksumAlgorithm: 'SHA256',
      ChecksumSHA256: digest('{}').toString('base64'),
    });
  });

  it('an ordinary put sends no If-None-Match', async () => {
    s3.on(PutObjectCommand).resolves({ VersionId: 'v1' });
    await store.put('k', 'x');
    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input.IfNoneMatch).toBeUndefined();
  });

  it.each([
    ['PreconditionFailed', 412],
    ['ConditionalRequestConflict', 409],
  ])(
    'maps %s (%i) of a write-once put to ArtifactExistsError naming the key',
    async (name, status) => {
      s3.on(PutObjectCommand).rejects(
        new S3ServiceException({
          name,
          $fault: 'client',
          $metadata: { httpStatusCode: status },
          message: 'At least one of the pre-conditions you specified did not hold',
        }),
      );
      const put = store.put('runs/r/plan.tfplan', 'x', undefined, { ifNoneMatch: '*' });
      await expect(put).rejects.toBeInstanceOf(ArtifactExistsError);
      await expect(put).rejects.toThrow(/runs\/r\/plan\.tfplan already exists/);
    },
  );

  it('lists versions and delete markers of a prefix across pages', async () => {
    s3.on(ListObjectVersionsCommand)
      .resolvesOnce({
        IsTruncated: true,
        NextKeyMarker: 'runs/r/plan.txt',
        NextVersionIdMarker: 'v2',
        Versions: [{ Key: 'runs/r/plan.tfplan', VersionId: 'v1', IsLatest: true }],
      })
      .resolvesOnce({
        IsTruncated: false,
        Versions: [{ Key: 'runs/r/plan.txt', VersionId: 'v3', IsLatest: false }],
        DeleteMarkers: [{ Key: 'runs/r/plan.txt', VersionId: 'd1', IsLatest: true }],
      });
    expect(await store.listVersions('runs/r/')).toEqual([
      { key: 'runs/r/plan.tfplan', versionId: 'v1', isLatest: true, deleteMarker: false },
      { key: 'runs/r/plan.txt', versionId: 'v3', isLatest: false, deleteMarker: false },
      { key: 'runs/r/plan.txt', versionId: 'd1', isLatest: true, deleteMarker: true },
    ]);
    expect(s3).toReceiveCommandTimes(ListObjectVersionsCommand, 2);
    expect(s3).toReceiveNthCommandWith(ListObjectVersionsCommand, 2, {
      Bucket: 'artifacts',
      Prefix: 'runs/r/',
      KeyMarker: 'runs/r/plan.txt',
      VersionIdMarker: 'v2',
    });
  });

  it("heads a version with checksum mode on and returns S3's full-object SHA-256 as hex", async () => {
    s3.on(HeadObjectCommand).resolves({
      VersionId: 'v1',
      ContentLength: 5,
      ChecksumSHA256: digest('hello').toString('base64'),
      ChecksumType: 'FULL_OBJECT',
    });
    expect(await store.head('runs/r/plan.tfplan', 'v1')).toEqual({
      key: 'runs/r/plan.tfplan',
      versionId: 'v1',
      sha256: digest('hello').toString('hex'),
      size: 5,
    });
    expect(s3).toReceiveCommandWith(HeadObjectCommand, {
      Bucket: 'artifacts',
      Key: 'runs/r/plan.tfplan',
      VersionId: 'v1',
      ChecksumMode: 'ENABLED',
    });
  });

  it.each([
    ['no checksum', {}],
    ['a composite checksum', { ChecksumSHA256: 'abc=-2', ChecksumType: 'COMPOSITE' as const }],
  ])('heads a version with %s as having no SHA-256', async (_, answer) => {
    s3.on(HeadObjectCommand).resolves({ VersionId: 'v1', ContentLength: 1, ...answer });
    expect((await store.head('k', 'v1')).sha256).toBeUndefined();
  });
});
