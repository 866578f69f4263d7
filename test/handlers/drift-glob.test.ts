import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createNotifyHandler } from '../../handlers/notify';
import { childExecutionName } from '../../handlers/shared/drift-fan-out';
import { startRunWith } from '../../handlers/shared/drift-notify';
import { createLogger } from '../../handlers/shared/logger';
import { createValidateRequestHandler } from '../../handlers/validate-request';
import { checkExecutionInput } from '../../lib/allowlist';
import { ArtifactNotFoundError, type ArtifactStore } from '../../lib/artifact-store';
import {
  artifactKeys,
  type DriftPathList,
  driftFanOutSchema,
  type RunRequest,
} from '../../lib/contracts';
import { MemoryDriftStore } from '../../lib/local/drift-store';
import { EXECUTION_ARN, request, settings } from './support/fixtures';
import { RecordingNotifier } from './support/recording-notifier';

/**
 * Drift globs (docs/drift.md): `Validate request` lets a glob through only for the drift check a
 * config entry names; notify's `drift-fan-out` phase starts one drift check per listed path.
 */

const GLOB = { repo: 'infra', ref: 'main', path: 'envs/*' };
const globSettings = { ...settings, driftGlobs: [GLOB] };
const execution = {
  id: 'arn:aws:states:us-east-1:123456789012:execution:deploy-runner:drift-envs-1234',
  name: 'drift-envs-1234',
  startTime: '2025-11-25T10:00:00.000Z',
};
const validate = createValidateRequestHandler({
  settings: globSettings,
  logger: createLogger('drift-glob-test'),
});

describe('the allowlist: a glob only for a configured drift entry', () => {
  it('accepts the drift check an entry names and marks it to be expanded', async () => {
    const { request: accepted } = await validate({
      input: { ...GLOB, requestedBy: 'drift-check', drift: 'notify' },
      execution,
    });
    expect(accepted).toMatchObject({ path: 'envs/*', mode: 'plan-only', expandGlob: true });
  });

  it('a concrete drift path is an ordinary drift check', async () => {
    const { request: accepted } = await validate({
      input: { ...GLOB, path: 'envs/prod', drift: 'notify' },
      execution,
    });
    expect(accepted.expandGlob).toBeUndefined();
  });

  it.each([
    ['a deploy of the glob', { ...GLOB }],
    ['a plan-only run of the glob', { ...GLOB, mode: 'plan-only' }],
    ['a drift glob the config does not have', { ...GLOB, path: 'envs/p*', drift: 'notify' }],
    ['the glob at another ref', { ...GLOB, ref: 'release/1', drift: 'notify' }],
  ])('refuses %s', async (_what, input) => {
    await expect(validate({ input, execution })).rejects.toThrow(/is a pattern; send one path/);
  });

  it('without drift globs in the settings, no glob passes', () => {
    const verdict = checkExecutionInput({ ...GLOB, drift: 'notify' }, settings.allowlist);
    expect(verdict.ok).toBe(false);
  });

  it('a configured glob is still checked against the allowed paths and for its syntax', () => {
    for (const path of ['modules/*', 'envs/../*'])
      expect(
        checkExecutionInput({ ...GLOB, path, drift: 'notify' }, settings.allowlist, [
          { ...GLOB, path },
        ]).ok,
      ).toBe(false);
  });
});

