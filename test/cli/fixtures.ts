import type { HistoryEvent } from '@aws-sdk/client-sfn';
import type { Clock } from '../../lib/cli/pacer';

/** Virtual time: sleep advances the clock instantly, so backoff and polling run in microseconds. */
export class VirtualClock implements Clock {
  constructor(public t = Date.UTC(2026, 10, 25, 17, 0, 0)) {}
  readonly sleeps: number[] = [];
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += Math.max(0, ms);
  }
}

export const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:deploy-runner';
export const EXECUTION_ARN =
  'arn:aws:states:eu-west-1:123456789012:execution:deploy-runner:infra-envs-prod-abc1234-42';
export const PLAN_TASK_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task/deploy-runner/plan0task1';
export const APPLY_TASK_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task/deploy-runner/apply0task2';
export const COMMIT = 'abc1234def5678abc1234def5678abc1234def56';

/** A plan result as `planResultSchema` has it (the runner writes every field). */
export const planSummary = (overrides: Record<string, unknown> = {}) => ({
  commit: COMMIT,
  tool: 'terraform',
  toolVersion: '1.9.8',
  hasChanges: true,
  counts: { add: 2, change: 1, destroy: 1, replace: 1 },
  changes: [
    { address: 'aws_s3_bucket.logs', actions: ['create'] },
    { address: 'aws_instance.web', actions: ['delete', 'create'] },
    { address: 'aws_iam_role.old', actions: ['delete'] },
    { address: 'aws_sqs_queue.jobs', actions: ['create'] },
    { address: 'aws_lambda_function.api', actions: ['update'] },
  ],
  changesOmitted: 0,
  planKey: 'runs/run-1/plan.tfplan',
  planVersionId: 'v1',
  planSha256: 'a'.repeat(64),
  planTextKey: 'runs/run-1/plan.txt',
  planTextVersionId: 'v1',
  planTextSha256: 'b'.repeat(64),
  logUrl: 'https://console.aws.amazon.com/cloudwatch/home#logs',
  ...overrides,
});

/**
 * Builds a Step Functions history the way AWS writes it for the deploy-runner workflow. Each
 * event carries the virtual time it happens at; `at(ms)` moves the cursor.
 */
export class HistoryBuilder {
  readonly events: HistoryEvent[] = [];
  constructor(public cursor = Date.UTC(2026, 10, 25, 17, 0, 0)) {}

  at(ms: number): this {
    this.cursor = ms;
    return this;
  }
  after(ms: number): this {
    this.cursor += ms;
    return this;
  }

  private push(type: string, details: Partial<HistoryEvent>): this {
    this.events.push({
      id: this.events.length + 1,
      previousEventId: this.events.length,
      timestamp: new Date(this.cursor),
      type: type as HistoryEvent['type'],
      ...details,
    });
    return this;
  }

  started(input: unknown = { repo: 'infra', ref: 'main', path: 'envs/prod' }): this {
    return this.push('ExecutionStarted', {
      executionStartedEventDetails: { input: JSON.stringify(input) },
    });
  }
  entered(name: string, type = 'TaskStateEntered'): this {
    return this.push(type, { stateEnteredEventDetails: { name, input: '{}' } });
  }
  exited(name: string, output: unknown = {}, type = 'TaskStateExited'): this {
    return this.push(type, {
      stateExitedEventDetails: { name, output: JSON.stringify(output) },
    });
  }
  scheduled(resource: string, parameters: unknown, timeoutInSeconds?: number): this {
    return this.push('TaskScheduled', {
      taskScheduledEventDetails: {
        resourceType: resource.split(':')[0],
        resource: resource.split(':')[1] ?? resource,
        region: 'eu-west-1',
        parameters: JSON.stringify(parameters),
        timeoutInSeconds,
      },
    });
  }
  submitted(output: unknown): this {
    return this.push('TaskSubmitted', {
      taskSubmittedEventDetails: {
        resourceType: 'ecs',
        resource: 'runTask.sync',
        output: JSON.stringify(output),
      },
    });
  }
  succeeded(output: unknown): this {
    return this.push('TaskSucceeded', {
      taskSucceededEventDetails: {
        resourceType: 'ecs',
        resource: 'runTask.sync',
        output: JSON.stringify(output),
      },
    });
  }
  failed(error: string, cause: unknown): this {
    return this.push('TaskFailed', {
      taskFailedEventDetails: {
        resourceType: 'ecs',
        resource: 'runTask.sync',
        error,
        cause: typeof cause === 'string' ? cause : JSON.stringify(cause),
      },
    });
  }
  executionSucceeded(output: unknown): this {
    return this.push('ExecutionSucceeded', {
      executionSucceededEventDetails: { output: JSON.stringify(output) },
    });
  }
  executionFailed(error: string, cause: string): this {
    return this.push('ExecutionFailed', { executionFailedEventDetails: { error, cause } });
  }

