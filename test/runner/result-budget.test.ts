import { describe, expect, it } from 'vitest';
import { fitPlanResult, jsonBytes } from '../../containers/runner/src/result-budget';
import { summarizePlan } from '../../containers/runner/src/summary';
import {
  MAX_CHANGES_IN_RESULT,
  MAX_PLAN_RESULT_BYTES,
  type PlanResult,
  planResultSchema,
} from '../../lib/contracts';

/**
 * The plan result rides in the execution state into Request approval and Notify, where 256 KiB
 * is a hard limit (`States.DataLimitExceeded` cannot be caught): it is capped by bytes.
 */

const STATE_LIMIT_BYTES = 256 * 1024;

/** A 10,000-resource plan with long module addresses: half destroys, half replaces. */
function hugePlan(resources = 10_000) {
  return {
    format_version: '1.2',
    resource_changes: Array.from({ length: resources }, (_, i) => ({
      address: `module.platform.module.tenant["tenant-${String(i).padStart(5, '0')}-with-a-rather-long-name"].aws_iam_role_policy_attachment.managed["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]`,
      change: { actions: i % 2 === 0 ? ['delete'] : ['delete', 'create'] },
    })),
  };
}

function resultOf(summary: ReturnType<typeof summarizePlan>): PlanResult {
  return planResultSchema.parse({
    commit: 'a'.repeat(40),
    tool: 'terraform',
    toolVersion: '1.11.4',
    ...summary,
    planKey: 'runs/infra-envs-prod-aaaaaaa-1/plan.tfplan',
    planVersionId: 'v'.repeat(32),
    planSha256: 'b'.repeat(64),
    planTextKey: 'runs/infra-envs-prod-aaaaaaa-1/plan.txt',
    planTextVersionId: 'w'.repeat(32),
    planTextSha256: 'c'.repeat(64),
    logUrl: `https://eu-west-1.console.aws.amazon.com/cloudwatch/home#logsV2:${'x'.repeat(200)}`,
  });
}

describe('fitPlanResult', () => {
  it('keeps a 10,000-resource plan, every destroy kept by count, under 256 KiB in the Notify state', () => {
    // Whatever the count cap keeps (here: nothing capped, as when destroys are never dropped).
    const uncapped = resultOf(summarizePlan(hugePlan(), 2, Number.POSITIVE_INFINITY));
    expect(jsonBytes(uncapped)).toBeGreaterThan(STATE_LIMIT_BYTES);

    const fitted = fitPlanResult(uncapped);
    expect(jsonBytes(fitted)).toBeLessThanOrEqual(MAX_PLAN_RESULT_BYTES);
    expect(fitted.changes.length + fitted.changesOmitted).toBe(10_000);
    expect(fitted.changes.length).toBeGreaterThan(100);
    // Counts are untouched, and what is kept is the head of the list (replaces first).
    expect(fitted.counts).toEqual({ add: 0, change: 0, destroy: 5000, replace: 5000 });
    expect(fitted.changes).toEqual(uncapped.changes.slice(0, fitted.changes.length));
    expect(planResultSchema.parse(fitted)).toEqual(fitted);

    // The state Notify receives: request, plan, approval, apply and an error, with room to spare.
    const state = {
      request: {
        repo: 'infra',
        ref: 'main',
        path: 'envs/prod',
        mode: 'apply',
        runId: 'infra-envs-prod-aaaaaaa-1',
        lockKey: 'infra#envs/prod',
        lockHolder: `run infra-envs-prod-aaaaaaa-1, requested by ${'x'.repeat(200)}, CI run https://github.com/acme/infra/actions/runs/${'1'.repeat(200)}`,
        lockExpiresAt: '1800000000',
        requestedBy: 'x'.repeat(200),
        ciRunUrl: `https://github.com/acme/infra/actions/runs/${'1'.repeat(200)}`,
      },
      plan: { summary: fitted },
      approval: {
        approved: true,
        approver: 'ada@acme.example',
        reason: 'r'.repeat(2000),
        decidedAt: new Date(0).toISOString(),
        planSha256: 'b'.repeat(64),
      },
      apply: { taskArn: `arn:aws:ecs:eu-west-1:111111111111:task/${'t'.repeat(100)}` },
      error: { Error: 'States.TaskFailed', Cause: 'c'.repeat(32_768) },
    };
    const payload = { phase: 'failed', executionArn: 'e'.repeat(300), state };
    expect(jsonBytes(payload)).toBeLessThan(STATE_LIMIT_BYTES);
  });

  it('also holds the count-capped list when addresses are long', () => {
    const capped = resultOf(summarizePlan(hugePlan(), 2));
    expect(capped.changes).toHaveLength(MAX_CHANGES_IN_RESULT);
    const fitted = fitPlanResult(capped, 32 * 1024);
    expect(jsonBytes(fitted)).toBeLessThanOrEqual(32 * 1024);
    expect(fitted.changesOmitted).toBe(10_000 - fitted.changes.length);
  });

  it('leaves a result that fits unchanged', () => {
    const small = resultOf(summarizePlan(hugePlan(3), 2));
    expect(fitPlanResult(small)).toBe(small);
  });

  it('drops every change rather than exceed the budget', () => {
    const small = resultOf(summarizePlan(hugePlan(3), 2));
    const fitted = fitPlanResult(small, jsonBytes({ ...small, changes: [] }) + 10);
    expect(fitted.changes).toEqual([]);
    expect(fitted.changesOmitted).toBe(3);
  });
});
