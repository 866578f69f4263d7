import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { type DeployRunnerConfig, durationSeconds } from '../config';
import { RunErrors } from '../contracts';
import type { ArtifactBucket } from './artifact-bucket';
import { tagComponent } from './private/component-tag';
import type { RunnerNetwork } from './runner-network';
import type { RunnerTask, RunnerTasks } from './runner-tasks';
import type { WorkflowFunctions } from './workflow-functions';

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
}

/** The timeouts of a run, from the config. */
export function workflowTimeouts(config: DeployRunnerConfig) {
  const plan = Duration.seconds(durationSeconds(config.runner.planTimeout));
  const approval = Duration.seconds(durationSeconds(config.approvals.timeout));
  const apply = Duration.seconds(durationSeconds(config.runner.applyTimeout));
  const execution = Duration.seconds(
    plan.toSeconds() + approval.toSeconds() + apply.toSeconds() + 3600,
  );
  // A lock outlives the longest possible run by an hour, then DynamoDB TTL may drop it.
  const lock = Duration.seconds(execution.toSeconds() + 3600);
  return { plan, approval, apply, execution, lock };
}

/**
 * The deploy workflow: the Standard state machine of DESIGN.md, state for state, with the names
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
      stateName: 'Validate request',
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

    // 2. Acquire lock: one run per repo and path.
    const acquireLock = new tasks.DynamoPutItem(this, 'AcquireLock', {
      stateName: 'Acquire lock',
      table,
      item: {
        pk: tasks.DynamoAttributeValue.fromString(request('lockKey')),
        executionArn: tasks.DynamoAttributeValue.fromString(sfn.JsonPath.executionId),
        runId: tasks.DynamoAttributeValue.fromString(request('runId')),
        repo: tasks.DynamoAttributeValue.fromString(request('repo')),
        path: tasks.DynamoAttributeValue.fromString(request('path')),
        acquiredAt: tasks.DynamoAttributeValue.fromString(sfn.JsonPath.executionStartTime),
        expiresAt: tasks.DynamoAttributeValue.numberFromString(request('lockExpiresAt')),
      },
      conditionExpression: 'attribute_not_exists(pk)',
      resultPath: sfn.JsonPath.DISCARD,
    });
    const lockHeld = new sfn.Fail(this, 'AnotherRunHoldsTheLock', {
      stateName: 'Another run holds the lock',
      error: RunErrors.LockHeld,
      cause:
        'Another run of this repo and path is in progress; nothing was planned. Retry when it has finished.',
    });

    // 3. Plan: clone the pinned commit, plan, write the plan and its summary (read-only role).
    const plan = this.runnerTask('Plan', 'Plan', props, props.tasks.plan, {
      timeout: timeouts.plan,
      environment: {
        DR_REPO: request('repo'),
        DR_REF: request('ref'),
        DR_PATH: request('path'),
        DR_RUN_ID: request('runId'),
        DR_EXECUTION_ARN: sfn.JsonPath.executionId,
      },
      resultPath: sfn.JsonPath.DISCARD,
    });
    plan.addRetry({
      errors: ['ECS.AmazonECSException'],
      maxAttempts: 3,
      interval: Duration.seconds(10),
      backoffRate: 2,
    });

    // 4. Inspect plan: the summary (addresses and actions, never values) into the state.
    const inspectPlan = new tasks.CallAwsService(this, 'InspectPlan', {
      stateName: 'Inspect plan',
      service: 's3',
      action: 'getObject',
      parameters: {
        Bucket: props.artifacts.bucket.bucketName,
        Key: sfn.JsonPath.format('runs/{}/plan-result.json', request('runId')),
      },
      iamResources: [props.artifacts.runObjectsArn('plan-result.json')],
      additionalIamStatements: [
        new iam.PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [props.encryptionKey.keyArn],
        }),
      ],
      resultSelector: { summary: sfn.JsonPath.stringToJson(sfn.JsonPath.stringAt('$.Body')) },
      resultPath: '$.plan',
    });

    // 5. Changes?
    const changes = new sfn.Choice(this, 'Changes', { stateName: 'Changes?' });

    // 6. Request approval: waits for the approval page's SendTaskSuccess, at most the timeout.
    const requestApproval = new tasks.LambdaInvoke(this, 'RequestApproval', {
      stateName: 'Request approval',
      lambdaFunction: functions.requestApproval,
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: sfn.TaskInput.fromObject({
        taskToken: sfn.JsonPath.taskToken,
        executionArn: sfn.JsonPath.executionId,
        request: sfn.JsonPath.objectAt('$.request'),
        plan: sfn.JsonPath.objectAt('$.plan.summary'),
        approvers: config.approvals.approvers,
        approvalsRequired: config.approvals.approvalsRequired,
        timeoutSeconds: timeouts.approval.toSeconds(),
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

    // 8. Apply exactly the approved plan (apply role).
    const apply = this.runnerTask('Apply', 'Apply', props, props.tasks.apply, {
      timeout: timeouts.apply,
      environment: {
        DR_REPO: request('repo'),
        DR_REF: request('ref'),
        DR_PATH: request('path'),
        DR_RUN_ID: request('runId'),
        DR_EXECUTION_ARN: sfn.JsonPath.executionId,
        DR_COMMIT: sfn.JsonPath.stringAt('$.plan.summary.commit'),
        DR_PLAN_KEY: sfn.JsonPath.stringAt('$.plan.summary.planKey'),
        DR_PLAN_VERSION_ID: sfn.JsonPath.stringAt('$.plan.summary.planVersionId'),
        DR_PLAN_SHA256: sfn.JsonPath.stringAt('$.approval.planSha256'),
      },
      resultSelector: { taskArn: sfn.JsonPath.stringAt('$.TaskArn') },
      resultPath: '$.apply',
    });

    // 9.-10. Notify result, release lock, done.
    const notifyResult = this.notify('NotifyResult', 'Notify result', functions, 'finished', {
      resultPath: sfn.JsonPath.DISCARD,
    });
    const releaseLock = this.releaseLock('ReleaseLock', 'Release lock', table);
    const done = new sfn.Succeed(this, 'Done', { stateName: 'Done' });

    // 11.-12. The failure path: notify, release the lock, fail with a readable cause.
    const notifyFailure = this.notify('NotifyFailure', 'Notify failure', functions, 'failed', {
      resultPath: '$.error',
    });
    const releaseLockAfterFailure = this.releaseLock(
      'ReleaseLockAfterFailure',
      'Release lock after failure',
      table,
    );
    const runFailed = new sfn.Fail(this, 'RunFailed', {
      stateName: 'Run failed',
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });

    // Catches, most specific first.
    validateRequest.addCatch(requestRejected);
    acquireLock.addCatch(lockHeld, {
      errors: ['DynamoDB.ConditionalCheckFailedException'],
      ...toFailure,
    });
    acquireLock.addCatch(notifyFailure, toFailure);
    plan.addCatch(notifyFailure, toFailure);
    inspectPlan.addCatch(notifyFailure, toFailure);
    requestApproval.addCatch(recordExpiry, { errors: [sfn.Errors.TIMEOUT], ...toFailure });
    requestApproval.addCatch(notifyFailure, toFailure);
    apply.addCatch(notifyFailure, toFailure);
    notifyResult.addCatch(releaseLock, { resultPath: '$.notifyError' });
    releaseLock.addCatch(done, {
      errors: ['DynamoDB.ConditionalCheckFailedException'],
      resultPath: sfn.JsonPath.DISCARD,
    });
    notifyFailure.addCatch(releaseLockAfterFailure, { resultPath: '$.notifyError' });
    releaseLockAfterFailure.addCatch(runFailed, {
      errors: ['DynamoDB.ConditionalCheckFailedException'],
      resultPath: sfn.JsonPath.DISCARD,
    });

    // The failure path.
    recordExpiry.next(notifyFailure);
    recordRejection.next(notifyFailure);
    recordApprovalMismatch.next(notifyFailure);
    notifyFailure.next(releaseLockAfterFailure).next(runFailed);

    // The happy path.
    notifyResult.next(releaseLock).next(done);
    const definition = sfn.Chain.start(validateRequest)
      .next(acquireLock)
      .next(plan)
      .next(inspectPlan)
      .next(
        changes
          .when(sfn.Condition.booleanEquals('$.plan.summary.hasChanges', false), notifyResult)
          .when(sfn.Condition.stringEquals('$.request.mode', 'plan-only'), notifyResult)
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
                  apply.next(notifyResult),
                )
                .when(sfn.Condition.booleanEquals('$.approval.approved', false), recordRejection)
                .otherwise(recordApprovalMismatch),
            ),
          ),
      );

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      encryptionKey: props.encryptionKey,
      retention: config.logs.retentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.RETAIN,
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

  private notify(
    id: string,
    stateName: string,
    functions: WorkflowFunctions,
    phase: 'finished' | 'failed',
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
