import { GetExecutionHistoryCommand, type HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { HistoryTracker, planSummaryOf, readHistory, taskArnOf } from '../../lib/cli/history';
import { ApiPacer } from '../../lib/cli/pacer';
import {
  APPLY_TASK_ARN,
  appliedRunHistory,
  EXECUTION_ARN,
  HistoryBuilder,
  PLAN_TASK_ARN,
  planSummary,
  VirtualClock,
} from './fixtures';

const sfn = mockClient(SFNClient);

describe('HistoryTracker', () => {
  it('tells the story of an applied run', () => {
    const { events } = appliedRunHistory({ approvalWaitMs: 3_600_000, taskMs: 30_000 });
    const tracker = new HistoryTracker();
    const out = tracker.apply(events);
    expect(out.filter((e) => e.type === 'state').map((e) => e.name)).toEqual([
      'Validate request',
      'Acquire lock',
      'Plan',
      'Inspect plan',
      'Changes?',
      'Request approval',
      'Approved?',
      'Verify approval',
      'Apply',
      'Notify result',
      'Release lock',
      'Done',
    ]);
    expect(out.filter((e) => e.type === 'task-started')).toEqual([
      { type: 'task-started', state: 'Plan', taskArn: PLAN_TASK_ARN },
      { type: 'task-started', state: 'Apply', taskArn: APPLY_TASK_ARN },
    ]);
    const request = out.find((e) => e.type === 'approval-requested');
    const scheduledAt = events.find(
      (e) =>
        e.type === 'TaskScheduled' &&
        e.taskScheduledEventDetails?.resource?.includes('waitForTaskToken'),
    )?.timestamp as Date;
    expect(request).toEqual({
      type: 'approval-requested',
      approvers: ['Alice <alice@example.com>', 'bob@example.com', 'Slack U012AB3CD'],
      approvalsRequired: 1,
      // The page's deadline: a minute before the wait times out (lib/deadline.ts).
      expiresAt: new Date(Math.floor(scheduledAt.getTime() / 1000) * 1000 + 86_400_000 - 60_000),
    });
    expect(out.find((e) => e.type === 'approval-decided')).toEqual({
      type: 'approval-decided',
      approved: true,
      approver: 'alice@example.com',
      reason: undefined,
    });
    expect(out.find((e) => e.type === 'plan')).toMatchObject({
      summary: { hasChanges: true, counts: { add: 2, change: 1, destroy: 1, replace: 1 } },
    });
    expect(tracker.ended).toBe(true);
    expect(tracker.tasks.every((t) => t.endedAt !== undefined)).toBe(true);
  });

  it('applies each event once, whatever the order or overlap of the batches', () => {
    const { events } = appliedRunHistory({ approvalWaitMs: 1000, taskMs: 1000 });
    const once = new HistoryTracker().apply(events);
    const tracker = new HistoryTracker();
    const inBatches = [
      ...tracker.apply(events.slice(0, 10).reverse()),
      ...tracker.apply(events.slice(5, 30)),
      ...tracker.apply(events),
    ];
    expect(inBatches).toEqual(once);
  });

  it('finds the task ARN in TaskSubmitted, TaskSucceeded and TaskFailed', () => {
    const b = new HistoryBuilder()
      .submitted({ Tasks: [{ TaskArn: 'arn:1' }] })
      .succeeded({ TaskArn: 'arn:2' })
      .failed('States.TaskFailed', { TaskArn: 'arn:3', StopCode: 'EssentialContainerExited' })
      .failed('States.Timeout', 'not json');
    expect(b.events.map(taskArnOf)).toEqual(['arn:1', 'arn:2', 'arn:3', undefined]);
  });

  it('reads the approval timeout from the payload when the event has none', () => {
    const at = Date.UTC(2026, 0, 1);
    const b = new HistoryBuilder(at)
      .entered('Request approval')
      .scheduled('lambda:invoke.waitForTaskToken', {
        Payload: { approvers: [{ email: 'a@example.com' }], timeoutSeconds: 60 },
      });
    const [, request] = new HistoryTracker().apply(b.events);
    expect(request).toMatchObject({
      // 60 s timeout less its tenth, as the links close.
      expiresAt: new Date(at + 54_000),
      approvers: ['a@example.com'],
    });
  });

  it('shows a plan summary that matches planResultSchema', () => {
    const summary = planSummary({ changesOmitted: 3 });
    expect(planSummaryOf({ plan: { summary } })).toEqual({
      commit: summary.commit,
      tool: 'terraform',
      toolVersion: summary.toolVersion,
      hasChanges: true,
      counts: summary.counts,
      changes: summary.changes,
      changesOmitted: 3,
    });
  });

  it('does not show a drifted plan summary as if it were valid', () => {
    const drifted = [
      { counts: { add: 1 } },
      planSummary({ counts: { add: '2', change: 0, destroy: 0, replace: 0 } }),
      planSummary({ changes: [{ address: 'aws_s3_bucket.b', actions: ['explode'] }] }),
      planSummary({ hasChanges: 'yes' }),
      planSummary({ commit: 'not-a-sha' }),
    ];
    for (const summary of drifted) expect(planSummaryOf({ plan: { summary } })).toBeUndefined();
    expect(planSummaryOf({})).toBeUndefined();
    expect(planSummaryOf('garbage')).toBeUndefined();

    const history = new HistoryBuilder()
      .entered('Inspect plan')
      .exited('Inspect plan', { plan: { summary: drifted[1] } })
      .entered('Changes?', 'ChoiceStateEntered');
    const out = new HistoryTracker().apply(history.events);
    expect(out.map((e) => e.type)).toEqual(['state', 'state']);
  });

  it('reports no decision when the approval output does not match approvalDecisionSchema', () => {
    const history = new HistoryBuilder()
      .entered('Request approval')
      .exited('Request approval', { approval: { approved: true, approver: 'eve' } })
      .entered('Approved?', 'ChoiceStateEntered');
    const out = new HistoryTracker().apply(history.events);
    expect(out.some((e) => e.type === 'approval-decided')).toBe(false);
    expect(out.filter((e) => e.type === 'state')).toHaveLength(2);
  });
});

describe('readHistory', () => {
  const events = appliedRunHistory({ approvalWaitMs: 1000, taskMs: 1000 }).events;

  /** Serves `events` in pages of `pageSize`, honouring reverseOrder unless `ignoreOrder`. */
  function serve(pageSize: number, ignoreOrder = false) {
    sfn.on(GetExecutionHistoryCommand).callsFake((input) => {
      const ordered: HistoryEvent[] =
        input.reverseOrder && !ignoreOrder ? [...events].reverse() : events;
      const from = Number(input.nextToken ?? 0);
      const page = ordered.slice(from, from + pageSize);
      return {
        events: page,
        nextToken: from + pageSize < ordered.length ? String(from + pageSize) : undefined,
      };
    });
  }

  beforeEach(() => sfn.reset());
  const read = (afterId: number) =>
    readHistory(
      new SFNClient({}),
      new ApiPacer({ clock: new VirtualClock() }),
      EXECUTION_ARN,
      afterId,
    );

  it('reads newest first and stops at the first event it already has', async () => {
    serve(5);
    const fresh = await read(events.length - 3);
    expect(fresh.map((e) => e.id)).toEqual([events.length - 2, events.length - 1, events.length]);
    expect(sfn.commandCalls(GetExecutionHistoryCommand)).toHaveLength(1);
    expect(sfn.commandCalls(GetExecutionHistoryCommand)[0].args[0].input).toMatchObject({
      executionArn: EXECUTION_ARN,
      reverseOrder: true,
    });
  });

  it('pages through a long history on the first read', async () => {
    serve(7);
    const all = await read(0);
    expect(all.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(sfn.commandCalls(GetExecutionHistoryCommand)).toHaveLength(Math.ceil(events.length / 7));
  });

  it('still finds new events when the server ignores reverseOrder', async () => {
    serve(7, true);
    const fresh = await read(events.length - 2);
    expect(fresh.map((e) => e.id)).toEqual([events.length - 1, events.length]);
  });
});
