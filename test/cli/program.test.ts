import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ListExecutionsCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../lib/cli/program';
import { registerLocalCommands } from '../../lib/local/commands';
import {
  appliedRunHistory,
  EXECUTION_ARN,
  PLAN_TASK_ARN,
  STATE_MACHINE_ARN,
  VirtualClock,
} from './fixtures';
import { logsMock, sfnMock, simulate, testIo } from './simulation';

const GITHUB = {
  GITHUB_ACTIONS: 'true',
  CI: 'true',
  GITHUB_ACTOR: 'octocat',
  GITHUB_REPOSITORY: 'acme/infra',
  GITHUB_RUN_ID: '42',
  GITHUB_SHA: 'abc1234def5678abc1234def5678abc1234def56',
  DEPLOY_RUNNER_STATE_MACHINE_ARN: STATE_MACHINE_ARN,
};

async function cli(
  args: string[],
  env: Record<string, string> = GITHUB,
  clock = new VirtualClock(),
) {
  const { io, stdout, stderr } = testIo(env, clock);
  const code = await run(['node', 'deploy-runner', ...args], io, registerLocalCommands);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

const START = ['start', '--repo', 'infra', '--ref', 'main', '--path', 'envs/prod'];

describe('deploy-runner', () => {
  beforeEach(() => {
    sfnMock.reset();
    logsMock.reset();
  });

  it('--help documents the exit codes and exits 0', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Exit codes:');
    expect(stdout).toMatch(/5 +another run holds the lock/);
    expect(stdout).toMatch(/^ {2}local /m);
  });

  it('bad usage exits 2', async () => {
    const missing = await cli(['start', '--repo', 'infra']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--ref <ref>' not specified");
    expect((await cli(['frobnicate'])).code).toBe(2);
    expect((await cli(['list', '--status', 'NOPE'])).code).toBe(2);
  });

  it('start: names the run from repo, path, commit and CI run; prints the console URL', async () => {
    sfnMock
      .on(StartExecutionCommand)
      .resolves({ executionArn: EXECUTION_ARN, startDate: new Date() });
    const { code, stdout } = await cli([...START, '--plan-only']);
    expect(code).toBe(0);
    const sent = sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input;
    expect(sent.stateMachineArn).toBe(STATE_MACHINE_ARN);
    expect(sent.name).toBe('infra-envs-prod-abc1234-42');
    expect(JSON.parse(sent.input ?? '')).toEqual({
      repo: 'infra',
      ref: 'main',
      path: 'envs/prod',
      mode: 'plan-only',
      requestedBy: 'octocat',
      ciRunUrl: 'https://github.com/acme/infra/actions/runs/42',
    });
    expect(stdout).toBe(
      `Started infra-envs-prod-abc1234-42 (plan only)\n   https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${EXECUTION_ARN}\n`,
    );
  });

  it('start --json: one record with the ARN, name and URL', async () => {
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION_ARN });
    const { stdout } = await cli([...START, '--json', '--endpoint', 'http://127.0.0.1:8787']);
    const record = JSON.parse(stdout);
    expect(record).toMatchObject({
      type: 'started',
      executionArn: EXECUTION_ARN,
      name: 'infra-envs-prod-abc1234-42',
      attached: false,
      consoleUrl: `http://127.0.0.1:8787/executions/${encodeURIComponent(EXECUTION_ARN)}`,
    });
  });

  it('a retried start attaches to the run the first attempt started', async () => {
    sfnMock
      .on(StartExecutionCommand)
      .resolvesOnce({ executionArn: EXECUTION_ARN })
      .rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));
    const first = await cli(START);
    const startedInput = sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input.input;
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: EXECUTION_ARN,
      input: startedInput,
      startDate: new Date('2026-11-25T17:00:00Z'),
    });
    const retry = await cli(START, { ...GITHUB, GITHUB_RUN_ATTEMPT: '2' });
    const names = sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name);
    expect(names).toEqual(['infra-envs-prod-abc1234-42', 'infra-envs-prod-abc1234-42']);
    expect(first.code).toBe(0);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toContain(
      'Attached to the existing run infra-envs-prod-abc1234-42 started 2026-11-25T17:00:00.000Z',
    );
  });

  it('start without a state machine exits 2 and says where to get one', async () => {
    const { code, stderr } = await cli(START, { GITHUB_ACTIONS: 'true' });
    expect(code).toBe(2);
    expect(stderr).toContain('DEPLOY_RUNNER_STATE_MACHINE_ARN');
  });

  it('start --wait follows the run and exits with its result', async () => {
    const clock = new VirtualClock();
    const run = appliedRunHistory({ approvalWaitMs: 60_000, taskMs: 5000 });
    simulate({
      clock,
      events: run.events,
      endsAt: run.endsAt,
      final: { status: 'SUCCEEDED', output: run.output },
      logs: { [PLAN_TASK_ARN]: [{ at: clock.now() + 2000, message: 'planning' }] },
    });
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION_ARN });
    const { code, stdout } = await cli(
      [...START, '--wait', '--log-group', '/dr/runner'],
      GITHUB,
      clock,
    );
    expect(code).toBe(0);
    expect(stdout).toContain('-> Request approval');
    expect(stdout).toContain('   plan | planning');
    expect(stdout).toContain('Waiting for approval from Alice <alice@example.com>');
    expect(stdout.trim().split('\n').at(-1)).toBe('OK Applied (exit 0)');
  });

  it.each([
    ['RUNNING', undefined, 0],
    ['SUCCEEDED', undefined, 0],
    ['FAILED', 'DeployRunner.LockHeld', 5],
    ['ABORTED', undefined, 6],
  ])('status of a %s %s run exits %s', async (status, error, exitCode) => {
    const clock = new VirtualClock();
    const run = appliedRunHistory({ approvalWaitMs: 60_000, taskMs: 5000 });
    simulate({
      clock,
      events: run.events,
      endsAt: 0,
      final: { status, error, output: run.output },
    });
    const { code, stdout } = await cli(['status', EXECUTION_ARN, '--json'], {}, clock);
    expect(code).toBe(exitCode);
    expect(JSON.parse(stdout)).toMatchObject({ type: 'status', status, exitCode });
  });

  it('list shows recent runs, newest first', async () => {
    sfnMock.on(ListExecutionsCommand).resolves({
      executions: [
        {
          executionArn: EXECUTION_ARN,
          stateMachineArn: STATE_MACHINE_ARN,
          name: 'infra-envs-prod-abc1234-42',
          status: 'RUNNING',
          startDate: new Date('2026-11-25T17:00:00Z'),
        },
      ],
    });
    const { code, stdout } = await cli(['list', '--status', 'RUNNING']);
    expect(code).toBe(0);
    expect(stdout).toBe('RUNNING         2026-11-25 17:00  infra-envs-prod-abc1234-42\n');
    expect(sfnMock.commandCalls(ListExecutionsCommand)[0].args[0].input).toMatchObject({
      stateMachineArn: STATE_MACHINE_ARN,
      statusFilter: 'RUNNING',
    });
  });

  it("logs prints each task's lines under a header; without a log group it exits 2", async () => {
    const clock = new VirtualClock();
    const run = appliedRunHistory({ approvalWaitMs: 60_000, taskMs: 5000 });
    simulate({
      clock,
      events: run.events,
      endsAt: 0,
      final: { status: 'SUCCEEDED', output: run.output },
      logs: { [PLAN_TASK_ARN]: [{ at: 0, message: 'terraform plan' }] },
    });
    clock.t = run.endsAt + 1000;
    const { code, stdout } = await cli(
      ['logs', EXECUTION_ARN],
      { DEPLOY_RUNNER_LOG_GROUP: '/dr/runner' },
      clock,
    );
    expect(code).toBe(0);
    expect(stdout).toBe('== Plan (task plan0task1) ==\nterraform plan\n');
    expect((await cli(['logs', EXECUTION_ARN], {})).code).toBe(2);
  });

  it('AWS errors become one line and an exit code', async () => {
    sfnMock
      .on(DescribeExecutionCommand)
      .rejects(
        Object.assign(new Error('Execution Does Not Exist'), { name: 'ExecutionDoesNotExist' }),
      );
    const { code, stderr } = await cli(['status', EXECUTION_ARN]);
    expect(code).toBe(2);
    expect(stderr).toBe(
      'deploy-runner: No such execution (ExecutionDoesNotExist: Execution Does Not Exist): check the ARN and --region.\n',
    );
  });
});
