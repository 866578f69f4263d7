import { Annotations, ArnFormat, Duration, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { configWarnings, type DeployRunnerConfig, durationSeconds } from '../config';
import { RUNNER_LOG_GROUP_TAG } from '../contracts';
import { ArtifactBucket } from './artifact-bucket';
import { CiAccess } from './ci-access';
import { DriftSchedules } from './drift';
import { tagComponent } from './private/component-tag';
import { assertDeployable, assertEnvironmentsFit } from './private/deployability';
import { createEncryptionKey } from './private/encryption-key';
import { acknowledgeNagFindings } from './private/nag-acknowledgements';
import { defaultRunnerImage } from './private/runner-image';
import { RunnerNetwork } from './runner-network';
import { RunnerTasks } from './runner-tasks';
import { Workflow, workflowTimeouts } from './workflow';
import { WorkflowFunctions } from './workflow-functions';

/** Properties of {@link DeployRunner}. */
export interface DeployRunnerProps {
  /** The validated configuration (`parseConfig` / `loadConfig` from `lib/config`). */
  readonly config: DeployRunnerConfig;
  /**
   * Where the config came from, named in synth-time errors.
   * @default 'deploy-runner.config.json'
   */
  readonly configSource?: string;
  /**
   * Physical name of the state machine; CI and the approval page refer to it by this name.
   * Set it when a stack holds more than one DeployRunner.
   * @default - the stack name
   */
  readonly stateMachineName?: string;
  /**
   * The runner image.
   * @default - built from `containers/runner/Dockerfile` for ARM64 (build context: the package root)
   */
  readonly runnerImage?: ecs.ContainerImage;
  /**
   * Encrypts artifacts, logs, the page secret and the alarm topic. Its key policy must let
   * CloudWatch Logs of this account and region use it (the policy of the default key does).
   * @default - a new customer-managed key with rotation
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * The VPC of the runner tasks. Takes precedence over `config.network`.
   * @default - the VPC `config.network` names, else a new VPC with public subnets and no NAT
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Where in `vpc` the tasks run; they reach git and registries through NAT, or a public IP in
   * public subnets.
   * @default - the private subnets with egress of `vpc`
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * The ECS cluster of the runner tasks; it must be in the runner's VPC.
   * @default - a new cluster with Container Insights
   */
  readonly cluster?: ecs.ICluster;
  /**
   * What happens to the table, the buckets, the keys and the log groups when the stack is
   * deleted. `DESTROY` fails on a bucket that still holds objects: empty it first.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * An alarm on failed and timed-out runs, and on cleanup events that could not be delivered.
   * @default - no alarms (config `monitoring.alarm` turns them on)
   */
  readonly failedRunsAlarm?: FailedRunsAlarmProps;
}

/** Where {@link DeployRunner}'s alarms go. */
export interface FailedRunsAlarmProps {
  /**
   * The topic the alarms publish to.
   * @default - a new topic encrypted with the runner's key, TLS only
   */
  readonly topic?: sns.ITopic;
  /**
   * Addresses subscribed to the new topic (each confirms by email). Ignored with `topic`.
   * @default - none
   */
  readonly emails?: string[];
  /**
   * The window in which one failed or timed-out run raises the alarm.
   * @default Duration.minutes(5)
   */
  readonly period?: Duration;
}

/**
 * deploy-runner: CI starts a run, a human approves the saved plan, Fargate applies exactly that
 * plan. A facade over the parts, each in its own file: artifacts, runner network and tasks, the
 * workflow functions, the state machine, the cleanup rule and CI access.
 */
export class DeployRunner extends Construct {
  /** Encrypts artifacts, logs, the page secret and the alarm topic. */
  readonly encryptionKey: kms.IKey;
  /** Plan files, plan text, results and error reports of every run. */
  readonly artifacts: ArtifactBucket;
  /** Locks, approval runs and approval links (`pk`, TTL `expiresAt`). */
  readonly table: dynamodb.Table;
  /** Where the runner tasks run. */
  readonly network: RunnerNetwork;
  /** The cluster, the plan and apply task definitions and their roles. */
  readonly tasks: RunnerTasks;
  /** The Lambda handlers. */
  readonly functions: WorkflowFunctions;
  /** The state machine and its log group. */
  readonly workflow: Workflow;
  /** CI's managed policy and the optional GitHub OIDC role. */
  readonly ciAccess: CiAccess;
  /** Releases the lock of executions that end without running their Catch. */
  readonly cleanupRule: events.Rule;
  /** Cleanup events EventBridge could not deliver after its retries (the lock then waits for its TTL). */
  readonly cleanupDeadLetterQueue: sqs.Queue;
  /** Failed or timed-out runs, when `failedRunsAlarm` is set. */
  readonly failedRunsAlarm?: cloudwatch.Alarm;
  /** Undelivered cleanup events, when `failedRunsAlarm` is set. */
  readonly cleanupDeadLettersAlarm?: cloudwatch.Alarm;
  /** Where the alarms publish, when `failedRunsAlarm` is set. */
  readonly alarmTopic?: sns.ITopic;
  /** EventBridge Scheduler schedules of the config's drift checks. */
  readonly driftSchedules: DriftSchedules;
  /** The state machine's physical name. */
  readonly stateMachineName: string;
  /** Step Functions console link of an execution, with `{executionArn}` to fill in. */
  readonly consoleUrlTemplate: string;
  /** Step Functions console link of the state machine. */
  readonly consoleUrl: string;

  constructor(scope: Construct, id: string, props: DeployRunnerProps) {
    super(scope, id);
    const { config } = props;
    const configSource = props.configSource ?? 'deploy-runner.config.json';
    assertDeployable(config, configSource, { customRunnerImage: props.runnerImage !== undefined });
    for (const warning of configWarnings(config))
      Annotations.of(this).addWarningV2('deploy-runner:approvalsUnreachable', warning);
    const stack = Stack.of(this);
    const timeouts = workflowTimeouts(config);
    this.stateMachineName = props.stateMachineName ?? stack.stackName.slice(0, 80);
    // Known before the state machine exists: the approval page's policy needs it, and the
    // state machine needs the approval functions.
    const stateMachineArn = stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: this.stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const consoleBase = `https://${stack.region}.console.aws.amazon.com/states/home?region=${stack.region}#`;
    this.consoleUrlTemplate = `${consoleBase}/v2/executions/details/{executionArn}`;
    this.consoleUrl = `${consoleBase}/statemachines/view/${stateMachineArn}`;

    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.encryptionKey = props.encryptionKey ?? createEncryptionKey(this, 'Key', removalPolicy);
    this.artifacts = new ArtifactBucket(this, 'Artifacts', {
      encryptionKey: this.encryptionKey,
      retention: Duration.days(config.artifacts.retentionDays),
      accessLogRetention: Duration.days(config.logs.retentionDays),
      removalPolicy,
    });

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expiresAt',
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy,
    });
    tagComponent(this.table, 'table', 'AWS::DynamoDB::Table');

    this.network = new RunnerNetwork(this, 'Network', {
      network: config.network,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      flowLogBucket: this.artifacts.accessLogBucket,
    });
    this.tasks = new RunnerTasks(this, 'Runner', {
      config,
      vpc: this.network.vpc,
      artifacts: this.artifacts,
      encryptionKey: this.encryptionKey,
      familyPrefix: this.stateMachineName,
      image: props.runnerImage ?? defaultRunnerImage(),
      cluster: props.cluster,
      removalPolicy,
    });
    // ReadOnlyAccess reads every table; this one holds open task tokens and approval state.
    this.tasks.plan.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'NeverReadApprovals',
        effect: iam.Effect.DENY,
        actions: ['dynamodb:*'],
        resources: [this.table.tableArn],
      }),
    );
    this.functions = new WorkflowFunctions(this, 'Functions', {
      config,
      table: this.table,
      artifacts: this.artifacts,
      encryptionKey: this.encryptionKey,
      stateMachineArn,
      consoleUrlTemplate: this.consoleUrlTemplate,
      lockTtl: timeouts.lock,
      removalPolicy,
    });
    assertEnvironmentsFit(
      {
        'validate-request': this.functions.validateRequest,
        'request-approval': this.functions.requestApproval,
        'approval-page': this.functions.approvalPage,
        notify: this.functions.notify,
        cleanup: this.functions.cleanup,
      },
      configSource,
    );
    this.workflow = new Workflow(this, 'Workflow', {
      config,
      stateMachineName: this.stateMachineName,
      functions: this.functions,
      tasks: this.tasks,
      network: this.network,
      table: this.table,
      artifacts: this.artifacts,
      encryptionKey: this.encryptionKey,
      removalPolicy,
    });
    // The CLI reads it (states:ListTagsForResource) to stream the runner's output with no flag.
    Tags.of(this.workflow.stateMachine).add(RUNNER_LOG_GROUP_TAG, this.tasks.logGroup.logGroupName);

    // Holds only status-change events (execution ARNs, the run request): SQS-managed encryption
    // keeps EventBridge out of the artifact key's policy.
    this.cleanupDeadLetterQueue = new sqs.Queue(this, 'CleanupDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    this.driftSchedules = new DriftSchedules(this, 'Drift', {
      entries: config.drift,
      stateMachineArn,
      namePrefix: this.stateMachineName,
    });

    // StopExecution and timeouts end a run without its Catch: release the lock from outside.
    this.cleanupRule = new events.Rule(this, 'CleanupRule', {
      description: 'deploy-runner: release the lock of stopped, timed-out and failed runs',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          status: ['ABORTED', 'TIMED_OUT', 'FAILED'],
          stateMachineArn: [this.workflow.stateMachine.stateMachineArn],
        },
      },
      targets: [
        new targets.LambdaFunction(this.functions.cleanup, {
          retryAttempts: 8,
          maxEventAge: Duration.hours(24),
          deadLetterQueue: this.cleanupDeadLetterQueue,
        }),
      ],
    });

    this.ciAccess = new CiAccess(this, 'Ci', {
      stateMachineName: this.stateMachineName,
      runnerLogGroup: this.tasks.logGroup,
      github: config.ci.github,
      maxSessionDuration: Duration.seconds(durationSeconds(config.ci.maxSessionDuration)),
    });

    if (props.failedRunsAlarm) {
      const alarms = this.addAlarms(props.failedRunsAlarm);
      this.alarmTopic = alarms.topic;
      this.failedRunsAlarm = alarms.failedRuns;
      this.cleanupDeadLettersAlarm = alarms.cleanupDeadLetters;
    }

    acknowledgeNagFindings(this, config);
  }

  /** The state machine. */
  get stateMachine() {
    return this.workflow.stateMachine;
  }

  /** Runs that failed: errors, rejections, expired approvals, refused locks (`ExecutionsFailed`). */
  metricFailedRuns(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricFailed(props);
  }

  /** Runs that outlived the state machine's timeout (`ExecutionsTimedOut`). */
  metricTimedOutRuns(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricTimedOut(props);
  }

  /** Runs stopped from outside, `deploy-runner` CLI or console (`ExecutionsAborted`). */
  metricAbortedRuns(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricAborted(props);
  }

  /** Cleanup events waiting in the dead-letter queue: locks only their TTL will release. */
  metricCleanupDeadLetters(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.cleanupDeadLetterQueue.metricApproximateNumberOfMessagesVisible(props);
  }

  /** Lets `grantee` start runs of this state machine, and nothing else (a CI role). */
  grantStartExecution(grantee: iam.IGrantable): iam.Grant {
    return this.stateMachine.grantStartExecution(grantee);
  }

  /** Lets `grantee` follow and stop runs and read the runner's logs, as the CLI does. */
  grantFollowRuns(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['states:DescribeExecution', 'states:GetExecutionHistory', 'states:StopExecution'],
      resourceArns: [this.ciAccess.executionsArn],
    })
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: ['states:DescribeStateMachine', 'states:ListTagsForResource'],
          resourceArns: [this.stateMachine.stateMachineArn],
        }),
      )
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: ['logs:GetLogEvents', 'logs:FilterLogEvents', 'logs:DescribeLogStreams'],
          resourceArns: [this.tasks.logGroup.logGroupArn],
        }),
      );
  }

  private addAlarms(props: FailedRunsAlarmProps) {
    const period = props.period ?? Duration.minutes(5);
    let topic = props.topic;
    if (!topic) {
      // Named, so the key policy below can name it without a reference cycle (key -> topic -> key).
      const topicName = `${this.stateMachineName}-alarms`;
      const created = new sns.Topic(this, 'AlarmTopic', {
        topicName,
        displayName: `deploy-runner ${this.stateMachineName}: failed runs`,
        masterKey: this.encryptionKey,
        enforceSSL: true,
      });
      // CloudWatch publishes to the encrypted topic with the key; SNS passes the topic's ARN as
      // encryption context, so this allows the key for this topic only.
      this.encryptionKey.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowCloudWatchAlarmsToPublish',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: {
            StringEquals: {
              'kms:EncryptionContext:aws:sns:topicArn': Stack.of(this).formatArn({
                service: 'sns',
                resource: topicName,
              }),
            },
          },
        }),
      );
      for (const email of props.emails ?? [])
        created.addSubscription(new subscriptions.EmailSubscription(email));
      topic = created;
    }
    const action = new cloudwatchActions.SnsAction(topic);
    const failedRuns = new cloudwatch.Alarm(this, 'FailedRunsAlarm', {
      alarmDescription: `deploy-runner ${this.stateMachineName}: a run failed or timed out`,
      metric: new cloudwatch.MathExpression({
        expression: 'failed + timedOut',
        usingMetrics: {
          failed: this.metricFailedRuns({ statistic: 'Sum' }),
          timedOut: this.metricTimedOutRuns({ statistic: 'Sum' }),
        },
        label: 'Failed or timed-out runs',
        period,
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const cleanupDeadLetters = new cloudwatch.Alarm(this, 'CleanupDeadLettersAlarm', {
      alarmDescription: `deploy-runner ${this.stateMachineName}: a lock could not be released; it stays until its TTL`,
      metric: this.metricCleanupDeadLetters({ statistic: 'Maximum', period }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of [failedRuns, cleanupDeadLetters]) alarm.addAlarmAction(action);
    return { topic, failedRuns, cleanupDeadLetters };
  }
}
