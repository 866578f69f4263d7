import { DescribeExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driftOutcomeSchema } from '../../lib/contracts';
import {
  type Harness,
  lockHeld,
  outbox,
  resources,
  startHarness,
  startRun,
  statesEntered,
  waitForEnd,
} from './harness';

/**
 * Drift checks (docs/drift.md) through the synthesized state machine, the real handlers and the
 * runner with the terraform simulator. The simulator's state starts empty, so a module with
 * resources has drifted (they are missing from reality) and one without has not.
 */
describe('e2e: drift checks', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      config: (raw) => {
        raw.drift = [
          { repo: 'infra', path: 'envs/sched-*', schedule: 'rate(1 hour)' },
          {
            repo: 'infra',
            path: 'envs/approve',
            schedule: 'rate(1 hour)',
            onDrift: 'request-approval',
          },
        ];
      },
    });
    h.repo.commit({
      'envs/clean': { resources: [] },
      'envs/sched-a': { resources: [] },
      'envs/sched-b': { resources: [] },
      'envs/drifted': { resources: resources('bucket', 'queue') },
      'envs/approve': { resources: resources('topic') },
      'envs/busy': { resources: resources('db') },
      'envs/broken': { resources: resources('x'), fail: 'plan', failMessage: 'provider exploded' },
    });
  });
  afterAll(() => h?.close());

  const mentioning = (text: string) =>
    outbox(h).filter((m) => `${m.subject ?? ''} ${m.text}`.includes(text));
  const outcomeOf = (output: string | undefined) =>
    driftOutcomeSchema.parse((JSON.parse(output ?? '{}') as { drift?: unknown }).drift);

  it('local schedules: a test triggers one now; the glob expands to the paths at the ref', async () => {
    const arns = await h.server.drift.trigger(0);
    expect(arns.map((a) => a.split(':').at(-1))).toEqual([
      expect.stringMatching(/^drift-envs-sched-a-/),
      expect.stringMatching(/^drift-envs-sched-b-/),
    ]);
    for (const arn of arns) {
      const end = await waitForEnd(h, arn);
      expect(end.status).toBe('SUCCEEDED');
      expect(outcomeOf(end.output).drifted).toBe(false);
    }
  });

  it('no drift: succeeds with a summary line, sends no message, plans with no lock', async () => {
    const before = outbox(h).length;
    const arn = await startRun(h, {
      repo: 'infra',
      ref: 'main',
      path: 'envs/clean',
      drift: 'notify',
    });
    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('SUCCEEDED');
    const outcome = outcomeOf(end.output);
    expect(outcome.drifted).toBe(false);
    expect(outcome.summary).toMatch(/^No drift: infra envs\/clean at main/);
    expect(outbox(h).length).toBe(before);
    const states = await statesEntered(h, arn);
    expect(states).toContain('Drift: is the path locked?');
    expect(states).not.toContain('Acquire lock');
    expect(states).not.toContain('Request approval');
    expect(await lockHeld(h, 'envs/clean')).toBeUndefined();
  });

  it('drift → notify: one message with the counts and addresses', async () => {
    const arn = await startRun(h, {
      repo: 'infra',
      ref: 'main',
      path: 'envs/drifted',
      drift: 'notify',
    });
    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('SUCCEEDED');
    const outcome = outcomeOf(end.output);
    expect(outcome).toMatchObject({ drifted: true, counts: { add: 2, destroy: 0 } });
    expect(outcome.notified).toBeGreaterThan(0);
    const messages = mentioning('Drift: infra envs/drifted');
    expect(messages.length).toBe(outcome.notified);
    expect(messages[0]?.text).toContain('2 to add, 0 to change, 0 to destroy, 0 to replace');
    expect(messages[0]?.text).toContain('sim_thing.bucket');
    expect(messages[0]?.text).toContain('Nothing was changed by this check');
    const states = await statesEntered(h, arn);
    expect(states).not.toContain('Apply');
    expect(states).not.toContain('Request approval');
  });

  it("the drift message's link opens the plan, read-only", async () => {
    const [message] = mentioning('Drift: infra envs/drifted');
    const link = /(http:\/\/127\.0\.0\.1:\d+\/v\/[A-Za-z0-9_-]{43})/.exec(message?.text ?? '')?.[1];
    expect(link, message?.text).toBeDefined();
    const res = await fetch(link as string);
    const body = await res.text();
    expect(res.status).toBe(200);
    expect(body).toContain('Plan of <code>infra</code> <code>envs/drifted</code>');
    expect(body).toContain('sim_thing.bucket');
    // The plan text was read from the check's own artifacts and verified.
    expect(body).toContain('verified unchanged since the plan was made');
    expect(body).not.toMatch(/<form|<button/);
    const post = await fetch(link as string, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'decision=approve',
    });
    expect(post.status).toBe(405);
    expect((await fetch(link as string)).status).toBe(200);
  });

  it('the same drift on the next tick stays quiet', async () => {
    const messages = mentioning('Drift: infra envs/drifted');
    expect(messages.length).toBeGreaterThan(0);
    const again = await waitForEnd(
      h,
      await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/drifted', drift: 'notify' }),
    );
    expect(outcomeOf(again.output)).toMatchObject({ drifted: true, notified: 0 });
    expect(mentioning('Drift: infra envs/drifted').length).toBe(messages.length);
  });

  it('drift → request-approval: starts a normal run that asks for approval', async () => {
    const arn = await startRun(h, {
      repo: 'infra',
      ref: 'main',
      path: 'envs/approve',
      drift: 'request-approval',
    });
    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('SUCCEEDED');
    const outcome = outcomeOf(end.output);
    expect(outcome.drifted).toBe(true);
    expect(outcome.approvalRun).toMatch(/envs-approve/);
    const approvalArn = outcome.approvalRun as string;
    // An ordinary deploy of the path: it takes the lock, so it will plan and ask for approval.
    const approval = await h.sfn.send(new DescribeExecutionCommand({ executionArn: approvalArn }));
    expect(approval.status).toBe('RUNNING');
    expect(JSON.parse(approval.input ?? '{}')).toEqual({
      repo: 'infra',
      ref: 'main',
      path: 'envs/approve',
      requestedBy: 'drift-check',
      ciRunUrl: expect.stringContaining('/executions/'),
    });
    for (let i = 0; i < 600 && !(await lockHeld(h, 'envs/approve')); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(await lockHeld(h, 'envs/approve')).toMatchObject({ executionArn: approvalArn });
    expect(mentioning('A run asking for approval').length).toBeGreaterThan(0);
    await h.sfn.send(new StopExecutionCommand({ executionArn: approvalArn }));
    await waitForEnd(h, approvalArn);
  });

  it('busy path: skipped, not queued, and the output says who holds it', async () => {
    const deploy = await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/busy' });
    for (let i = 0; i < 600 && !(await lockHeld(h, 'envs/busy')); i++)
      await new Promise((r) => setTimeout(r, 50));
    const before = outbox(h).length;
    const arn = await startRun(h, {
      repo: 'infra',
      ref: 'main',
      path: 'envs/busy',
      drift: 'notify',
    });
    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('SUCCEEDED');
    const output = JSON.parse(end.output ?? '{}') as {
      drift?: { skipped?: boolean; summary?: string };
    };
    expect(output.drift?.skipped).toBe(true);
    expect(output.drift?.summary).toContain(`run ${deploy.split(':').at(-1)}`);
    const states = await statesEntered(h, arn);
    expect(states).toContain('Drift check skipped');
    expect(states).not.toContain('Plan');
    expect(
      outbox(h)
        .slice(before)
        .some((m) => m.text.includes(arn.split(':').at(-1) as string)),
    ).toBe(false);
    await h.sfn.send(new StopExecutionCommand({ executionArn: deploy }));
    await waitForEnd(h, deploy);
  });

  it('broken check: fails and notifies', async () => {
    const first = await waitForEnd(
      h,
      await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/broken', drift: 'notify' }),
    );
    expect(first.status).toBe('FAILED');
    expect(first.error).toBe('DeployRunner.PlanFailed');
    expect(mentioning('Drift check failing: infra envs/broken').length).toBeGreaterThan(0);
  });

  it('a check that stays broken is not told again', async () => {
    const told = mentioning('Drift check failing: infra envs/broken').length;
    expect(told).toBeGreaterThan(0);
    const second = await waitForEnd(
      h,
      await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/broken', drift: 'notify' }),
    );
    expect(second.status).toBe('FAILED');
    expect(mentioning('Drift check failing: infra envs/broken').length).toBe(told);
    // The usual failure message to approvers is not sent for drift checks either.
    expect(mentioning('provider exploded').length).toBe(told);
  });
});
