import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decide,
  type Harness,
  history,
  lockHeld,
  outbox,
  resources,
  startHarness,
  startRun,
  waitForEnd,
} from '../e2e/harness';

/**
 * Load in local mode (`npm run test:load`, vitest.load.config.ts): DISTINCT runs on their own
 * root modules and RACERS on one module, all started at once through the Step Functions API,
 * every plan approved through the HTTP approval page, with the bundled runner and the terraform
 * simulator. It proves that all complete, that the lock is held by one run at a time (from the
 * execution histories' timestamps), and that nothing is lost: every execution ends, every
 * approved run applies exactly once. The figures go to stdout and test-artifacts/load.json.
 */

const DISTINCT = Number(process.env.LOAD_DISTINCT ?? 50);
const RACERS = Number(process.env.LOAD_RACERS ?? 10);
const CONTENDED = 'envs/contended';
const DEADLINE_MS = 15 * 60_000;

const pathOf = (i: number) => `envs/load-${String(i).padStart(3, '0')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (e: HistoryEvent) => new Date(e.timestamp as Date).getTime();

interface Interval {
  readonly arn: string;
  readonly from: number;
  readonly to: number;
}

/** When the run held the lock: from its conditional put succeeding to its release (or its end). */
function lockInterval(arn: string, events: HistoryEvent[]): Interval | undefined {
  // A refused put exits the state too (through its Catch): only a TaskSucceeded is a hold.
  const acquired = events.find(
    (e) =>
      e.type === 'TaskSucceeded' &&
      e.taskSucceededEventDetails?.resourceType === 'dynamodb' &&
      e.taskSucceededEventDetails?.resource === 'putItem',
  );
  if (!acquired) return undefined;
  const released = events.find(
    (e) =>
      e.type === 'TaskSucceeded' &&
      e.taskSucceededEventDetails?.resourceType === 'dynamodb' &&
      e.taskSucceededEventDetails?.resource === 'deleteItem',
  );
  const last = events.at(-1) as HistoryEvent;
  return { arn, from: seconds(acquired), to: seconds(released ?? last) };
}

/** When a runner task of `state` (Plan or Apply) ran. */
function taskInterval(arn: string, events: HistoryEvent[], state: string): Interval | undefined {
  const i = events.findIndex(
    (e) => e.type === 'TaskStateEntered' && e.stateEnteredEventDetails?.name === state,
  );
  if (i < 0) return undefined;
  const exit = events
    .slice(i)
    .find((e) => e.type === 'TaskStateExited' && e.stateExitedEventDetails?.name === state);
  return {
    arn,
    from: seconds(events[i] as HistoryEvent),
    to: seconds(exit ?? (events.at(-1) as HistoryEvent)),
  };
}

const overlapping = (list: Interval[]) =>
  list.flatMap((a, i) =>
    list
      .slice(i + 1)
      .filter((b) => a.from < b.to && b.from < a.to)
      .map((b) => [a.arn, b.arn]),
  );

describe(`load: ${DISTINCT} concurrent runs on distinct paths + ${RACERS} racing on one path`, () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    const modules = Object.fromEntries(
      Array.from({ length: DISTINCT }, (_, i) => [pathOf(i), { resources: resources(`r${i}`) }]),
    );
    h.repo.commit({ ...modules, [CONTENDED]: { resources: resources('shared') } });
  });
  afterAll(() => h?.close());

  it(
    'all complete, one lock holder at a time, nothing lost; every approval through the page',
    async () => {
      const started = Date.now();
      const inputs = [
        // Fixed-width names: none is a part of another, so an email names exactly one run.
        ...Array.from({ length: DISTINCT }, (_, i) => ({
          path: pathOf(i),
          name: `distinct-${i + 1000}`,
        })),
        ...Array.from({ length: RACERS }, (_, i) => ({
          path: CONTENDED,
          name: `racer-${i + 1000}`,
        })),
      ];
      const arns = await Promise.all(
        inputs.map(({ path, name }) => startRun(h, { repo: 'infra', ref: 'main', path }, name)),
      );
      const pathByArn = new Map(arns.map((arn, i) => [arn, inputs[i]?.path as string]));

      // The approver: approves each approval email once, through the page, as it arrives. A
      // decision the page could not deliver is a lost approval: the test stops at the first.
      const approved = new Set<string>();
      let approving = true;
      let lost: (error: Error) => void = () => {};
      const approvalLost = new Promise<never>((_, reject) => {
        lost = reject;
      });
      const approver = (async () => {
        while (approving) {
          const pending = outbox(h)
            .filter((m) => m.kind === 'email' && m.to === 'ada@example.com')
            .flatMap((m) => {
              const link = /(https?:\/\/[^\s"<>]+\/a\/[A-Za-z0-9_-]+)/.exec(m.text)?.[1];
              const arn = arns.find((a) => m.text.includes(a.split(':').at(-1) as string));
              return link && arn && !approved.has(arn) ? [{ arn, link }] : [];
            });
          await Promise.all(
            pending.map(async ({ arn, link }) => {
              approved.add(arn);
              const res = await decide(link, 'approve');
              if (res.status !== 200)
                lost(new Error(`the approval of ${arn} was answered ${res.status}`));
            }),
          );
          await sleep(100);
        }
      })();

      const ends = await Promise.race([
        Promise.all(arns.map((arn) => waitForEnd(h, arn, DEADLINE_MS))),
        approvalLost,
      ]).finally(() => {
        approving = false;
      });
      await approver;
      const wallMs = Date.now() - started;

      // Nothing lost: every execution ended, as it should.
      const statuses = ends.map((e) => e.status);
      const unexpected = ends.flatMap((e, i) =>
        e.status === 'SUCCEEDED' || e.error === 'DeployRunner.LockHeld'
          ? []
          : [`${inputs[i]?.name}: ${e.status} ${e.error}: ${e.cause}`],
      );
      expect(unexpected).toEqual([]);
      expect(statuses.filter((s) => s === 'RUNNING')).toEqual([]);
      const distinct = ends.slice(0, DISTINCT);
      const racers = ends.slice(DISTINCT);
      expect(distinct.map((e) => e.status)).toEqual(Array(DISTINCT).fill('SUCCEEDED'));
      const winners = racers.filter((e) => e.status === 'SUCCEEDED');
      const refused = racers.filter((e) => e.error === 'DeployRunner.LockHeld');
      expect(winners.length).toBeGreaterThanOrEqual(1);
      expect(winners.length + refused.length).toBe(RACERS);

      // One holder at a time: the racers' lock intervals, Plans and Applies never overlap.
      const histories = new Map(
        await Promise.all(arns.map(async (arn) => [arn, await history(h, arn)] as const)),
      );
      const racerArns = arns.slice(DISTINCT);
      const held = racerArns.flatMap((arn) => {
        const interval = lockInterval(arn, histories.get(arn) ?? []);
        return interval ? [interval] : [];
      });
      expect(held.length).toBe(winners.length);
      expect(overlapping(held)).toEqual([]);
      for (const state of ['Plan', 'Apply']) {
        const runs = racerArns.flatMap((arn) => {
          const interval = taskInterval(arn, histories.get(arn) ?? [], state);
          return interval ? [interval] : [];
        });
        expect(overlapping(runs), state).toEqual([]);
      }

      // Every approved run applied exactly once, after its approval; nothing else applied.
      let applies = 0;
      for (const [i, arn] of arns.entries()) {
        const events = histories.get(arn) ?? [];
        const entered = events.filter(
          (e) => e.type === 'TaskStateEntered' && e.stateEnteredEventDetails?.name === 'Apply',
        );
        const succeeded = ends[i]?.status === 'SUCCEEDED';
        expect(entered.length, arn).toBe(succeeded ? 1 : 0);
        expect(approved.has(arn), arn).toBe(succeeded);
        if (succeeded) {
          const state = JSON.parse(entered[0]?.stateEnteredEventDetails?.input as string);
          expect(state.approval.approved).toBe(true);
          expect(state.approval.planSha256).toBe(state.plan.summary.planSha256);
          const versions = readdirSync(
            join(
              h.server.artifactDir,
              'runs',
              arn.split(':').at(-1) as string,
              'apply-result.json',
            ),
          ).filter((f) => !f.startsWith('.'));
          expect(versions, arn).toHaveLength(1);
          applies++;
        }
      }
      expect(applies).toBe(DISTINCT + winners.length);

      // No lock is left behind.
      for (const path of new Set(pathByArn.values()))
        expect(await lockHeld(h, path)).toBeUndefined();

      const figures = {
        runs: arns.length,
        distinct: DISTINCT,
        racers: RACERS,
        racersApplied: winners.length,
        racersRefusedLockHeld: refused.length,
        approvalsThroughThePage: approved.size,
        applies,
        wallSeconds: Math.round(wallMs / 100) / 10,
        runsPerMinute: Math.round((arns.length / (wallMs / 60_000)) * 10) / 10,
        appliedRunsPerMinute: Math.round((applies / (wallMs / 60_000)) * 10) / 10,
        cpus: (await import('node:os')).cpus().length,
      };
      process.stdout.write(`load figures: ${JSON.stringify(figures)}\n`);
      mkdirSync('test-artifacts', { recursive: true });
      writeFileSync(join('test-artifacts', 'load.json'), `${JSON.stringify(figures, null, 2)}\n`);
    },
    DEADLINE_MS + 60_000,
  );
});
