import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { basicAuthValue } from '../../containers/runner/src/mask';
import type { PlanResult } from '../../lib/contracts';
import { itWithSandbox } from './helpers';
import { startFakeS3, startGitHttpServer } from './servers';

/**
 * Secrets: the git token reaches git only through its environment, never argv, URLs, logs,
 * artifacts or terraform's environment; known secret values are masked in all output.
 */

const TOKEN = 'ghs_TestToken1234567890abcdefXYZ';
const HEADER = basicAuthValue(TOKEN);
const SSH_KEY = [
  '-----BEGIN OPENSSH PRIVATE KEY-----',
  'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW',
  'QyNTUxOQAAACBsZWNyZXRrZXlsaW5lMmV4YW1wbGVvbmx5Zm9ydGVzdHMAAAAAAAAAAAAA',
  '-----END OPENSSH PRIVATE KEY-----',
  '',
].join('\n');
const SSH_LINE = 'QyNTUxOQAAACBsZWNyZXRrZXlsaW5lMmV4YW1wbGVvbmx5Zm9ydGVzdHMAAAAAAAAAAAAA';
const SECRETS = [TOKEN, HEADER, SSH_LINE];

/** A module whose (non-sensitive) attributes print the secrets, as a careless config might. */
const LEAKY_MODULE = JSON.stringify({
  resources: [
    {
      type: 'sim_leak',
      name: 'x',
      attributes: { token: TOKEN, header: `Basic ${HEADER}`, key: SSH_LINE },
    },
  ],
});

function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? filesUnder(path) : [path];
    });
  } catch {
    return [];
  }
}

const test = itWithSandbox(() => ({ 'envs/dev/resources.json': LEAKY_MODULE }));

/** Runs `body` with a server that is closed afterwards, whatever happens. */
async function using<T extends { close(): Promise<void> }>(
  server: Promise<T>,
  body: (server: T) => Promise<void>,
): Promise<void> {
  const started = await server;
  try {
    await body(started);
  } finally {
    await started.close();
  }
}

describe.concurrent('git credentials', () => {
  test('authenticates over HTTP with the token header, and the token appears nowhere else', async ({
    sandbox,
  }) => {
    await using(startGitHttpServer(sandbox.repo.bare, `Basic ${HEADER}`), async (server) => {
      const allowlist = sandbox.allowlist({ url: server.url });
      const plan = await sandbox.plan('run-1', {
        DR_ALLOWLIST: allowlist,
        GIT_TOKEN: TOKEN,
        GIT_SSH_KEY: SSH_KEY,
      });
      const approved = await sandbox.run({
        ...sandbox.applyEnv('run-1', plan),
        DR_ALLOWLIST: allowlist,
        GIT_TOKEN: TOKEN,
        GIT_SSH_KEY: SSH_KEY,
      });
      expect(approved.code, approved.stdout + approved.stderr).toBe(0);

      // git sent the header on every request: the token works.
      expect(server.authorizations.length).toBeGreaterThan(0);
      expect(new Set(server.authorizations)).toEqual(new Set([`Basic ${HEADER}`]));

      // Never in argv: neither git's nor the tool's.
      const gitArgv = sandbox.shim.calls().flat();
      expect(gitArgv.length).toBeGreaterThan(0);
      const toolCalls = sandbox.toolCalls();
      expect(toolCalls.length).toBeGreaterThan(0);
      const everything = [
        ...gitArgv,
        ...toolCalls.flatMap((c) => c.argv),
        plan.stdout,
        plan.stderr,
        approved.stdout,
        approved.stderr,
        // The plan file is the tool's (encrypted at rest): it holds whatever the config holds.
        ...filesUnder(sandbox.artifacts)
          .filter((f) => !f.includes('plan.tfplan'))
          .map((f) => readFileSync(f, 'utf8')),
      ].join('\n');
      for (const secret of SECRETS) expect(everything).not.toContain(secret);
      // The tool printed them (they are plain attributes); the runner masked them.
      expect(plan.stdout).toContain('token  = "***"');
      expect(plan.stdout).toContain('key    = "***"');
      expect(plan.stdout).toContain('header = "Basic ***"');

      // Never in terraform's environment: no token, no git configuration, no SSH key.
      for (const call of toolCalls) {
        const env = call.env;
        expect(Object.keys(env).filter((k) => k.startsWith('GIT_'))).toEqual([]);
        for (const secret of SECRETS) expect(JSON.stringify(env)).not.toContain(secret);
        expect(env).toMatchObject({ TF_IN_AUTOMATION: '1', TF_INPUT: '0' });
        expect(Object.keys(env).filter((k) => k.startsWith('DR_'))).toEqual([]);
      }
    });
  });

  test('fails with exit 5 and an authentication hint when the token is wrong', async ({
    sandbox,
  }) => {
    await using(startGitHttpServer(sandbox.repo.bare, `Basic ${HEADER}`), async (server) => {
      const outcome = await sandbox.run({
        DR_ALLOWLIST: sandbox.allowlist({ url: server.url }),
        GIT_TOKEN: 'ghs_wrong_token_value_123',
      });
      expect(outcome.code).toBe(5);
      expect(outcome.stderr).toMatch(/could not authenticate|credentials/);
      expect(`${outcome.stdout}${outcome.stderr}`).not.toContain('ghs_wrong_token_value_123');
    });
  });

  test('refuses plain HTTP to anything but this machine', async ({ sandbox }) => {
    // A refusal before git runs: the runner's own logic, in this process.
    const outcome = await sandbox.runInProcess({
      DR_ALLOWLIST: sandbox.allowlist({ url: 'http://git.example.com/infra.git' }),
      GIT_TOKEN: TOKEN,
    });
    expect(outcome.code).toBe(2);
    expect(sandbox.shim.calls()).toEqual([]);
  });
});

