import { describe, expect, it } from 'vitest';
import {
  countDriftCheck,
  DRIFT_PLAN_EXAMPLE_SECONDS,
  priceDriftCheck,
} from '../../bench/drift-cost';
import { PRICES } from '../../bench/prices';
import type { HistoryEvent } from '../../lib/local/engine';

/**
 * The drift-cost part of the bench (bench/drift-cost.ts) counts a check from its execution
 * history and prices the counts; here both on a history written out by hand.
 */

let id = 0;
const event = (type: string, seconds: number, details: Record<string, unknown> = {}) =>
  ({ type, timestamp: seconds, id: ++id, previousEventId: id - 1, ...details }) as HistoryEvent;
const entered = (name: string, at: number) =>
  event('TaskStateEntered', at, { stateEnteredEventDetails: { name } });
const task = (resourceType: string, from: number, to: number) => [
  event('TaskScheduled', from, { taskScheduledEventDetails: { resourceType } }),
  event('TaskStarted', from),
  event('TaskSucceeded', to),
];

const history: HistoryEvent[] = [
  entered('Validate request', 100),
  ...task('lambda', 100, 100.004),
  entered('Drift: is the path locked?', 100.01),
  ...task('dynamodb', 100.01, 100.02),
  entered('Plan', 100.02),
  ...task('ecs', 100.02, 102.52),
  entered('Drift: report', 102.6),
  ...task('lambda', 102.6, 102.6255),
  entered('Done', 102.7),
];
const template = {
  lambdaMemoryMiB: 512,
  lambdaArchitecture: 'arm64',
  runnerCpuUnits: 1024,
  runnerMemoryMiB: 2048,
  runnerArchitecture: 'ARM64',
};

/** Equal to three significant digits: the bench rounds dollar amounts so. */
const near = (actual: number, expected: number) =>
  expect(Math.abs(actual - expected) / expected).toBeLessThan(0.005);

describe('bench: what a drift check costs', () => {
  it('counts states, Lambda calls and their durations, the runner and DynamoDB from the history', () => {
    const counts = countDriftCheck(history, { reads: 1, writes: 1 }, 2);
    expect(counts.states).toEqual([
      'Validate request',
      'Drift: is the path locked?',
      'Plan',
      'Drift: report',
      'Done',
    ]);
    expect(counts.stateTransitions).toBe(5);
    expect(counts.lambdaMs.map(Math.round)).toEqual([4, 26]);
    expect(counts.runnerMs.map(Math.round)).toEqual([2500]);
    // The lock check task plus the drift record's read; the record's write.
    expect(counts.dynamoReads).toBe(2);
    expect(counts.dynamoWrites).toBe(1);
    expect(counts.emails).toBe(2);
  });

  it('prices the counts: a short runner pays the Fargate minimum, the example its plan time', () => {
    const counts = {
      ...countDriftCheck(history, { reads: 1, writes: 1 }, 2),
      status: 'SUCCEEDED',
      wallMs: 2700,
    };
    const usd = priceDriftCheck(counts, template);
    const perSecond = (PRICES.fargateArmPerVcpuHour + 2 * PRICES.fargateArmPerGbHour) / 3600;
    // 2.5 s of tool time + 30 s start-up is under the one-minute minimum.
    near(usd.fargateMeasured, 60 * perSecond);
    near(usd.fargateExample, (30 + DRIFT_PLAN_EXAMPLE_SECONDS) * perSecond);
    near(usd.stepFunctions, 5 * PRICES.stepFunctionsStandardPerTransition);
    // 4 ms + 26 ms (rounded up) at 0.5 GB, and two requests.
    near(usd.lambda, 0.03 * 0.5 * PRICES.lambdaArmPerGbSecond + 2 * PRICES.lambdaPerRequest);
    near(usd.ses, 2 * PRICES.sesPerEmail);
    const parts =
      usd.scheduler + usd.stepFunctions + usd.lambda + usd.dynamoDb + usd.ses + usd.fargateExample;
    near(usd.totalExample, parts);
    expect(usd.totalExample).toBeGreaterThan(usd.totalMeasured);
  });
});
