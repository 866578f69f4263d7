import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { type DeployRunnerConfig, deployRunnerProps } from './config';
import { DeployRunner } from './constructs/deploy-runner';

/** Properties of {@link DeployRunnerStack}. */
export interface DeployRunnerStackProps extends StackProps {
  /** The validated configuration. */
  readonly config: DeployRunnerConfig;
  /**
   * Where the config came from, named in synth-time errors.
   * @default 'deploy-runner.config.json'
   */
  readonly configSource?: string;
}

/** The stack `bin/app.ts` deploys: one {@link DeployRunner} and the outputs CI and humans need. */
export class DeployRunnerStack extends Stack {
  readonly runner: DeployRunner;

  constructor(scope: Construct, id: string, props: DeployRunnerStackProps) {
    super(scope, id, {
      description: 'deploy-runner: CI starts a run, a human approves the plan, Fargate applies it',
      ...props,
    });
    this.runner = new DeployRunner(
      this,
      'DeployRunner',
      deployRunnerProps(props.config, props.configSource),
    );
    const runner = this.runner;

    new CfnOutput(this, 'StateMachineArn', {
      description:
        'What CI starts: deploy-runner start --state-machine-arn <this> (or env DEPLOY_RUNNER_STATE_MACHINE_ARN)',
      value: runner.stateMachine.stateMachineArn,
    });
    if (runner.ciAccess.role) {
      new CfnOutput(this, 'CiRoleArn', {
        description:
          'Role GitHub Actions assumes (aws-actions/configure-aws-credentials role-to-assume)',
        value: runner.ciAccess.role.roleArn,
      });
    }
    new CfnOutput(this, 'CiPolicyArn', {
      description: 'Managed policy to attach to any other CI identity',
      value: runner.ciAccess.policy.managedPolicyArn,
    });
    new CfnOutput(this, 'ApprovalBaseUrl', {
      description: 'Approval page origin; links are <this>/a/<capability>',
      value: runner.functions.approvalBaseUrl,
    });
    new CfnOutput(this, 'ConsoleUrl', {
      description: 'The state machine in the Step Functions console',
      value: runner.consoleUrl,
    });
    new CfnOutput(this, 'RunnerLogGroupName', {
      description: 'Log group of the plan and apply tasks',
      value: runner.tasks.logGroup.logGroupName,
    });
    new CfnOutput(this, 'ArtifactBucketName', {
      description: 'Plan files, plan text and results, per run under runs/<runId>/',
      value: runner.artifacts.bucket.bucketName,
    });
    if (runner.alarmTopic) {
      new CfnOutput(this, 'AlarmTopicArn', {
        description: 'Failed-run and cleanup alarms publish here (config monitoring.alarm)',
        value: runner.alarmTopic.topicArn,
      });
    }
  }
}
