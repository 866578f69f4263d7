import {
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { StateNames } from '../contracts';
import { decisionDeadline } from '../deadline';
import type { Outcome } from './exit-codes';
import type { ApiPacer, RetryNotice } from './pacer';

/** The states that run the runner on Fargate, whose logs the CLI streams. */
export const TASK_STATES = [StateNames.Plan, StateNames.Apply] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const APPROVAL_STATE = StateNames.RequestApproval;
export const INSPECT_STATE = StateNames.InspectPlan;

/** The part of the plan result the CLI prints. */
export interface PlanSummary {
  readonly commit?: string;
  readonly tool?: string;
  readonly toolVersion?: string;
  readonly hasChanges: boolean;
  readonly counts: { add: number; change: number; destroy: number; replace: number };
  readonly changes: ReadonlyArray<{ address: string; actions: readonly string[] }>;
  readonly changesOmitted: number;
}

/** Everything `wait` reports, in order. Rendered by render.ts; emitted as-is by `--json`. */
export type FollowEvent =
  | {
      readonly type: 'execution';
      readonly executionArn: string;
      readonly name?: string;
      readonly status?: string;
      readonly startDate?: Date;
    }
  | { readonly type: 'state'; readonly name: string; readonly at?: Date }
  | { readonly type: 'plan'; readonly summary: PlanSummary }
  | {
      readonly type: 'approval-requested';
      readonly approvers: readonly string[];
      readonly approvalsRequired?: number;
      readonly expiresAt?: Date;
    }
  | {
      readonly type: 'approval-decided';
      readonly approved: boolean;
      readonly approver?: string;
      readonly reason?: string;
    }
  | { readonly type: 'task-started'; readonly state: TaskState; readonly taskArn: string }
  | {
      readonly type: 'log';
      readonly state: TaskState;
      readonly taskId: string;
      readonly at?: Date;
      readonly message: string;
    }
  | ({ readonly type: 'retry' } & RetryNotice)
  | ({ readonly type: 'result'; readonly executionArn: string } & Outcome);

/** A Fargate task of the run, found in the history. */
export interface RunnerTask {
  readonly state: TaskState;
  readonly taskArn: string;
  /** Epoch ms when the history showed the task finished. */
  endedAt?: number;
}

/**
 * Turns Step Functions history events into FollowEvents. The workflow is sequential (no
 * Parallel or Map), so every task event belongs to the state entered last.
 */
export class HistoryTracker {
  /** The state entered last and not yet exited. */
  currentState?: string;
  /** Whether an Execution{Succeeded,Failed,Aborted,TimedOut} event was seen. */
  ended = false;
  lastEventId = 0;
  readonly tasks: RunnerTask[] = [];

  /** Applies events (any order; already seen ones are skipped) and returns what to report. */
  apply(events: readonly HistoryEvent[]): FollowEvent[] {
    const out: FollowEvent[] = [];
    const fresh = events
      .filter((e) => (e.id ?? 0) > this.lastEventId)
      .sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
    for (const event of fresh) {
      this.lastEventId = Math.max(this.lastEventId, event.id ?? 0);
      out.push(...this.applyOne(event));
    }
    return out;
  }

  private applyOne(event: HistoryEvent): FollowEvent[] {
    const type = event.type ?? '';
    const at = event.timestamp;
    if (event.stateEnteredEventDetails?.name !== undefined) {
      const name = event.stateEnteredEventDetails.name;
      this.currentState = name;
      return [{ type: 'state', name, at }];
    }
    if (event.stateExitedEventDetails?.name !== undefined) {
      const { name, output } = event.stateExitedEventDetails;
      if (this.currentState === name) this.currentState = undefined;
      if (isTaskState(name)) this.endTasks(name, at);
      if (name === INSPECT_STATE) {
        const summary = planSummaryOf(parseJson(output));
        return summary ? [{ type: 'plan', summary }] : [];
      }
      if (name === APPROVAL_STATE) {
        const approval = (parseJson(output) as { approval?: Record<string, unknown> } | undefined)
          ?.approval;
        if (approval && typeof approval.approved === 'boolean') {
          return [
            {
              type: 'approval-decided',
              approved: approval.approved,
              approver: stringOr(approval.approver),
              reason: stringOr(approval.reason) || undefined,
            },
          ];
        }
      }
      return [];
    }
    if (
      type.startsWith('Execution') &&
      type !== 'ExecutionStarted' &&
      type !== 'ExecutionRedriven'
    ) {
      this.ended = true;
      for (const task of this.tasks) task.endedAt ??= at?.getTime() ?? Date.now();
      return [];
    }
    const state = this.currentState;
    if (type === 'TaskScheduled' && state === APPROVAL_STATE) {
      return [approvalRequested(event)];
    }
    if (state && isTaskState(state)) {
      const taskArn = taskArnOf(event);
      const out: FollowEvent[] = [];
      if (taskArn && !this.tasks.some((t) => t.taskArn === taskArn)) {
        this.tasks.push({ state, taskArn });
        out.push({ type: 'task-started', state, taskArn });
      }
      if (['TaskSucceeded', 'TaskFailed', 'TaskTimedOut', 'TaskSubmitFailed'].includes(type)) {
        this.endTasks(state, at);
      }
      return out;
    }
    return [];
  }

  private endTasks(state: TaskState, at: Date | undefined) {
    for (const task of this.tasks) {
      if (task.state === state) task.endedAt ??= at?.getTime() ?? Date.now();
    }
  }
}

function isTaskState(name: string): name is TaskState {
  return (TASK_STATES as readonly string[]).includes(name);
}

/**
 * The ECS task ARN in a `.sync` task's events: TaskSubmitted's output is the RunTask response
 * (`Tasks[0].TaskArn`); TaskSucceeded's output and TaskFailed's cause are the described task
 * (`TaskArn`).
 */
export function taskArnOf(event: HistoryEvent): string | undefined {
  const texts = [
    event.taskSubmittedEventDetails?.output,
    event.taskSucceededEventDetails?.output,
    event.taskFailedEventDetails?.cause,
  ];
  for (const text of texts) {
    const value = parseJson(text) as
      | { TaskArn?: unknown; Tasks?: Array<{ TaskArn?: unknown }> }
      | undefined;
    if (!value || typeof value !== 'object') continue;
    const arn = value.Tasks?.[0]?.TaskArn ?? value.TaskArn;
    if (typeof arn === 'string' && arn.length > 0) return arn;
  }
  return undefined;
}

function approvalRequested(event: HistoryEvent): FollowEvent {
  const details = event.taskScheduledEventDetails;
  const parameters = parseJson(details?.parameters) as
    | { Payload?: Record<string, unknown> }
    | undefined;
  const payload = parameters?.Payload ?? {};
  const approvers = Array.isArray(payload.approvers)
    ? payload.approvers.map(approverLabel).filter((a): a is string => a !== undefined)
    : [];
  const timeoutSeconds =
    details?.timeoutInSeconds ??
    (typeof payload.timeoutSeconds === 'number' ? payload.timeoutSeconds : undefined);
  // The page's own deadline (lib/deadline.ts), not the wait's raw timeout: one time everywhere.
  const request = (payload.request ?? {}) as { lockExpiresAt?: unknown };
  const lock = Number(request.lockExpiresAt);
  const expiresAt =
    event.timestamp && timeoutSeconds !== undefined
      ? new Date(
          decisionDeadline(
            Math.floor(event.timestamp.getTime() / 1000),
            timeoutSeconds,
            Number.isFinite(lock) ? lock : undefined,
          ) * 1000,
        )
      : undefined;
  return {
    type: 'approval-requested',
    approvers,
    approvalsRequired:
      typeof payload.approvalsRequired === 'number' ? payload.approvalsRequired : undefined,
    expiresAt,
  };
}

/** `Name <email>`, the email, or the Slack user. */
function approverLabel(approver: unknown): string | undefined {
  if (typeof approver === 'string') return approver;
  if (!approver || typeof approver !== 'object') return undefined;
  const a = approver as { name?: unknown; email?: unknown; slackUserId?: unknown };
  const name = stringOr(a.name);
  const contact = stringOr(a.email) ?? (a.slackUserId ? `Slack ${stringOr(a.slackUserId)}` : '');
  if (name && contact) return `${name} <${contact}>`;
  return name || contact || undefined;
}

/** Reads the plan summary from `Inspect plan`'s output, tolerating missing fields. */
export function planSummaryOf(state: unknown): PlanSummary | undefined {
  const summary = (state as { plan?: { summary?: Record<string, unknown> } } | undefined)?.plan
    ?.summary;
  if (!summary || typeof summary !== 'object') return undefined;
  const counts = (summary.counts ?? {}) as Record<string, unknown>;
  const count = (key: string) => (typeof counts[key] === 'number' ? (counts[key] as number) : 0);
  const changes = Array.isArray(summary.changes)
    ? summary.changes
        .filter(
          (c): c is { address: string; actions: string[] } =>
            !!c && typeof c.address === 'string' && Array.isArray(c.actions),
        )
        .map((c) => ({ address: c.address, actions: c.actions }))
    : [];
  const counted = {
    add: count('add'),
    change: count('change'),
    destroy: count('destroy'),
    replace: count('replace'),
  };
  return {
    commit: stringOr(summary.commit),
    tool: stringOr(summary.tool),
    toolVersion: stringOr(summary.toolVersion),
    hasChanges:
      typeof summary.hasChanges === 'boolean'
        ? summary.hasChanges
        : Object.values(counted).some((n) => n > 0),
    counts: counted,
    changes,
    changesOmitted: typeof summary.changesOmitted === 'number' ? summary.changesOmitted : 0,
  };
}

/**
 * Reads the history events after `afterId`. Newest first (`reverseOrder`), so a poll of a
 * long execution usually costs one call; a server that ignores `reverseOrder` is detected by
 * the order of ids and read to the end instead.
 */
export async function readHistory(
  sfn: SFNClient,
  pacer: ApiPacer,
  executionArn: string,
  afterId = 0,
): Promise<HistoryEvent[]> {
  const fresh: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await pacer.call('GetExecutionHistory', () =>
      sfn.send(
        new GetExecutionHistoryCommand({
          executionArn,
          reverseOrder: true,
          maxResults: 1000,
          nextToken,
        }),
      ),
    );
    const events = page.events ?? [];
    fresh.push(...events.filter((e) => (e.id ?? 0) > afterId));
    const ids = events.map((e) => e.id ?? 0);
    const newestFirst = ids.length < 2 || ids[0] >= ids[ids.length - 1];
    if (newestFirst && ids.some((id) => id <= afterId)) break;
    nextToken = page.nextToken;
  } while (nextToken);
  return fresh.sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
}

/** The DescribeExecution fields the CLI uses. */
export type ExecutionDescription = Pick<
  DescribeExecutionCommandOutput,
  | 'executionArn'
  | 'name'
  | 'status'
  | 'startDate'
  | 'stopDate'
  | 'error'
  | 'cause'
  | 'output'
  | 'input'
>;

function stringOr(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