  /** The ECS task lifecycle of a `.sync` state. */
  ecsTask(name: 'Plan' | 'Apply', taskArn: string, runMs: number): this {
    return this.entered(name)
      .scheduled('ecs:runTask.sync', { Cluster: 'deploy-runner' }, 3600)
      .after(200)
      .submitted({ Tasks: [{ TaskArn: taskArn, LastStatus: 'PROVISIONING' }] })
      .after(runMs)
      .succeeded({ TaskArn: taskArn, LastStatus: 'STOPPED', Containers: [{ ExitCode: 0 }] })
      .exited(name);
  }
}

/** The full history of a run that plans, waits for approval, is approved and applies. */
export function appliedRunHistory(options: { approvalWaitMs: number; taskMs: number }) {
  const summary = planSummary();
  const request = { repo: 'infra', ref: 'main', path: 'envs/prod', mode: 'apply' };
  const approval = {
    approved: true,
    approver: 'alice@example.com',
    reason: '',
    decidedAt: '2026-11-25T18:00:00Z',
    planSha256: 'a'.repeat(64),
  };
  const b = new HistoryBuilder()
    .started()
    .entered('Validate request')
    .after(300)
    .exited('Validate request', { request })
    .entered('Acquire lock')
    .after(100)
    .exited('Acquire lock', { request })
    .ecsTask('Plan', PLAN_TASK_ARN, options.taskMs)
    .entered('Inspect plan')
    .after(100)
    .exited('Inspect plan', { request, plan: { summary } })
    .entered('Changes?', 'ChoiceStateEntered')
    .exited('Changes?', {}, 'ChoiceStateExited')
    .entered('Request approval')
    .scheduled(
      'lambda:invoke.waitForTaskToken',
      {
        FunctionName: 'deploy-runner-request-approval',
        Payload: {
          approvers: [
            { name: 'Alice', email: 'alice@example.com' },
            { email: 'bob@example.com' },
            { slackUserId: 'U012AB3CD' },
          ],
          approvalsRequired: 1,
          timeoutSeconds: 86_400,
        },
      },
      86_400,
    )
    .after(options.approvalWaitMs)
    .exited('Request approval', { request, plan: { summary }, approval })
    .entered('Approved?', 'ChoiceStateEntered')
    .exited('Approved?', {}, 'ChoiceStateExited')
    .entered('Verify approval')
    .after(100)
    .exited('Verify approval', { request, plan: { summary }, approval })
    .ecsTask('Apply', APPLY_TASK_ARN, options.taskMs)
    .entered('Notify result')
    .after(100)
    .exited('Notify result')
    .entered('Release lock')
    .exited('Release lock')
    .entered('Done', 'SucceedStateEntered')
    .exited('Done', {}, 'SucceedStateExited');
  const output = { request, plan: { summary }, approval, apply: { taskArn: APPLY_TASK_ARN } };
  b.executionSucceeded(output);
  return { events: b.events, output, endsAt: b.cursor };
}

/** An SDK-shaped error (what aws-sdk-client-mock rejects with). */
export function awsError(name: string, httpStatusCode = 400, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode } });
}

/** The `name<<delimiter` blocks of a `$GITHUB_OUTPUT` file, as @actions/core writes them. */
export function githubOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<]+)<<(.+)$/.exec(lines[i]);
    if (!m) continue;
    const end = lines.indexOf(m[2], i + 1);
    outputs[m[1]] = lines.slice(i + 1, end).join('\n');
    i = end;
  }
  return outputs;
}

/** A stdout/stderr the CLI writes to in tests: keeps the text; a terminal only when asked. */
export class FakeStream {
  text = '';
  constructor(readonly isTTY = false) {}
  write(chunk: string) {
    this.text += chunk;
    return true;
  }
}
