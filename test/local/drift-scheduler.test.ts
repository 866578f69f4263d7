import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config';
import { scheduleProblem } from '../../lib/drift-config';
import { DriftScheduler, nextFire } from '../../lib/local/scheduler';

describe('local drift schedules: when they fire', () => {
  const at = (iso: string) => new Date(iso);

  it('rate() counts from the start, as a new EventBridge schedule does', () => {
    const since = at('2026-01-01T10:00:30Z');
    expect(nextFire('rate(1 hour)', 'UTC', at('2026-01-01T10:20:00Z'), since)?.toISOString()).toBe(
      '2026-01-01T11:00:30.000Z',
    );
    expect(
      nextFire('rate(15 minutes)', 'UTC', at('2026-01-01T11:00:31Z'), since)?.toISOString(),
    ).toBe('2026-01-01T11:15:30.000Z');
  });

  it('cron() matches in the time zone, with day names', () => {
    // 06:00 in Berlin on a weekday is 05:00 UTC in winter; Saturday 3 Jan skips to Monday 5 Jan.
    expect(
      nextFire(
        'cron(0 6 ? * MON-FRI *)',
        'Europe/Berlin',
        at('2026-01-02T06:00:00Z'),
      )?.toISOString(),
    ).toBe('2026-01-05T05:00:00.000Z');
    expect(nextFire('cron(*/30 * * * ? *)', 'UTC', at('2026-01-01T10:10:00Z'))?.toISOString()).toBe(
      '2026-01-01T10:30:00.000Z',
    );
  });

  const next = (schedule: string, after: string, zone = 'UTC') =>
    nextFire(schedule, zone, at(after))?.toISOString();

  it('L in day-of-month: the last day of each month, 29 February in a leap year', () => {
    expect(next('cron(0 6 L * ? *)', '2026-01-01T00:00:00Z')).toBe('2026-01-31T06:00:00.000Z');
    expect(next('cron(0 6 L * ? *)', '2026-01-31T06:00:00Z')).toBe('2026-02-28T06:00:00.000Z');
    expect(next('cron(0 6 L * ? *)', '2028-02-01T00:00:00Z')).toBe('2028-02-29T06:00:00.000Z');
  });

  it('W: the weekday nearest the day, never leaving the month; LW the last weekday', () => {
    // 15 Feb 2026 is a Sunday: Monday the 16th. 15 Aug 2026 is a Saturday: Friday the 14th.
    expect(next('cron(0 9 15W * ? *)', '2026-02-01T00:00:00Z')).toBe('2026-02-16T09:00:00.000Z');
    expect(next('cron(0 9 15W * ? *)', '2026-08-01T00:00:00Z')).toBe('2026-08-14T09:00:00.000Z');
    // 1 Aug 2026 is a Saturday: Monday the 3rd, not Friday 31 July.
    expect(next('cron(0 9 1W * ? *)', '2026-07-01T10:00:00Z')).toBe('2026-08-03T09:00:00.000Z');
    // 31 Jan 2026 is a Saturday, 31 May 2026 a Sunday: Friday the 30th and the 29th.
    expect(next('cron(0 9 LW * ? *)', '2026-01-01T00:00:00Z')).toBe('2026-01-30T09:00:00.000Z');
    expect(next('cron(0 9 LW * ? *)', '2026-05-01T00:00:00Z')).toBe('2026-05-29T09:00:00.000Z');
  });

  it('L and # in day-of-week: last Friday, Saturday, the second Tuesday, a fifth Thursday', () => {
    expect(next('cron(0 9 ? * 6L *)', '2026-01-01T00:00:00Z')).toBe('2026-01-30T09:00:00.000Z');
    expect(next('cron(0 9 ? * FRIL *)', '2026-01-01T00:00:00Z')).toBe('2026-01-30T09:00:00.000Z');
    expect(next('cron(0 9 ? * L *)', '2026-01-01T00:00:00Z')).toBe('2026-01-03T09:00:00.000Z');
    expect(next('cron(0 9 ? * 3#2 *)', '2026-03-01T00:00:00Z')).toBe('2026-03-10T09:00:00.000Z');
    // February and March 2026 have four Thursdays: the next fifth one is 30 April.
    expect(next('cron(0 9 ? * 5#5 *)', '2026-01-30T00:00:00Z')).toBe('2026-04-30T09:00:00.000Z');
  });

  it('in a time zone, across daylight saving time', () => {
    // 09:00 in Berlin: 08:00 UTC in March before the change, 07:00 UTC in April after it.
    expect(next('cron(0 9 ? * 3#2 *)', '2026-03-01T00:00:00Z', 'Europe/Berlin')).toBe(
      '2026-03-10T08:00:00.000Z',
    );
    expect(next('cron(0 9 ? * 3#2 *)', '2026-03-11T00:00:00Z', 'Europe/Berlin')).toBe(
      '2026-04-14T07:00:00.000Z',
    );
    // The last day of January in Tokyo starts at 15:00 UTC on the 30th.
    expect(next('cron(30 0 L * ? *)', '2026-01-01T00:00:00Z', 'Asia/Tokyo')).toBe(
      '2026-01-30T15:30:00.000Z',
    );
  });
});

