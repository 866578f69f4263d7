import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { detectCi } from '../../lib/cli/ci-env';
import { consoleUrl, executionArnFor, regionOfArn } from '../../lib/cli/console-url';
import { CliError, ExitCode } from '../../lib/cli/exit-codes';
import { ApiPacer } from '../../lib/cli/pacer';
import { planStart, resolveSha, type StartEnvironment, startExecution } from '../../lib/cli/start';
import { STATE_MACHINE_ARN, VirtualClock } from './fixtures';

const sfn = mockClient(SFNClient);
const SHA = '0123456789abcdef0123456789abcdef01234567';

const githubEnv = (attempt: string) => ({
  GITHUB_ACTIONS: 'true',
  GITHUB_ACTOR: 'octocat',
  GITHUB_REPOSITORY: 'acme/infra',
  GITHUB_RUN_ID: '9876543210',
  GITHUB_RUN_ATTEMPT: attempt,
  GITHUB_SHA: SHA,
});

const environment = (env: Record<string, string>, overrides: Partial<StartEnvironment> = {}) => ({
  ci: detectCi(env),
  localUser: () => 'me@example.com',
  now: () => new Date('2026-11-25T17:09:03Z'),
  ...overrides,
});

const request = { repo: 'infra', ref: 'main', path: 'envs/prod' };

describe('planStart', () => {
  it('builds the execution input from the flags and the CI environment', () => {
    const { input, name } = planStart(request, environment(githubEnv('1')));
    expect(input).toEqual({
      repo: 'infra',
      ref: 'main',
      path: 'envs/prod',
      mode: 'apply',
      requestedBy: 'octocat',
      ciRunUrl: 'https://github.com/acme/infra/actions/runs/9876543210',
    });
    expect(name).toBe('infra-envs-prod-0123456-9876543210');
  });

  it('names a retried job exactly like the first attempt', () => {
    const first = planStart(request, environment(githubEnv('1')));
    const retry = planStart(request, environment(githubEnv('3')));
    expect(retry).toEqual(first);
  });

  it('plan-only sets the mode; --run-id overrides the CI run ID', () => {
    const { input, name } = planStart(
      { ...request, planOnly: true, runId: '9876543210-2' },
      environment(githubEnv('2')),
    );
    expect(input.mode).toBe('plan-only');
    expect(name).toBe('infra-envs-prod-0123456-9876543210-2');
  });

  it('outside CI: the local user, no run URL, a timestamped run ID, the ref, not the checked-out commit', () => {
    const { input, name } = planStart(request, environment({}));
    expect(input.requestedBy).toBe('me@example.com');
    expect(input.ciRunUrl).toBeUndefined();
    expect(name).toBe('infra-envs-prod-main-manual-20261125T170903Z');
  });

  it('rejects what the workflow would reject, before calling AWS (exit 2)', () => {
    const attempt = () => planStart({ ...request, repo: 'x'.repeat(300) }, environment({}));
    expect(attempt).toThrow(CliError);
    expect(attempt).toThrow(/repo: .*: must be at most 256 characters long/);
    expect(attempt).not.toThrow(/Too big/);
    try {
      attempt();
    } catch (error) {
      expect((error as CliError).exitCode).toBe(ExitCode.Usage);
    }
  });
});

describe('resolveSha', () => {
  const ci = { sha: SHA };
  it.each([
    [
      'a 40-hex ref wins',
      'ABCDEF0123456789ABCDEF0123456789ABCDEF01',
      ci,
      'abcdef0123456789abcdef0123456789abcdef01',
    ],
    ["then the CI job's commit", 'main', ci, SHA],
  ])('%s', (_label, ref, ciContext, expected) => {
    expect(resolveSha(ref, { ci: ciContext })).toBe(expected);
  });
  it('outside CI, the ref itself: never the commit checked out in the working directory', () => {
    expect(resolveSha('main', { ci: {} })).toBe('main');
    const { name } = planStart(request, environment({}));
    expect(name).toMatch(/^infra-envs-prod-main-/);
  });
});

