import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config';
import {
  STATE_MACHINE_LOG_GROUP_PREFIX,
  taskStartRetryWindowSeconds,
} from '../../lib/constructs/workflow';
import { RunErrors, resultRoutingSchema } from '../../lib/contracts';
import {
  type AslDefinition,
  type AslState,
  type CfnTemplate,
  definitionFromTemplate,
  PLACEHOLDERS,
  synthesizeDefinition,
} from '../../lib/definition';
import { type Built, buildStack, exampleConfig } from './helpers';

/**
 * The state machine against docs/workflow-contract.md: state names, transitions, payloads,
 * integrations and timeouts, read from the placeholder ASL that local mode runs.
 */

let asl: AslDefinition;
let stateMachineName: string;
let built: Built;
let coldMs: number;

const state = (name: string): AslState => {
  const found = asl.States[name];
  if (!found) throw new Error(`no state "${name}"`);
  return found;
};
const catches = (name: string) =>
  (state(name).Catch as { ErrorEquals: string[]; ResultPath: string | null; Next: string }[]).map(
    (c) => [c.ErrorEquals.join(','), c.ResultPath, c.Next],
  );

beforeAll(() => {
  const started = Date.now();
  ({ definition: asl, stateMachineName } = synthesizeDefinition(parseConfig(exampleConfig())));
  coldMs = Date.now() - started;
  built = buildStack();
});

