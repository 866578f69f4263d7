import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createInspectPlanHandler } from '../../handlers/inspect-plan';
import { ArtifactTamperedError, InvalidPayloadError } from '../../handlers/shared/errors';
import { FolderArtifactStore, S3ArtifactStore } from '../../lib/artifacts';
import { artifactKeys, type PlanResult, RunErrors } from '../../lib/contracts';
import { planResult } from './support/fixtures';

/**
 * `Inspect plan` against the ways a plan task could have written into a run: each tampering
 * case must fail with DeployRunner.ArtifactTampered; only the run as its runner wrote it passes.
 * Cases run on the folder store (local mode's S3) and, for what only S3 has (delete markers,
 * checksums it recorded), on S3ArtifactStore with a mocked client.
 */

const RUN = 'infra-envs-prod-abc1234-42';
const OTHER = 'infra-envs-dev-abc1234-7';
const EXECUTION_ARN = `arn:aws:states:us-east-1:123456789012:execution:DeployRunner:${RUN}`;
const event = (runId = RUN) => ({ runId, executionArn: EXECUTION_ARN });
const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const once = { ifNoneMatch: '*' } as const;

/** Writes a run's artifacts as the runner does: plan, text, then the result naming them. */
async function honestRun(
  store: FolderArtifactStore,
  runId: string,
  edit: (result: PlanResult) => PlanResult = (r) => r,
): Promise<PlanResult> {
  const keys = artifactKeys(runId);
  const plan = await store.put(keys.plan, `plan of ${runId}`, undefined, once);
  const text = await store.put(keys.planText, `text of ${runId}`, undefined, once);
  const result = edit(
    planResult({
      planKey: plan.key,
      planVersionId: plan.versionId,
      planSha256: plan.sha256,
      planTextKey: text.key,
      planTextVersionId: text.versionId,
      planTextSha256: text.sha256,
    }),
  );
  await store.put(keys.planResult, JSON.stringify(result), 'application/json', once);
  return result;
}

describe('inspect-plan on the folder store', () => {
  let dir: string;
  let store: FolderArtifactStore;
  const inspect = (runId = RUN) => createInspectPlanHandler({ artifacts: store })(event(runId));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'inspect-plan-'));
    store = new FolderArtifactStore(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('passes the run as its runner wrote it, and returns its plan result as the summary', async () => {
    const written = await honestRun(store, RUN);
    await honestRun(store, OTHER);
    expect(await inspect()).toEqual({ summary: written });
  });

  const keys = artifactKeys(RUN);
  const theirs = artifactKeys(OTHER);
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    [
      'a second version of plan-result.json (a consistent fake written over it)',
      async () => {
        const real = await honestRun(store, RUN);
        await store.put(keys.planResult, JSON.stringify({ ...real, counts: { ...real.counts } }));
      },
      /plan-result\.json has 2 versions/,
    ],
    [
      'a second version of plan.tfplan',
      async () => {
        await honestRun(store, RUN);
        await store.put(keys.plan, 'a harmful plan');
      },
      /plan\.tfplan has 2 versions/,
    ],
    [
      'a second version of plan.txt (harmless text shown to the approver)',
      async () => {
        await honestRun(store, RUN);
        await store.put(keys.planText, 'no changes, nothing to see');
      },
      /plan\.txt has 2 versions/,
    ],
    [
      "a result naming another run's plan file",
      async () => {
        const other = await honestRun(store, OTHER);
        await honestRun(store, RUN, (r) => ({
          ...r,
          planKey: other.planKey,
          planVersionId: other.planVersionId,
          planSha256: other.planSha256,
        }));
      },
      new RegExp(`names "${theirs.plan}" as the plan file, not this run's ${keys.plan}`),
    ],
    [
      "a result naming another run's plan text",
      async () => {
        const other = await honestRun(store, OTHER);
        await honestRun(store, RUN, (r) => ({
          ...r,
          planTextKey: other.planTextKey,
          planTextVersionId: other.planTextVersionId,
          planTextSha256: other.planTextSha256,
        }));
      },
      /as the plan text, not this run's/,
    ],
    [
      'a result recording a version the plan file does not have',
      async () => {
        await honestRun(store, RUN, (r) => ({
          ...r,
          planVersionId: '0000000000001-000000-00000000',
        }));
      },
      /is version .*, not the recorded 0000000000001-000000-00000000/,
    ],
    [
      'a result recording another SHA-256 for the plan file',
      async () => {
        await honestRun(store, RUN, (r) => ({ ...r, planSha256: sha('another plan') }));
      },
      new RegExp(`plan\\.tfplan has SHA-256 ${sha(`plan of ${RUN}`)}, but the plan result records`),
    ],
    [
      'a result recording another SHA-256 for the plan text',
      async () => {
        await honestRun(store, RUN, (r) => ({ ...r, planTextSha256: sha('other text') }));
      },
      /plan text .* has SHA-256 .* but the plan result records/,
    ],
    [
      'no plan result at all',
      async () => {
        await store.put(keys.plan, 'plan', undefined, once);
      },
      /plan-result\.json has no version/,
    ],
    [
      'no plan file',
      async () => {
        await store.put(
          keys.planResult,
          JSON.stringify(planResult({ planKey: keys.plan, planTextKey: keys.planText })),
        );
      },
      /plan\.tfplan has no version/,
    ],
    [
      'a plan result that is not JSON',
      async () => {
        await store.put(keys.planResult, '{"commit":');
      },
      /plan-result\.json is not JSON/,
    ],
    [
      'a plan result that is not a plan result',
      async () => {
        await store.put(keys.planResult, JSON.stringify({ hasChanges: false }));
      },
      /plan-result\.json is not a valid plan result/,
    ],
  ];

  it.each(cases)('refuses %s', async (_, tamper, why) => {
    await tamper();
    const inspected = inspect();
    await expect(inspected).rejects.toBeInstanceOf(ArtifactTamperedError);
    await expect(inspected).rejects.toMatchObject({ name: RunErrors.ArtifactTampered });
    await expect(inspected).rejects.toThrow(why);
  });

  it.each([['../escape'], ['a/b'], ['']])(
    'refuses the run id %j before touching the store',
    async (runId) => {
      await expect(inspect(runId)).rejects.toBeInstanceOf(InvalidPayloadError);
    },
  );
});

