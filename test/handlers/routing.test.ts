import { describe, expect, it } from 'vitest';
import { createNotifyHandler } from '../../handlers/notify';
import { createLogger } from '../../handlers/shared/logger';
import { type RouteInput, requesterEmailDomains, routeResult } from '../../handlers/shared/routing';
import { REQUIRED_SETTINGS, type Settings, settingsFromEnv } from '../../handlers/shared/settings';
import { EXECUTION_ARN, planResult, request, settings } from './support/fixtures';
import { RecordingNotifier } from './support/recording-notifier';

const approvers = [
  { name: 'Alice Admin', email: 'alice@acme.example' },
  { name: 'Bob Builder', slackUserId: 'U0BOB1234', ciLogins: ['bob-gh'] },
  { name: 'Carol Chief', email: 'carol@acme.example', slackUserId: 'U0CAROL12' },
];

const base: RouteInput = {
  mode: 'apply',
  phase: 'finished',
  requestedBy: 'dora@acme.example',
  approvers,
  slackChannel: 'C0DEPLOYS',
  fromEmail: 'deploys@mail.acme.example',
};
const route = (over: Partial<RouteInput>) => routeResult({ ...base, ...over });
const sorted = (r: { emails: readonly string[]; slack: readonly string[] }) => ({
  emails: [...r.emails].sort(),
  slack: [...r.slack].sort(),
});

describe('routeResult: who hears how a run ended', () => {
  it('an applied run goes to everyone, whatever the routing says', () => {
    for (const routing of [undefined, { planOnly: 'none', failures: 'requester' } as const]) {
      const r = route({ routing });
      expect(r).toMatchObject({ audience: 'everyone', rule: 'result' });
      expect(sorted(r)).toEqual({
        emails: ['alice@acme.example', 'carol@acme.example', 'dora@acme.example'],
        slack: ['C0DEPLOYS'],
      });
    }
  });

  it('a plan-only run goes to the requester only by default, finished or failed', () => {
    for (const phase of ['finished', 'failed'] as const) {
      const r = route({ mode: 'plan-only', phase });
      expect(r).toMatchObject({ audience: 'requester', rule: 'planOnly', fellBack: false });
      expect(sorted(r)).toEqual({ emails: ['dora@acme.example'], slack: ['C0DEPLOYS'] });
    }
  });

  it('a plan-only run goes to everyone with planOnly "approvers", to nobody with "none"', () => {
    const all = route({ mode: 'plan-only', routing: { planOnly: 'approvers' } });
    expect(all.audience).toBe('everyone');
    expect(all.emails).toContain('alice@acme.example');
    const none = route({ mode: 'plan-only', phase: 'failed', routing: { planOnly: 'none' } });
    expect(none).toEqual({
      audience: 'none',
      rule: 'planOnly',
      fellBack: false,
      emails: [],
      slack: [],
    });
  });

  it('a failed apply run goes to the requester channel by default, to everyone with "approvers"', () => {
    const own = route({ phase: 'failed' });
    expect(own).toMatchObject({ audience: 'requester', rule: 'failures' });
    expect(sorted(own)).toEqual({ emails: ['dora@acme.example'], slack: ['C0DEPLOYS'] });
    const all = route({ phase: 'failed', routing: { failures: 'approvers' } });
    expect(all.audience).toBe('everyone');
    expect(sorted(all).emails).toEqual([
      'alice@acme.example',
      'carol@acme.example',
      'dora@acme.example',
    ]);
  });

  it('a failure whose requester has no channel goes to everyone, so it is never silent', () => {
    const r = route({ phase: 'failed', requestedBy: 'ci-bot', slackChannel: undefined });
    expect(r).toMatchObject({ audience: 'everyone', fellBack: true });
    expect(sorted(r)).toEqual({
      emails: ['alice@acme.example', 'carol@acme.example'],
      slack: ['U0BOB1234', 'U0CAROL12'],
    });
    // A plan-only run is not worth waking everyone for: CI shows its outcome.
    const plan = route({ mode: 'plan-only', requestedBy: undefined, slackChannel: undefined });
    expect(plan).toMatchObject({ audience: 'requester', emails: [], slack: [] });
  });

  it('a requester who is a listed approver is reached at their own email and Slack DM', () => {
    const r = route({ mode: 'plan-only', requestedBy: 'BOB-GH', slackChannel: undefined });
    expect(r).toMatchObject({ audience: 'requester', emails: [], slack: ['U0BOB1234'] });
    const carol = route({ phase: 'failed', requestedBy: 'Carol Chief', slackChannel: undefined });
    expect(sorted(carol)).toEqual({ emails: ['carol@acme.example'], slack: ['U0CAROL12'] });
  });

  it('emails a requester address only in an allowed domain', () => {
    // Default: the approvers' and the sender's domains, exactly (no parent or sibling domain).
    expect([...requesterEmailDomains(base)].sort()).toEqual(['acme.example', 'mail.acme.example']);
    for (const requestedBy of ['mallory@evil.example', 'x@sub.acme.example', 'x@acme.example.evil'])
      expect(route({ phase: 'failed', requestedBy }).emails).toEqual([]);
    expect(route({ phase: 'failed', requestedBy: 'Dora@ACME.example' }).emails).toEqual([
      'Dora@ACME.example',
    ]);
    const configured = { requesterEmailDomains: ['Partner.example'] };
    expect(
      route({ phase: 'failed', requestedBy: 'eve@partner.example', routing: configured }).emails,
    ).toEqual(['eve@partner.example']);
    // Configured domains replace the defaults; an empty list emails no requester address.
    expect(route({ phase: 'failed', routing: configured }).emails).toEqual([]);
    expect(
      route({ routing: { requesterEmailDomains: [] } }).emails.includes('dora@acme.example'),
    ).toBe(false);
  });

  it('never lists an address twice', () => {
    const r = route({ requestedBy: 'ALICE@acme.example' });
    expect(r.emails.filter((e) => e.toLowerCase() === 'alice@acme.example')).toHaveLength(1);
  });
});

