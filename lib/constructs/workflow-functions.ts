import { ArnFormat, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import {
  type SettingsInput,
  type SignInSettings,
  settingsToEnv,
} from '../../handlers/shared/settings';
import type { DeployRunnerConfig } from '../config';
import { allowlistOf, artifactKeys } from '../contracts';
import type { ArtifactBucket } from './artifact-bucket';
import { driftGlobsOf, grantDriftReporting } from './drift';
import { createDecisionKey } from './private/decision-key';
import { handlerFunction } from './private/handler-function';

/** Properties of {@link WorkflowFunctions}. */
export interface WorkflowFunctionsProps {
  /** The validated configuration. */
  readonly config: DeployRunnerConfig;
  /** Locks, approval runs and approval links. */
  readonly table: dynamodb.ITable;
  /** Where runs keep their artifacts. */
  readonly artifacts: ArtifactBucket;
  /** Customer-managed key of the log groups and the page secret. */
  readonly encryptionKey: kms.IKey;
  /**
   * ARN of the state machine the approval page answers. Built from the state machine's name, not
   * taken from the state machine itself: the state machine refers to these functions.
   */
  readonly stateMachineArn: string;
  /** Step Functions console link with `{executionArn}`. */
  readonly consoleUrlTemplate: string;
  /** Seconds after the execution start when a lock is stale (the state machine timeout + 1h). */
  readonly lockTtl: Duration;
  /**
   * What happens to the decision key and the log groups when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The seven Lambda handlers of the workflow, each with exactly the permissions it uses:
 * `validate-request` none; `request-approval` the table, SES and the Slack token;
 * `approval-page` the table, the page secret, plan text, task responses to and execution status
 * of this one state machine, signing with the decision key, and (with `approvals.signIn`) the
 * sign-in client secret; `notify` SES, the Slack token
 * and the runner's error reports; `cleanup` the table; `verify-approval` verifying with the
 * decision key; `inspect-plan` reads run artifacts and their version listing, and writes nothing.
 */
export class WorkflowFunctions extends Construct {
  /** `Validate request`: schema and allowlist check, builds `$.request`. */
  readonly validateRequest: nodejs.NodejsFunction;
  /** `Request approval`: stores the task token, sends one link per approver. */
  readonly requestApproval: nodejs.NodejsFunction;
  /** The approval page: GET shows, POST decides and answers the task token. */
  readonly approvalPage: nodejs.NodejsFunction;
  /** `Notify result` / `Notify failure`: email and Slack. */
  readonly notify: nodejs.NodejsFunction;
  /** Releases the lock of executions that ended without their Catch (EventBridge). */
  readonly cleanup: nodejs.NodejsFunction;
  /** `Inspect plan`: verifies the run's artifacts (one version each, recorded SHA-256) and reads the plan result. */
  readonly inspectPlan: nodejs.NodejsFunction;
  /** The approval page's public URL (no IAM auth: the capability links are the auth). */
  readonly approvalPageUrl: lambda.FunctionUrl;
  /** `https://<url-id>.lambda-url.<region>.on.aws`, no trailing slash. */
  readonly approvalBaseUrl: string;
  /** HMAC key of the approval page's nonces. */
  readonly pageSecret: secretsmanager.Secret;
  /** `Verify approval`: checks the page's signed decision before `Apply`. */
  readonly verifyApproval: nodejs.NodejsFunction;
  /** Signs approval decisions; only the approval page may sign, only `verifyApproval` verifies. */
  readonly decisionKey: kms.Key;
  /** The executions of the state machine (`...:execution:<name>:*`), whose status the page reads. */
  readonly executionsArn: string;

  constructor(scope: Construct, id: string, props: WorkflowFunctionsProps) {
    super(scope, id);
    const { config, table, artifacts } = props;
    const stack = Stack.of(this);
    const common = {
      encryptionKey: props.encryptionKey,
      logRetention: config.logs.retentionDays as logs.RetentionDays,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    };
    const slack = config.notifications.slack;
    const slackToken = slack
      ? secretsmanager.Secret.fromSecretNameV2(this, 'SlackToken', slack.botTokenSecretName)
      : undefined;
    const messaging: SettingsInput = {
      fromEmail: config.notifications.fromEmail,
      consoleUrlTemplate: props.consoleUrlTemplate,
      ...(slackToken ? { slackTokenSecretArn: slackToken.secretArn } : {}),
      ...(slack?.channel ? { slackChannel: slack.channel } : {}),
    };

    this.pageSecret = new secretsmanager.Secret(this, 'PageSecret', {
      description: 'deploy-runner: HMAC key of the approval page nonces',
      encryptionKey: props.encryptionKey,
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });

    this.validateRequest = handlerFunction(this, 'ValidateRequest', {
      ...common,
      handler: 'validate-request',
      description: 'deploy-runner: checks a run request against the allowlist',
      timeout: Duration.seconds(10),
      environment: settingsToEnv({
        allowlist: allowlistOf(config),
        lockTtlSeconds: props.lockTtl.toSeconds(),
        ...(driftGlobsOf(config.drift).length > 0 && { driftGlobs: driftGlobsOf(config.drift) }),
      }),
    });

    this.approvalPage = handlerFunction(this, 'ApprovalPage', {
      ...common,
      handler: 'approval-page',
      description: 'deploy-runner: the approval page (GET shows, POST decides)',
      timeout: Duration.seconds(15),
      environment: settingsToEnv({
        tableName: table.tableName,
        pageSecretArn: this.pageSecret.secretArn,
        artifactBucket: artifacts.bucket.bucketName,
        consoleUrlTemplate: props.consoleUrlTemplate,
      }),
    });
    table.grantReadWriteData(this.approvalPage);
    this.pageSecret.grantRead(this.approvalPage);
    artifacts.grantReadRunObjects(this.approvalPage, 'plan.txt');
    this.approvalPage.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'AnswerThisStateMachine',
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
        resources: [props.stateMachineArn],
      }),
    );
    const signIn = config.approvals.signIn;
    if (signIn) {
      // Only the page signs approvers in, so only the page may read the client secret, and only
      // its value (not DescribeSecret as grantRead would add). The ARN is the name plus the six
      // characters Secrets Manager appends to every secret's ARN, as an imported secret's grants use.
      this.approvalPage.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadTheSignInClientSecret',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [
            stack.formatArn({
              service: 'secretsmanager',
              resource: 'secret',
              resourceName: `${signIn.clientSecretName}-??????`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
        }),
      );
      for (const [name, value] of Object.entries(settingsToEnv({ signIn: signInSettings(config) })))
        this.approvalPage.addEnvironment(name, value);
    }
    this.approvalPageUrl = this.approvalPage.addFunctionUrl({
      authType: lambda.FunctionUrlAuthType.NONE,
    });
    // The URL ends in "/"; the contract's base URL does not.
    this.approvalBaseUrl = Fn.join('', [
      'https://',
      Fn.select(2, Fn.split('/', this.approvalPageUrl.url)),
    ]);

    this.requestApproval = handlerFunction(this, 'RequestApproval', {
      ...common,
      handler: 'request-approval',
      description: 'deploy-runner: sends one approval link per approver',
      timeout: Duration.seconds(30),
      environment: settingsToEnv({
        ...messaging,
        tableName: table.tableName,
        approvalBaseUrl: this.approvalBaseUrl,
      }),
    });
    table.grantReadWriteData(this.requestApproval);

    this.notify = handlerFunction(this, 'Notify', {
      ...common,
      handler: 'notify',
      description: 'deploy-runner: reports how a run ended',
      timeout: Duration.seconds(30),
      environment: settingsToEnv({
        ...messaging,
        artifactBucket: artifacts.bucket.bucketName,
        approvers: config.approvals.approvers,
        resultRouting: config.notifications.results,
      }),
    });
    artifacts.grantReadRunObjects(this.notify, '*-error.json');
    if (config.drift.length > 0)
      grantDriftReporting(this.notify, table, props.stateMachineArn, this.approvalBaseUrl);
    // A drift glob's fan-out (notify's `drift-fan-out` phase) reads the runner's list of paths.
    if (driftGlobsOf(config.drift).length > 0)
      artifacts.grantReadRunObjects(
        this.notify,
        artifactKeys('_').driftPaths.split('/').at(-1) as string,
      );

    for (const fn of [this.requestApproval, this.notify]) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'SendFromTheConfiguredIdentity',
          actions: ['ses:SendEmail'],
          resources: sesIdentityArns(stack, config.notifications.fromEmail),
        }),
      );
      slackToken?.grantRead(fn);
    }

    this.verifyApproval = handlerFunction(this, 'VerifyApproval', {
      ...common,
      handler: 'verify-approval',
      description: 'deploy-runner: verifies the approval page signed the decision before Apply',
      timeout: Duration.seconds(10),
      environment: settingsToEnv({
        approvers: config.approvals.approvers,
        approvalsRequired: config.approvals.approvalsRequired,
      }),
    });
    // The key policy alone names who signs and who verifies; no IAM grant is involved.
    this.decisionKey = createDecisionKey(this, 'DecisionKey', {
      signer: this.approvalPage.role as iam.IRole,
      verifier: this.verifyApproval.role as iam.IRole,
      removalPolicy: common.removalPolicy,
    });
    for (const fn of [this.approvalPage, this.verifyApproval])
      for (const [name, value] of Object.entries(
        settingsToEnv({ decisionKeyArn: this.decisionKey.keyArn }),
      ))
        fn.addEnvironment(name, value);
    // Verify approval checks the verified subjects the page signed into the decision; it reads
    // the same settings and never the client secret.
    if (config.approvals.signIn)
      for (const [name, value] of Object.entries(settingsToEnv({ signIn: signInSettings(config) })))
        this.verifyApproval.addEnvironment(name, value);
    // The page reads how a run really ended before it says so (or offers to decide).
    this.executionsArn = `${props.stateMachineArn.replace(':stateMachine:', ':execution:')}:*`;
    this.approvalPage.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadThisStateMachinesExecutions',
        actions: ['states:DescribeExecution'],
        resources: [this.executionsArn],
      }),
    );

    this.cleanup = handlerFunction(this, 'Cleanup', {
      ...common,
      handler: 'cleanup',
      description: 'deploy-runner: releases the lock of a stopped, timed-out or failed run',
      timeout: Duration.seconds(30),
      environment: settingsToEnv({ tableName: table.tableName }),
    });
    table.grantReadWriteData(this.cleanup);

    this.inspectPlan = handlerFunction(this, 'InspectPlan', {
      ...common,
      handler: 'inspect-plan',
      description: "deploy-runner: verifies a run's plan artifacts and reads its plan result",
      timeout: Duration.seconds(30),
      environment: settingsToEnv({ artifactBucket: artifacts.bucket.bucketName }),
    });
    artifacts.grantInspectPlan(this.inspectPlan);
  }

  /** All six functions. */
  get all(): nodejs.NodejsFunction[] {
    return [
      this.validateRequest,
      this.requestApproval,
      this.approvalPage,
      this.notify,
      this.cleanup,
      this.verifyApproval,
      this.inspectPlan,
    ];
  }
}

/** The page's and Verify approval's sign-in settings: the config's section, field by field. */
function signInSettings(config: DeployRunnerConfig): SignInSettings | undefined {
  const signIn = config.approvals.signIn;
  if (!signIn) return undefined;
  const { issuer, clientId, clientSecretName, claim } = signIn;
  return { issuer, clientId, clientSecretName, claim };
}

/**
 * SES authorizes sending against the identity that is verified: the address itself, or its
 * domain. Both are listed so either setup works, and nothing else can be used as sender.
 */
function sesIdentityArns(stack: Stack, fromEmail: string): string[] {
  const domain = fromEmail.slice(fromEmail.lastIndexOf('@') + 1);
  return [fromEmail, domain].map((identity) =>
    stack.formatArn({ service: 'ses', resource: 'identity', resourceName: identity }),
  );
}
