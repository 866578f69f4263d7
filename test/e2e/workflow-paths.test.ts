import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode, outcomeOf } from '../../lib/cli/exit-codes';
import {
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
} from './harness';

/**
 * Every path of the state machine, each on its own root module so runs do not share a lock,
 * each asserting the final status, the history, the outbox and that no lock is left behind.
 */
describe('e2e: the paths of the workflow', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    h.repo.commit({
      'envs/rejected': { resources: resources('db') },
      'envs/empty': { resources: [] },
      'envs/plan-only': { resources: resources('queue', 'topic') },
      'envs/broken-plan': {
        resources: resources('x'),
        fail: 'plan',
        failMessage: 'provider exploded',
      },
      'envs/broken-apply': {
        resources: resources('y'),
        fail: 'apply',
        failMessage: 'quota exceeded',
      },
      // Never run: one more existing path for the missing-path test's list.
      'envs/locked': { resources: resources('z') },
      'envs/shared': { resources: resources('bucket') },
      'envs/tampered': { resources: resources('secret-store') },
    });
  });
  afterAll(() => h?.close());

  const messagesFor = (arn: string) => {
    const name = arn.split(':').at(-1) as string;
    return outbox(h).filter((m) => JSON.stringify(m).includes(name));
  };
  /** Waits for this run's approval email and returns its link. */
  const linkFor = async (arn: string) => {
    const name = arn.split(':').at(-1) as string;
    for (let i = 0; i < 600; i++) {
      const mine = outbox(h).find((m) => m.kind === 'email' && m.text.includes(name));
      const link = /(https?:\/\/[^\s"<>]+\/a\/[A-Za-z0-9_-]+)/.exec(mine?.text ?? '')?.[1];
      if (link) return link;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no approval email for ${name}`);
  };

  /**
   * One deploy of envs/shared, waiting for approval with the lock held: the lock's two tests (a
   * second deploy is refused, a plan-only run is not) share it, and the second approves it, so
   * one plan and one apply prove both. Started by whichever of the two runs first.
   */
  let holder: Promise<{ arn: string; link: string }> | undefined;
  const heldDeploy = () => {
    holder ??= (async () => {
      const arn = await startRun(h, {
        repo: 'infra',
        ref: 'main',
        path: 'envs/shared',
        requestedBy: 'dora@example.com',
        ciRunUrl: 'https://ci.example.com/runs/41',
      });
      return { arn, link: await linkFor(arn) };
    })();
    return holder;
  };

  it('rejected: fails as Rejected with the reason, notifies, applies nothing', async () => {
    const arn = await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/rejected' });
    const decided = await decide(await linkFor(arn), 'reject', { reason: 'not during the freeze' });
    expect(decided.status).toBeLessThan(400);
    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('FAILED');
    expect(end.error).toBe('DeployRunner.Rejected');
    expect(end.cause).toContain('not during the freeze');
    const states = await statesEntered(h, arn);
    expect(states).toContain('Record rejection');
    expect(states).not.toContain('Apply');
    expect(states.slice(-4)).toEqual([
      'Notify failure',
      'Holds the lock after failure?',
      'Release lock after failure',
      'Run failed',
    ]);
    expect(messagesFor(arn).some((m) => /reject/i.test(`${m.subject} ${m.text}`))).toBe(true);
    expect(await lockHeld(h, 'envs/rejected')).toBeUndefined();
  });

  it('no changes: succeeds without asking anyone', async () => {
    const arn = await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/empty' });
    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('SUCCEEDED');
    expect(await statesEntered(h, arn)).toEqual([
      'Validate request',
      'Plan only?',
      'Acquire lock',
      'Plan',
      'Inspect plan',
      'Changes?',
      'Notify result',
      'Holds the lock?',
      'Release lock',
      'Done',
    ]);
    expect(JSON.parse(end.output as string).plan.summary.hasChanges).toBe(false);
    expect(messagesFor(arn).some((m) => /\/a\//.test(m.text))).toBe(false);
    expect(await lockHeld(h, 'envs/empty')).toBeUndefined();
  });

  it('plan-only: plans, reports, never asks and never applies', async () => {
    const arn = await startRun(h, {
      repo: 'infra',
      ref: 'main',
      path: 'envs/plan-only',
      mode: 'plan-only',
    });
    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('SUCCEEDED');
    const states = await statesEntered(h, arn);
    expect(states).not.toContain('Request approval');
    expect(states).not.toContain('Apply');
    // It took no lock, so it releases none.
    expect(states).not.toContain('Acquire lock');
    expect(states).not.toContain('Release lock');
    expect(JSON.parse(end.output as string).plan.summary.counts.add).toBe(2);
    expect(messagesFor(arn).some((m) => /\/a\//.test(m.text))).toBe(false);
    expect(await lockHeld(h, 'envs/plan-only')).toBeUndefined();
  });

  it('plan fails: a readable cause with the tool error, a notification, no lock', async () => {
    const arn = await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/broken-plan' });
    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('FAILED');
    expect(end.error).toBe('DeployRunner.PlanFailed');
    expect(end.cause).toContain('provider exploded');
    expect(await statesEntered(h, arn)).not.toContain('Request approval');
    expect(messagesFor(arn).length).toBeGreaterThan(0);
    expect(await lockHeld(h, 'envs/broken-plan')).toBeUndefined();
  });

  it('a missing path: a rejected request (CLI exit 2) listing the existing allowed paths, no lock', async () => {
    const arn = await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/prodd' });
    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('FAILED');
    expect(end.error).toBe('DeployRunner.RequestRejected');
    expect(end.cause).toContain('path "envs/prodd" does not exist at this commit');
    expect(end.cause).toContain(
      'existing paths matching the allowed paths (envs/*): envs/broken-apply, envs/broken-plan, envs/empty, envs/locked, envs/plan-only, envs/rejected, envs/shared, envs/tampered',
    );
    expect(await statesEntered(h, arn)).not.toContain('Request approval');
    expect(await lockHeld(h, 'envs/prodd')).toBeUndefined();
    // What the CLI makes of this execution: exit 2 and the list, said once.
    const outcome = outcomeOf({ status: end.status, error: end.error, cause: end.cause });
    expect(outcome.exitCode).toBe(ExitCode.Usage);
    expect(outcome.result).toBe('request-rejected');
    expect(outcome.message).toMatch(
      /^Request rejected: path "envs\/prodd" does not exist at this commit; .*: envs\/broken-apply, /,
    );
  });

  it('apply fails: the approved run fails with the apply error and releases the lock', async () => {
    const arn = await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/broken-apply' });
    await decide(await linkFor(arn), 'approve');
    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('FAILED');
    expect(end.error).toBe('DeployRunner.ApplyFailed');
    expect(end.cause).toContain('quota exceeded');
    const states = await statesEntered(h, arn);
    expect(states).toContain('Apply');
    expect(states.at(-1)).toBe('Run failed');
    expect(await lockHeld(h, 'envs/broken-apply')).toBeUndefined();
  });

  it('a second run on the same repo+path while one holds the lock fails as LockHeld, naming the holder', async () => {
    const { arn: first } = await heldDeploy();
    const second = await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/shared' });
    const blocked = await waitForEnd(h, second);
    expect(blocked.status).toBe('FAILED');
    expect(blocked.error).toBe('DeployRunner.LockHeld');
    expect(blocked.cause).toContain(
      `Holder: run ${first.split(':').at(-1)}, requested by dora@example.com, CI run https://ci.example.com/runs/41, execution ${first}`,
    );
    expect(await statesEntered(h, second)).toEqual([
      'Validate request',
      'Plan only?',
      'Acquire lock',
      'Find the lock holder',
      'Lock holder known?',
      'Name the lock holder',
      'Another run holds the lock',
    ]);
    // The holder is untouched by the refused run (and still applies: the plan-only test below
    // approves this same run and expects it to succeed).
    expect(await lockHeld(h, 'envs/shared')).toMatchObject({ executionArn: first });
    expect(h.server.engine.get(first)?.status).toBe('RUNNING');
  });

  it.each(['[]', '"deploy"', '42', 'null', 'true'])(
    'an execution input that is not a JSON object (%s) fails as RequestRejected, like any refusal',
    async (input) => {
      const out = await h.sfn.send(
        new StartExecutionCommand({ stateMachineArn: h.server.stateMachineArn, input }),
      );
      const end = await waitForEnd(h, out.executionArn as string);
      expect(end.status).toBe('FAILED');
      expect(end.error).toBe('DeployRunner.RequestRejected');
      expect(end.cause).toContain('must be a JSON object');
      const states = await statesEntered(h, out.executionArn as string);
      expect(states[0]).toBe('Validate request');
      expect(states).not.toContain('Acquire lock');
    },
  );

  it('a plan-only run neither waits for nor blocks a deploy of the same path that waits for approval', async () => {
    const { arn: deploy, link } = await heldDeploy();
    expect(await lockHeld(h, 'envs/shared')).toMatchObject({ executionArn: deploy });

    const pr = await startRun(h, {
      repo: 'infra',
      ref: 'main',
      path: 'envs/shared',
      mode: 'plan-only',
    });
    const planned = await waitForEnd(h, pr);
    expect(planned.status).toBe('SUCCEEDED');
    expect(JSON.parse(planned.output as string).plan.summary.counts.add).toBe(1);
    const states = await statesEntered(h, pr);
    expect(states).not.toContain('Acquire lock');
    expect(states).not.toContain('Release lock');
    // The deploy's lock is untouched, and the deploy still applies.
    expect(await lockHeld(h, 'envs/shared')).toMatchObject({ executionArn: deploy });
    await decide(link, 'approve');
    const applied = await waitForEnd(h, deploy);
    expect(applied.status).toBe('SUCCEEDED');
    expect(await statesEntered(h, deploy)).toContain('Apply');
    expect(JSON.parse(applied.output as string).apply).toBeDefined();
    expect(await lockHeld(h, 'envs/shared')).toBeUndefined();
  });

  it('a tampered plan artifact is refused by apply: nothing is applied', async () => {
    const arn = await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/tampered' });
    const link = await linkFor(arn);
    const inspected = (await history(h, arn)).find(
      (e) => e.stateExitedEventDetails?.name === 'Inspect plan',
    );
    const summary = JSON.parse(inspected?.stateExitedEventDetails?.output as string).plan.summary;
    const stored = join(h.server.artifactDir, summary.planKey, summary.planVersionId);
    writeFileSync(stored, Buffer.concat([readFileSync(stored), Buffer.from('tampered')]));
    await decide(link, 'approve');
    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('FAILED');
    expect(end.error).toBe('DeployRunner.PlanVerificationFailed');
    expect(end.cause).toMatch(/sha-?256|checksum/i);
    expect(await lockHeld(h, 'envs/tampered')).toBeUndefined();
  });
});
