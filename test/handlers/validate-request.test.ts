import { describe, expect, it } from 'vitest';
import { InvalidPayloadError, RequestRejectedError } from '../../handlers/shared/errors';
import { createLogger } from '../../handlers/shared/logger';
import { createValidateRequestHandler } from '../../handlers/validate-request';
import { runRequestSchema } from '../../lib/contracts';
import { captureOutput, EXECUTION_ARN, settings } from './support/fixtures';

const validate = createValidateRequestHandler({
  settings,
  logger: createLogger('validate-test'),
});
const execution = {
  id: EXECUTION_ARN,
  name: 'infra-envs-prod-abc1234-42',
  startTime: '2025-11-25T10:00:00.123Z',
};

describe('validate-request', () => {
  it('turns an allowed input into the RunRequest', async () => {
    const { request } = await validate({
      input: {
        repo: 'infra',
        ref: 'main',
        path: 'envs/prod',
        requestedBy: 'dora@example.com',
        ciRunUrl: 'https://ci.example.com/42',
      },
      execution,
    });
    expect(runRequestSchema.parse(request)).toEqual({
      repo: 'infra',
      ref: 'main',
      path: 'envs/prod',
      mode: 'apply',
      requestedBy: 'dora@example.com',
      ciRunUrl: 'https://ci.example.com/42',
      runId: 'infra-envs-prod-abc1234-42',
      executionArn: EXECUTION_ARN,
      lockKey: 'lock#infra#envs/prod',
      lockHolder:
        'run infra-envs-prod-abc1234-42, requested by dora@example.com, CI run https://ci.example.com/42',
      lockExpiresAt: String(
        Math.floor(Date.parse('2025-11-25T10:00:00Z') / 1000) + settings.lockTtlSeconds,
      ),
      tool: 'terraform',
    });
  });

  it('keeps plan-only mode and leaves absent optional fields out', async () => {
    const { request } = await validate({
      input: { repo: 'infra', ref: 'release/1', path: 'envs/dev', mode: 'plan-only' },
      execution,
    });
    expect(request.mode).toBe('plan-only');
    expect('requestedBy' in request).toBe(false);
    expect(request.lockHolder).toBe(
      'run infra-envs-prod-abc1234-42, requested by an unnamed requester',
    );
  });

  it('refuses apply on a plan-only ref, saying what is allowed, and accepts plan-only there', async () => {
    const infra = settings.allowlist.infra as NonNullable<typeof settings.allowlist.infra>;
    const prs = createValidateRequestHandler({
      settings: { ...settings, allowlist: { infra: { ...infra, planOnlyRefs: ['pr/*'] } } },
      logger: createLogger('validate-test'),
    });
    const input = { repo: 'infra', ref: 'pr/42', path: 'envs/prod' };
    const refused = await prs({ input, execution }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RequestRejectedError);
    expect((refused as Error).message).toBe(
      'Request rejected:\n  - mode "apply" is not allowed on ref "pr/42": it matches planOnlyRefs (pr/*) and may only be planned; send mode "plan-only", or apply from main, release/*',
    );
    const { request } = await prs({ input: { ...input, mode: 'plan-only' }, execution });
    expect(request).toMatchObject({ ref: 'pr/42', mode: 'plan-only' });
    // Without the setting, the same branch is simply not allowed.
    const plain = await validate({ input: { ...input, mode: 'plan-only' }, execution }).catch(
      (e: unknown) => e,
    );
    expect((plain as Error).message).toContain('ref "pr/42" is not an allowed branch');
  });

  it.each([[[]], ['deploy'], [42], [null], [true]])(
    'refuses input %j that is not a JSON object as DeployRunner.RequestRejected',
    async (input) => {
      const error = await validate({ input, execution }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RequestRejectedError);
      expect((error as Error).message).toMatch(
        /^Request rejected:\n {2}- \(input\) .* must be a JSON object/,
      );
    },
  );

  it('throws DeployRunner.RequestRejected naming every bad field', async () => {
    const out = captureOutput();
    const verbose = createValidateRequestHandler({
      settings,
      logger: createLogger('validate-test', { logLevel: 'INFO' }),
    });
    const error = await verbose({
      input: { repo: 'infra', ref: 'dev', path: '../etc', extra: 1 },
      execution,
    })
      .catch((e: unknown) => e)
      .finally(() => out.restore());
    expect(error).toBeInstanceOf(RequestRejectedError);
    expect((error as Error).name).toBe('DeployRunner.RequestRejected');
    expect((error as Error).message).toBe(
      'Request rejected:\n  - extra "1" is not a known field; allowed: repo, ref, path, mode, requestedBy, ciRunUrl, drift',
    );
    const second = await validate({
      input: { repo: 'infra', ref: 'dev', path: '../etc' },
      execution,
    }).catch((e: unknown) => e);
    expect((second as Error).message).toContain('ref "dev" is not an allowed branch');
    expect((second as Error).message).toContain('path "../etc"');
    expect(out.text()).toContain('request rejected');
  });

  it('rejects unknown repos and non-object input', async () => {
    await expect(
      validate({ input: { repo: 'other', ref: 'main', path: 'envs/x' }, execution }),
    ).rejects.toThrow('is not a configured repo');
    await expect(validate({ input: 'infra', execution })).rejects.toThrow(RequestRejectedError);
  });

  it('refuses a payload without the execution context', async () => {
    await expect(validate({ input: {} })).rejects.toThrow(InvalidPayloadError);
    await expect(
      validate({ input: {}, execution: { ...execution, startTime: 'yesterday' } }),
    ).rejects.toThrow('startTime');
  });
});
