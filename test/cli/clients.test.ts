import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createClients, credentialsConfigured, resolveTarget } from '../../lib/cli/clients';
import { EXECUTION_ARN } from './fixtures';

describe('resolveTarget', () => {
  it.each([
    [{ region: 'ap-south-1', arn: EXECUTION_ARN }, { AWS_REGION: 'us-west-2' }, 'ap-south-1'],
    [{ arn: EXECUTION_ARN }, { AWS_REGION: 'us-west-2' }, 'eu-west-1'],
    [{}, { AWS_REGION: 'us-west-2', AWS_DEFAULT_REGION: 'us-east-2' }, 'us-west-2'],
    [{}, { AWS_DEFAULT_REGION: 'us-east-2' }, 'us-east-2'],
    [{}, {}, 'us-east-1'],
  ])('%j with %j → %s', (options, env, region) => {
    expect(resolveTarget(options, env).region).toBe(region);
  });

  it('takes the endpoint from the flag, else DEPLOY_RUNNER_ENDPOINT', () => {
    const env = { DEPLOY_RUNNER_ENDPOINT: 'http://127.0.0.1:8787' };
    expect(resolveTarget({}, env).endpoint).toBe('http://127.0.0.1:8787');
    expect(resolveTarget({ endpoint: 'http://127.0.0.1:9' }, env).endpoint).toBe(
      'http://127.0.0.1:9',
    );
    expect(resolveTarget({}, {})).toEqual({ region: 'us-east-1' });
  });
});

describe('credentials', () => {
  const emptyHome = mkdtempSync(join(tmpdir(), 'dr-home-'));

  it('notices credentials in the environment or in ~/.aws', () => {
    expect(credentialsConfigured({}, emptyHome)).toBe(false);
    expect(credentialsConfigured({ AWS_PROFILE: 'ci' }, emptyHome)).toBe(true);
    expect(credentialsConfigured({ AWS_WEB_IDENTITY_TOKEN_FILE: '/t' }, emptyHome)).toBe(true);
    const home = mkdtempSync(join(tmpdir(), 'dr-home-'));
    mkdirSync(join(home, '.aws'));
    writeFileSync(join(home, '.aws', 'config'), '[default]\n');
    expect(credentialsConfigured({}, home)).toBe(true);
  });

  it('signs local-mode requests with a dummy key when nothing is configured', async () => {
    const env = {
      HOME: emptyHome,
      AWS_SHARED_CREDENTIALS_FILE: join(emptyHome, 'none'),
      AWS_CONFIG_FILE: join(emptyHome, 'none'),
    };
    const local = createClients({ region: 'us-east-1', endpoint: 'http://127.0.0.1:8787' }, env);
    const credentials = await local.sfn.config.credentials();
    expect(credentials).toMatchObject({ accessKeyId: 'local', secretAccessKey: 'local' });
    expect(await local.sfn.config.maxAttempts()).toBe(1);
    const endpoint = await local.logs.config.endpoint?.();
    expect(endpoint?.hostname).toBe('127.0.0.1');
  });
});
