import {
  DescribeExecutionCommand,
  ListExecutionsCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArtifactStore } from '../../lib/artifact-store';
import { driftFanOutSchema, driftOutcomeSchema } from '../../lib/contracts';
import { runGit } from '../../lib/local/git';
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
  /** Rewrites the list of paths the notify function reads (a tampered artifact), when set. */
  let tamper: ((text: string) => string) | undefined;
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
          { repo: 'infra', path: 'envs/none-*', schedule: 'rate(1 hour)' },
          { repo: 'infra', path: 'envs/tamper-*', schedule: 'rate(1 hour)' },
        ];
      },
      wrapArtifacts: (store) =>
        new Proxy(store, {
          get(target, prop) {
            if (prop === 'get')
              return (async (key, versionId, options) => {
                const object = await target.get(key, versionId, options);
                if (!tamper || !key.endsWith('/drift-paths.json')) return object;
                return { ...object, body: Buffer.from(tamper(object.body.toString('utf8'))) };
              }) satisfies ArtifactStore['get'];
            const value = Reflect.get(target, prop, target) as unknown;
            return typeof value === 'function' ? value.bind(target) : value;
          },
        }),
    });
    h.repo.commit({
      'envs/clean': { resources: [] },
      'envs/sched-a': { resources: [] },
      'envs/sched-b': { resources: [] },
      'envs/drifted': { resources: resources('bucket', 'queue') },
      'envs/approve': { resources: resources('topic') },
      'envs/busy': { resources: resources('db') },
      'envs/broken': { resources: resources('x'), fail: 'plan', failMessage: 'provider exploded' },
      'envs/tamper-a': { resources: [] },
    });
    // A path that exists only on another branch: a check of main must not list it.
    const git = (...args: string[]) => runGit(h.repo.dir, 'Test', ...args);
    git('checkout', '-q', '-b', 'release/next');
    h.repo.commit({ 'envs/sched-c': { resources: resources('elsewhere') } }, 'only on release');
    git('checkout', '-q', 'main');
  });
  afterAll(() => h?.close());

  const mentioning = (text: string) =>
    outbox(h).filter((m) => `${m.subject ?? ''} ${m.text}`.includes(text));
  const outcomeOf = (output: string | undefined) =>
    driftOutcomeSchema.parse((JSON.parse(output ?? '{}') as { drift?: unknown }).drift);

  const childrenOf = async (prefix: string) =>
    (
      (await h.sfn.send(new ListExecutionsCommand({ stateMachineArn: h.server.stateMachineArn })))
        .executions ?? []
    ).filter((e) => e.name?.startsWith(prefix));

  it('a glob: its run lists the paths at the ref and starts one ordinary drift check per path', async () => {
    const [arn, ...more] = await h.server.drift.trigger(0);
    expect(more).toEqual([]);
    expect(arn?.split(':').at(-1)).toMatch(/^drift-envs-sched-\d{14}-/);
    const end = await waitForEnd(h, arn as string);
    expect(end.status, end.cause).toBe('SUCCEEDED');
    const states = await statesEntered(h, arn as string);
    expect(states).toContain('Drift: list the paths');
    expect(states).not.toContain('Plan');
    const fanOut = driftFanOutSchema.parse(
      (JSON.parse(end.output ?? '{}') as { drift?: unknown }).drift,
    );
    // envs/sched-c exists only on release/next: the check of main does not see it.
    expect(fanOut.checks.map((c) => c.path)).toEqual(['envs/sched-a', 'envs/sched-b']);
    expect(fanOut.summary).toMatch(
      /^2 drift checks started for envs\/sched-\* at main \([0-9a-f]{12}\): envs\/sched-a, envs\/sched-b$/,
    );
    for (const check of fanOut.checks) {
      expect(check.executionArn.split(':').at(-1)).toMatch(
        new RegExp(`^drift-${check.path.replace('/', '-')}-[0-9a-f]{32}$`),
      );
      const child = await waitForEnd(h, check.executionArn);
      expect(child.status).toBe('SUCCEEDED');
      expect(JSON.parse(child.input ?? '{}')).toEqual({
        repo: 'infra',
        ref: 'main',
        path: check.path,
        requestedBy: 'drift-check',
        drift: 'notify',
      });
      // Each child is an ordinary drift check: lock check, plan, report.
      const childStates = await statesEntered(h, check.executionArn);
      expect(childStates).toContain('Drift: is the path locked?');
      expect(childStates).toContain('Plan');
      expect(outcomeOf(child.output).summary).toMatch(
        new RegExp(`^No drift: infra ${check.path} at main`),
      );
    }
    expect(await childrenOf('drift-envs-sched-c-')).toEqual([]);
  });

  it('a glob that matches nothing at the ref fails and notifies once, not on every tick', async () => {
    const first = await waitForEnd(h, (await h.server.drift.trigger(2))[0] as string);
    expect(first.status).toBe('FAILED');
    expect(first.error).toBe('DeployRunner.DriftGlobMatchesNothing');
    expect(first.cause).toMatch(/^Drift glob envs\/none-\* of infra matches nothing at main \(/);
    const told = mentioning('Drift check failing: infra envs/none-*').length;
    expect(told).toBeGreaterThan(0);
    const second = await waitForEnd(h, (await h.server.drift.trigger(2))[0] as string);
    expect(second.status).toBe('FAILED');
    expect(mentioning('Drift check failing: infra envs/none-*').length).toBe(told);
  });

  it('a tampered list of paths is refused whole: no check is started, the failure is told', async () => {
    tamper = (text) => {
      const list = JSON.parse(text) as { paths: string[]; total: number };
      // envs/drifted is an allowed path, but not one the glob matches.
      return JSON.stringify({
        ...list,
        paths: [...list.paths, 'envs/drifted'],
        total: list.total + 1,
      });
    };
    try {
      const arn = (await h.server.drift.trigger(3))[0] as string;
      const end = await waitForEnd(h, arn);
      expect(end.status).toBe('FAILED');
      expect(end.error).toBe('DeployRunner.ArtifactTampered');
      expect(end.cause).toContain('path "envs/drifted" does not match envs/tamper-*');
      expect(await childrenOf('drift-envs-tamper-a-')).toEqual([]);
      expect(await childrenOf('drift-envs-drifted-')).toEqual([]);
      expect(mentioning('Drift check failing: infra envs/tamper-*').length).toBeGreaterThan(0);
    } finally {
      tamper = undefined;
    }
  });

  it('a list that is not the contract is refused too', async () => {
    tamper = (text) => text.replace('"paths"', '"pathz"');
    try {
      const end = await waitForEnd(h, (await h.server.drift.trigger(3))[0] as string);
      expect(end.status).toBe('FAILED');
      expect(end.error).toBe('DeployRunner.ArtifactTampered');
      expect(end.cause).toContain('does not match the contract');
      expect(await childrenOf('drift-envs-tamper-a-')).toEqual([]);
    } finally {
      tamper = undefined;
    }
  });

  it('a glob is refused for a deploy, and for a drift check the config does not name', async () => {
    for (const input of [
      { repo: 'infra', ref: 'main', path: 'envs/sched-*' },
      { repo: 'infra', ref: 'main', path: 'envs/*', drift: 'notify' as const },
      { repo: 'infra', ref: 'release/next', path: 'envs/sched-*', drift: 'notify' as const },
    ]) {
      const end = await waitForEnd(h, await startRun(h, input));
      expect(end.status).toBe('FAILED');
      expect(end.error).toBe('DeployRunner.RequestRejected');
      expect(end.cause).toContain('is a pattern; send one path');
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