describe('local drift schedules: a glob path', () => {
  it('starts one run with the glob as its path, as the AWS schedule does, and says nothing of it', async () => {
    const lines: string[] = [];
    const started: { input: unknown; name: string }[] = [];
    const entry = {
      repo: 'infra',
      ref: 'main',
      schedule: 'rate(1 hour)',
      timezone: 'UTC',
    } as const;
    const scheduler = new DriftScheduler({
      entries: [
        { ...entry, path: 'envs/*', onDrift: 'notify' },
        { ...entry, path: 'envs/prod', onDrift: 'request-approval' },
      ],
      start: async (input, name) => {
        started.push({ input, name });
        return `arn:${name}`;
      },
      enabled: false,
      echo: (line) => lines.push(line),
    });
    const arns = await scheduler.trigger(0);
    scheduler.close();
    expect(arns).toHaveLength(1);
    expect(started).toEqual([
      {
        input: {
          repo: 'infra',
          ref: 'main',
          path: 'envs/*',
          requestedBy: 'drift-check',
          drift: 'notify',
        },
        name: expect.stringMatching(/^drift-envs-\d{14}-[0-9a-f]{6}$/),
      },
    ]);
    expect(lines).toEqual([]);
  });
});

describe('drift schedules at synth: what local mode could not run as AWS does is refused', () => {
  it.each([
    ['cron(0 6 L-2 * ? *)', /day-of-month "L-2": L and W stand alone/],
    ['cron(0 6 1W,15W * ? *)', /day-of-month "1W,15W": L and W stand alone/],
    ['cron(0 6 32W * ? *)', /"<day>W" takes a day of 1-31/],
    ['cron(0 6 ? * 3#1,6#3 *)', /day-of-week "3#1,6#3": L and # stand alone/],
    ['cron(0 6 ? * 2#6 *)', /"<day>#<n>" takes n of 1-5/],
    ['cron(0 6 ? * 8L *)', /a day is 1-7 or SUN-SAT/],
    ['cron(61 6 * * ? *)', /minutes "61": allowed are 0-59/],
    ['cron(0 6 L * L *)', /exactly one of day-of-month and day-of-week/],
  ])('%s', (schedule, message) => {
    expect(scheduleProblem(schedule)).toMatch(message);
  });

  it('accepts the L, W and # forms EventBridge documents', () => {
    for (const schedule of [
      'cron(0 6 L * ? *)',
      'cron(0 6 LW * ? *)',
      'cron(0 6 15W * ? *)',
      'cron(0 6 ? * 6L *)',
      'cron(0 6 ? * L *)',
      'cron(0 6 ? * 3#2 *)',
      'cron(0 6 ? * MON-FRI *)',
    ])
      expect(scheduleProblem(schedule), schedule).toBeUndefined();
  });

  it('the config names the entry and the problem', () => {
    expect(() =>
      parseConfig({
        repos: {
          infra: {
            url: 'https://git.example.com/infra.git',
            allowedRefs: ['main'],
            allowedPaths: ['envs/*'],
          },
        },
        approvals: { approvers: [{ name: 'Ada', email: 'ada@example.com' }] },
        notifications: { fromEmail: 'deploy-runner@example.com' },
        drift: [{ repo: 'infra', path: 'envs/prod', schedule: 'cron(0 6 L-2 * ? *)' }],
      }),
    ).toThrow(/drift\.0\.schedule.*L-2/s);
  });
});
