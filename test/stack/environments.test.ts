import { describe, expect, it } from 'vitest';
import { parseRunnerEnv, unknownRunnerEnv } from '../../containers/runner/src/env';
import {
  type FunctionName,
  REQUIRED_SETTINGS,
  settingsFromEnv,
  unknownSettingsEnv,
} from '../../handlers/shared/settings';
import {
  type AslState,
  type CfnTemplate,
  definitionFromTemplate,
  environmentsFromTemplate,
} from '../../lib/definition';
import { buildStack, type Draft, exampleConfig } from './helpers';

/**
 * Every environment the stack writes is read by the code that runs with it: each function's by
 * `settingsFromEnv` (with what its entry point requires), each runner task's, with the container
 * overrides of its state, by `parseRunnerEnv`. A name written on one side only fails here.
 */

/** The example config, and one that sets every optional variable (Slack, SSH known hosts). */
function configs(): [string, Draft][] {
  const full = exampleConfig();
  full.notifications.slack = { botTokenSecretName: 'deploy-runner/slack', channel: 'C0123ABCD' };
  full.repos.infra.url = 'git@github.com:acme/infra.git';
  full.git = {
    sshKeySecretName: 'deploy-runner/ssh-key',
    knownHosts: [
      'github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
    ],
  };
  return [
    ['the example config', exampleConfig()],
    ['a config with Slack and SSH known hosts', full],
  ];
}

/** A run's state as the Plan and Apply states read their overrides from it. */
const RUN_STATE = {
  request: {
    repo: 'infra',
    ref: 'main',
    path: 'envs/prod',
    mode: 'apply',
    runId: 'infra-envs-prod-abc1234-42',
  },
  plan: {
    summary: {
      commit: 'a'.repeat(40),
      planKey: 'runs/infra-envs-prod-abc1234-42/plan.tfplan',
      planVersionId: 'v1',
    },
  },
  verifiedApproval: { planSha256: 'b'.repeat(64) },
};
const EXECUTION_ARN = 'arn:aws:states:eu-west-1:111111111111:execution:DeployRunner:run-42';

/** Evaluates the plain JSONPaths the overrides use (`$.a.b`, `$$.Execution.Id`). */
function valueAt(path: string): string {
  if (path === '$$.Execution.Id') return EXECUTION_ARN;
  if (!path.startsWith('$.')) throw new Error(`unexpected path ${path}`);
  let value: unknown = RUN_STATE;
  for (const key of path.slice(2).split('.')) value = (value as Record<string, unknown>)?.[key];
  if (typeof value !== 'string') throw new Error(`the run state has no string at ${path}`);
  return value;
}

/** The container overrides of a runner state, with their paths evaluated against RUN_STATE. */
function overridesOf(state: AslState): Record<string, string> {
  const parameters = state.Parameters as {
    Overrides: {
      ContainerOverrides: { Environment: { Name: string; Value?: string; 'Value.$'?: string }[] }[];
    };
  };
  return Object.fromEntries(
    parameters.Overrides.ContainerOverrides.flatMap((o) => o.Environment).map((e) => [
      e.Name,
      e['Value.$'] !== undefined ? valueAt(e['Value.$']) : String(e.Value),
    ]),
  );
}

describe.each(configs())('synthesized environments (%s)', (_, config) => {
  const template = buildStack(config).template.toJSON() as CfnTemplate;
  const environments = environmentsFromTemplate(template);

  it('every function of the template is one the settings know, and each is there', () => {
    expect(Object.keys(environments.functions).sort()).toEqual(
      Object.keys(REQUIRED_SETTINGS).sort(),
    );
  });

  it.each(Object.keys(REQUIRED_SETTINGS) as FunctionName[])(
    "the %s function's environment is read whole by settingsFromEnv",
    (name) => {
      const env = environments.functions[name] ?? {};
      expect(unknownSettingsEnv(env)).toEqual([]);
      const settings = settingsFromEnv(env, REQUIRED_SETTINGS[name]);
      for (const key of REQUIRED_SETTINGS[name]) expect(settings[key]).toBeDefined();
    },
  );

  it.each([
    ['Plan', 'plan'],
    ['Apply', 'apply'],
  ] as const)(
    "the %s task definition's environment with the state's overrides is read whole by parseRunnerEnv",
    (stateName, mode) => {
      const { definition } = definitionFromTemplate(template);
      const state = definition.States[stateName] as AslState;
      const taskDefinition = (state.Parameters as { TaskDefinition: string }).TaskDefinition;
      const taskEnv = environments.tasks[taskDefinition];
      expect(taskEnv).toBeDefined();
      const env = { ...taskEnv, ...overridesOf(state) };
      expect(unknownRunnerEnv(env)).toEqual([]);
      const parsed = parseRunnerEnv(env);
      expect(parsed.mode).toBe(mode);
      expect(parsed.repo).toBe(RUN_STATE.request.repo);
      expect(parsed.executionArn).toBe(EXECUTION_ARN);
      expect(parsed.artifacts.kind).toBe('s3');
      if (mode === 'apply')
        expect(parsed.apply).toEqual({
          commit: RUN_STATE.plan.summary.commit,
          planKey: RUN_STATE.plan.summary.planKey,
          planVersionId: RUN_STATE.plan.summary.planVersionId,
          planSha256: RUN_STATE.verifiedApproval.planSha256,
        });
      if (config.git?.knownHosts) expect(parsed.gitKnownHosts).toBe(config.git.knownHosts[0]);
    },
  );
});
