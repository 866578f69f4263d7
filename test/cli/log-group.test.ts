import { ListTagsForResourceCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ApiPacer } from '../../lib/cli/pacer';
import {
  RUNNER_LOG_GROUP_TAG,
  resolveLogGroup,
  stateMachineArnOf,
} from '../../lib/cli/state-machine';

const sfnMock = mockClient(SFNClient);
const MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:deploy-runner';
const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:deploy-runner:run-1';

const resolve = (options: { flag?: string; env?: Record<string, string>; endpoint?: string }) =>
  resolveLogGroup({
    env: {},
    stateMachineArn: stateMachineArnOf(EXECUTION),
    sfn: () => new SFNClient({ region: 'us-east-1' }),
    pacer: new ApiPacer({ minIntervalMs: 0 }),
    ...options,
  });

describe('the runner log group the CLI streams from', () => {
  beforeEach(() => {
    sfnMock.reset();
    sfnMock
      .on(ListTagsForResourceCommand, { resourceArn: MACHINE })
      .resolves({ tags: [{ key: RUNNER_LOG_GROUP_TAG, value: '/from/the/tag' }] });
  });

  it('derives the state machine from an execution ARN', () => {
    expect(stateMachineArnOf(EXECUTION)).toBe(MACHINE);
    expect(stateMachineArnOf('not-an-arn')).toBeUndefined();
  });

  it('with --endpoint and no flag, reads the state machine tag', async () => {
    expect(await resolve({ endpoint: 'http://127.0.0.1:1' })).toBe('/from/the/tag');
    expect(sfnMock.commandCalls(ListTagsForResourceCommand)).toHaveLength(1);
  });

  it('the flag, then DEPLOY_RUNNER_LOG_GROUP, win over the tag, and nothing is asked', async () => {
    const endpoint = 'http://127.0.0.1:1';
    expect(
      await resolve({ endpoint, flag: '/flag', env: { DEPLOY_RUNNER_LOG_GROUP: '/env' } }),
    ).toBe('/flag');
    expect(await resolve({ endpoint, env: { DEPLOY_RUNNER_LOG_GROUP: '/env' } })).toBe('/env');
    expect(sfnMock.commandCalls(ListTagsForResourceCommand)).toHaveLength(0);
  });

  it('against AWS (no endpoint) reads the same tag the stack sets', async () => {
    expect(await resolve({})).toBe('/from/the/tag');
    expect(sfnMock.commandCalls(ListTagsForResourceCommand)).toHaveLength(1);
  });

  it('a server without the call or the tag: no log group, the run is still followed', async () => {
    sfnMock.on(ListTagsForResourceCommand).rejects(new Error('UnknownOperationException'));
    expect(await resolve({ endpoint: 'http://127.0.0.1:1' })).toBeUndefined();
    sfnMock.reset();
    sfnMock.on(ListTagsForResourceCommand).resolves({ tags: [{ key: 'other', value: 'x' }] });
    expect(await resolve({ endpoint: 'http://127.0.0.1:1' })).toBeUndefined();
  });
});
