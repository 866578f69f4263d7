import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { executionInputSchema } from '../../lib/contracts';
import { allowedActions, type Built, buildStack, exampleConfig, roleStatements } from './helpers';

/** Drift schedules (docs/drift.md): EventBridge Scheduler, and what their role may do. */

const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:111111111111:stateMachine:DeployRunner';

function withDrift(drift: unknown[]) {
  const config = exampleConfig();
  config.drift = drift;
  return buildStack(config);
}

type Resource = { Type: string; Properties: Record<string, unknown> };
const resourcesOf = (built: Built, type: string) =>
  Object.entries(built.template.toJSON().Resources as Record<string, Resource>).filter(
    ([, r]) => r.Type === type,
  );

describe('drift schedules', () => {
  let built: Built;
  beforeAll(() => {
    built = withDrift([
      { repo: 'infra', path: 'envs/prod', schedule: 'rate(1 hour)' },
      {
        repo: 'infra',
        path: 'envs/staging',
        schedule: 'cron(0 6 ? * MON-FRI *)',
        timezone: 'Europe/Berlin',
        ref: 'main',
        onDrift: 'request-approval',
      },
      { repo: 'infra', path: 'envs/*', schedule: 'rate(1 day)' },
    ]);
  });

  it('one EventBridge Scheduler schedule per concrete path, with its expression and time zone', () => {
    const schedules = resourcesOf(built, 'AWS::Scheduler::Schedule').map(([, r]) => r.Properties);
    expect(schedules).toHaveLength(2);
    expect(schedules.map((s) => [s.ScheduleExpression, s.ScheduleExpressionTimezone])).toEqual([
      ['rate(1 hour)', 'UTC'],
      ['cron(0 6 ? * MON-FRI *)', 'Europe/Berlin'],
    ]);
    for (const s of schedules) expect(s.State).toBe('ENABLED');
  });

  it('the input is fixed: a drift request for that path, valid against the execution input contract', () => {
    const calls = resourcesOf(built, 'AWS::Scheduler::Schedule').map(
      ([, r]) => built.stack.resolve(r.Properties.Target) as { Arn: string; Input: unknown },
    );
    for (const call of calls)
      expect(call.Arn).toBe('arn:aws:scheduler:::aws-sdk:sfn:startExecution');
    const bodies = calls.map(
      (c) =>
        JSON.parse(c.Input as string) as {
          StateMachineArn: string;
          Name: string;
          Input: string;
        },
    );
    expect(bodies.map((b) => [b.StateMachineArn, b.Name])).toEqual([
      [STATE_MACHINE_ARN, 'drift-envs-prod-<aws.scheduler.execution-id>'],
      [STATE_MACHINE_ARN, 'drift-envs-staging-<aws.scheduler.execution-id>'],
    ]);
    const inputs = bodies.map((b) => JSON.parse(b.Input) as unknown);
    expect(inputs).toEqual([
      {
        repo: 'infra',
        ref: 'main',
        path: 'envs/prod',
        requestedBy: 'drift-check',
        drift: 'notify',
      },
      {
        repo: 'infra',
        ref: 'main',
        path: 'envs/staging',
        requestedBy: 'drift-check',
        drift: 'request-approval',
      },
    ]);
    for (const input of inputs) expect(executionInputSchema.safeParse(input).success).toBe(true);
  });

  it('targets this state machine with a role that may only start it', () => {
    const schedules = resourcesOf(built, 'AWS::Scheduler::Schedule').map(([, r]) => r.Properties);
    const roleArns = new Set(
      schedules.map((s) => JSON.stringify((s.Target as { RoleArn: unknown }).RoleArn)),
    );
    expect(roleArns.size).toBe(1);
    const roleId = (JSON.parse([...roleArns][0] as string) as { 'Fn::GetAtt': [string] })[
      'Fn::GetAtt'
    ][0];
    expect(allowedActions(built.template, roleId)).toEqual(['states:StartExecution']);
    const statements = roleStatements(built.template, roleId);
    expect(statements.map((s) => s.Resource)).toEqual([STATE_MACHINE_ARN]);
    const role = built.template.toJSON().Resources[roleId] as Resource;
    expect(role.Properties.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'scheduler.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': '111111111111' } },
        },
      ],
    });
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('besides the CI managed policy, only the scheduler role and notify may start runs', () => {
    const starters = resourcesOf(built, 'AWS::IAM::Policy').filter(([, r]) =>
      JSON.stringify(r.Properties.PolicyDocument).includes('states:StartExecution'),
    );
    expect(starters.map(([id]) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual([
      'DeployRunnerDriftRoleDefaultPolicy',
      'DeployRunnerFunctionsNotifyRoleDefaultPolicy',
    ]);
  });

  it('notify may read and write only the drift items of the table, and start a run', () => {
    const role = built.id(built.stack.runner.functions.notify.role);
    const drift = roleStatements(built.template, role).find(
      (s) => JSON.stringify(s.Action) === JSON.stringify(['dynamodb:GetItem', 'dynamodb:PutItem']),
    );
    expect(drift?.Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['drift#*'] },
    });
    expect(allowedActions(built.template, role)).toContain('states:StartExecution');
  });

  it('a glob path makes no schedule and says so at synth', () => {
    Annotations.fromStack(built.stack).hasWarning(
      '*',
      Match.stringLikeRegexp('drift\\.2\\.path "envs/\\*" is a glob: no AWS schedule'),
    );
  });

  it('without drift entries: no schedule, no scheduler role, notify keeps no table access', () => {
    const plain = withDrift([]);
    expect(resourcesOf(plain, 'AWS::Scheduler::Schedule')).toHaveLength(0);
    const notify = plain.id(plain.stack.runner.functions.notify.role);
    expect(allowedActions(plain.template, notify).some((a) => a.startsWith('dynamodb:'))).toBe(
      false,
    );
    expect(allowedActions(plain.template, notify)).not.toContain('states:StartExecution');
  });
});