describe("notify's drift-fan-out phase", () => {
  const sfn = mockClient(SFNClient);
  const PARENT = 'drift-envs-1234';
  const parentArn = `arn:aws:states:us-east-1:123456789012:execution:deploy-runner:${PARENT}`;
  const globRequest: RunRequest = {
    ...request,
    path: 'envs/*',
    mode: 'plan-only',
    requestedBy: 'drift-check',
    runId: PARENT,
    executionArn: parentArn,
    lockKey: 'lock#infra#envs/*',
    drift: 'request-approval',
    expandGlob: true,
  };
  let lists: Record<string, string>;
  const artifacts: Pick<ArtifactStore, 'get'> = {
    get: async (key) => {
      const text = lists[key];
      if (text === undefined) throw new ArtifactNotFoundError(key);
      return { key, body: Buffer.from(text), versionId: 'v1', sha256: '0'.repeat(64) };
    },
  };
  const listOf = (paths: string[], overrides: Partial<DriftPathList> = {}) => {
    lists[artifactKeys(PARENT).driftPaths] = JSON.stringify({
      repo: 'infra',
      ref: 'main',
      glob: 'envs/*',
      commit: 'a'.repeat(40),
      paths,
      total: paths.length,
      ...overrides,
    });
  };
  const fanOut = (store = new MemoryDriftStore()) =>
    createNotifyHandler({
      settings,
      notifier: new RecordingNotifier(),
      artifacts,
      logger: createLogger('drift-glob-test'),
      drift: { store, startRun: startRunWith(new SFNClient({})) },
    })({ phase: 'drift-fan-out', executionArn: parentArn, state: { request: globRequest } });

  beforeEach(() => {
    sfn.reset();
    sfn.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
      executionArn: `arn:child:${input.name}`,
    }));
    lists = {};
  });

  it('starts one drift check per path on this state machine, named after the path and the parent', async () => {
    listOf(['envs/dev', 'envs/prod']);
    const out = driftFanOutSchema.parse(await fanOut());
    const calls = sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input);
    expect(calls).toEqual(
      ['envs/dev', 'envs/prod'].map((path) => ({
        stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:deploy-runner',
        name: childExecutionName(parentArn, path),
        input: JSON.stringify({
          repo: 'infra',
          ref: 'main',
          path,
          requestedBy: 'drift-check',
          drift: 'request-approval',
        }),
      })),
    );
    expect(childExecutionName(parentArn, 'envs/dev')).toMatch(/^drift-envs-dev-[0-9a-f]{32}$/);
    expect(childExecutionName(parentArn, 'envs/dev')).not.toBe(
      childExecutionName(EXECUTION_ARN, 'envs/dev'),
    );
    expect(out.checks.map((c) => c.path)).toEqual(['envs/dev', 'envs/prod']);
    expect(out.summary).toBe(
      '2 drift checks started for envs/* at main (aaaaaaaaaaaa): envs/dev, envs/prod',
    );
  });

  it('a glob that was failing and works again is marked clean, so its next failure is told', async () => {
    listOf(['envs/dev']);
    const store = new MemoryDriftStore();
    await store.put('infra', 'envs/*', {
      status: 'failed',
      at: '2025-11-25T09:00:00.000Z',
      executionArn: EXECUTION_ARN,
      fingerprint: 'DeployRunner.DriftGlobMatchesNothing',
    });
    await fanOut(store);
    expect(await store.get('infra', 'envs/*')).toMatchObject({
      status: 'clean',
      executionArn: parentArn,
    });
  });

  it('a retried fan-out counts a child the first attempt started as started', async () => {
    listOf(['envs/dev']);
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));
    const out = driftFanOutSchema.parse(await fanOut());
    expect(out.checks[0]?.executionArn).toBe(
      `arn:aws:states:us-east-1:123456789012:execution:deploy-runner:${childExecutionName(parentArn, 'envs/dev')}`,
    );
  });

  it.each([
    ['a path the glob does not match', () => listOf(['envs/dev', 'modules/net'])],
    ['a path leaving the repo', () => listOf(['envs/..'])],
    ['a pattern', () => listOf(['envs/*'])],
    ['paths out of order', () => listOf(['envs/prod', 'envs/dev'])],
    ['a count that does not add up', () => listOf(['envs/dev'], { total: 3 })],
    ['another glob', () => listOf(['envs/dev'], { glob: 'envs/d*' })],
    ['another ref', () => listOf(['envs/dev'], { ref: 'release/1' })],
    ['not the contract', () => listOf(['envs/dev'], { extra: 1 } as never)],
    [
      'not JSON',
      () => {
        lists[artifactKeys(PARENT).driftPaths] = '{';
      },
    ],
    ['no list at all', () => {}],
  ])('refuses a list with %s whole, and starts nothing', async (_what, write) => {
    write();
    await expect(fanOut()).rejects.toMatchObject({ name: 'DeployRunner.ArtifactTampered' });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('a glob that matches nothing fails with a readable cause', async () => {
    listOf([]);
    await expect(fanOut()).rejects.toMatchObject({
      name: 'DeployRunner.DriftGlobMatchesNothing',
      message: expect.stringMatching(/^Drift glob envs\/\* of infra matches nothing at main/),
    });
  });

  it('more paths than the cap: nothing is started, the error says how many', async () => {
    listOf(Array.from({ length: 51 }, (_, i) => `envs/m${String(i).padStart(2, '0')}`));
    await expect(fanOut()).rejects.toMatchObject({
      name: 'DeployRunner.DriftGlobTooWide',
      message: expect.stringContaining('matches 51 paths at main'),
    });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('a request that is not a drift glob is a wiring error', async () => {
    listOf(['envs/dev']);
    const { expandGlob: _, ...plain } = globRequest;
    await expect(
      createNotifyHandler({
        settings,
        notifier: new RecordingNotifier(),
        artifacts,
        drift: { store: new MemoryDriftStore(), startRun: startRunWith(new SFNClient({})) },
      })({ phase: 'drift-fan-out', executionArn: parentArn, state: { request: plain } }),
    ).rejects.toMatchObject({ name: 'DeployRunner.InvalidPayload' });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});
