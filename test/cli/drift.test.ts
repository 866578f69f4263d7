import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DriftExit, runDriftChecks, splitDriftRuns } from '../../lib/cli/drift';
import { ExitCode } from '../../lib/cli/exit-codes';
import { ApiPacer } from '../../lib/cli/pacer';
import { Renderer } from '../../lib/cli/render';
import { RunErrors } from '../../lib/contracts';

const sfnMock = mockClient(SFNClient);
const ARN = 'arn:aws:states:eu-west-1:111111111111:stateMachine:DeployRunner';

function run(output: object, status = 'SUCCEEDED', error = 'DeployRunner.PlanFailed') {
  sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
    executionArn: `${ARN.replace(':stateMachine:', ':execution:')}:${input.name}`,
    startDate: new Date(),
  }));
  sfnMock.on(DescribeExecutionCommand).resolves({
    status: status as 'SUCCEEDED',
    output: JSON.stringify(output),
    ...(status === 'FAILED' ? { error, cause: 'provider exploded' } : {}),
  } as never);
  let text = '';
  const out = new Renderer({
    stream: { isTTY: false, write: (c: string) => (text += c) },
    env: {},
  });
  const code = runDriftChecks(
    { repo: 'infra', path: 'envs/prod', ref: 'main', onDrift: 'notify' },
    {
      sfn: () => new SFNClient({ region: 'eu-west-1' }),
      stateMachineArn: async () => ARN,
      pacer: new ApiPacer({ minIntervalMs: 0 }),
      clock: { now: () => Date.parse('2026-01-01T00:00:00Z') } as never,
      out,
      sleep: async () => {},
    },
  );
  return code.then((c) => ({ code: c, text }));
}

describe('deploy-runner drift: exit codes', () => {
  beforeEach(() => sfnMock.reset());
  const counts = { add: 1, change: 0, destroy: 0, replace: 0 };

  it('0 when nothing drifted, and the run is a drift request named drift-<path>-', async () => {
    const { code, text } = await run({
      drift: { drifted: false, summary: 'No drift: x', notified: 0 },
    });
    expect(code).toBe(DriftExit.NoDrift);
    expect(text).toContain('No drift: x');
    const start = sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input;
    expect(start?.name).toMatch(/^drift-envs-prod-20260101000000-cli$/);
    expect(JSON.parse(start?.input ?? '{}')).toMatchObject({ path: 'envs/prod', drift: 'notify' });
  });

  it('7 when drift was found', async () => {
    const { code } = await run({
      drift: { drifted: true, summary: 'Drift found', counts, notified: 2 },
    });
    expect(code).toBe(DriftExit.DriftFound);
  });

  it('1 when the check failed', async () => {
    const { code, text } = await run({}, 'FAILED');
    expect(code).toBe(DriftExit.Failed);
    expect(text).toContain('DeployRunner.PlanFailed');
  });

  it("1 when the check failed on tampered plan artifacts: never 8, another command's code", async () => {
    const { code, text } = await run({}, 'FAILED', RunErrors.ArtifactTampered);
    expect(code).toBe(DriftExit.Failed);
    expect(code).not.toBe(ExitCode.ArtifactTampered);
    expect(text).toContain(RunErrors.ArtifactTampered);
  });

  it("its codes are the CLI table's, with the same meanings", () => {
    expect(DriftExit).toEqual({
      NoDrift: ExitCode.Ok,
      Failed: ExitCode.RunFailed,
      DriftFound: ExitCode.DriftFound,
    });
    expect(DriftExit.DriftFound).toBe(7);
  });

  it('list: drift checks apart from deploys', () => {
    const [drift, deploys] = splitDriftRuns([
      { name: 'drift-envs-prod-1' },
      { name: 'infra-envs-prod-abc1234-9' },
    ]);
    expect(drift.map((e) => e.name)).toEqual(['drift-envs-prod-1']);
    expect(deploys.map((e) => e.name)).toEqual(['infra-envs-prod-abc1234-9']);
  });
});