describe('startExecution', () => {
  const pacer = () => new ApiPacer({ clock: new VirtualClock() });
  const arn = executionArnFor(STATE_MACHINE_ARN, 'infra-envs-prod-0123456-9876543210');

  beforeEach(() => sfn.reset());

  it('a retried CI job sends StartExecution with the same name and input and gets the same run', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: arn, startDate: new Date() });
    const results = [];
    for (const attempt of ['1', '2']) {
      const { input, name } = planStart(request, environment(githubEnv(attempt)));
      results.push(
        await startExecution({
          sfn: new SFNClient({}),
          pacer: pacer(),
          stateMachineArn: STATE_MACHINE_ARN,
          name,
          input,
        }),
      );
    }
    const calls = sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual(calls[0]);
    expect(calls[0].name).toBe('infra-envs-prod-0123456-9876543210');
    expect(results[1].executionArn).toBe(results[0].executionArn);
  });

  it('attaches to a finished run of the same request (ExecutionAlreadyExists)', async () => {
    const { input, name } = planStart(request, environment(githubEnv('2')));
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));
    sfn.on(DescribeExecutionCommand, { executionArn: arn }).resolves({
      executionArn: arn,
      startDate: new Date('2026-11-25T17:00:00Z'),
      input: JSON.stringify({ ...input, requestedBy: 'someone-who-re-ran-it' }),
    });
    const started = await startExecution({
      sfn: new SFNClient({}),
      pacer: pacer(),
      stateMachineArn: STATE_MACHINE_ARN,
      name,
      input,
    });
    expect(started).toMatchObject({
      executionArn: arn,
      attached: true,
      differences: ['requestedBy'],
    });
  });

  it('refuses to attach to a run of a different request, saying which field differs (exit 2)', async () => {
    const { input, name } = planStart(request, environment(githubEnv('1')));
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: arn,
      input: JSON.stringify({ ...input, mode: 'plan-only' }),
    });
    const attempt = startExecution({
      sfn: new SFNClient({}),
      pacer: pacer(),
      stateMachineArn: STATE_MACHINE_ARN,
      name,
      input,
    });
    await expect(attempt).rejects.toThrow(
      /already exists for a different request \(mode: existing run has "plan-only", this start asks for "apply"\).*--run-id/,
    );
    await expect(attempt).rejects.toMatchObject({ exitCode: ExitCode.Usage });
  });

  it('explains a missing state machine', async () => {
    sfn
      .on(StartExecutionCommand)
      .rejects(Object.assign(new Error('no'), { name: 'StateMachineDoesNotExist' }));
    await expect(
      startExecution({
        sfn: new SFNClient({}),
        pacer: pacer(),
        stateMachineArn: STATE_MACHINE_ARN,
        name: 'n',
        input: { ...request },
      }),
    ).rejects.toThrow(/does not exist.*DEPLOY_RUNNER_STATE_MACHINE_ARN/);
  });
});

describe('console URLs and ARNs', () => {
  const executionArn = executionArnFor(STATE_MACHINE_ARN, 'run-1');
  it('derives the execution ARN from the state machine ARN and the name', () => {
    expect(executionArn).toBe(
      'arn:aws:states:eu-west-1:123456789012:execution:deploy-runner:run-1',
    );
    expect(() => executionArnFor('arn:aws:s3:::bucket', 'x')).toThrow(/not a state machine ARN/);
    expect(regionOfArn(executionArn)).toBe('eu-west-1');
    expect(regionOfArn('nonsense')).toBeUndefined();
  });
  it('links the Step Functions console in AWS and the local run page in local mode', () => {
    expect(consoleUrl(executionArn, { region: 'eu-west-1' })).toBe(
      `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${executionArn}`,
    );
    expect(
      consoleUrl(executionArn, { region: 'us-east-1', endpoint: 'http://127.0.0.1:8787/' }),
    ).toBe(`http://127.0.0.1:8787/executions/${encodeURIComponent(executionArn)}`);
  });
});
