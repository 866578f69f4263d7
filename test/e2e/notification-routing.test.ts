import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Harness,
  type OutboxMessage,
  outbox,
  resources,
  startHarness,
  startRun,
  waitForEnd,
} from './harness';

/**
 * Who hears how a run ended (config `notifications.results`), through the synthesized state
 * machine, the real notify handler and local mode's outbox: a plan-only run and a failed run
 * reach the requester's channel only, unless the config asks for the approvers too.
 */

const APPROVERS = ['ada@example.com', 'grace@example.com'];
const REQUESTER = 'dora@example.com';

async function routingHarness(results?: Record<string, unknown>): Promise<Harness> {
  const h = await startHarness({
    config: (c) => {
      c.notifications = {
        fromEmail: 'deploy-runner@example.com',
        slack: { botTokenSecretName: 'deploy-runner/slack', channel: 'C0DEPLOYS' },
        ...(results && { results }),
      };
    },
  });
  h.repo.commit({
    'envs/pr': { resources: resources('queue') },
    'envs/broken': { resources: resources('x'), fail: 'plan', failMessage: 'provider exploded' },
  });
  return h;
}

/** The recipients of one run's result messages, once the run has ended. */
async function recipientsOf(h: Harness, arn: string) {
  await waitForEnd(h, arn);
  const name = arn.split(':').at(-1) as string;
  const mine = outbox(h).filter((m: OutboxMessage) => JSON.stringify(m).includes(name));
  return {
    emails: mine.flatMap((m) => (m.kind === 'email' ? [m.to] : [])).sort(),
    slack: mine.flatMap((m) => (m.kind === 'slack' ? [m.channel] : [])),
  };
}

const runs = (h: Harness) =>
  Promise.all([
    startRun(h, {
      repo: 'infra',
      ref: 'main',
      path: 'envs/pr',
      mode: 'plan-only',
      requestedBy: REQUESTER,
    }),
    startRun(h, { repo: 'infra', ref: 'main', path: 'envs/broken', requestedBy: REQUESTER }),
  ]);

describe('e2e: result notifications by default', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await routingHarness();
  });
  afterAll(() => h?.close());

  it('a plan-only result and a failure go to the requester and the channel, no approver', async () => {
    const [planOnly, failed] = await runs(h);
    expect(await recipientsOf(h, planOnly)).toEqual({ emails: [REQUESTER], slack: ['C0DEPLOYS'] });
    expect(await recipientsOf(h, failed)).toEqual({ emails: [REQUESTER], slack: ['C0DEPLOYS'] });
    const failure = outbox(h).find((m) => m.to === REQUESTER && /provider exploded/.test(m.text));
    expect(failure?.subject).toMatch(/fail/i);
  });
});

describe('e2e: result notifications configured to reach the approvers', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await routingHarness({ planOnly: 'approvers', failures: 'approvers' });
  });
  afterAll(() => h?.close());

  it('a plan-only result and a failure email every approver too', async () => {
    const [planOnly, failed] = await runs(h);
    const everyone = { emails: [...APPROVERS, REQUESTER].sort(), slack: ['C0DEPLOYS'] };
    expect(await recipientsOf(h, planOnly)).toEqual(everyone);
    expect(await recipientsOf(h, failed)).toEqual(everyone);
  });
});
