import { beforeAll, describe, expect, it } from 'vitest';
import { settingsFromEnv } from '../../handlers/shared/settings';
import { checkExecutionInput } from '../../lib/allowlist';
import { executionInputSchema } from '../../lib/contracts';
import { definitionFromTemplate } from '../../lib/definition';
import {
  actionsOf,
  allowedActions,
  type Built,
  buildStack,
  exampleConfig,
  roleStatements,
} from './helpers';

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

  it('one EventBridge Scheduler schedule per entry, a glob included, with its expression and time zone', () => {
    const schedules = resourcesOf(built, 'AWS::Scheduler::Schedule').map(([, r]) => r.Properties);
    expect(schedules).toHaveLength(3);
    expect(schedules.map((s) => [s.ScheduleExpression, s.ScheduleExpressionTimezone])).toEqual([
      ['rate(1 hour)', 'UTC'],
      ['cron(0 6 ? * MON-FRI *)', 'Europe/Berlin'],
      ['rate(1 day)', 'UTC'],
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
      [STATE_MACHINE_ARN, 'drift-envs-<aws.scheduler.execution-id>'],
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
      // The glob itself: the run lists its paths at the ref and starts a check per path.
      { repo: 'infra', ref: 'main', path: 'envs/*', requestedBy: 'drift-check', drift: 'notify' },
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

  it('Validate request knows the drift globs, and only them', () => {
    const fn = built.template.toJSON().Resources[
      built.id(built.stack.runner.functions.validateRequest)
    ] as Resource;
    const env = (fn.Properties.Environment as { Variables: Record<string, string> }).Variables;
    const read = settingsFromEnv(env, ['allowlist']);
    expect(read.driftGlobs).toEqual([{ repo: 'infra', ref: 'main', path: 'envs/*' }]);
    // The glob schedule's input passes the synthesized allowlist as a glob to expand; the same
    // glob as a deploy does not.
    const glob = { repo: 'infra', ref: 'main', path: 'envs/*' };
    expect(
      checkExecutionInput({ ...glob, drift: 'notify' }, read.allowlist, read.driftGlobs),
    ).toMatchObject({
      ok: true,
      expandGlob: true,
    });
    expect(checkExecutionInput(glob, read.allowlist, read.driftGlobs).ok).toBe(false);
  });

  it("a glob's run lists its paths with the read-only plan task definition, in list mode", () => {
    const { definition } = definitionFromTemplate(built.template.toJSON() as never);
    const states = definition.States as Record<string, Record<string, unknown>>;
    const list = states['Drift: list the paths'] as {
      Resource: string;
      Parameters: {
        TaskDefinition: string;
        Overrides: { ContainerOverrides: { Environment: { Name: string; Value?: string }[] }[] };
      };
      Next: string;
    };
    expect(list.Resource).toBe('arn:aws:states:::ecs:runTask.sync');
    const plan = states.Plan as typeof list;
    expect(list.Parameters.TaskDefinition).toBe(plan.Parameters.TaskDefinition);
    expect(list.Parameters.TaskDefinition).not.toBe(
      (states.Apply as typeof list).Parameters.TaskDefinition,
    );
    const env = list.Parameters.Overrides.ContainerOverrides[0]?.Environment ?? [];
    expect(env.find((e) => e.Name === 'DR_MODE')?.Value).toBe('list');
    expect(list.Next).toBe('Drift: start a check per path');
    // The plan task definition's role is the read-only plan role.
    const taskDef = built.template.toJSON().Resources[
      built.id(built.stack.runner.tasks.plan.taskDefinition)
    ] as Resource;
    expect(taskDef.Properties.TaskRoleArn).toEqual({
      'Fn::GetAtt': [built.id(built.stack.runner.tasks.plan.role), 'Arn'],
    });
    // Only a request Validate request marked as a configured glob reaches it.
    const choice = states['Plan only?'] as { Choices: { Variable: string; Next: string }[] };
    expect(choice.Choices[0]).toMatchObject({
      Variable: '$.request.expandGlob',
      IsPresent: true,
      Next: 'Drift: list the paths',
    });
  });

  it('the plan role may create the list of paths once; notify reads it and the error reports, nothing else', () => {
    const planRole = built.id(built.stack.runner.tasks.plan.role);
    const put = roleStatements(built.template, planRole).find((s) => s.Sid === 'PutRunArtifacts');
    expect(JSON.stringify(put?.Resource)).toContain('runs/*/drift-paths.json');
    expect(put?.Condition).toEqual({ Null: { 's3:if-none-match': 'false' } });
    const notify = built.id(built.stack.runner.functions.notify.role);
    const reads = roleStatements(built.template, notify).filter(
      (s) => s.Effect === 'Allow' && actionsOf(s).some((a) => a.startsWith('s3:')),
    );
    expect([...new Set(reads.flatMap(actionsOf))].sort()).toEqual([
      's3:GetObject',
      's3:GetObjectVersion',
    ]);
    const objects = reads
      .flatMap((s) => [s.Resource].flat())
      .map((r) => JSON.stringify(r).match(/runs\/\*\/[^"]+/)?.[0])
      .sort();
    expect(objects).toEqual(['runs/*/*-error.json', 'runs/*/drift-paths.json']);
    const starts = roleStatements(built.template, notify).filter((s) =>
      actionsOf(s).includes('states:StartExecution'),
    );
    expect(starts.map((s) => [actionsOf(s), s.Resource])).toEqual([
      [['states:StartExecution'], STATE_MACHINE_ARN],
    ]);
  });

  it('without a glob entry, notify does not read lists of paths and Validate request knows no glob', () => {
    const concrete = withDrift([{ repo: 'infra', path: 'envs/prod', schedule: 'rate(1 hour)' }]);
    const notify = concrete.id(concrete.stack.runner.functions.notify.role);
    expect(JSON.stringify(roleStatements(concrete.template, notify))).not.toContain(
      'drift-paths.json',
    );
    const fn = concrete.template.toJSON().Resources[
      concrete.id(concrete.stack.runner.functions.validateRequest)
    ] as Resource;
    const env = (fn.Properties.Environment as { Variables: Record<string, string> }).Variables;
    expect(env.DR_DRIFT_GLOBS).toBeUndefined();
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
