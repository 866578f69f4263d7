import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
} from './harness';

describe('e2e: approved → applied', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(process.env.E2E_DEBUG ? { echo: (l) => console.log(l) } : {});
  });
  afterAll(() => h?.close());

  it('plans, asks, applies exactly the approved plan, notifies and releases the lock', async () => {
    const commit = h.repo.commit({ 'envs/dev': { resources: resources('network', 'bucket') } });
    const arn = await startRun(h, {
      repo: 'infra',
      ref: 'main',
      path: 'envs/dev',
      requestedBy: 'ci-bot',
      ciRunUrl: 'https://ci.example.com/runs/1',
    });
    const links = await approvalLinks(h, 2);
    expect(links.map((l) => l.to).sort()).toEqual(['ada@example.com', 'grace@example.com']);
    expect(await lockHeld(h, 'envs/dev')).toMatchObject({ executionArn: arn });

    const ada = links.find((l) => l.to === 'ada@example.com')?.link as string;
    const decided = await decide(ada, 'approve');
    expect(decided.status).toBeLessThan(400);

    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('SUCCEEDED');
    expect(await statesEntered(h, arn)).toEqual([
      'Validate request',
      'Plan only?',
      'Acquire lock',
      'Plan',
      'Inspect plan',
      'Changes?',
      'Request approval',
      'Approved?',
      'Verify approval',
      'Apply',
      'Notify result',
      'Holds the lock?',
      'Release lock',
      'Done',
    ]);
    const output = JSON.parse(end.output as string);
    expect(output.plan.summary).toMatchObject({
      commit,
      hasChanges: true,
      counts: { add: 2, change: 0, destroy: 0, replace: 0 },
    });
    expect(output.approval).toMatchObject({
      approved: true,
      approver: 'Ada',
      planSha256: output.plan.summary.planSha256,
    });
    expect(await lockHeld(h, 'envs/dev')).toBeUndefined();
    const messages = outbox(h);
    const result = messages.filter((m) => m.kind === 'email' && !/approv/i.test(m.subject ?? ''));
    expect(result.length).toBeGreaterThan(0);

    // The task token is nowhere a person or a log could see it.
    const events = await history(h, arn);
    const scheduled = events.find(
      (e) =>
        e.type === 'TaskScheduled' &&
        /waitForTaskToken/.test(e.taskScheduledEventDetails?.resource ?? ''),
    );
    const token = JSON.parse(scheduled?.taskScheduledEventDetails?.parameters as string).Payload
      .taskToken;
    expect(token.length).toBeGreaterThan(50);
    for (const m of messages) expect(JSON.stringify(m)).not.toContain(token);
  });
});
