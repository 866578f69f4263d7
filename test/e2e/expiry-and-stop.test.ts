import { StopExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  approvalLinks,
  type Harness,
  lockHeld,
  outbox,
  resources,
  startHarness,
  startRun,
  statesEntered,
  waitForEnd,
} from './harness';

/** Paths that end without a decision: the approval expires, or someone stops the run. */
describe('e2e: expiry and StopExecution', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      config: (c) => {
        (c.approvals as Record<string, unknown>).timeout = '5s';
      },
    });
    h.repo.commit({
      'envs/slow-approvers': { resources: resources('cache') },
      'envs/stopped': { resources: resources('cluster') },
    });
  });
  afterAll(() => h?.close());

  it('approval expired: fails as ApprovalExpired, notifies, voids the links, releases the lock', async () => {
    const arn = await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/slow-approvers' });
    const [{ link }] = await approvalLinks(h, 1);
    const end = await waitForEnd(h, arn, 30_000);
    expect(end.status).toBe('FAILED');
    expect(end.error).toBe('DeployRunner.ApprovalExpired');
    const states = await statesEntered(h, arn);
    expect(states).toContain('Record expiry');
    expect(states).not.toContain('Apply');
    const name = arn.split(':').at(-1) as string;
    expect(
      outbox(h).some(
        (m) => JSON.stringify(m).includes(name) && /expire/i.test(`${m.subject} ${m.text}`),
      ),
    ).toBe(true);
    // The link is dead: the page says so and offers no form.
    const page = await fetch(link);
    expect(page.status).toBeGreaterThanOrEqual(400);
    expect(await page.text()).not.toContain('name="nonce"');
    expect(await lockHeld(h, 'envs/slow-approvers')).toBeUndefined();
  });

  it('StopExecution while waiting releases the lock through the cleanup hook (Catch does not run)', async () => {
    const arn = await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/stopped' });
    await approvalLinks(h, 2);
    expect(await lockHeld(h, 'envs/stopped')).toMatchObject({ executionArn: arn });
    await h.sfn.send(
      new StopExecutionCommand({ executionArn: arn, error: 'Cancelled', cause: 'wrong branch' }),
    );
    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('ABORTED');
    expect(await statesEntered(h, arn)).not.toContain('Notify failure');
    expect(await lockHeld(h, 'envs/stopped')).toBeUndefined();
  });
});
