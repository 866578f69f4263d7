import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactExistsError, type ArtifactStore } from '../../lib/artifact-store';
import { FolderArtifactStore } from '../../lib/artifacts/folder-store';
import { artifactKeys, type PlanResult, RunErrors } from '../../lib/contracts';
import {
  approvalLinks,
  decide,
  type Harness,
  history,
  lockHeld,
  outbox,
  resources,
  startHarness,
  startRun,
  statesEntered,
  waitForEnd,
} from '../e2e/harness';

/**
 * docs/architecture.md, security property 9, in local mode: no run can write another run's plan. A hostile
 * writer stands in for code running in another plan (the plan role may create any run's plan
 * artifacts, but only with If-None-Match, which the folder store enforces as S3 does). It
 * writes a consistent fake (harmless text, a harmful plan file, a plan result naming both) into
 * a victim run's folder before the victim plans, after it planned, and, ignoring the rule, in
 * the gap between Plan and Inspect plan. The victim either applies only its own plan or fails
 * with nothing applied.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RACE_PREFIX = 'runs/victim-race-';

/** A consistent fake of a run's artifacts: harmless text for the approver, another plan to apply. */
async function writeFake(
  store: ArtifactStore,
  runId: string,
  options: { ifNoneMatch?: '*' } = { ifNoneMatch: '*' },
): Promise<PlanResult> {
  const keys = artifactKeys(runId);
  const plan = await store.put(keys.plan, 'hostile plan bytes', undefined, options);
  const text = await store.put(
    keys.planText,
    'No changes. Your infrastructure matches.',
    undefined,
    options,
  );
  const fake: PlanResult = {
    commit: '0123456789abcdef0123456789abcdef01234567',
    tool: 'terraform',
    toolVersion: '1.11.0-sim',
    hasChanges: true,
    counts: { add: 0, change: 1, destroy: 0, replace: 0 },
    changes: [{ address: 'sim_thing.harmless', actions: ['update'] }],
    changesOmitted: 0,
    planKey: plan.key,
    planVersionId: plan.versionId,
    planSha256: plan.sha256,
    planTextKey: text.key,
    planTextVersionId: text.versionId,
    planTextSha256: text.sha256,
    logUrl: '',
  };
  await store.put(keys.planResult, JSON.stringify(fake), 'application/json', options);
  return fake;
}

/** The version files of a key in the artifact folder. */
const versionsOf = (h: Harness, key: string) =>
  existsSync(join(h.server.artifactDir, key))
    ? readdirSync(join(h.server.artifactDir, key)).filter((f) => /^[0-9]{13}-/.test(f))
    : [];

const runIdOf = (arn: string) => arn.split(':').at(-1) as string;

/** Nothing of the run was applied: no Apply state, no apply result. */
async function expectNothingApplied(h: Harness, arn: string, path: string) {
  expect(await statesEntered(h, arn)).not.toContain('Apply');
  expect(existsSync(join(h.server.artifactDir, 'runs', runIdOf(arn), 'apply-result.json'))).toBe(
    false,
  );
  expect(await lockHeld(h, path)).toBeUndefined();
}