describe('the placeholder ASL', () => {
  it('is plain JSON: no CloudFormation intrinsic or CDK token is left', () => {
    const text = JSON.stringify(asl);
    expect(text).not.toMatch(/Fn::|"Ref"|\$\{Token|TOKEN/);
    expect(JSON.parse(text)).toEqual(asl);
    expect(stateMachineName).toBe('DeployRunner');
  });

  it("uses the contract's placeholders", () => {
    expect(state('Validate request').Resource).toBe(
      'arn:aws:lambda:us-east-1:123456789012:function:deploy-runner-validate-request',
    );
    expect(state('Notify result').Resource).toBe(PLACEHOLDERS.lambdaArn('notify'));
    expect(state('Notify failure').Resource).toBe(PLACEHOLDERS.lambdaArn('notify'));
    expect(state('Request approval').Parameters).toMatchObject({
      FunctionName: PLACEHOLDERS.lambdaArn('request-approval'),
    });
    expect(state('Acquire lock').Parameters).toMatchObject({ TableName: 'deploy-runner-table' });
    expect(state('Release lock').Parameters).toMatchObject({ TableName: 'deploy-runner-table' });
    expect(state('Inspect plan').Resource).toBe(PLACEHOLDERS.lambdaArn('inspect-plan'));
    expect(state('Plan').Parameters).toMatchObject({
      Cluster: PLACEHOLDERS.clusterArn,
      TaskDefinition: PLACEHOLDERS.taskDefinitionArn('plan'),
    });
    expect(state('Apply').Parameters).toMatchObject({
      TaskDefinition: PLACEHOLDERS.taskDefinitionArn('apply'),
    });
  });

  it('is the definition the stack deploys', () => {
    const fromStack = definitionFromTemplate(built.template.toJSON() as CfnTemplate);
    expect(fromStack.stateMachineName).toBe('DeployRunner');
    expect(Object.keys(fromStack.definition.States)).toEqual(Object.keys(asl.States));
    expect(fromStack.definition.States).toEqual(asl.States);
  });

  it('is fast', () => {
    expect(coldMs).toBeLessThan(10_000);
    const started = Date.now();
    synthesizeDefinition(parseConfig({ ...exampleConfig(), logs: { retentionDays: 30 } }));
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe('states, in the order of docs/architecture.md', () => {
  it('has exactly the states of the contract', () => {
    expect(asl.StartAt).toBe('Validate request');
    expect(Object.keys(asl.States).sort()).toEqual(
      [
        'Validate request',
        'Request rejected',
        'Plan only?',
        'Acquire lock',
        'Find the lock holder',
        'Lock holder known?',
        'Name the lock holder',
        'Record lock held',
        'Another run holds the lock',
        'Plan',
        'Inspect plan',
        'Changes?',
        'Request approval',
        'Record expiry',
        'Approved?',
        'Record rejection',
        'Record approval mismatch',
        'Verify approval',
        'Record plan not started',
        'Apply',
        'Record apply not started',
        'Notify result',
        'Holds the lock?',
        'Release lock',
        'Done',
        'Notify failure',
        'Holds the lock after failure?',
        'Release lock after failure',
        'Run failed',
        // Drift checks (docs/drift.md).
        'Drift: is the path locked?',
        'Drift: path busy?',
        'Drift: record skipped',
        'Drift check skipped',
        'Drift: report',
        // A drift glob lists its paths, then starts a check per path.
        'Drift: list the paths',
        'Record list not started',
        'Drift: start a check per path',
        'Drift checks started',
      ].sort(),
    );
    expect(asl.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
  });

  it('1. Validate request: the input and execution facts in, the request replaces the state', () => {
    expect(state('Validate request')).toMatchObject({
      Type: 'Task',
      Parameters: {
        'input.$': '$$.Execution.Input',
        execution: {
          'id.$': '$$.Execution.Id',
          'name.$': '$$.Execution.Name',
          'startTime.$': '$$.Execution.StartTime',
        },
      },
      Next: 'Plan only?',
    });
    // The default ResultPath, "$": the validated request replaces the raw input.
    expect(state('Validate request').ResultPath ?? '$').toBe('$');
    // The default ResultPath, "$": the raw input may be no object to write "$.error" into.
    expect(catches('Validate request')).toEqual([['States.ALL', undefined, 'Request rejected']]);
    expect(state('Request rejected')).toEqual({
      Type: 'Fail',
      ErrorPath: '$.Error',
      CausePath: '$.Cause',
    });
  });

  it('2. Plan only?: a plan-only run takes no lock and goes straight to Plan', () => {
    expect(state('Plan only?')).toEqual({
      Type: 'Choice',
      Choices: [
        { Variable: '$.request.expandGlob', IsPresent: true, Next: 'Drift: list the paths' },
        { Variable: '$.request.drift', IsPresent: true, Next: 'Drift: is the path locked?' },
        { Variable: '$.request.mode', StringEquals: 'plan-only', Next: 'Plan' },
      ],
      Default: 'Acquire lock',
    });
  });

  it('2. Acquire lock: a conditional put of the lock item, naming its holder', () => {
    expect(state('Acquire lock')).toMatchObject({
      Resource: 'arn:aws:states:::dynamodb:putItem',
      Parameters: {
        Item: {
          pk: { 'S.$': '$.request.lockKey' },
          executionArn: { 'S.$': '$$.Execution.Id' },
          runId: { 'S.$': '$.request.runId' },
          repo: { 'S.$': '$.request.repo' },
          path: { 'S.$': '$.request.path' },
          holder: { 'S.$': '$.request.lockHolder' },
          acquiredAt: { 'S.$': '$$.Execution.StartTime' },
          expiresAt: { 'N.$': '$.request.lockExpiresAt' },
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
      ResultPath: null,
      Next: 'Plan',
    });
    expect(catches('Acquire lock')).toEqual([
      ['DynamoDB.ConditionalCheckFailedException', '$.error', 'Find the lock holder'],
      ['States.ALL', '$.error', 'Notify failure'],
    ]);
  });

  it('2. refused the lock: reads the holder back and fails naming it, or without it', () => {
    expect(state('Find the lock holder')).toMatchObject({
      Resource: 'arn:aws:states:::dynamodb:getItem',
      Parameters: { Key: { pk: { 'S.$': '$.request.lockKey' } }, ConsistentRead: true },
      ResultPath: '$.lockHolder',
      Next: 'Lock holder known?',
    });
    expect(catches('Find the lock holder')).toEqual([['States.ALL', null, 'Record lock held']]);
    expect(state('Lock holder known?')).toEqual({
      Type: 'Choice',
      Choices: [
        { Variable: '$.lockHolder.Item.holder.S', IsPresent: true, Next: 'Name the lock holder' },
      ],
      Default: 'Record lock held',
    });
    expect(state('Name the lock holder')).toMatchObject({
      Type: 'Pass',
      Parameters: {
        Error: RunErrors.LockHeld,
        'Cause.$': expect.stringMatching(
          /^States\.Format\('Another run .* Holder: \{\}, execution \{\}', \$\.lockHolder\.Item\.holder\.S, \$\.lockHolder\.Item\.executionArn\.S\)$/,
        ),
      },
      ResultPath: '$.error',
      Next: 'Another run holds the lock',
    });
    expect(state('Record lock held')).toMatchObject({
      Type: 'Pass',
      Result: { Error: RunErrors.LockHeld },
      ResultPath: '$.error',
      Next: 'Another run holds the lock',
    });
    expect(state('Another run holds the lock')).toEqual({
      Type: 'Fail',
      ErrorPath: '$.error.Error',
      CausePath: '$.error.Cause',
    });
  });

  it('3. Plan: ECS .sync with the run facts, timeout, retry on ECS errors', () => {
    const plan = state('Plan');
    expect(plan).toMatchObject({
      Resource: 'arn:aws:states:::ecs:runTask.sync',
      TimeoutSeconds: 3600,
      ResultPath: null,
      Next: 'Inspect plan',
      Parameters: {
        LaunchType: 'FARGATE',
        Overrides: {
          ContainerOverrides: [
            {
              Name: 'runner',
              Environment: [
                { Name: 'DR_REQUEST_MODE', 'Value.$': '$.request.mode' },
                { Name: 'DR_REPO', 'Value.$': '$.request.repo' },
                { Name: 'DR_REF', 'Value.$': '$.request.ref' },
                { Name: 'DR_PATH', 'Value.$': '$.request.path' },
                { Name: 'DR_RUN_ID', 'Value.$': '$.request.runId' },
                { Name: 'DR_EXECUTION_ARN', 'Value.$': '$$.Execution.Id' },
              ],
            },
          ],
        },
      },
    });
    expect(plan.Retry).toEqual([CAPACITY_RETRY]);
    expect(catches('Plan')).toEqual([
      ['ECS.AmazonECSException,AmazonECS.Unknown', '$.error', 'Record plan not started'],
      ['States.ALL', '$.error', 'Notify failure'],
    ]);
  });

  it('4. Inspect plan: the inspect-plan function verifies this run and puts its plan result in $.plan.summary', () => {
    expect(state('Inspect plan')).toMatchObject({
      Type: 'Task',
      Resource: PLACEHOLDERS.lambdaArn('inspect-plan'),
      Parameters: { 'runId.$': '$.request.runId', 'executionArn.$': '$$.Execution.Id' },
      ResultPath: '$.plan',
      Next: 'Changes?',
    });
    // No raw S3 read of a key the plan role chose: the function decides what is read.
    expect(JSON.stringify(state('Inspect plan'))).not.toMatch(/s3:getObject|plan-result\.json/);
    expect(catches('Inspect plan')).toEqual([['States.ALL', '$.error', 'Notify failure']]);
  });

  it('5. Changes?: no changes or plan-only end with Notify result; otherwise ask', () => {
    expect(state('Changes?')).toEqual({
      Type: 'Choice',
      Choices: [
        { Variable: '$.request.drift', IsPresent: true, Next: 'Drift: report' },
        { Variable: '$.plan.summary.hasChanges', BooleanEquals: false, Next: 'Notify result' },
        { Variable: '$.request.mode', StringEquals: 'plan-only', Next: 'Notify result' },
      ],
      Default: 'Request approval',
    });
  });

  it('6. Request approval: .waitForTaskToken with a timeout and the literal approvers', () => {
    expect(state('Request approval')).toMatchObject({
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      TimeoutSeconds: 86_400,
      ResultPath: '$.approval',
      Next: 'Approved?',
      Parameters: {
        Payload: {
          'taskToken.$': '$$.Task.Token',
          'executionArn.$': '$$.Execution.Id',
          'request.$': '$.request',
          'plan.$': '$.plan.summary',
          approvers: [
            { name: 'Ada Lovelace', email: 'ada@acme.example' },
            { name: 'Grace Hopper', email: 'grace@acme.example' },
          ],
          approvalsRequired: 1,
          timeoutSeconds: 86_400,
        },
      },
    });
    expect(catches('Request approval')).toEqual([
      ['States.Timeout', '$.error', 'Record expiry'],
      ['States.ALL', '$.error', 'Notify failure'],
    ]);
    expect(state('Record expiry')).toEqual({
      Type: 'Pass',
      Result: {
        Error: 'DeployRunner.ApprovalExpired',
        Cause: 'No approver decided within 24h; nothing was applied. Start a new run.',
      },
      ResultPath: '$.error',
      Next: 'Notify failure',
    });
  });

  it('7. Approved?: only a yes bound to this plan checksum applies', () => {
    expect(state('Approved?')).toEqual({
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Variable: '$.approval.approved', BooleanEquals: true },
            { Variable: '$.approval.planSha256', StringEqualsPath: '$.plan.summary.planSha256' },
          ],
          Next: 'Verify approval',
        },
        { Variable: '$.approval.approved', BooleanEquals: false, Next: 'Record rejection' },
      ],
      Default: 'Record approval mismatch',
    });
    expect(state('Record rejection')).toEqual({
      Type: 'Pass',
      Parameters: {
        Error: 'DeployRunner.Rejected',
        'Cause.$': "States.Format('Rejected by {}: {}', $.approval.approver, $.approval.reason)",
      },
      ResultPath: '$.error',
      Next: 'Notify failure',
    });
    expect(state('Record approval mismatch')).toMatchObject({
      Type: 'Pass',
      Result: { Error: 'DeployRunner.ApprovalMismatch' },
      ResultPath: '$.error',
      Next: 'Notify failure',
    });
  });

  it('7b. Verify approval: between Approved? and Apply, its failure takes the failure path', () => {
    expect(state('Verify approval')).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:lambda:us-east-1:123456789012:function:deploy-runner-verify-approval',
      Parameters: {
        'executionArn.$': '$$.Execution.Id',
        'request.$': '$.request',
        'plan.$': '$.plan.summary',
        'approval.$': '$.approval',
      },
      ResultPath: '$.verifiedApproval',
      Next: 'Apply',
    });
    // Nothing but Approved?'s yes leads here, and nothing but this state leads to Apply.
    const into = (target: string) =>
      Object.entries(asl.States)
        .filter(([, s]) => JSON.stringify(s).includes(`"${target}"`))
        .map(([name]) => name);
    expect(into('Verify approval')).toEqual(['Approved?']);
    expect(into('Apply')).toEqual(['Verify approval']);
    expect(catches('Verify approval')).toEqual([['States.ALL', '$.error', 'Notify failure']]);
  });

  it('8. Apply: ECS .sync with the approved checksum, the task ARN into $.apply', () => {
    const apply = state('Apply');
    expect(apply).toMatchObject({
      Resource: 'arn:aws:states:::ecs:runTask.sync',
      TimeoutSeconds: 7200,
      ResultSelector: { 'taskArn.$': '$.TaskArn' },
      ResultPath: '$.apply',
      Next: 'Notify result',
    });
    const overrides = (apply.Parameters as { Overrides: { ContainerOverrides: unknown[] } })
      .Overrides.ContainerOverrides;
    expect(overrides).toEqual([
      {
        Name: 'runner',
        Environment: [
          { Name: 'DR_REQUEST_MODE', 'Value.$': '$.request.mode' },
          { Name: 'DR_REPO', 'Value.$': '$.request.repo' },
          { Name: 'DR_REF', 'Value.$': '$.request.ref' },
          { Name: 'DR_PATH', 'Value.$': '$.request.path' },
          { Name: 'DR_RUN_ID', 'Value.$': '$.request.runId' },
          { Name: 'DR_EXECUTION_ARN', 'Value.$': '$$.Execution.Id' },
          { Name: 'DR_COMMIT', 'Value.$': '$.plan.summary.commit' },
          { Name: 'DR_PLAN_KEY', 'Value.$': '$.plan.summary.planKey' },
          { Name: 'DR_PLAN_VERSION_ID', 'Value.$': '$.plan.summary.planVersionId' },
          { Name: 'DR_PLAN_SHA256', 'Value.$': '$.verifiedApproval.planSha256' },
        ],
      },
    ]);
    expect(catches('Apply').at(-1)).toEqual(['States.ALL', '$.error', 'Notify failure']);
  });

  it('9.-10. Notify result, then release the lock held by this execution, then Done', () => {
    expect(state('Notify result')).toMatchObject({
      Parameters: { phase: 'finished', 'executionArn.$': '$$.Execution.Id', 'state.$': '$' },
      ResultPath: null,
      Next: 'Holds the lock?',
    });
    expect(catches('Notify result')).toEqual([['States.ALL', '$.notifyError', 'Holds the lock?']]);
    // A plan-only run took no lock: it releases none.
    expect(state('Holds the lock?')).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.request.mode', StringEquals: 'plan-only', Next: 'Done' }],
      Default: 'Release lock',
    });
    expect(state('Release lock')).toMatchObject({
      Resource: 'arn:aws:states:::dynamodb:deleteItem',
      Parameters: {
        Key: { pk: { 'S.$': '$.request.lockKey' } },
        ConditionExpression: 'executionArn = :arn',
        ExpressionAttributeValues: { ':arn': { 'S.$': '$$.Execution.Id' } },
      },
      ResultPath: null,
      Next: 'Done',
    });
    expect(state('Release lock').Retry).toBeDefined();
    expect(catches('Release lock')).toEqual([
      ['DynamoDB.ConditionalCheckFailedException', null, 'Done'],
    ]);
    expect(state('Done')).toEqual({ Type: 'Succeed' });
  });

  it('11.-12. the failure path notifies, releases the lock and fails with the readable cause', () => {
    expect(state('Notify failure')).toMatchObject({
      Parameters: { phase: 'failed', 'executionArn.$': '$$.Execution.Id', 'state.$': '$' },
      ResultPath: '$.error',
      Next: 'Holds the lock after failure?',
    });
    expect(catches('Notify failure')).toEqual([
      ['States.ALL', '$.notifyError', 'Holds the lock after failure?'],
    ]);
    expect(state('Holds the lock after failure?')).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.request.mode', StringEquals: 'plan-only', Next: 'Run failed' }],
      Default: 'Release lock after failure',
    });
    const { Next: _, Catch, ...release } = state('Release lock after failure');
    const { Next: __, Catch: ___, ...success } = state('Release lock');
    expect(release).toEqual(success);
    expect(state('Release lock after failure').Next).toBe('Run failed');
    expect(catches('Release lock after failure')).toEqual([
      ['DynamoDB.ConditionalCheckFailedException', null, 'Run failed'],
    ]);
    expect(Catch).toBeDefined();
    expect(state('Run failed')).toEqual({
      Type: 'Fail',
      ErrorPath: '$.error.Error',
      CausePath: '$.error.Cause',
    });
  });

  it('times out after plan + approval + apply + 1h', () => {
    expect(asl.TimeoutSeconds).toBe(3600 + 86_400 + 7200 + 3600);
  });

  it('carries the configured timeouts, approvers and N-of-M', () => {
    const config = exampleConfig();
    config.runner.planTimeout = '20m';
    config.runner.applyTimeout = '45m';
    config.approvals.timeout = '90s';
    config.approvals.approvalsRequired = 2;
    const { definition } = synthesizeDefinition(parseConfig(config));
    const s = definition.States;
    expect(s.Plan?.TimeoutSeconds).toBe(1200);
    expect(s.Apply?.TimeoutSeconds).toBe(2700);
    expect(s['Request approval']?.TimeoutSeconds).toBe(90);
    expect(s['Request approval']?.Parameters).toMatchObject({
      Payload: { approvalsRequired: 2, timeoutSeconds: 90 },
    });
    expect(s['Record expiry']?.Result).toMatchObject({
      Cause: 'No approver decided within 90s; nothing was applied. Start a new run.',
    });
    expect(definition.TimeoutSeconds).toBe(1200 + 90 + 2700 + 3600);
  });
});