describe('inspect-plan on S3', () => {
  const s3 = mockClient(S3Client);
  const inspect = () =>
    createInspectPlanHandler({
      artifacts: new S3ArtifactStore({ bucket: 'artifacts', client: new S3Client({}) }),
    })(event());
  const keys = artifactKeys(RUN);
  const recorded = planResult({
    planKey: keys.plan,
    planVersionId: 'vp',
    planSha256: sha('plan'),
    planTextKey: keys.planText,
    planTextVersionId: 'vt',
    planTextSha256: sha('text'),
  });
  const resultBody = JSON.stringify(recorded);
  const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
  const versions = [
    { Key: keys.plan, VersionId: 'vp', IsLatest: true },
    { Key: keys.planText, VersionId: 'vt', IsLatest: true },
    { Key: keys.planResult, VersionId: 'vr', IsLatest: true },
  ];

  beforeEach(() => {
    s3.reset();
    s3.on(ListObjectVersionsCommand).resolves({ IsTruncated: false, Versions: versions });
    s3.on(GetObjectCommand, { Key: keys.planResult }).resolves({
      VersionId: 'vr',
      Body: { transformToByteArray: async () => new Uint8Array(Buffer.from(resultBody)) } as never,
      ChecksumSHA256: b64(sha(resultBody)),
    });
    s3.on(HeadObjectCommand, { Key: keys.plan }).resolves({
      VersionId: 'vp',
      ChecksumSHA256: b64(recorded.planSha256),
      ChecksumType: 'FULL_OBJECT',
    });
    s3.on(HeadObjectCommand, { Key: keys.planText }).resolves({
      VersionId: 'vt',
      ChecksumSHA256: b64(recorded.planTextSha256),
      ChecksumType: 'FULL_OBJECT',
    });
  });

  it("lists the run's prefix, reads the one result version and heads the recorded versions with checksums", async () => {
    expect(await inspect()).toEqual({ summary: recorded });
    expect(s3).toReceiveCommandWith(ListObjectVersionsCommand, {
      Bucket: 'artifacts',
      Prefix: `runs/${RUN}/`,
    });
    expect(s3).toReceiveCommandWith(GetObjectCommand, { Key: keys.planResult, VersionId: 'vr' });
    expect(s3).toReceiveCommandWith(HeadObjectCommand, {
      Key: keys.plan,
      VersionId: 'vp',
      ChecksumMode: 'ENABLED',
    });
    expect(s3).toReceiveCommandWith(HeadObjectCommand, {
      Key: keys.planText,
      VersionId: 'vt',
      ChecksumMode: 'ENABLED',
    });
  });

  it.each([
    [
      'a delete marker on the plan file',
      () =>
        s3.on(ListObjectVersionsCommand).resolves({
          Versions: versions,
          DeleteMarkers: [{ Key: keys.plan, VersionId: 'dm', IsLatest: true }],
        }),
      /plan\.tfplan has a delete marker/,
    ],
    [
      'a delete marker on the plan result',
      () =>
        s3.on(ListObjectVersionsCommand).resolves({
          Versions: versions,
          DeleteMarkers: [{ Key: keys.planResult, VersionId: 'dm', IsLatest: false }],
        }),
      /plan-result\.json has a delete marker/,
    ],
    [
      'S3 recording another SHA-256 for the plan file than the result does',
      () =>
        s3.on(HeadObjectCommand, { Key: keys.plan }).resolves({
          VersionId: 'vp',
          ChecksumSHA256: b64(sha('a harmful plan')),
          ChecksumType: 'FULL_OBJECT',
        }),
      new RegExp(`has SHA-256 ${sha('a harmful plan')}, but the plan result records`),
    ],
    [
      'a plan text stored without a checksum (not put by the runner)',
      () => s3.on(HeadObjectCommand, { Key: keys.planText }).resolves({ VersionId: 'vt' }),
      /plan\.txt has no full-object SHA-256/,
    ],
    [
      'a plan file stored in parts (a composite checksum)',
      () =>
        s3.on(HeadObjectCommand, { Key: keys.plan }).resolves({
          VersionId: 'vp',
          ChecksumSHA256: `${b64(recorded.planSha256)}-2`,
          ChecksumType: 'COMPOSITE',
        }),
      /plan\.tfplan has no full-object SHA-256/,
    ],
  ])('refuses %s', async (_, tamper, why) => {
    tamper();
    const inspected = inspect();
    await expect(inspected).rejects.toBeInstanceOf(ArtifactTamperedError);
    await expect(inspected).rejects.toThrow(why);
  });
});