describe('write-once run artifacts, end to end in local mode', () => {
  let h: Harness;
  /** The hostile writer's view of the artifact folder (its own process, its own store). */
  let hostile: FolderArtifactStore;
  let raced = 0;

  beforeAll(async () => {
    h = await startHarness({
      // A writer outside the IAM rule overwrites the run in the gap between Plan and Inspect plan.
      wrapArtifacts: (folder) => ({
        put: (...args) => folder.put(...args),
        get: (key, versionId) => folder.get(key, versionId),
        head: (key, versionId) => folder.head(key, versionId),
        listVersions: async (prefix) => {
          if (prefix.startsWith(RACE_PREFIX)) {
            raced++;
            await writeFake(folder, prefix.split('/')[1] as string, {});
          }
          return folder.listVersions(prefix);
        },
      }),
    });
    hostile = new FolderArtifactStore(h.server.artifactDir);
    h.repo.commit({
      'envs/victim-pre': { resources: resources('pre') },
      'envs/victim-post': { resources: resources('post') },
      'envs/victim-race': { resources: resources('race') },
    });
  });
  afterAll(() => h?.close());

  it('PRE-written artifacts of a predictable run: the victim fails at upload, never asks, applies nothing', async () => {
    const fake = await writeFake(hostile, 'victim-pre-1');
    const arn = await startRun(
      h,
      { repo: 'infra', ref: 'main', path: 'envs/victim-pre' },
      'victim-pre-1',
    );
    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('FAILED');
    expect(end.error).toBe('DeployRunner.PlanFailed');
    expect(end.cause).toContain('artifact runs/victim-pre-1/plan.tfplan already exists');
    const states = await statesEntered(h, arn);
    expect(states).not.toContain('Inspect plan');
    expect(states).not.toContain('Request approval');
    expect(outbox(h).some((m) => m.kind === 'email' && m.text.includes('/a/'))).toBe(false);
    await expectNothingApplied(h, arn, 'envs/victim-pre');
    // The victim neither used nor replaced the planted objects.
    const keys = artifactKeys('victim-pre-1');
    expect(versionsOf(h, keys.plan)).toEqual([fake.planVersionId]);
    expect(versionsOf(h, keys.planText)).toEqual([fake.planTextVersionId]);
    expect(versionsOf(h, keys.planResult)).toHaveLength(1);
  });

  it('POST-written artifacts: every hostile write is refused, the victim applies exactly its own plan', async () => {
    const runId = 'victim-post-1';
    const keys = artifactKeys(runId);
    const arn = await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/victim-post' }, runId);
    // The hostile writer keeps trying from the moment the run starts until it is asked to approve.
    const attempts: PromiseSettledResult<unknown>[] = [];
    let asked = false;
    const writer = (async () => {
      while (!asked) {
        if (existsSync(join(h.server.artifactDir, keys.planResult, '.latest')))
          attempts.push(...(await Promise.allSettled([writeFake(hostile, runId)])));
        await sleep(20);
      }
    })();
    const [link] = await approvalLinks(h);
    asked = true;
    await writer;
    attempts.push(...(await Promise.allSettled([writeFake(hostile, runId)])));
    expect(attempts.length).toBeGreaterThan(0);
    for (const attempt of attempts) {
      expect(attempt.status).toBe('rejected');
      expect((attempt as PromiseRejectedResult).reason).toBeInstanceOf(ArtifactExistsError);
    }
    for (const key of [keys.plan, keys.planText, keys.planResult])
      expect(versionsOf(h, key)).toHaveLength(1);

    // The approver sees the victim's own plan text, not the harmless fake.
    const page = await (await fetch(link?.link as string)).text();
    expect(page).toContain('sim_thing.post');
    expect(page).not.toContain('Your infrastructure matches');
    expect((await decide(link?.link as string, 'approve')).status).toBeLessThan(400);
    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('SUCCEEDED');

    const inspected = (await history(h, arn)).find(
      (e) => e.stateExitedEventDetails?.name === 'Inspect plan',
    );
    const summary = JSON.parse(inspected?.stateExitedEventDetails?.output as string).plan
      .summary as PlanResult;
    const [ownVersion] = versionsOf(h, keys.plan);
    expect(summary.planVersionId).toBe(ownVersion);
    const applied = JSON.parse(
      readFileSync(
        join(
          h.server.artifactDir,
          keys.applyResult,
          readFileSync(join(h.server.artifactDir, keys.applyResult, '.latest'), 'utf8'),
        ),
        'utf8',
      ),
    );
    expect(applied.planSha256).toBe(summary.planSha256);
    expect(applied.commit).toBe(summary.commit);
    expect(await lockHeld(h, 'envs/victim-post')).toBeUndefined();
  });

  it('overwritten between Plan and Inspect plan by a writer outside the rule: ArtifactTampered, never asks, applies nothing', async () => {
    const arn = await startRun(
      h,
      { repo: 'infra', ref: 'main', path: 'envs/victim-race' },
      'victim-race-1',
    );
    const end = await waitForEnd(h, arn);
    expect(raced).toBe(1);
    expect(end.status).toBe('FAILED');
    expect(end.error).toBe(RunErrors.ArtifactTampered);
    expect(end.cause).toMatch(/runs\/victim-race-1\/plan-result\.json has 2 versions/);
    const states = await statesEntered(h, arn);
    expect(states).toContain('Inspect plan');
    expect(states).not.toContain('Request approval');
    expect(states.slice(-4)).toEqual([
      'Notify failure',
      'Holds the lock after failure?',
      'Release lock after failure',
      'Run failed',
    ]);
    await expectNothingApplied(h, arn, 'envs/victim-race');
  });
});
