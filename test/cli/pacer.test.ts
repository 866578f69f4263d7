import { describe, expect, it, vi } from 'vitest';
import { explainError } from '../../lib/cli/exit-codes';
import {
  ApiPacer,
  gaveUpOn,
  isTransientError,
  type RetryNotice,
  systemClock,
} from '../../lib/cli/pacer';
import { awsError, VirtualClock } from './fixtures';

/** A call that fails with `errors` in turn, then succeeds; records the virtual time of each attempt. */
function flaky(clock: VirtualClock, errors: Error[]) {
  const attempts: number[] = [];
  const fn = async () => {
    attempts.push(clock.now());
    const error = errors.shift();
    if (error) throw error;
    return 'ok';
  };
  return { fn, attempts };
}

const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]);

describe('ApiPacer', () => {
  it('never lets two calls start less than a second apart, even when issued together', async () => {
    vi.useFakeTimers();
    try {
      const pacer = new ApiPacer({ clock: systemClock });
      const times: number[] = [];
      const all = Promise.all(
        Array.from({ length: 5 }, () =>
          pacer.call('X', async () => {
            times.push(Date.now());
          }),
        ),
      );
      await vi.runAllTimersAsync();
      await all;
      expect(times).toHaveLength(5);
      expect(gaps(times)).toEqual([1000, 1000, 1000, 1000]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('retries throttling with growing, jittered delays and reports each retry', async () => {
    const clock = new VirtualClock();
    const notices: RetryNotice[] = [];
    const pacer = new ApiPacer({ clock, random: () => 0.5, onRetry: (n) => notices.push(n) });
    const { fn, attempts } = flaky(clock, [
      awsError('ThrottlingException'),
      awsError('ThrottlingException'),
      awsError('ThrottlingException'),
      awsError('ThrottlingException'),
    ]);
    await expect(pacer.call('GetExecutionHistory', fn)).resolves.toBe('ok');
    expect(attempts).toHaveLength(5);
    // Equal jitter with random 0.5: 3/4 of 1 s, 2 s, 4 s, 8 s — never below the 1 s spacing.
    expect(notices.map((n) => n.delayMs)).toEqual([1000, 1500, 3000, 6000]);
    expect(gaps(attempts)).toEqual([1000, 1500, 3000, 6000]);
    expect(notices[0]).toMatchObject({
      operation: 'GetExecutionHistory',
      attempt: 1,
      error: 'ThrottlingException',
    });
  });

  it('jitter spreads the delays between half and all of the exponential step', async () => {
    for (const random of [0, 0.999]) {
      const clock = new VirtualClock();
      const delays: number[] = [];
      const pacer = new ApiPacer({
        clock,
        random: () => random,
        maxDelayMs: 20_000,
        onRetry: (n) => delays.push(n.delayMs),
      });
      const errors = Array.from({ length: 7 }, () => awsError('ThrottlingException'));
      await pacer.call('X', flaky(clock, errors).fn);
      const ceilings = [1000, 2000, 4000, 8000, 16_000, 20_000, 20_000];
      delays.forEach((delay, i) => {
        expect(delay).toBeGreaterThanOrEqual(Math.max(1000, ceilings[i] / 2));
        expect(delay).toBeLessThanOrEqual(ceilings[i]);
      });
    }
  });

  it('a throttled call holds back the other calls too', async () => {
    const clock = new VirtualClock();
    const pacer = new ApiPacer({ clock, random: () => 0.999 });
    const { fn } = flaky(clock, [awsError('ThrottlingException'), awsError('ThrottlingException')]);
    const start = clock.now();
    await pacer.call('A', fn);
    let otherAt = 0;
    await pacer.call('B', async () => {
      otherAt = clock.now();
    });
    // A's attempts at 0, ~1 s, ~3 s; B no earlier than 1 s after A's last attempt.
    expect(otherAt - start).toBeGreaterThanOrEqual(3998);
  });

  it('gives Step Functions and CloudWatch Logs a turn a second each', async () => {
    const clock = new VirtualClock();
    const pacer = new ApiPacer({ clock, random: () => 0.999 });
    const at: Record<string, number[]> = {};
    const call = (operation: string) =>
      pacer.call(operation, async () => {
        at[operation] = [...(at[operation] ?? []), clock.now()];
      });
    const start = clock.now();
    await call('GetExecutionHistory');
    await call('GetLogEvents');
    await call('GetExecutionHistory');
    await call('GetLogEvents');
    // The log read does not wait for the history's second: each service paces itself.
    expect(at.GetLogEvents?.map((t) => t - start)).toEqual([0, 1000]);
    expect(at.GetExecutionHistory?.map((t) => t - start)).toEqual([0, 1000]);
  });

  it('survives transient errors: 5xx, 429, connection resets', async () => {
    const clock = new VirtualClock();
    const pacer = new ApiPacer({ clock });
    const { fn, attempts } = flaky(clock, [
      awsError('InternalServerError', 500),
      awsError('SomethingNew', 503),
      awsError('TooManyRequestsException', 429),
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
    ]);
    await expect(pacer.call('X', fn)).resolves.toBe('ok');
    expect(attempts).toHaveLength(5);
  });

  it('does not retry errors that will not go away', async () => {
    const clock = new VirtualClock();
    const pacer = new ApiPacer({ clock });
    const { fn, attempts } = flaky(clock, [awsError('AccessDeniedException')]);
    await expect(pacer.call('X', fn)).rejects.toThrow('AccessDeniedException');
    expect(attempts).toHaveLength(1);
  });

  it('gives up after maxAttempts', async () => {
    const clock = new VirtualClock();
    const pacer = new ApiPacer({ clock, maxAttempts: 3 });
    const errors = Array.from({ length: 5 }, () => awsError('ThrottlingException'));
    const { fn, attempts } = flaky(clock, errors);
    await expect(pacer.call('X', fn)).rejects.toThrow('ThrottlingException');
    expect(attempts).toHaveLength(3);
  });

  it('a refused connection: fails at first contact, is retried for a bounded time once the endpoint has answered (a restart), and says when it gave up', async () => {
    const clock = new VirtualClock();
    const refused = () =>
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const pacer = new ApiPacer({ clock, random: () => 0.5, reconnectForMs: 60_000 });
    await expect(pacer.call('X', flaky(clock, [refused()]).fn)).rejects.toThrow('ECONNREFUSED');
    await pacer.call('X', async () => 'answered');
    const restart = flaky(clock, [refused(), refused(), refused()]);
    await expect(pacer.call('X', restart.fn)).resolves.toBe('ok');
    expect(restart.attempts).toHaveLength(4);
    const gone = flaky(clock, Array.from({ length: 50 }, refused));
    const error = await pacer.call('X', gone.fn).catch((e: unknown) => e);
    const gaveUp = gaveUpOn(error);
    expect(gaveUp?.elapsedMs).toBeGreaterThanOrEqual(60_000);
    expect(gaveUp?.elapsedMs).toBeLessThan(90_000);
    expect(explainError(error)).toMatch(
      /^Nothing answers at the endpoint \(gave up after \d+ attempts over \d+ s\).*`deploy-runner wait <executionArn>` attaches to it again\.$/,
    );
  });

  it.each([
    [awsError('ThrottlingException'), true],
    [awsError('Whatever', 502), true],
    [Object.assign(new Error('x'), { $retryable: {} }), true],
    [awsError('ValidationException'), false],
    [Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), false],
    ['string', false],
  ])('isTransientError(%s) = %s', (error, transient) => {
    expect(isTransientError(error)).toBe(transient);
  });
});