describe.concurrent('artifacts in S3 and the log link', () => {
  test('writes SSE-KMS objects with checksums, reads the pinned version, links the task log', async ({
    sandbox,
  }) => {
    await using(startFakeS3(), async (s3) => {
      const metadata = createServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(
          JSON.stringify({
            TaskARN: 'arn:aws:ecs:us-east-1:123456789012:task/deploy-runner/0123456789abcdef',
          }),
        );
      });
      await new Promise<void>((r) => metadata.listen(0, '127.0.0.1', r));
      const aws = {
        DR_ARTIFACT_DIR: '',
        DR_ARTIFACT_BUCKET: 'deploy-runner-artifacts',
        DR_KMS_KEY_ARN: 'arn:aws:kms:us-east-1:123456789012:key/test',
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        AWS_ACCESS_KEY_ID: 'AKIDTEST',
        AWS_SECRET_ACCESS_KEY: 'secret-test-key',
        DR_LOG_GROUP: '/deploy-runner/runner',
        ECS_CONTAINER_METADATA_URI_V4: `http://127.0.0.1:${(metadata.address() as AddressInfo).port}`,
        GIT_TOKEN: TOKEN,
      };
      try {
        const planned = await sandbox.run({ ...aws, DR_RUN_ID: 'run-s3' });
        expect(planned.code, planned.stdout + planned.stderr).toBe(0);
        const puts = s3.requests.filter((r) => r.method === 'PUT');
        expect(puts.map((r) => r.path)).toEqual([
          '/deploy-runner-artifacts/runs/run-s3/plan.tfplan',
          '/deploy-runner-artifacts/runs/run-s3/plan.txt',
          '/deploy-runner-artifacts/runs/run-s3/plan-result.json',
        ]);
        for (const put of puts) {
          expect(put.headers['x-amz-server-side-encryption']).toBe('aws:kms');
          expect(put.headers['x-amz-server-side-encryption-aws-kms-key-id']).toBe(
            aws.DR_KMS_KEY_ARN,
          );
          expect(put.headers['x-amz-checksum-sha256']).toBeTruthy();
        }
        // The plan result, as `Inspect plan` would read it.
        const resultGet = await fetch(
          `${s3.endpoint}/deploy-runner-artifacts/runs/run-s3/plan-result.json`,
        );
        const plan = (await resultGet.json()) as PlanResult;
        expect(plan.planVersionId).toBe('v1');
        expect(plan.logUrl).toBe(
          'https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/$252Fdeploy-runner$252Frunner/log-events/runner$252Frunner$252F0123456789abcdef',
        );

        const before = s3.requests.length;
        const applied = await sandbox.run({ ...aws, ...sandbox.applyEnv('run-s3', plan) });
        expect(applied.code, applied.stdout + applied.stderr).toBe(0);
        const gets = s3.requests.slice(before).filter((r) => r.method === 'GET');
        expect(gets[0]?.path).toBe('/deploy-runner-artifacts/runs/run-s3/plan.tfplan');
        expect(s3.requests.at(-1)?.path).toBe(
          '/deploy-runner-artifacts/runs/run-s3/apply-result.json',
        );
      } finally {
        await new Promise((r) => metadata.close(r));
      }
    });
  });
});
