import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config';
import { cdkJsonContext, NO_ASSETS_CONTEXT } from '../../lib/definition';
import { DeployRunner } from '../../lib/index';
import { ENV, exampleConfig } from './helpers';

/** DeployRunner as a construct in someone else's stack. */

const newStack = () =>
  new Stack(
    new App({
      context: { ...cdkJsonContext(), ...NO_ASSETS_CONTEXT },
      builtinCloudFormationValidation: false,
    }),
    'Platform',
    { env: ENV },
  );

describe('DeployRunner', () => {
  it('names the state machine, task families and every ARN after stateMachineName', () => {
    const stack = newStack();
    const runner = new DeployRunner(stack, 'Deploys', {
      config: parseConfig(exampleConfig()),
      stateMachineName: 'infra-deploys',
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'infra-deploys',
    });
    const families = Object.values(template.findResources('AWS::ECS::TaskDefinition')).map(
      (t) => t.Properties.Family,
    );
    expect(families).toEqual(['infra-deploys-plan', 'infra-deploys-apply']);
    expect(runner.ciAccess.stateMachineArn).toBe(
      'arn:aws:states:eu-west-1:111111111111:stateMachine:infra-deploys',
    );
    expect(runner.ciAccess.executionsArn).toBe(
      'arn:aws:states:eu-west-1:111111111111:execution:infra-deploys:*',
    );
    // The stack decides about outputs, not the construct.
    expect(template.findOutputs('*')).toEqual({});
  });

  it('defaults the state machine name to the stack name', () => {
    const stack = newStack();
    const runner = new DeployRunner(stack, 'Deploys', { config: parseConfig(exampleConfig()) });
    expect(runner.stateMachineName).toBe('Platform');
  });

  it('warns at synth when self-approval can make N-of-M unreachable', () => {
    const warningsOf = (approvalsRequired: number) => {
      const config = exampleConfig();
      config.approvals.approvalsRequired = approvalsRequired;
      const stack = newStack();
      new DeployRunner(stack, 'Deploys', { config: parseConfig(config) });
      return Annotations.fromStack(stack).findWarning(
        '*',
        Match.stringLikeRegexp('approvalsRequired is'),
      );
    };
    // Two approvers, two required: when one of them requests the run, nobody can complete it.
    const warnings = warningsOf(2);
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]?.entry.data)).toMatch(
      /approvals\.approvalsRequired is 2 and 2 approvers are listed: when an approver requests a run themselves .* they may not approve it and the run can never get 2 approvals.*Add an approver or lower approvalsRequired/,
    );
    expect(warningsOf(1)).toEqual([]);
  });

  it('passes the approvers’ CI logins to Request approval', () => {
    const config = exampleConfig();
    config.approvals.approvers[0].ciLogins = ['ada-gh'];
    const stack = newStack();
    new DeployRunner(stack, 'Deploys', { config: parseConfig(config) });
    const [machine] = Object.values(
      Template.fromStack(stack).findResources('AWS::StepFunctions::StateMachine'),
    );
    const definition = JSON.stringify(machine?.Properties.DefinitionString);
    expect(definition).toContain('\\"ciLogins\\":[\\"ada-gh\\"]');
  });

  it('gives both runner task definitions the configured SSH known hosts', () => {
    const config = exampleConfig();
    const line =
      'github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
    config.repos.infra.url = 'git@github.com:acme/infra.git';
    config.git = { sshKeySecretName: 'deploy-runner/ssh-key', knownHosts: [line] };
    const stack = newStack();
    new DeployRunner(stack, 'Deploys', { config: parseConfig(config) });
    const taskDefinitions = Template.fromStack(stack).findResources('AWS::ECS::TaskDefinition');
    const knownHosts = Object.values(taskDefinitions).map(
      (t) =>
        (
          t.Properties.ContainerDefinitions[0].Environment as { Name: string; Value: string }[]
        ).find((e) => e.Name === 'DR_GIT_KNOWN_HOSTS')?.Value,
    );
    expect(knownHosts).toEqual([line, line]);
  });

  it('refuses a config Fargate cannot run, naming the config source', () => {
    const config = exampleConfig();
    config.runner.cpu = 512;
    config.runner.memoryMiB = 8192;
    expect(
      () =>
        new DeployRunner(newStack(), 'Deploys', {
          config: parseConfig(config),
          configSource: 'platform/deploys.json',
        }),
    ).toThrow(
      /^platform\/deploys\.json is invalid:\n {2}- runner\.memoryMiB: 8192: Fargate does not run 512 CPU units with 8192 MiB: use 1024 to 4096 in steps of 1024$/,
    );
  });
});
