import { Annotations, ArnFormat, Duration, IgnoreMode, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { configWarnings, type DeployRunnerConfig, durationSeconds } from '../config';
import { ArtifactBucket } from './artifact-bucket';
import { CiAccess } from './ci-access';
import { DriftSchedules } from './drift';
import { tagComponent } from './private/component-tag';
import { assertDeployable, assertEnvironmentsFit } from './private/deployability';
import { createEncryptionKey } from './private/encryption-key';
import { acknowledgeNagFindings } from './private/nag-acknowledgements';
import { PACKAGE_ROOT, RUNNER_BUILD_CONTEXT_EXCLUDE, RUNNER_DOCKERFILE } from './private/paths';
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
}

/**
 * deploy-runner: CI starts a run, a human approves the saved plan, Fargate applies exactly that
 * plan. A facade over the parts, each in its own file: artifacts, runner network and tasks, the
 * workflow functions, the state machine, the cleanup rule and CI access.
 */
export class DeployRunner extends Construct {
  /** Encrypts artifacts, logs and the page secret. */
  readonly encryptionKey: kms.Key;
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

    this.encryptionKey = createEncryptionKey(this, 'Key');
    this.artifacts = new ArtifactBucket(this, 'Artifacts', {
      encryptionKey: this.encryptionKey,
      retention: Duration.days(config.artifacts.retentionDays),
      accessLogRetention: Duration.days(config.logs.retentionDays),
    });

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expiresAt',
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    tagComponent(this.table, 'table', 'AWS::DynamoDB::Table');

    this.network = new RunnerNetwork(this, 'Network', {
      network: config.network,
      flowLogBucket: this.artifacts.accessLogBucket,
    });
    this.tasks = new RunnerTasks(this, 'Runner', {
      config,
      vpc: this.network.vpc,
      artifacts: this.artifacts,
      encryptionKey: this.encryptionKey,
      familyPrefix: this.stateMachineName,
      image:
        props.runnerImage ??
        ecs.ContainerImage.fromAsset(PACKAGE_ROOT, {
          file: RUNNER_DOCKERFILE,
          platform: Platform.LINUX_ARM64,
          ignoreMode: IgnoreMode.DOCKER,
          exclude: RUNNER_BUILD_CONTEXT_EXCLUDE,
        }),
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
      targets: [new targets.LambdaFunction(this.functions.cleanup, { retryAttempts: 8 })],
    });

    this.ciAccess = new CiAccess(this, 'Ci', {
      stateMachineName: this.stateMachineName,
      runnerLogGroup: this.tasks.logGroup,
      github: config.ci.github,
      maxSessionDuration: Duration.seconds(durationSeconds(config.ci.maxSessionDuration)),
    });

    acknowledgeNagFindings(this, config);
  }

  /** The state machine. */
  get stateMachine() {
    return this.workflow.stateMachine;
  }
}
