import {
  DescribeStateMachineCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  InvalidName,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  StartExecutionCommand,
  StopExecutionCommand,
  TaskDoesNotExist,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, resources, startHarness, startRun, waitForEnd } from './harness';

/** The local server speaks the Step Functions JSON protocol: the real SDK client works against it. */
describe('local server: the Step Functions API through @aws-sdk/client-sfn', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    h.repo.commit({ 'envs/api': { resources: [] }, 'envs/wait': { resources: resources('w') } });
  });
  afterAll(() => h?.close());

  it('lists and describes the state machine with the synthesized definition', async () => {
    const list = await h.sfn.send(new ListStateMachinesCommand({}));
    expect(list.stateMachines?.map((s) => s.stateMachineArn)).toEqual([h.server.stateMachineArn]);
    const described = await h.sfn.send(
      new DescribeStateMachineCommand({ stateMachineArn: h.server.stateMachineArn }),
    );
    const definition = JSON.parse(described.definition as string);
    expect(definition.StartAt).toBe('Validate request');
    expect(described.status).toBe('ACTIVE');
  });

  it('starts idempotently by name and refuses the name with different input', async () => {
    const input = JSON.stringify({ repo: 'infra', ref: 'main', path: 'envs/wait' });
    const name = 'infra-envs-wait-abc1234-ci-42';
    const start = () =>
      h.sfn.send(
        new StartExecutionCommand({ stateMachineArn: h.server.stateMachineArn, name, input }),
      );
    const first = await start();
    const again = await start();
    expect(again.executionArn).toBe(first.executionArn);
    await expect(
      h.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: h.server.stateMachineArn,
          name,
          input: JSON.stringify({ repo: 'infra', ref: 'main', path: 'envs/api' }),
        }),
      ),
    ).rejects.toBeInstanceOf(ExecutionAlreadyExists);
    await expect(
      h.sfn.send(
        new StartExecutionCommand({ stateMachineArn: h.server.stateMachineArn, name: 'no spaces' }),
      ),
    ).rejects.toBeInstanceOf(InvalidName);
    const listed = await h.sfn.send(
      new ListExecutionsCommand({
        stateMachineArn: h.server.stateMachineArn,
        statusFilter: 'RUNNING',
      }),
    );
    expect(listed.executions?.map((e) => e.name)).toContain(name);
    // Otherwise it plans and waits for an approval no one gives, until the server closes.
    await h.sfn.send(new StopExecutionCommand({ executionArn: first.executionArn }));
    expect((await waitForEnd(h, first.executionArn as string)).status).toBe('ABORTED');
  });

  it('pages the history and answers unknown executions and tokens as AWS does', async () => {
    const arn = await startRun(h, { repo: 'infra', ref: 'main', path: 'envs/api' });
    await waitForEnd(h, arn);
    const first = await h.sfn.send(
      new GetExecutionHistoryCommand({ executionArn: arn, maxResults: 3 }),
    );
    expect(first.events).toHaveLength(3);
    expect(first.nextToken).toBeDefined();
    const rest = await h.sfn.send(
      new GetExecutionHistoryCommand({ executionArn: arn, nextToken: first.nextToken }),
    );
    expect(rest.events?.at(-1)?.type).toBe('ExecutionSucceeded');
    expect(first.events?.[0]?.timestamp).toBeInstanceOf(Date);

    await expect(
      h.sfn.send(
        new GetExecutionHistoryCommand({ executionArn: `${arn.replace(/:[^:]+$/, ':nope')}` }),
      ),
    ).rejects.toBeInstanceOf(ExecutionDoesNotExist);
    await expect(
      h.sfn.send(new SendTaskSuccessCommand({ taskToken: 'forged-token', output: '{}' })),
    ).rejects.toBeInstanceOf(TaskDoesNotExist);
    await expect(
      h.sfn.send(new SendTaskHeartbeatCommand({ taskToken: 'forged-token' })),
    ).rejects.toBeInstanceOf(TaskDoesNotExist);
  });

  it('answers an unknown operation with UnknownOperationException', async () => {
    const res = await fetch(h.server.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'AWSStepFunctions.CreateStateMachine',
      },
      body: '{}',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ __type: 'UnknownOperationException' });
  });
});
