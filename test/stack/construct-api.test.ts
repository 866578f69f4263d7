import { App, type CfnElement, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { deployRunnerProps, parseConfig } from '../../lib/config';
import { cdkJsonContext, NO_ASSETS_CONTEXT } from '../../lib/definition';
import { DeployRunner, type DeployRunnerProps } from '../../lib/index';
import { buildStack, ENV, exampleConfig } from './helpers';

/**
 * The construct API after aws-cdk's design guidelines: props take interfaces, persistent
 * resources take a removal policy, grants return an iam.Grant; and observability after
 * cdk-monitoring-constructs: metric methods, opt-in alarms, a dead-letter queue on cleanup.
 */

const newStack = () =>
  new Stack(
    new App({
      context: { ...cdkJsonContext(), ...NO_ASSETS_CONTEXT },
      builtinCloudFormationValidation: false,
    }),
    'Platform',
    { env: ENV },
  );

function construct(props: Partial<DeployRunnerProps> = {}, stack = newStack()) {
  const runner = new DeployRunner(stack, 'Deploys', {
    config: parseConfig(exampleConfig()),
    ...props,
  });
  return { stack, runner };
}

function build(props: Partial<DeployRunnerProps> = {}, stack = newStack()) {
  return { ...construct(props, stack), template: Template.fromStack(stack) };
}

/** The logical ID of a construct's CloudFormation resource. */
const logicalId = (construct: IConstruct | undefined): string => {
  if (construct === undefined) throw new Error('no such construct');
  return Stack.of(construct).resolve((construct.node.defaultChild as CfnElement).logicalId);
};

type Resources = Record<string, { Type: string; DeletionPolicy?: string; Properties: never }>;

/** The deletion policy of every table, bucket, key and log group, by resource type. */
function deletionPolicies(template: Template): Record<string, string[]> {
  const persistent = [
    'AWS::DynamoDB::Table',
    'AWS::S3::Bucket',
    'AWS::KMS::Key',
    'AWS::Logs::LogGroup',
  ];
  const policies: Record<string, string[]> = {};
  for (const resource of Object.values(template.toJSON().Resources as Resources)) {
    if (!persistent.includes(resource.Type)) continue;
    policies[resource.Type] ??= [];
    policies[resource.Type]?.push(resource.DeletionPolicy ?? 'Delete');
  }
  return policies;
}

describe('removalPolicy', () => {
  it('retains the table, both buckets, both keys and every log group by default', () => {
    const policies = deletionPolicies(build().template);
    expect(Object.keys(policies).sort()).toEqual([
      'AWS::DynamoDB::Table',
      'AWS::KMS::Key',
      'AWS::Logs::LogGroup',
      'AWS::S3::Bucket',
    ]);
    expect(policies['AWS::KMS::Key']).toHaveLength(2);
    expect(policies['AWS::S3::Bucket']).toHaveLength(2);
    // Seven functions, the runner and the state machine.
    expect(policies['AWS::Logs::LogGroup']).toHaveLength(9);
    expect(new Set(Object.values(policies).flat())).toEqual(new Set(['Retain']));
  });

  it('applies RemovalPolicy.DESTROY to every one of them', () => {
    const policies = deletionPolicies(build({ removalPolicy: RemovalPolicy.DESTROY }).template);
    expect(Object.values(policies).flat().length).toBe(14);
    expect(new Set(Object.values(policies).flat())).toEqual(new Set(['Delete']));
  });
});

describe('props take interfaces', () => {
  it('uses a given key, VPC and cluster instead of creating them', () => {
    const stack = newStack();
    const key = kms.Key.fromKeyArn(
      stack,
      'PlatformKey',
      'arn:aws:kms:eu-west-1:111111111111:key/11111111-2222-3333-4444-555555555555',
    );
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'PlatformVpc', {
      vpcId: 'vpc-0123456789abcdef0',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0aaaaaaaaaaaaaaa2'],
      privateSubnetRouteTableIds: ['rtb-01', 'rtb-02'],
    });
    const cluster = ecs.Cluster.fromClusterAttributes(stack, 'PlatformCluster', {
      clusterName: 'platform',
      vpc,
    });
    const { template, runner } = build({ encryptionKey: key as kms.IKey, vpc, cluster }, stack);
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.resourceCountIs('AWS::ECS::Cluster', 0);
    // Only the decision key is the construct's own: it must be asymmetric and its policy exact.
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResourceProperties('AWS::KMS::Key', { KeySpec: 'ECC_NIST_P256' });
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          Match.objectLike({
            ServerSideEncryptionByDefault: Match.objectLike({ KMSMasterKeyID: key.keyArn }),
          }),
        ],
      },
    });
    expect(runner.tasks.cluster).toBe(cluster);
    const definition = JSON.stringify(template.findResources('AWS::StepFunctions::StateMachine'));
    expect(definition).toContain(':cluster/platform');
    expect(definition).toContain('subnet-0aaaaaaaaaaaaaaa1');
    // Private subnets with egress: no public IP (CDK leaves AssignPublicIp out when disabled).
    expect(definition).not.toContain('AssignPublicIp');
  });
});

