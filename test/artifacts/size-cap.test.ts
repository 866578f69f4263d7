import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { readVerifiedArtifact } from '../../handlers/shared/artifacts';
import { ArtifactTooLargeError, readCapped } from '../../lib/artifact-store';
import { FolderArtifactStore, S3ArtifactStore } from '../../lib/artifacts';

/**
 * Reading an artifact with a size cap (the approval page reads plan text this way): both stores
 * stream, hash as they read, and stop past the cap instead of holding a huge object in memory.
 */

const s3 = mockClient(S3Client);
const CHUNK = 64 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** An endless body that counts how many bytes anyone pulled from it. */
function endless(): { stream: Readable; pulled: () => number } {
  let pulled = 0;
  const stream = new Readable({
    read() {
      pulled += CHUNK;
      this.push(Buffer.alloc(CHUNK, 0x61));
    },
  });
  return { stream, pulled: () => pulled };
}

beforeEach(() => s3.reset());

describe('readCapped', () => {
  it('hashes while it reads and returns the whole body under the cap', async () => {
    const parts = [Buffer.from('abc'), Buffer.from('def')];
    const read = await readCapped(parts, () => new Error('too large'), 6);
    expect(read.body.toString()).toBe('abcdef');
    expect(read.sha256).toBe(sha256(Buffer.from('abcdef')));
  });

  it('stops at the first chunk past the cap and destroys the stream', async () => {
    const { stream, pulled } = endless();
    await expect(readCapped(stream, () => new Error('too large'), 3 * CHUNK)).rejects.toThrow(
      'too large',
    );
    expect(stream.destroyed).toBe(true);
    expect(pulled()).toBeLessThanOrEqual(6 * CHUNK);
  });
});

describe('S3ArtifactStore.get with maxBytes', () => {
  const store = new S3ArtifactStore({
    bucket: 'b',
    client: new S3Client({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    }),
  });

  it('refuses an object whose announced length is over the cap without reading it', async () => {
    const { stream, pulled } = endless();
    s3.on(GetObjectCommand).resolves({
      VersionId: 'v1',
      ContentLength: 10 * CHUNK,
      Body: stream as never,
    });
    await expect(store.get('k', 'v1', { maxBytes: CHUNK })).rejects.toBeInstanceOf(
      ArtifactTooLargeError,
    );
    expect(pulled()).toBeLessThanOrEqual(CHUNK * 2);
    expect(stream.destroyed).toBe(true);
  });

  it('stops streaming a body that is longer than it claims', async () => {
    const { stream, pulled } = endless();
    s3.on(GetObjectCommand).resolves({ VersionId: 'v1', ContentLength: 10, Body: stream as never });
    const error = await store.get('k', 'v1', { maxBytes: 4 * CHUNK }).catch((e) => e);
    expect(error).toBeInstanceOf(ArtifactTooLargeError);
    expect(error.message).toBe(`artifact k (version v1) is larger than ${4 * CHUNK} bytes`);
    expect(pulled()).toBeLessThanOrEqual(8 * CHUNK);
  });

  it('streams and hashes a body under the cap', async () => {
    const body = Buffer.from('plan text\n');
    s3.on(GetObjectCommand).resolves({
      VersionId: 'v1',
      ContentLength: body.length,
      Body: Readable.from([body]) as never,
    });
    const object = await store.get('k', 'v1', { maxBytes: 100 });
    expect(object.body.equals(body)).toBe(true);
    expect(object.sha256).toBe(sha256(body));
  });
});

describe('FolderArtifactStore.get with maxBytes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dr-size-cap-'));
  const store = new FolderArtifactStore(dir);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads up to the cap and refuses one byte more', async () => {
    const at = await store.put('runs/r/plan.txt', 'x'.repeat(1000));
    await expect(store.get(at.key, at.versionId, { maxBytes: 1000 })).resolves.toMatchObject({
      sha256: at.sha256,
    });
    await expect(store.get(at.key, at.versionId, { maxBytes: 999 })).rejects.toBeInstanceOf(
      ArtifactTooLargeError,
    );
  });

  it('readVerifiedArtifact passes the cap and checks the hash of what it read', async () => {
    const at = await store.put('runs/r2/plan.txt', 'plan');
    await expect(
      readVerifiedArtifact(store, { ...at, maxBytes: 4 }).then((b) => b.toString()),
    ).resolves.toBe('plan');
    await expect(readVerifiedArtifact(store, { ...at, maxBytes: 3 })).rejects.toBeInstanceOf(
      ArtifactTooLargeError,
    );
  });

  it('real size: 9 MiB against the 8 MiB cap is refused before it is read', async () => {
    const at = await store.put('runs/r3/plan.txt', Buffer.alloc(9 * 1024 * 1024, 0x61));
    const before = process.memoryUsage().arrayBuffers;
    await expect(
      store.get(at.key, at.versionId, { maxBytes: 8 * 1024 * 1024 }),
    ).rejects.toBeInstanceOf(ArtifactTooLargeError);
    // Nothing near the object's size was held (the stat check refuses it up front).
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(4 * 1024 * 1024);
  });
});
