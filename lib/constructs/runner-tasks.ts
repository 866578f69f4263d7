import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { runnerTaskEnv } from '../../containers/runner/src/env';
import type { DeployRunnerConfig } from '../config';
import { allowlistOf } from '../contracts';
import type { ArtifactBucket } from './artifact-bucket';
import { tagComponent } from './private/component-tag';

/** Name of the runner container in both task definitions (the contract's log stream prefix). */
export const RUNNER_CONTAINER_NAME = 'runner';

/** Properties of {@link RunnerTasks}. */
export interface RunnerTasksProps {
  /** The validated configuration: allowlist, IAM, size, secrets, log retention. */
  readonly config: DeployRunnerConfig;
  /** The VPC the cluster lives in. */
  readonly vpc: ec2.IVpc;
  /** Where runs keep their artifacts. */
  readonly artifacts: ArtifactBucket;
  /** Customer-managed key of the runner log group. */
  readonly encryptionKey: kms.IKey;
  /** The runner image (`containers/runner`, built for ARM64). */
  readonly image: ecs.ContainerImage;
  /**
   * Prefix of the task definition families (`<prefix>-plan`, `<prefix>-apply`). The state machine
   * runs the latest revision of a family, so the prefix must be unique in the account and region.
   */
  readonly familyPrefix: string;
  /**
   * The cluster the tasks run in; it must be in `vpc`.
   * @default - a new cluster with Container Insights
   */
  readonly cluster?: ecs.ICluster;
  /**
   * What happens to the runner's log group when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** One of the two runner task definitions. */
export interface RunnerTask {
  /** The Fargate task definition. */
  readonly taskDefinition: ecs.FargateTaskDefinition;
  /** Its only container, `runner`. */
  readonly container: ecs.ContainerDefinition;
  /** The task role the runner code (and Terraform) runs with. */
  readonly role: iam.Role;
  /** The role's inline statements from the config, if any. */
  readonly configuredStatements?: iam.Policy;
}

/**
 * The ECS cluster and the two runner task definitions. Plan and apply run the same image; what
 * differs is the role. The plan task carries a read-only role that may only put artifacts; only
 * the apply task definition carries the apply role, and the state machine starts it only after
 * an approval bound to the plan's checksum.
 */
export class RunnerTasks extends Construct {
  /** The cluster both tasks run in (a new one has Container Insights on). */
  readonly cluster: ecs.ICluster;
  /** The runner's log group (KMS-encrypted, with retention); CI may read it. */
  readonly logGroup: logs.LogGroup;
  /** `DR_MODE=plan`, read-only role. */
  readonly plan: RunnerTask;
  /** `DR_MODE=apply`, the apply role. */
  readonly apply: RunnerTask;

  constructor(scope: Construct, id: string, props: RunnerTasksProps) {
    super(scope, id);
    const { config } = props;

    if (props.cluster) {
      this.cluster = props.cluster;
    } else {
      const cluster = new ecs.Cluster(this, 'Cluster', {
        vpc: props.vpc,
        containerInsightsV2: ecs.ContainerInsights.ENABLED,
      });
      tagComponent(cluster, 'cluster', 'AWS::ECS::Cluster');
      this.cluster = cluster;
    }

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      encryptionKey: props.encryptionKey,
      retention: config.logs.retentionDays as logs.RetentionDays,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });

    const planRole = this.taskRole('PlanRole', 'plan', config.iam.plan);
    props.artifacts.grantPlanWriter(planRole.role);
    const applyRole = this.taskRole('ApplyRole', 'apply', config.iam.apply);
    props.artifacts.grantApplyReader(applyRole.role);

    const shared = { ...props, secrets: this.gitSecrets(config) };
    this.plan = this.task('Plan', 'plan', planRole, shared);
    this.apply = this.task('Apply', 'apply', applyRole, shared);
  }

  private taskRole(
    id: string,
    mode: 'plan' | 'apply',
    iamConfig: DeployRunnerConfig['iam']['plan'],
  ): Pick<RunnerTask, 'role' | 'configuredStatements'> {
    const role = new iam.Role(this, id, {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: `deploy-runner ${mode} task role (iam.${mode} in deploy-runner.config.json)`,
      managedPolicies: iamConfig.managedPolicyArns.map((arn, i) =>
        iam.ManagedPolicy.fromManagedPolicyArn(this, `${id}Policy${i}`, arn),
      ),
    });
    if (iamConfig.statements.length > 0) {
      const document = iam.PolicyDocument.fromJson({
        Version: '2012-10-17',
        Statement: iamConfig.statements,
      });
      const configuredStatements = new iam.Policy(this, `${id}ConfiguredStatements`, {
        document,
        roles: [role],
      });
      return { role, configuredStatements };
    }
    return { role };
  }

  private gitSecrets(config: DeployRunnerConfig): Record<string, ecs.Secret> {
    const secrets: Record<string, ecs.Secret> = {};
    if (config.git.credentialsSecretName) {
      const secret = secretsmanager.Secret.fromSecretNameV2(
        this,
        'GitToken',
        config.git.credentialsSecretName,
      );
      secrets.GIT_TOKEN = ecs.Secret.fromSecretsManager(secret);
    }
    if (config.git.sshKeySecretName) {
      const secret = secretsmanager.Secret.fromSecretNameV2(
        this,
        'GitSshKey',
        config.git.sshKeySecretName,
      );
      secrets.GIT_SSH_KEY = ecs.Secret.fromSecretsManager(secret);
    }
    return secrets;
  }

  private task(
    id: string,
    mode: 'plan' | 'apply',
    roles: Pick<RunnerTask, 'role' | 'configuredStatements'>,
    props: RunnerTasksProps & { secrets: Record<string, ecs.Secret> },
  ): RunnerTask {
    const { config } = props;
    const taskDefinition = new ecs.FargateTaskDefinition(this, `${id}TaskDefinition`, {
      family: `${props.familyPrefix}-${mode}`,
      cpu: config.runner.cpu,
      memoryLimitMiB: config.runner.memoryMiB,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
      taskRole: roles.role,
    });
    tagComponent(taskDefinition, `${mode}-task`, 'AWS::ECS::TaskDefinition');
    const container = taskDefinition.addContainer('Runner', {
      containerName: RUNNER_CONTAINER_NAME,
      image: props.image,
      essential: true,
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'runner', logGroup: this.logGroup }),
      // Not secret: what may run, where artifacts go. Secrets arrive through `secrets` only.
      environment: runnerTaskEnv({
        mode,
        allowlist: allowlistOf(config),
        gitKnownHosts: config.git.knownHosts,
        artifacts: {
          kind: 's3',
          bucket: props.artifacts.bucket.bucketName,
          kmsKeyArn: props.encryptionKey.keyArn,
          region: Stack.of(this).region,
        },
        logGroup: this.logGroup.logGroupName,
      }),
      secrets: props.secrets,
    });
    return { taskDefinition, container, ...roles };
  }
}
