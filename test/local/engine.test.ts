import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ExecutionRecord, LocalEngine, type TaskImplementation } from '../../lib/local/engine';

// A small definition exercising what the engine adds on top of aws-local-stepfunctions:
// Lambda and service-integration events, a task token wait with a timeout, Catch, Fail paths.
const definition = {
  StartAt: 'Greet',
  States: {
    Greet: {
      Type: 'Task',
      Resource: 'arn:aws:lambda:us-east-1:123456789012:function:greet',
      ResultPath: '$.greeting',
      Next: 'Wait for a human',
    },
    'Wait for a human': {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: {
        FunctionName: 'ask',
        Payload: { 'token.$': '$$.Task.Token', 'who.$': '$.who' },
      },
      TimeoutSeconds: 1,
      ResultPath: '$.answer',
      Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: '$.error', Next: 'Too slow' }],
      Next: 'Done',
    },
    'Too slow': { Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' },
    Done: { Type: 'Succeed' },
  },
};

function engine(
  tokens: string[],
  opts: { dataDir?: string; ended?: ExecutionRecord[]; greet?: TaskImplementation } = {},
) {
  return new LocalEngine({
    definition,
    stateMachineName: 'test',
    ...(opts.dataDir && { dataDir: opts.dataDir }),
    onExecutionEnded: (r) => {
      opts.ended?.push(r);
    },
    taskImplementation: (stateName) => {
      if (stateName === 'Greet')
        return opts.greet ?? (async ({ input }) => `hello ${(input as { who: string }).who}`);
      return async ({ input, waitForTaskToken }) => {
        const token = (input as { Payload: { token: string } }).Payload.token;
        tokens.push(token);
        return waitForTaskToken(token);
      };
    },
  });
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('LocalEngine', () => {
  it('runs to success through SendTaskSuccess and records an AWS-shaped history', async () => {
    const tokens: string[] = [];
    const e = engine(tokens);
    const { executionArn } = e.startExecution({
      stateMachineArn: e.stateMachineArn,
      name: 'run-1',
      input: JSON.stringify({ who: 'ada' }),
    });
    await until(() => tokens.length === 1);
    expect(() => e.sendTaskSuccess({ taskToken: 'forged', output: '{}' })).toThrow(
      /Task Does Not Exist/,
    );
    e.sendTaskSuccess({ taskToken: tokens[0], output: JSON.stringify({ approved: true }) });
    const r = await e.settled(executionArn);
    expect(r.status).toBe('SUCCEEDED');
    expect(JSON.parse(r.output as string)).toEqual({
      who: 'ada',
      greeting: 'hello ada',
      answer: { approved: true },
    });
    expect(r.events.map((ev) => ev.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionSucceeded',
      'TaskStateExited',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
      'SucceedStateEntered',
      'SucceedStateExited',
      'ExecutionSucceeded',
    ]);
    expect(r.events.map((ev) => ev.id)).toEqual(r.events.map((_, i) => i + 1));
    // A used token is gone.
    expect(() => e.sendTaskSuccess({ taskToken: tokens[0], output: '{}' })).toThrow(
      /Task Does Not Exist/,
    );
  });

  it('is idempotent by name while running, and refuses a reused name with other input', async () => {
    const tokens: string[] = [];
    const e = engine(tokens);
    const req = { stateMachineArn: e.stateMachineArn, name: 'same', input: '{"who":"bo"}' };
    const first = e.startExecution(req);
    expect(e.startExecution(req)).toEqual(first);
    expect(() => e.startExecution({ ...req, input: '{"who":"cy"}' })).toThrow(
      /Execution Already Exists/,
    );
    expect(() => e.startExecution({ ...req, name: 'bad name!' })).toThrow(/Invalid Name/);
    expect(() => e.startExecution({ ...req, name: 'x', input: '{' })).toThrow(
      /Invalid State Machine Execution Input/,
    );
    await until(() => tokens.length === 1);
    e.stopExecution({ executionArn: first.executionArn });
    await e.settled(first.executionArn);
  });

  it('times out a token wait: Catch runs, a late answer gets TaskTimedOut', async () => {
    const tokens: string[] = [];
    const e = engine(tokens);
    const { executionArn } = e.startExecution({
      stateMachineArn: e.stateMachineArn,
      name: 'slow',
      input: '{"who":"di"}',
    });
    const r = await e.settled(executionArn);
    expect(r.status).toBe('FAILED');
    expect(r.error).toBe('States.Timeout');
    expect(r.events.map((ev) => ev.type)).toContain('TaskTimedOut');
    expect(() => e.sendTaskSuccess({ taskToken: tokens[0], output: '{}' })).toThrow(
      /Task Timed Out/,
    );
  });

  it('StopExecution aborts the run, signals the task and calls the end hook', async () => {
    const ended: ExecutionRecord[] = [];
    let aborted = false;
    const e = engine([], {
      ended,
      greet: ({ signal }) =>
        new Promise((_, reject) =>
          signal.addEventListener('abort', () => {
            aborted = true;
            reject(new Error('killed'));
          }),
        ),
    });
    const { executionArn } = e.startExecution({ stateMachineArn: e.stateMachineArn, input: '{}' });
    await until(() => (e.get(executionArn)?.events.length ?? 0) >= 3);
    e.stopExecution({ executionArn, error: 'Stopped', cause: 'by a test' });
    const r = await e.settled(executionArn);
    expect(r.status).toBe('ABORTED');
    expect(r.error).toBe('Stopped');
    expect(aborted).toBe(true);
    expect(ended.map((x) => x.status)).toEqual(['ABORTED']);
    expect(r.events.at(-1)?.type).toBe('ExecutionAborted');
  });

  it('keeps finished runs across a restart and fails the ones in flight with a clear cause', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'engine-'));
    const tokens: string[] = [];
    const before = engine(tokens, { dataDir });
    const done = before.startExecution({
      stateMachineArn: before.stateMachineArn,
      name: 'finished',
      input: '{"who":"ed"}',
    });
    await until(() => tokens.length === 1);
    before.sendTaskSuccess({ taskToken: tokens[0], output: '{}' });
    await before.settled(done.executionArn);
    const inFlight = before.startExecution({
      stateMachineArn: before.stateMachineArn,
      name: 'in-flight',
      input: '{"who":"fay"}',
    });
    await until(() => tokens.length === 2);

    const after = engine([], { dataDir });
    expect(after.describeExecution({ executionArn: done.executionArn }).status).toBe('SUCCEEDED');
    const lost = after.describeExecution({ executionArn: inFlight.executionArn });
    expect(lost.status).toBe('FAILED');
    expect(lost.error).toBe('DeployRunner.LocalServerRestarted');
    expect(lost.cause).toMatch(/Start a new run/);
    expect(after.interrupted.map((r) => r.name)).toEqual(['in-flight']);
    before.stopExecution({ executionArn: inFlight.executionArn });
    await before.settled(inFlight.executionArn);
  });
});