/** ECS never started the task: no capacity (exception) or a non-empty `Failures` list. */
const CAPACITY_RETRY = {
  ErrorEquals: ['ECS.AmazonECSException', 'AmazonECS.Unknown'],
  IntervalSeconds: 30,
  MaxAttempts: 5,
  BackoffRate: 2,
  MaxDelaySeconds: 300,
  JitterStrategy: 'FULL',
};

describe('runner tasks that ECS could not start', () => {
  it('Plan and Apply retry capacity failures with backoff, and only those', () => {
    for (const name of ['Plan', 'Apply']) {
      expect(state(name).Retry, name).toEqual([CAPACITY_RETRY]);
      // A task that started and failed is never retried: apply must not run twice.
      expect(JSON.stringify(state(name).Retry)).not.toContain('States.TaskFailed');
      expect(JSON.stringify(state(name).Retry)).not.toContain('States.ALL');
    }
    expect(taskStartRetryWindowSeconds()).toBe(30 + 60 + 120 + 240 + 300);
  });

  it('say so when they give up, then notify and release the lock', () => {
    expect(catches('Apply')[0]).toEqual([
      'ECS.AmazonECSException,AmazonECS.Unknown',
      '$.error',
      'Record apply not started',
    ]);
    for (const [name, outcome] of [
      ['Plan', 'Nothing was planned.'],
      ['Apply', 'Nothing was applied.'],
    ] as const) {
      const record = state(`Record ${name.toLowerCase()} not started`);
      expect(record.Next).toBe('Notify failure');
      expect(record.ResultPath).toBe('$.error');
      const params = record.Parameters as Record<string, string>;
      expect(params.Error).toBe(RunErrors.RunnerNotStarted);
      expect(params['Cause.$']).toContain(
        `ECS could not start the ${name} task after 6 attempts over about 13 minutes`,
      );
      expect(params['Cause.$']).toContain(outcome);
      expect(params['Cause.$']).toContain('$.error.Cause');
    }
  });
});

