import { Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { runnerRunEnv } from '../../containers/runner/src/env';
import { type DeployRunnerConfig, durationSeconds } from '../config';
import {
  RunErrors,
  requestApprovalPayloadSchema,
  runTimeoutSeconds,
  StateNames,
} from '../contracts';
import type { ArtifactBucket } from './artifact-bucket';
import { driftStates, isDriftCheck, isDriftGlob } from './drift';
import { tagComponent } from './private/component-tag';
import type { RunnerNetwork } from './runner-network';
import type { RunnerTask, RunnerTasks } from './runner-tasks';
import type { WorkflowFunctions } from './workflow-functions';

/**
 * Errors of a runner task that ECS never started. `ECS.AmazonECSException`: RunTask itself
 * failed (e.g. "Capacity is unavailable at this time"). `AmazonECS.Unknown`: RunTask answered
 * with a non-empty `Failures` list, which the `.sync` integration turns into this error.
 */
export const TASK_NOT_STARTED_ERRORS = ['ECS.AmazonECSException', 'AmazonECS.Unknown'] as const;

/** Backoff of those retries: 30 s, 60 s, 120 s, 240 s, 300 s (full jitter). */
export const TASK_START_RETRY = {
  maxAttempts: 5,
  intervalSeconds: 30,
  backoffRate: 2,
  maxDelaySeconds: 300,
} as const;

/** The longest time the retries wait in total. */
export function taskStartRetryWindowSeconds(): number {
  const { maxAttempts, intervalSeconds, backoffRate, maxDelaySeconds } = TASK_START_RETRY;
  let total = 0;
  for (let i = 0; i < maxAttempts; i++)
    total += Math.min(intervalSeconds * backoffRate ** i, maxDelaySeconds);
  return total;
}

/** Step Functions' guidance: vended log groups of state machines live under this prefix. */
export const STATE_MACHINE_LOG_GROUP_PREFIX = '/aws/vendedlogs/states/';

/**
 * `/aws/vendedlogs/states/<state machine>-<first block of the stack's UUID>`. The group is
 * retained on delete; the stack's UUID keeps a re-created stack from colliding with the old one.
 */
export function stateMachineLogGroupName(scope: Construct, stateMachineName: string): string {
  const stackUuid = Fn.select(2, Fn.split('/', Stack.of(scope).stackId));
  return `${STATE_MACHINE_LOG_GROUP_PREFIX}${stateMachineName}-${Fn.select(0, Fn.split('-', stackUuid))}`;
}

/** Why a run failed with `DeployRunner.LockHeld`; `Name the lock holder` appends who holds it. */
export const LOCK_HELD_CAUSE =
  'Another run of this repo and path is in progress; nothing was planned. Retry when it has finished.';

/** Properties of {@link Workflow}. */
export interface WorkflowProps {
  /** The validated configuration (timeouts, approvers). */
  readonly config: DeployRunnerConfig;
  /** Physical name of the state machine (its ARN is known before it exists). */
  readonly stateMachineName: string;
  /** The Lambda handlers. */
  readonly functions: WorkflowFunctions;
  /** The runner cluster and task definitions. */
  readonly tasks: RunnerTasks;
  /** Where the runner tasks run. */
  readonly network: RunnerNetwork;
  /** Holds the repo+path locks. */
  readonly table: dynamodb.ITable;
  /** Where the plan result is read from. */
  readonly artifacts: ArtifactBucket;
  /** Customer-managed key of artifacts and the execution log group. */
  readonly encryptionKey: kms.IKey;
  /**
   * What happens to the execution log group when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The timeouts of a run, from the config. */
export function workflowTimeouts(config: DeployRunnerConfig) {
  const plan = Duration.seconds(durationSeconds(config.runner.planTimeout));
  const approval = Duration.seconds(durationSeconds(config.approvals.timeout));
  const apply = Duration.seconds(durationSeconds(config.runner.applyTimeout));
  const seconds = runTimeoutSeconds({
    plan: plan.toSeconds(),
    approval: approval.toSeconds(),
    apply: apply.toSeconds(),
  });
  const execution = Duration.seconds(seconds.execution);
  const lock = Duration.seconds(seconds.lock);
  return { plan, approval, apply, execution, lock };
}

/**
 * The deploy workflow: the Standard state machine of docs/architecture.md, state for state, with the names
 * and payloads of docs/workflow-contract.md. Read top to bottom it is the diagram: validate,
 * lock, plan, inspect, ask, apply, notify, release; every failure notifies and releases too.
 */
export class Workflow extends Construct {
  /** The state machine. */
  readonly stateMachine: sfn.StateMachine;
  /** Execution history log group (level ALL, no execution data). */
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: WorkflowProps) {
    super(scope, id);
    const { config, functions, table } = props;
    const timeouts = workflowTimeouts(config);
    const request = (field: string) => sfn.JsonPath.stringAt(`$.request.${field}`);
    const toFailure = { resultPath: '$.error' };

    // 1. Validate request
    const validateRequest = new tasks.LambdaInvoke(this, 'ValidateRequest', {
      stateName: StateNames.ValidateRequest,
      lambdaFunction: functions.validateRequest,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({
        // From the context, not "$": a path over a null state input fails the run with an
        // uncatchable States.Runtime, and a null input must end as RequestRejected like the rest.
        input: sfn.JsonPath.executionInput,
        execution: {
          id: sfn.JsonPath.executionId,
          name: sfn.JsonPath.executionName,
          startTime: sfn.JsonPath.executionStartTime,
        },
      }),
      // No ResultPath: the default ("$") replaces the input with the validated request, so
      // unknown keys never travel on. Written out, "$" trips aws-local-stepfunctions.
    });
    // The Catch keeps only the error: the raw input may be an array, a string or a number, and a
    // ResultPath of "$.error" cannot be written into those (States.ResultPathMatchFailure).
    const requestRejected = new sfn.Fail(this, 'RequestRejected', {
      stateName: 'Request rejected',
      errorPath: '$.Error',
      causePath: '$.Cause',
    });

    // 2. Acquire lock: one deploy per repo and path. A plan-only run takes no lock: it only reads
    // (read-only role, `plan -lock=false`) and never applies, so it must neither wait for nor hold
    // up a deploy that waits for approval (docs/workflow-contract.md, "Locks").
    const planOnly = sfn.Condition.stringEquals('$.request.mode', 'plan-only');
    const needsLock = new sfn.Choice(this, 'PlanOnly', { stateName: 'Plan only?' });
    const acquireLock = new tasks.DynamoPutItem(this, 'AcquireLock', {
      stateName: StateNames.AcquireLock,
      table,
      item: {
        pk: tasks.DynamoAttributeValue.fromString(request('lockKey')),
        executionArn: tasks.DynamoAttributeValue.fromString(sfn.JsonPath.executionId),
        runId: tasks.DynamoAttributeValue.fromString(request('runId')),
        repo: tasks.DynamoAttributeValue.fromString(request('repo')),
        path: tasks.DynamoAttributeValue.fromString(request('path')),
        // Who holds it, in words: a run refused the lock names it (requester, CI run).
        holder: tasks.DynamoAttributeValue.fromString(request('lockHolder')),
        acquiredAt: tasks.DynamoAttributeValue.fromString(sfn.JsonPath.executionStartTime),
        expiresAt: tasks.DynamoAttributeValue.numberFromString(request('lockExpiresAt')),
      },
      conditionExpression: 'attribute_not_exists(pk)',
      resultPath: sfn.JsonPath.DISCARD,
    });
    // Step Functions does not hand a failed condition's item (ReturnValuesOnConditionCheckFailure)
    // to the Catch, so the holder is read back; it may have let go meanwhile.
    const findLockHolder = new tasks.DynamoGetItem(this, 'FindLockHolder', {
      stateName: 'Find the lock holder',
      table,
      key: { pk: tasks.DynamoAttributeValue.fromString(request('lockKey')) },
      consistentRead: true,
      resultPath: '$.lockHolder',
    });
    const holderKnown = new sfn.Choice(this, 'LockHolderKnown', {
      stateName: 'Lock holder known?',
    });
    const nameLockHolder = new sfn.Pass(this, 'NameLockHolder', {
      stateName: 'Name the lock holder',
      parameters: {
        Error: RunErrors.LockHeld,
        Cause: sfn.JsonPath.format(
          `${LOCK_HELD_CAUSE} Holder: {}, execution {}`,
          sfn.JsonPath.stringAt('$.lockHolder.Item.holder.S'),
          sfn.JsonPath.stringAt('$.lockHolder.Item.executionArn.S'),
        ),
      },
      resultPath: '$.error',
    });
    const recordLockHeld = new sfn.Pass(this, 'RecordLockHeld', {
      stateName: 'Record lock held',
      result: sfn.Result.fromObject({ Error: RunErrors.LockHeld, Cause: LOCK_HELD_CAUSE }),
      resultPath: '$.error',
    });
    const lockHeld = new sfn.Fail(this, 'AnotherRunHoldsTheLock', {
      stateName: 'Another run holds the lock',
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });

    // 3. Plan: clone the pinned commit, plan, write the plan and its summary (read-only role).
    // What the runner checks out: for the plan, a drift glob's listing and the apply alike.
    const checkout = {
      // plan-only: the runner plans without terraform's state lock (it holds no deploy lock).
      requestMode: request('mode'),
      repo: request('repo'),
      ref: request('ref'),
      path: request('path'),
      runId: request('runId'),
      executionArn: sfn.JsonPath.executionId,
    };
    const plan = this.runnerTask('Plan', StateNames.Plan, props, props.tasks.plan, {
      timeout: timeouts.plan,
      environment: runnerRunEnv(checkout),
      resultPath: sfn.JsonPath.DISCARD,
    });
    const planNotStarted = this.retryTaskStart(plan, 'Plan', 'Nothing was planned.');

    // 4. Inspect plan: a function the plan role cannot influence checks that the run's artifacts
    // were written once, under its own prefix, with the recorded versions and SHA-256 values;
    // only then does the summary (addresses and actions, never values) enter the state.
    const inspectPlan = new tasks.LambdaInvoke(this, 'InspectPlan', {
      stateName: StateNames.InspectPlan,
      lambdaFunction: functions.inspectPlan,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({
        runId: request('runId'),
        executionArn: sfn.JsonPath.executionId,
      }),
      resultPath: '$.plan',
    });

    // 5. Changes?
    const changes = new sfn.Choice(this, 'Changes', { stateName: 'Changes?' });

    // 6. Request approval: waits for the approval page's SendTaskSuccess, at most the timeout.
    const requestApproval = new tasks.LambdaInvoke(this, 'RequestApproval', {
      stateName: StateNames.RequestApproval,
      lambdaFunction: functions.requestApproval,
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: sfn.TaskInput.fromObject({
        taskToken: sfn.JsonPath.taskToken,
        executionArn: sfn.JsonPath.executionId,
        request: sfn.JsonPath.objectAt('$.request'),
        plan: sfn.JsonPath.objectAt('$.plan.summary'),
        // The fixed part is checked against the handler's schema now, not at the first approval.
        ...requestApprovalPayloadSchema
          .pick({ approvers: true, approvalsRequired: true, timeoutSeconds: true })
          .parse({
            approvers: config.approvals.approvers,
            approvalsRequired: config.approvals.approvalsRequired,
            timeoutSeconds: timeouts.approval.toSeconds(),
          }),
      }),
      taskTimeout: sfn.Timeout.duration(timeouts.approval),
      resultPath: '$.approval',
    });
    const recordExpiry = new sfn.Pass(this, 'RecordExpiry', {
      stateName: 'Record expiry',
      result: sfn.Result.fromObject({
        Error: RunErrors.ApprovalExpired,
        Cause: `No approver decided within ${config.approvals.timeout}; nothing was applied. Start a new run.`,
      }),
      resultPath: '$.error',
    });

    // 7. Approved? Only a yes for exactly this plan applies.
    const approved = new sfn.Choice(this, 'Approved', { stateName: 'Approved?' });
    const recordRejection = new sfn.Pass(this, 'RecordRejection', {
      stateName: 'Record rejection',
      parameters: {
        Error: RunErrors.Rejected,
        Cause: sfn.JsonPath.format(
          'Rejected by {}: {}',
          sfn.JsonPath.stringAt('$.approval.approver'),
          sfn.JsonPath.stringAt('$.approval.reason'),
        ),
      },
      resultPath: '$.error',
    });
    const recordApprovalMismatch = new sfn.Pass(this, 'RecordApprovalMismatch', {
      stateName: 'Record approval mismatch',
      result: sfn.Result.fromObject({
        Error: RunErrors.ApprovalMismatch,
        Cause:
          'The approval does not match the plan of this run (different checksum); nothing was applied. Start a new run.',
      }),
      resultPath: '$.error',
    });

    // 7b. Verify approval: the callback alone never applies. Only a decision the approval page
    // signed, for this execution, plan and commit and enough approvers, lets Apply run.
    const verifyApproval = new tasks.LambdaInvoke(this, 'VerifyApproval', {
      stateName: StateNames.VerifyApproval,
      lambdaFunction: functions.verifyApproval,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({
        executionArn: sfn.JsonPath.executionId,
        request: sfn.JsonPath.objectAt('$.request'),
        plan: sfn.JsonPath.objectAt('$.plan.summary'),
        approval: sfn.JsonPath.objectAt('$.approval'),
      }),
      resultPath: '$.verifiedApproval',
    });

    // 8. Apply exactly the approved plan (apply role).
    const apply = this.runnerTask('Apply', StateNames.Apply, props, props.tasks.apply, {
      timeout: timeouts.apply,
      environment: runnerRunEnv({
        ...checkout,
        apply: {
          commit: sfn.JsonPath.stringAt('$.plan.summary.commit'),
          planKey: sfn.JsonPath.stringAt('$.plan.summary.planKey'),
          planVersionId: sfn.JsonPath.stringAt('$.plan.summary.planVersionId'),
          // From the verified, signed decision: never from what the callback said.
          planSha256: sfn.JsonPath.stringAt('$.verifiedApproval.planSha256'),
        },
      }),
      resultSelector: { taskArn: sfn.JsonPath.stringAt('$.TaskArn') },
      resultPath: '$.apply',
    });

    const applyNotStarted = this.retryTaskStart(apply, 'Apply', 'Nothing was applied.');

    // 9.-10. Notify result, release lock, done.
    const notifyResult = this.notify(
      'NotifyResult',
      StateNames.NotifyResult,
      functions,
      'finished',
      {
        resultPath: sfn.JsonPath.DISCARD,
      },
    );
    const releaseLock = this.releaseLock('ReleaseLock', StateNames.ReleaseLock, table);
    const holdsLock = new sfn.Choice(this, 'HoldsLock', { stateName: 'Holds the lock?' });
    const done = new sfn.Succeed(this, 'Done', { stateName: 'Done' });

    // 11.-12. The failure path: notify, release the lock, fail with a readable cause.
    const notifyFailure = this.notify(
      'NotifyFailure',
      StateNames.NotifyFailure,
      functions,
      'failed',
      {
        resultPath: '$.error',
      },
    );
    const releaseLockAfterFailure = this.releaseLock(
      'ReleaseLockAfterFailure',
      StateNames.ReleaseLockAfterFailure,
      table,
    );
    const holdsLockAfterFailure = new sfn.Choice(this, 'HoldsLockAfterFailure', {
      stateName: 'Holds the lock after failure?',
    });
    const runFailed = new sfn.Fail(this, 'RunFailed', {
      stateName: StateNames.RunFailed,
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });

    // Catches, most specific first.
    validateRequest.addCatch(requestRejected);
    acquireLock.addCatch(findLockHolder, {
      errors: ['DynamoDB.ConditionalCheckFailedException'],
      ...toFailure,
    });
    findLockHolder.addCatch(recordLockHeld, { resultPath: sfn.JsonPath.DISCARD });
    acquireLock.addCatch(notifyFailure, toFailure);
    plan.addCatch(planNotStarted, { errors: [...TASK_NOT_STARTED_ERRORS], ...toFailure });
    plan.addCatch(notifyFailure, toFailure);
    inspectPlan.addCatch(notifyFailure, toFailure);
    requestApproval.addCatch(recordExpiry, { errors: [sfn.Errors.TIMEOUT], ...toFailure });
    requestApproval.addCatch(notifyFailure, toFailure);
    verifyApproval.addCatch(notifyFailure, toFailure);
    apply.addCatch(applyNotStarted, { errors: [...TASK_NOT_STARTED_ERRORS], ...toFailure });
    apply.addCatch(notifyFailure, toFailure);
    notifyResult.addCatch(holdsLock, { resultPath: '$.notifyError' });
    // Only when the lock expired (TTL) and was taken over, or Acquire lock itself failed: the
    // release is conditional on this execution, so it leaves another run's lock alone.
    releaseLock.addCatch(done, {
      errors: ['DynamoDB.ConditionalCheckFailedException'],
      resultPath: sfn.JsonPath.DISCARD,
    });
    notifyFailure.addCatch(holdsLockAfterFailure, { resultPath: '$.notifyError' });
    releaseLockAfterFailure.addCatch(runFailed, {
      errors: ['DynamoDB.ConditionalCheckFailedException'],
      resultPath: sfn.JsonPath.DISCARD,
    });

    // Refused the lock: name the holder when it can be read, then fail.
    findLockHolder.next(
      holderKnown
        .when(sfn.Condition.isPresent('$.lockHolder.Item.holder.S'), nameLockHolder)
        .otherwise(recordLockHeld),
    );
    nameLockHolder.next(lockHeld);
    recordLockHeld.next(lockHeld);

    // The failure path. A plan-only run took no lock and releases none.
    recordExpiry.next(notifyFailure);
    recordRejection.next(notifyFailure);
    recordApprovalMismatch.next(notifyFailure);
    planNotStarted.next(notifyFailure);
    applyNotStarted.next(notifyFailure);
    notifyFailure.next(
      holdsLockAfterFailure
        .when(planOnly, runFailed)
        .otherwise(releaseLockAfterFailure.next(runFailed)),
    );

    // Drift checks (docs/drift.md): skipped, not queued, while a run holds the path.
    const drift = driftStates(this, { request, table, functions, notify: this.notify.bind(this) });
    drift.checkLock.addCatch(notifyFailure, toFailure);
    drift.report.addCatch(notifyFailure, toFailure);
    drift.checkLock.next(drift.busy.otherwise(plan));
    drift.report.next(done);
    // A drift glob: the runner lists its paths at the ref with the read-only plan task definition
    // (list mode: clone and list, no tool, no credentials beyond the plan's), then notify starts
    // one ordinary drift check of this state machine per path.
    const listPaths = this.runnerTask(
      'DriftListPaths',
      'Drift: list the paths',
      props,
      props.tasks.plan,
      {
        timeout: timeouts.plan,
        environment: runnerRunEnv({ list: true, ...checkout }),
        resultPath: sfn.JsonPath.DISCARD,
      },
    );
    const listNotStarted = this.retryTaskStart(listPaths, 'List', 'No drift check was started.');
    listPaths.addCatch(listNotStarted, { errors: [...TASK_NOT_STARTED_ERRORS], ...toFailure });
    listPaths.addCatch(notifyFailure, toFailure);
    listNotStarted.next(notifyFailure);
    drift.fanOut.addCatch(notifyFailure, toFailure);
    listPaths.next(drift.fanOut).next(drift.fannedOut);
    needsLock.when(isDriftGlob, listPaths);
    needsLock.when(isDriftCheck, drift.checkLock);
    changes.when(isDriftCheck, drift.report);

    // The happy path.
    notifyResult.next(holdsLock.when(planOnly, done).otherwise(releaseLock.next(done)));
    const definition = sfn.Chain.start(validateRequest).next(
      needsLock.when(planOnly, plan).otherwise(acquireLock.next(plan)),
    );
    plan.next(inspectPlan).next(
      changes
        .when(sfn.Condition.booleanEquals('$.plan.summary.hasChanges', false), notifyResult)
        .when(planOnly, notifyResult)
        .otherwise(
          requestApproval.next(
            approved
              .when(
                sfn.Condition.and(
                  sfn.Condition.booleanEquals('$.approval.approved', true),
                  sfn.Condition.stringEqualsJsonPath(
                    '$.approval.planSha256',
                    '$.plan.summary.planSha256',
                  ),
                ),
                verifyApproval.next(apply).next(notifyResult),
              )
              .when(sfn.Condition.booleanEquals('$.approval.approved', false), recordRejection)
              .otherwise(recordApprovalMismatch),
          ),
        ),
    );

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: stateMachineLogGroupName(this, props.stateMachineName),
      encryptionKey: props.encryptionKey,
      retention: config.logs.retentionDays as logs.RetentionDays,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      timeout: timeouts.execution,
      tracingEnabled: true,
      // Execution data stays out of the logs: task parameters carry the approval task token.
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    tagComponent(this.stateMachine, 'workflow', 'AWS::StepFunctions::StateMachine');
  }

  private runnerTask(
    id: string,
    stateName: string,
    props: WorkflowProps,
    task: RunnerTask,
    options: {
      timeout: Duration;
      environment: Record<string, string>;
      resultPath: string;
      resultSelector?: Record<string, unknown>;
    },
  ): tasks.EcsRunTask {
    return new tasks.EcsRunTask(this, id, {
      stateName,
      integrationPattern: sfn.IntegrationPattern.RUN_JOB,
      cluster: props.tasks.cluster,
      taskDefinition: task.taskDefinition,
      launchTarget: new tasks.EcsFargateLaunchTarget({
        platformVersion: ecs.FargatePlatformVersion.LATEST,
      }),
      subnets: props.network.subnets,
      securityGroups: [props.network.securityGroup],
      assignPublicIp: props.network.assignPublicIp,
      containerOverrides: [
        {
          containerDefinition: task.container,
          environment: Object.entries(options.environment).map(([name, value]) => ({
            name,
            value,
          })),
        },
      ],
      taskTimeout: sfn.Timeout.duration(options.timeout),
      resultSelector: options.resultSelector,
      resultPath: options.resultPath,
    });
  }

  /**
   * Retries a runner task that ECS never started (no Fargate capacity, throttling, a placement
   * failure), with backoff, and returns the state that says so when the retries are used up.
   * A task that started and then failed is not retried: apply must never run twice.
   */
  private retryTaskStart(task: tasks.EcsRunTask, phase: string, outcome: string): sfn.Pass {
    task.addRetry({
      errors: [...TASK_NOT_STARTED_ERRORS],
      maxAttempts: TASK_START_RETRY.maxAttempts,
      interval: Duration.seconds(TASK_START_RETRY.intervalSeconds),
      backoffRate: TASK_START_RETRY.backoffRate,
      maxDelay: Duration.seconds(TASK_START_RETRY.maxDelaySeconds),
      jitterStrategy: sfn.JitterType.FULL,
    });
    return new sfn.Pass(this, `Record${phase}NotStarted`, {
      stateName: `Record ${phase.toLowerCase()} not started`,
      parameters: {
        Error: RunErrors.RunnerNotStarted,
        Cause: sfn.JsonPath.format(
          `ECS could not start the ${phase} task after ${TASK_START_RETRY.maxAttempts + 1} attempts over about ${Math.round(taskStartRetryWindowSeconds() / 60)} minutes ({}). ${outcome} Start a new run later; if it keeps happening, give network.subnetIds in more availability zones. ECS said: {}`,
          sfn.JsonPath.stringAt('$.error.Error'),
          sfn.JsonPath.stringAt('$.error.Cause'),
        ),
      },
      resultPath: '$.error',
    });
  }

  private notify(
    id: string,
    stateName: string,
    functions: WorkflowFunctions,
    phase: 'finished' | 'failed' | 'drift' | 'drift-fan-out',
    options: { resultPath: string },
  ): tasks.LambdaInvoke {
    return new tasks.LambdaInvoke(this, id, {
      stateName,
      lambdaFunction: functions.notify,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({
        phase,
        executionArn: sfn.JsonPath.executionId,
        state: sfn.JsonPath.entirePayload,
      }),
      resultPath: options.resultPath,
    });
  }

  /** Deletes the lock only if this execution holds it. */
  private releaseLock(
    id: string,
    stateName: string,
    table: dynamodb.ITable,
  ): tasks.DynamoDeleteItem {
    const release = new tasks.DynamoDeleteItem(this, id, {
      stateName,
      table,
      key: {
        pk: tasks.DynamoAttributeValue.fromString(sfn.JsonPath.stringAt('$.request.lockKey')),
      },
      conditionExpression: 'executionArn = :arn',
      expressionAttributeValues: {
        ':arn': tasks.DynamoAttributeValue.fromString(sfn.JsonPath.executionId),
      },
      resultPath: sfn.JsonPath.DISCARD,
    });
    release.addRetry({
      errors: [
        'DynamoDB.ProvisionedThroughputExceededException',
        'DynamoDB.RequestLimitExceeded',
        'DynamoDB.ThrottlingException',
        'DynamoDB.InternalServerErrorException',
        'DynamoDB.AmazonDynamoDBException',
      ],
      maxAttempts: 4,
      interval: Duration.seconds(2),
      backoffRate: 2,
    });
    return release;
  }
}
