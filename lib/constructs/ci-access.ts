import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { DeployRunnerConfig } from '../config';

/** GitHub Actions' OIDC issuer. */
export const GITHUB_OIDC_HOST = 'token.actions.githubusercontent.com';

/** Properties of {@link CiAccess}. */
export interface CiAccessProps {
  /** Name of the state machine CI may start (the only one). */
  readonly stateMachineName: string;
  /** The runner's log group, which CI may read to show a run's output. */
  readonly runnerLogGroup: logs.ILogGroup;
  /**
   * GitHub Actions subjects that may assume the CI role.
   * @default - no role; attach {@link CiAccess.policy} to your CI system's own identity
   */
  readonly github?: NonNullable<DeployRunnerConfig['ci']['github']>;
  /**
   * Longest session of the CI role (1 h to 12 h, IAM's limits). The CLI follows a run, approval
   * wait included, with these credentials; a wait that outlives them ends the CLI (re-run the job
   * to attach again) while the run goes on.
   * @default Duration.hours(6) - the longest a GitHub-hosted job runs
   */
  readonly maxSessionDuration?: Duration;
}

/**
 * What CI may do, and nothing more: start this state machine, watch and stop its executions,
 * read the runner's logs. A managed policy any CI identity can attach, plus an optional role
 * GitHub Actions assumes through OIDC for the configured subjects.
 */
export class CiAccess extends Construct {
  /** The whole of CI's permissions. */
  readonly policy: iam.ManagedPolicy;
  /** The GitHub Actions role, when `github` is configured. */
  readonly role?: iam.Role;
  /** The state machine CI may start. */
  readonly stateMachineArn: string;
  /** ARN pattern of its executions (`...:execution:<name>:*`). */
  readonly executionsArn: string;

  constructor(scope: Construct, id: string, props: CiAccessProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.stateMachineArn = stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: props.stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.executionsArn = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${props.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      description:
        'deploy-runner CI: start runs of this state machine, watch them, read their logs',
      statements: [
        new iam.PolicyStatement({
          sid: 'StartRuns',
          actions: ['states:StartExecution'],
          resources: [this.stateMachineArn],
        }),
        new iam.PolicyStatement({
          sid: 'WatchAndStopRuns',
          actions: [
            'states:DescribeExecution',
            'states:GetExecutionHistory',
            'states:StopExecution',
          ],
          resources: [this.executionsArn],
        }),
        new iam.PolicyStatement({
          sid: 'DescribeTheWorkflow',
          // Tags: the runner's log group (RUNNER_LOG_GROUP_TAG), so the CLI streams it unasked.
          actions: ['states:DescribeStateMachine', 'states:ListTagsForResource'],
          resources: [this.stateMachineArn],
        }),
        new iam.PolicyStatement({
          sid: 'ReadRunnerLogs',
          actions: ['logs:GetLogEvents', 'logs:FilterLogEvents', 'logs:DescribeLogStreams'],
          resources: [props.runnerLogGroup.logGroupArn],
        }),
      ],
    });

    if (props.github) {
      // Created only on request: an account holds one provider per URL, so creating a second
      // one fails the whole deploy with EntityAlreadyExists.
      const providerArn =
        props.github.oidcProviderArn ??
        (props.github.createOidcProvider
          ? new iam.OidcProviderNative(this, 'GitHubOidcProvider', {
              url: `https://${GITHUB_OIDC_HOST}`,
              clientIds: ['sts.amazonaws.com'],
            }).oidcProviderArn
          : undefined);
      if (providerArn === undefined)
        throw new Error(
          'ci.github names no OIDC provider: set oidcProviderArn, or createOidcProvider: true',
        );
      this.role = new iam.Role(this, 'GitHubRole', {
        description: 'deploy-runner CI: GitHub Actions workflows of the configured subjects',
        maxSessionDuration: props.maxSessionDuration ?? Duration.hours(6),
        assumedBy: new iam.WebIdentityPrincipal(providerArn, {
          StringEquals: { [`${GITHUB_OIDC_HOST}:aud`]: 'sts.amazonaws.com' },
          StringLike: { [`${GITHUB_OIDC_HOST}:sub`]: props.github.subjects },
        }),
        managedPolicies: [this.policy],
      });
    }
  }
}
