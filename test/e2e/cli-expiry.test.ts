import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, executionName, expectPlainFollow, inOrder, start } from './cli-helpers';
import { type Harness, lockHeld, resources, startHarness, waitForEnd } from './harness';

/**
 * `deploy-runner start --wait` as a CI subprocess when nobody decides: a server whose approval
 * requests expire after 5 s (the other outcomes are in cli-outcomes.test.ts).
 */
describe('e2e: the deploy-runner CLI when the approval expires', { timeout: 90_000 }, () => {
  let h: Harness;
  let sha: string;
  beforeAll(async () => {
    h = await startHarness({
      config: (c) => {
        (c.approvals as Record<string, unknown>).timeout = '5s';
      },
    });
    sha = h.repo.commit({ 'envs/expiring': { resources: resources('cache') } });
  });
  afterAll(() => h?.close());

  it('3 expired: who was asked and the 5 s deadline, Record expiry, FAILED (exit 4); status says so too', async () => {
    const name = executionName('envs/expiring', sha, '300');
    const result = await start(h, 'envs/expiring', ['--wait'], { runId: '300', sha }).done;
    expectPlainFollow(result, 4);
    expect(result.lines[0]).toBe(`Started ${name}`);
    inOrder(result.stdout, [
      / -> Plan\n/,
      '   plan | ==> [plan] done: the plan has changes',
      / -> Inspect plan\n/,
      '   Plan: 1 to add, 0 to change, 0 to destroy, 0 to replace',
      / -> Request approval\n/,
      / {3}Waiting for approval from Ada <ada@example\.com>, Grace <grace@example\.com>; expires \d{4}-\d\d-\d\d \d\d:\d\d UTC \(in [0-5]s\)\n/,
      / -> Record expiry\n/,
      /FAILED Approval expired: No approver decided within .+; nothing was applied\. Start a new run\. \(exit 4\)/,
    ]);
    expect(result.stdout).not.toMatch(/Approved by|Rejected by|-> Apply/);
    const arn = `${h.server.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    await waitForEnd(h, arn);
    expect(await lockHeld(h, 'envs/expiring')).toBeUndefined();

    const status = await cli(h, ['status', arn], { runId: '300', sha }).done;
    expect(status.code).toBe(4);
    inOrder(status.stdout, [`${name}: FAILED`, 'FAILED Approval expired: ', '(exit 4)']);
  });
});
