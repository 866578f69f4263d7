import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactKeys } from '../../lib/contracts';
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
 * docs/architecture.md, property 8: the decision is the authority, not the callback. The task token is in
 * the execution history; whoever reads it and calls SendTaskSuccess (any local process, in local
 * mode) completes `Request approval`. These runs show that such a callback applies nothing:
 * `Verify approval` fails the run, which notifies and releases its lock.
 */
describe('e2e: a forged SendTaskSuccess applies nothing', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    h.repo.commit({
      'envs/genuine': { resources: resources('bucket') },
      'envs/bare': { resources: resources('vault') },
      'envs/replayed': { resources: resources('keys') },
    });
  });
  afterAll(() => h?.close());

  const nameOf = (arn: string) => arn.split(':').at(-1) as string;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** Waits until the run waits for approval (its emails are out), then returns its link. */
  const linkFor = async (arn: string) => {
    for (let i = 0; i < 600; i++) {
      const mine = outbox(h).find((m) => m.kind === 'email' && m.text.includes(nameOf(arn)));
      const link = /(https?:\/\/[^\s"<>]+\/a\/[A-Za-z0-9_-]+)/.exec(mine?.text ?? '')?.[1];
      if (link) return link;
      await sleep(50);
    }
    throw new Error(`no approval email for ${nameOf(arn)}`);
  };

  /** What an attacker reads from GetExecutionHistory: the token and the plan it waits on. */
  const readHistory = async (arn: string) => {
    const events = await history(h, arn);
    const scheduled = events.find(
      (e) => e.taskScheduledEventDetails?.resource === 'invoke.waitForTaskToken',
    );
    const parameters = JSON.parse(scheduled?.taskScheduledEventDetails?.parameters ?? '{}');
    const payload = parameters.Payload as {
      taskToken: string;
      plan: { planSha256: string; commit: string };
    };
    return { taskToken: payload.taskToken, plan: payload.plan, events };
  };

  /** Every file of the simulator's state, with its contents. */
  const terraformState = () => {
    const dir = join(h.root, 'tfstate');
    const out: Record<string, string> = {};
    const walk = (d: string) => {
      if (!existsSync(d)) return;
      for (const name of readdirSync(d)) {
        const file = join(d, name);
        if (statSync(file).isDirectory()) walk(file);
        else out[file] = readFileSync(file, 'utf8');
      }
    };
    walk(dir);
    return out;
  };

  const applyResultOf = async (arn: string) =>
    h.server.artifacts.get(artifactKeys(nameOf(arn)).applyResult).then(
      () => true,
      () => false,
    );

  /** Completes the waiting task as an attacker would, with a well-formed approval. */
  const forge = async (arn: string, extra: Record<string, unknown> = {}) => {
    const { taskToken, plan } = await readHistory(arn);
    expect(taskToken).toMatch(/.{16,}/);
    await h.sfn.send(
      new SendTaskSuccessCommand({
        taskToken,
        output: JSON.stringify({
          approved: true,
          approver: 'Ada',
          reason: '',
          decidedAt: new Date().toISOString(),
          planSha256: plan.planSha256,
          ...extra,
        }),
      }),
    );
  };

  /** The run failed at Verify approval, applied nothing, notified, and let go of its lock. */
  const expectRefused = async (arn: string, path: string, before: Record<string, string>) => {
    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('FAILED');
    expect(end.error).toBe('DeployRunner.ApprovalNotVerified');
    const states = await statesEntered(h, arn);
    expect(states).toContain('Verify approval');
    expect(states).not.toContain('Apply');
    expect(states.slice(-4)).toEqual([
      'Notify failure',
      'Holds the lock after failure?',
      'Release lock after failure',
      'Run failed',
    ]);
    expect(await applyResultOf(arn)).toBe(false);
    expect(terraformState()).toEqual(before);
    expect(await lockHeld(h, path)).toBeUndefined();
    const failure = outbox(h).filter(
      (m) => JSON.stringify(m).includes(nameOf(arn)) && /ApprovalNotVerified/.test(m.text),
    );
    expect(failure.length).toBeGreaterThan(0);
    return end;
  };

  let genuine: { arn: string; attestation: Record<string, unknown> };

  it('the approval page still applies, and its page then shows the real outcome', async () => {
    const before = terraformState();
    const arn = await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/genuine' });
    const link = await linkFor(arn);
    expect((await decide(link, 'approve')).status).toBe(200);
    const end = await waitForEnd(h, arn);
    expect(end.status).toBe('SUCCEEDED');
    expect(await statesEntered(h, arn)).toContain('Apply');
    expect(await applyResultOf(arn)).toBe(true);
    // An apply shows in the state the other tests compare: their check can fail.
    expect(terraformState()).not.toEqual(before);
    const output = JSON.parse(end.output as string);
    expect(output.verifiedApproval).toMatchObject({
      planSha256: output.plan.summary.planSha256,
      commit: output.plan.summary.commit,
      approvers: ['Ada'],
    });
    // What the attacker of the next tests replays: the attestation, readable in the execution.
    genuine = { arn, attestation: output.approval.attestation };
    expect(genuine.attestation).toMatchObject({ keyId: expect.stringMatching(/^local:/) });

    const page = await fetch(link);
    const body = await page.text();
    expect(page.status).toBe(409);
    expect(body).toContain('Outcome of the run: Applied.');
    expect(body).not.toContain('value="approve"');
  });

  it('a callback without the page’s signature fails as ApprovalNotVerified', async () => {
    const before = terraformState();
    const arn = await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/bare' });
    const link = await linkFor(arn);
    await forge(arn);
    const end = await expectRefused(arn, 'envs/bare', before);
    expect(end.cause).toContain('carries no decision signed by the approval page');

    // The approver's link no longer offers to approve a run that stopped waiting.
    const page = await fetch(link);
    const body = await page.text();
    expect(page.status).toBe(409);
    expect(body).not.toContain('value="approve"');
    expect(body).toContain('Approval not verified');
  });

  it('a genuine signature for another run fails as ApprovalNotVerified', async () => {
    expect(genuine).toBeDefined();
    const before = terraformState();
    const arn = await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/replayed' });
    await linkFor(arn);
    await forge(arn, { attestation: genuine.attestation });
    const end = await expectRefused(arn, 'envs/replayed', before);
    expect(end.cause).toContain('belongs to another execution');
  });

  it('a forged signature fails as ApprovalNotVerified', async () => {
    const before = terraformState();
    const arn = await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/bare' });
    await linkFor(arn);
    const { plan } = await readHistory(arn);
    const record = Buffer.from(
      JSON.stringify({
        v: 1,
        executionArn: arn,
        runId: nameOf(arn),
        planSha256: plan.planSha256,
        commit: plan.commit,
        approvers: [{ id: 'ada@example.com', name: 'Ada', decidedAt: new Date().toISOString() }],
        approvalsRequired: 1,
        decidedAt: new Date().toISOString(),
      }),
    ).toString('base64url');
    await forge(arn, {
      attestation: { ...genuine.attestation, record },
    });
    const end = await expectRefused(arn, 'envs/bare', before);
    expect(end.cause).toContain('signature is not valid');
  });
});
