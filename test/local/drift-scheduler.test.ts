import { describe, expect, it } from 'vitest';
import { nextFire } from '../../lib/local/scheduler';

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

  it('leaves what local mode cannot run (L, W, #) to AWS', () => {
    expect(nextFire('cron(0 6 L * ? *)', 'UTC', at('2026-01-01T00:00:00Z'))).toBeUndefined();
  });
});
