import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { ArtifactNotFoundError } from '../../lib/artifact-store';
import {
  artifactLocationFromEnv,
  createArtifactStore,
  FolderArtifactStore,
  InvalidArtifactKeyError,
  S3ArtifactStore,
} from '../../lib/artifacts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('FolderArtifactStore', () => {
  let dir: string;
  let store: FolderArtifactStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'folder-store-'));
    store = new FolderArtifactStore(dir);
  });

  it('stores versions as files and reads the latest or a pinned version', async () => {
    const first = await store.put('runs/r1/plan.txt', 'one');
    const second = await store.put('runs/r1/plan.txt', Buffer.from('two'));
    expect(first.sha256).toBe(sha('one'));
    expect(second.versionId > first.versionId).toBe(true);
    expect(readFileSync(join(dir, 'runs/r1/plan.txt', first.versionId), 'utf8')).toBe('one');

    const latest = await store.get('runs/r1/plan.txt');
    expect(latest).toMatchObject({ versionId: second.versionId, sha256: sha('two') });
    expect(latest.body.toString()).toBe('two');
    const pinned = await store.get('runs/r1/plan.txt', first.versionId);
    expect(pinned.body.toString()).toBe('one');
  });

  it('keeps version IDs increasing even when the clock stands still', async () => {
    const frozen = new FolderArtifactStore(dir, () => 1_700_000_000_000);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await frozen.put('k', String(i))).versionId);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(5);
  });

  it('leaves no temporary files behind', async () => {
    await store.put('a/b', 'x');
    expect(readdirSync(join(dir, 'a/b')).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('throws ArtifactNotFoundError for a missing key or version', async () => {
    await expect(store.get('runs/none')).rejects.toBeInstanceOf(ArtifactNotFoundError);
    await store.put('runs/one', 'x');
    await expect(store.get('runs/one', '0000000000001-000000-00000000')).rejects.toBeInstanceOf(
      ArtifactNotFoundError,
    );
  });

  it.each([
    '../outside',
    'runs/../../etc/passwd',
    '/etc/passwd',
    'runs//x',
    'runs/./x',
    'runs/.latest',
    'runs/x\0y',
    'runs\\..\\x',
    '',
  ])('refuses the key %j', async (key) => {
    await expect(store.put(key, 'x')).rejects.toBeInstanceOf(InvalidArtifactKeyError);
    await expect(store.get(key)).rejects.toBeInstanceOf(InvalidArtifactKeyError);
  });

  it('refuses a version ID that is not its own format (no traversal through versionId)', async () => {
    await store.put('runs/x', 'x');
    await expect(store.get('runs/x', '../../../etc/passwd')).rejects.toBeInstanceOf(
      ArtifactNotFoundError,
    );
    await expect(store.get('runs/x', '.latest')).rejects.toBeInstanceOf(ArtifactNotFoundError);
  });
});

describe('artifactLocationFromEnv', () => {
  it('prefers the bucket, falls back to the folder, else undefined', () => {
    expect(
      artifactLocationFromEnv({
        DR_ARTIFACT_BUCKET: 'b',
        DR_KMS_KEY_ARN: 'arn:k',
        AWS_REGION: 'eu-west-1',
        DR_ARTIFACT_DIR: '/d',
      }),
    ).toEqual({ kind: 's3', bucket: 'b', kmsKeyArn: 'arn:k', region: 'eu-west-1' });
    expect(artifactLocationFromEnv({ DR_ARTIFACT_DIR: '/d' })).toEqual({
      kind: 'folder',
      dir: '/d',
    });
    expect(artifactLocationFromEnv({})).toBeUndefined();
  });

  it('creates the matching store', () => {
    expect(createArtifactStore({ kind: 'folder', dir: '/d' })).toBeInstanceOf(FolderArtifactStore);
    expect(createArtifactStore({ kind: 's3', bucket: 'b', region: 'us-east-1' })).toBeInstanceOf(
      S3ArtifactStore,
    );
  });
});