describe('grants', () => {
  it('grantStartExecution lets a CI role start this state machine, and nothing else', () => {
    const { stack, runner } = construct();
    const role = new iam.Role(stack, 'OtherCi', {
      assumedBy: new iam.AccountRootPrincipal(),
    });
    const grant = runner.grantStartExecution(role);
    expect(grant).toBeInstanceOf(iam.Grant);
    expect(grant.success).toBe(true);
    const template = Template.fromStack(stack);
    const machine = logicalId(runner.stateMachine);
    const policies = Object.values(
      template.findResources('AWS::IAM::Policy', {
        Properties: {
          Roles: [{ Ref: logicalId(role) }],
        },
      }),
    );
    expect(policies).toHaveLength(1);
    expect(policies[0]?.Properties.PolicyDocument.Statement).toEqual([
      { Action: 'states:StartExecution', Effect: 'Allow', Resource: { Ref: machine } },
    ]);
  });

  it('grantFollowRuns lets it watch and stop runs and read the runner logs', () => {
    const { stack, runner } = construct();
    const role = new iam.Role(stack, 'Watcher', { assumedBy: new iam.AccountRootPrincipal() });
    expect(runner.grantFollowRuns(role).success).toBe(true);
    const statements = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes('Watcher'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: string | string[] }[]);
    expect(statements.flatMap((s) => [s.Action].flat()).sort()).toEqual([
      'logs:DescribeLogStreams',
      'logs:FilterLogEvents',
      'logs:GetLogEvents',
      'states:DescribeExecution',
      'states:DescribeStateMachine',
      'states:GetExecutionHistory',
      'states:ListTagsForResource',
      'states:StopExecution',
    ]);
    expect(JSON.stringify(statements)).toContain(':execution:Platform:*');
  });
});

describe('observability', () => {
  it('offers metrics of failed, timed-out and aborted runs of this state machine', () => {
    const { stack, runner } = build();
    const machineArn = stack.resolve(runner.stateMachine.stateMachineArn);
    const metrics = {
      ExecutionsFailed: runner.metricFailedRuns(),
      ExecutionsTimedOut: runner.metricTimedOutRuns(),
      ExecutionsAborted: runner.metricAbortedRuns(),
    };
    for (const [name, metric] of Object.entries(metrics)) {
      expect(metric.namespace).toBe('AWS/States');
      expect(metric.metricName).toBe(name);
      expect(stack.resolve(metric.dimensions)).toEqual({ StateMachineArn: machineArn });
    }
    expect(runner.metricCleanupDeadLetters().metricName).toBe('ApproximateNumberOfMessagesVisible');
  });

  it('has no alarm and no topic unless asked', () => {
    const { template, runner } = build();
    template.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    template.resourceCountIs('AWS::SNS::Topic', 0);
    expect(runner.failedRunsAlarm).toBeUndefined();
    expect(buildStack().template.findOutputs('AlarmTopicArn')).toEqual({});
  });

  it('alarms on failed or timed-out runs and undelivered cleanups, to an encrypted TLS-only topic', () => {
    const { template, runner } = build({
      failedRunsAlarm: { emails: ['oncall@acme.example'] },
    });
    const id = logicalId;
    const topic = runner.alarmTopic;
    expect(topic).toBeDefined();
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [id(runner.encryptionKey), 'Arn'] },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@acme.example',
    });
    template.resourceCountIs('AWS::CloudWatch::Alarm', 2);
    const topicRef = { Ref: id(topic) };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [topicRef],
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      TreatMissingData: 'notBreaching',
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'failed + timedOut' }),
        Match.objectLike({
          Id: 'failed',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ MetricName: 'ExecutionsFailed' }),
          }),
        }),
        Match.objectLike({
          Id: 'timedOut',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ MetricName: 'ExecutionsTimedOut' }),
          }),
        }),
      ]),
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [topicRef],
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
    });
    // CloudWatch may use the key for this topic only.
    const key = template.toJSON().Resources[id(runner.encryptionKey)];
    expect(key.Properties.KeyPolicy.Statement).toContainEqual(
      expect.objectContaining({
        Sid: 'AllowCloudWatchAlarmsToPublish',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Condition: {
          StringEquals: {
            'kms:EncryptionContext:aws:sns:topicArn':
              'arn:aws:sns:eu-west-1:111111111111:Platform-alarms',
          },
        },
      }),
    );
  });

  it('publishes to a given topic instead of creating one', () => {
    const stack = newStack();
    const topic = sns.Topic.fromTopicArn(
      stack,
      'Pager',
      'arn:aws:sns:eu-west-1:111111111111:pager',
    );
    const { template } = build({ failedRunsAlarm: { topic } }, stack);
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: ['arn:aws:sns:eu-west-1:111111111111:pager'],
    });
  });

  it('turns the alarm on from config monitoring.alarm, and names its topic in an output', () => {
    const config = exampleConfig();
    config.monitoring = { alarm: { emails: ['oncall@acme.example'] } };
    const props = deployRunnerProps(parseConfig(config), 'x.json');
    expect(props.failedRunsAlarm).toEqual({ emails: ['oncall@acme.example'] });
    expect(deployRunnerProps(parseConfig(exampleConfig())).failedRunsAlarm).toBeUndefined();
    const { template } = buildStack(config);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 2);
    expect(Object.keys(template.findOutputs('AlarmTopicArn'))).toEqual(['AlarmTopicArn']);
    expect(() => parseConfig({ ...config, monitoring: { alarm: { emails: ['nope'] } } })).toThrow(
      /monitoring\.alarm\.emails/,
    );
  });

  it('sends cleanup events EventBridge cannot deliver to an encrypted, TLS-only dead-letter queue', () => {
    const { template, runner } = build();
    const queue = logicalId(runner.cleanupDeadLetterQueue);
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ source: ['aws.states'] }),
      Targets: [
        Match.objectLike({
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queue, 'Arn'] } },
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86_400 },
        }),
      ],
    });
    const queuePolicy = JSON.stringify(template.findResources('AWS::SQS::QueuePolicy'));
    expect(queuePolicy).toContain('"aws:SecureTransport":"false"');
    expect(queuePolicy).toContain('events.amazonaws.com');
    expect(queuePolicy).toContain('aws:SourceArn');
  });
});
