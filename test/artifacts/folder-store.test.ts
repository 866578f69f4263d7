import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { ArtifactExistsError, ArtifactNotFoundError } from '../../lib/artifact-store';
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

describe('FolderArtifactStore: write-once puts, as S3 If-None-Match', () => {
  let dir: string;
  let store: FolderArtifactStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'folder-store-once-'));
    store = new FolderArtifactStore(dir);
  });
  const versionsOf = (key: string) =>
    readdirSync(join(dir, key)).filter((f) => /^[0-9]{13}-/.test(f) && !f.includes('.tmp-'));

  it('stores the first write-once put, refuses the second like a 412 and keeps the first', async () => {
    const first = await store.put('runs/r/plan.tfplan', 'mine', undefined, { ifNoneMatch: '*' });
    const second = store.put('runs/r/plan.tfplan', 'theirs', undefined, { ifNoneMatch: '*' });
    await expect(second).rejects.toBeInstanceOf(ArtifactExistsError);
    await expect(second).rejects.toThrow(/runs\/r\/plan\.tfplan already exists/);
    expect(versionsOf('runs/r/plan.tfplan')).toEqual([first.versionId]);
    expect((await store.get('runs/r/plan.tfplan')).body.toString()).toBe('mine');
  });

  it('refuses a write-once put on a key an ordinary put wrote before', async () => {
    await store.put('runs/r/plan.txt', 'planted');
    await expect(
      store.put('runs/r/plan.txt', 'mine', undefined, { ifNoneMatch: '*' }),
    ).rejects.toBeInstanceOf(ArtifactExistsError);
    expect((await store.get('runs/r/plan.txt')).body.toString()).toBe('planted');
  });

  it('a key is not taken by keys under it', async () => {
    await store.put('runs/r/x/y', 'deeper', undefined, { ifNoneMatch: '*' });
    await expect(
      store.put('runs/r/x', 'mine', undefined, { ifNoneMatch: '*' }),
    ).resolves.toMatchObject({ key: 'runs/r/x' });
  });

  it('of concurrent write-once writers, through separate stores, exactly one wins', async () => {
    const writers = Array.from({ length: 8 }, (_, i) =>
      new FolderArtifactStore(dir).put('runs/r/plan-result.json', `writer ${i}`, undefined, {
        ifNoneMatch: '*',
      }),
    );
    const settled = await Promise.allSettled(writers);
    const won = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const lost = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason] : []));
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(7);
    for (const error of lost) expect(error).toBeInstanceOf(ArtifactExistsError);
    expect(versionsOf('runs/r/plan-result.json')).toEqual([won[0]?.versionId]);
    const stored = await store.get('runs/r/plan-result.json');
    expect(stored.versionId).toBe(won[0]?.versionId);
    expect(stored.sha256).toBe(won[0]?.sha256);
  });

  it('lists every version under a prefix, and heads a version with its SHA-256', async () => {
    const a1 = await store.put('runs/r1/a', 'one');
    const a2 = await store.put('runs/r1/a', 'two');
    const b = await store.put('runs/r1/sub/b', 'bee');
    await store.put('runs/r10/a', 'other run');
    const listed = await store.listVersions('runs/r1/');
    expect(listed.sort((x, y) => x.versionId.localeCompare(y.versionId))).toEqual([
      { key: 'runs/r1/a', versionId: a1.versionId, isLatest: false, deleteMarker: false },
      { key: 'runs/r1/a', versionId: a2.versionId, isLatest: true, deleteMarker: false },
      { key: 'runs/r1/sub/b', versionId: b.versionId, isLatest: true, deleteMarker: false },
    ]);
    expect(await store.listVersions('runs/none/')).toEqual([]);
    expect(await store.head('runs/r1/a', a1.versionId)).toEqual({
      key: 'runs/r1/a',
      versionId: a1.versionId,
      sha256: sha('one'),
      size: 3,
    });
    await expect(store.head('runs/r1/a', '0000000000001-000000-00000000')).rejects.toBeInstanceOf(
      ArtifactNotFoundError,
    );
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