describe('notify delivers where routeResult says', () => {
  const planOnly = {
    request: { ...request, mode: 'plan-only' as const },
    plan: { summary: planResult() },
  };
  const failedApply = {
    request,
    plan: { summary: planResult() },
    error: { Error: 'DeployRunner.Rejected', Cause: 'Rejected by Alice Admin: not now' },
  };
  const run = async (
    phase: 'finished' | 'failed',
    state: Record<string, unknown>,
    resultRouting?: Settings['resultRouting'],
  ) => {
    const notifier = new RecordingNotifier();
    await createNotifyHandler({
      settings: { ...settings, ...(resultRouting && { resultRouting }) },
      notifier,
      logger: createLogger('routing-test'),
    })({ phase, executionArn: EXECUTION_ARN, state });
    return {
      emails: notifier.emails.map((e) => e.to).sort(),
      slack: notifier.slack.map((s) => s.channel),
    };
  };

  it('a plan-only result and a rejection reach the requester and the channel, no approver', async () => {
    expect(await run('finished', planOnly)).toEqual({
      emails: ['dora@example.com'],
      slack: ['C0DEPLOYS'],
    });
    expect(await run('failed', failedApply)).toEqual({
      emails: ['dora@example.com'],
      slack: ['C0DEPLOYS'],
    });
  });

  it('the routing from DR_RESULT_ROUTING restores approver emails', async () => {
    const env = {
      DR_FROM_EMAIL: 'deploys@example.com',
      DR_CONSOLE_URL_TEMPLATE: 'https://console.example/{executionArn}',
      DR_RESULT_ROUTING: JSON.stringify({ planOnly: 'approvers', failures: 'approvers' }),
    };
    const { resultRouting } = settingsFromEnv(env, REQUIRED_SETTINGS.notify);
    const everyone = ['alice@example.com', 'carol@example.com', 'dora@example.com'];
    expect((await run('finished', planOnly, resultRouting)).emails).toEqual(everyone);
    expect((await run('failed', failedApply, resultRouting)).emails).toEqual(everyone);
    expect((await run('finished', planOnly, { planOnly: 'none' })).emails).toEqual([]);
  });

  it('refuses a DR_RESULT_ROUTING it cannot read', () => {
    expect(() => settingsFromEnv({ DR_RESULT_ROUTING: '{"planOnly":"everyone"}' }, [])).toThrow(
      /DR_RESULT_ROUTING: .*"requester"/,
    );
  });
});
