import {
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import * as z from 'zod';
import {
  approvalDecisionSchema,
  approverSchema,
  type PlanResult,
  runRequestSchema,
  StateNames,
  workflowStateSchema,
} from '../contracts';
import { decisionDeadline } from '../deadline';
import type { Outcome } from './exit-codes';
import type { ApiPacer, RetryNotice } from './pacer';

/** The states that run the runner on Fargate, whose logs the CLI streams. */
export const TASK_STATES = [StateNames.Plan, StateNames.Apply] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const APPROVAL_STATE = StateNames.RequestApproval;
export const INSPECT_STATE = StateNames.InspectPlan;

/** The part of the plan result (lib/contracts.ts `planResultSchema`) the CLI prints. */
export type PlanSummary = Readonly<
  Pick<
    PlanResult,
    'commit' | 'tool' | 'toolVersion' | 'hasChanges' | 'counts' | 'changes' | 'changesOmitted'
  >
>;

/*
 * Each state's output is the workflow state; only the key that state wrote is read, so a run
 * whose other keys drifted still shows what can be shown. A key that does not match its
 * contract is treated as absent: a drifted plan or decision is not printed as if it were valid.
 */
const planStateSchema = workflowStateSchema.pick({ plan: true });
const approvalStateSchema = z.object({ approval: approvalDecisionSchema });

/**
 * The fields of the `Request approval` payload (handlers/request-approval.ts) the CLI shows,
 * each parsed with its contract schema and dropped alone when it does not match: the waiting
 * notice is still worth printing without the approver list.
 */
const approvalParametersSchema = z.object({
  Payload: z.object({
    approvers: z.array(approverSchema).optional().catch(undefined),
    approvalsRequired: z.int().min(1).optional().catch(undefined),
    timeoutSeconds: z.int().min(1).optional().catch(undefined),
    request: runRequestSchema.pick({ lockExpiresAt: true }).optional().catch(undefined),
  }),
});

/**
 * AWS's ECS shapes in a `.sync` task's events: the RunTask response (`Tasks[0].TaskArn`) or the
 * described task (`TaskArn`). Not ours, so not in lib/contracts.ts; parsed all the same.
 */
const ecsTaskArnSchema = z.union([
  z.object({ Tasks: z.tuple([z.object({ TaskArn: z.string().min(1) })], z.unknown()) }),
  z.object({ TaskArn: z.string().min(1) }),
]);

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
        const parsed = approvalStateSchema.safeParse(parseJson(output));
        if (parsed.success) {
          const { approval } = parsed.data;
          return [
            {
              type: 'approval-decided',
              approved: approval.approved,
              approver: approval.approver,
              reason: approval.reason || undefined,
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
    const parsed = ecsTaskArnSchema.safeParse(parseJson(text));
    if (!parsed.success) continue;
    return 'Tasks' in parsed.data ? parsed.data.Tasks[0].TaskArn : parsed.data.TaskArn;
  }
  return undefined;
}

function approvalRequested(event: HistoryEvent): FollowEvent {
  const details = event.taskScheduledEventDetails;
  const parsed = approvalParametersSchema.safeParse(parseJson(details?.parameters));
  const payload = parsed.success ? parsed.data.Payload : {};
  const approvers = (payload.approvers ?? []).map(approverLabel);
  const timeoutSeconds = details?.timeoutInSeconds ?? payload.timeoutSeconds;
  // The page's own deadline (lib/deadline.ts), not the wait's raw timeout: one time everywhere.
  const lock = Number(payload.request?.lockExpiresAt);
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
    approvalsRequired: payload.approvalsRequired,
    expiresAt,
  };
}

/** `Name <email>`, the email, or the Slack user. */
function approverLabel(approver: z.output<typeof approverSchema>): string {
  const contact = approver.email ?? `Slack ${approver.slackUserId}`;
  return approver.name ? `${approver.name} <${contact}>` : contact;
}

/**
 * The plan summary in `Inspect plan`'s output, or undefined when it is missing or does not
 * match `planResultSchema`: a drifted summary is not shown as if it were the plan.
 */
export function planSummaryOf(state: unknown): PlanSummary | undefined {
  const parsed = planStateSchema.safeParse(state);
  const summary = parsed.success ? parsed.data.plan?.summary : undefined;
  if (!summary) return undefined;
  const { commit, tool, toolVersion, hasChanges, counts, changes, changesOmitted } = summary;
  return { commit, tool, toolVersion, hasChanges, counts, changes, changesOmitted };
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

export function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