describe('the state machine resource', () => {
  it('logs to a group under /aws/vendedlogs/states/, unique per stack', () => {
    const group = built.template.toJSON().Resources[built.id(built.stack.runner.workflow.logGroup)];
    const name = JSON.stringify(group.Properties.LogGroupName);
    expect(name).toContain(`"${STATE_MACHINE_LOG_GROUP_PREFIX}DeployRunner-"`);
    expect(STATE_MACHINE_LOG_GROUP_PREFIX).toBe('/aws/vendedlogs/states/');
    expect(name).toContain('AWS::StackId');
    expect(group.DeletionPolicy).toBe('Retain');
  });

  it('is Standard, logs ALL without execution data, traces, and is named after the stack', () => {
    const logs = built.id(built.stack.runner.workflow.logGroup);
    built.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'DeployRunner',
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [
          { CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [logs, 'Arn'] } } },
        ],
      },
    });
  });

  it('lets the validate function compute a lock expiry one hour past the longest run', () => {
    const fn = built.id(built.stack.runner.functions.validateRequest);
    const env = built.template.toJSON().Resources[fn].Properties.Environment.Variables;
    expect(env.DR_LOCK_TTL_SECONDS).toBe(String((asl.TimeoutSeconds ?? 0) + 3600));
    expect(JSON.parse(env.DR_ALLOWLIST)).toHaveProperty('infra.allowedPaths', ['envs/*']);
  });

  it('gives notify the result routing of notifications.results (defaults: the requester)', () => {
    const fn = built.id(built.stack.runner.functions.notify);
    const env = built.template.toJSON().Resources[fn].Properties.Environment.Variables;
    expect(resultRoutingSchema.parse(JSON.parse(env.DR_RESULT_ROUTING))).toEqual({
      planOnly: 'requester',
      failures: 'requester',
    });
  });

  it('the cleanup rule catches aborted, timed-out and failed executions of this state machine', () => {
    const machine = built.id(built.stack.runner.stateMachine);
    const cleanup = built.id(built.stack.runner.functions.cleanup);
    built.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { status: ['ABORTED', 'TIMED_OUT', 'FAILED'], stateMachineArn: [{ Ref: machine }] },
      },
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [cleanup, 'Arn'] } })],
    });
  });

  it('request-approval links to the approval page URL without a trailing slash', () => {
    const fn = built.id(built.stack.runner.functions.requestApproval);
    const url = built.id(built.stack.runner.functions.approvalPageUrl);
    const env = built.template.toJSON().Resources[fn].Properties.Environment.Variables;
    expect(env.DR_APPROVAL_BASE_URL).toEqual({
      'Fn::Join': [
        '',
        [
          'https://',
          { 'Fn::Select': [2, { 'Fn::Split': ['/', { 'Fn::GetAtt': [url, 'FunctionUrl'] }] }] },
        ],
      ],
    });
    expect(env.DR_CONSOLE_URL_TEMPLATE).toBe(
      'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/{executionArn}',
    );
  });
});
