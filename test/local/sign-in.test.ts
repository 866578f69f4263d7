import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settingsFromEnv } from '../../handlers/shared/settings';
import { type DeployRunnerConfig, parseConfig } from '../../lib/config';
import { environmentsFromTemplate, synthesizeDefinition } from '../../lib/definition';
import { startLocalServer } from '../../lib/local/local-server';
import { LocalSetupError } from '../../lib/local/preflight';
import {
  approverAccounts,
  LOCAL_SIGN_IN_SECRET_NAME,
  OUTSIDER,
  startLocalServerWithSignIn,
} from '../../lib/local/sign-in';
import { runnerBundle } from '../e2e/harness';

const OKTA = {
  issuer: 'https://acme.okta.com',
  clientId: '0oa1',
  clientSecretName: 'deploy-runner/sign-in',
};

function config(approvals: Record<string, unknown> = {}): DeployRunnerConfig {
  return parseConfig({
    repos: {
      infra: {
        url: 'https://github.com/acme/infra.git',
        allowedRefs: ['main'],
        allowedPaths: ['envs/*'],
      },
    },
    approvals: {
      approvers: [
        { name: 'Ada', email: 'ada@example.com' },
        { name: 'Grace', email: 'grace@example.com' },
      ],
      ...approvals,
    },
    notifications: {
      fromEmail: 'deploy-runner@example.com',
      slack: { botTokenSecretName: 'deploy-runner/slack' },
    },
  });
}

describe('local sign-in: accounts for the approvers', () => {
  it('makes one verified account per approver, known by their email', () => {
    expect(approverAccounts(config(), 'email')).toEqual([
      { accountId: 'approver-1', email: 'ada@example.com', email_verified: true, name: 'Ada' },
      { accountId: 'approver-2', email: 'grace@example.com', email_verified: true, name: 'Grace' },
    ]);
  });

  it('puts another claim (Entra ID oid) in the account, and `sub` in the account ID', () => {
    const c = config({
      approvers: [
        { name: 'Ada', email: 'ada@example.com', identity: 'a1b2' },
        { name: 'Grace', slackUserId: 'U045EF6GH', identity: 'c3d4' },
      ],
      signIn: { ...OKTA, claim: 'oid' },
    });
    expect(approverAccounts(c, 'oid')).toEqual([
      {
        accountId: 'approver-1',
        email: 'ada@example.com',
        email_verified: true,
        name: 'Ada',
        claims: { oid: 'a1b2' },
      },
      {
        accountId: 'approver-2',
        email: 'approver-2@approvers.local',
        email_verified: false,
        name: 'Grace',
        claims: { oid: 'c3d4' },
      },
    ]);
    expect(approverAccounts(c, 'sub').map((a) => a.accountId)).toEqual(['a1b2', 'c3d4']);
  });

  it('refuses --sign-in when an approver has no identity in the claim', () => {
    const c = config();
    expect(() => approverAccounts(c, 'oid')).toThrow(LocalSetupError);
    expect(() => approverAccounts(c, 'oid')).toThrow(
      /approvals\.approvers\.0\.identity approvals\.signIn identifies people by the "oid" claim/,
    );
  });
});

describe('local sign-in: the server', () => {
  let root: string;
  let bundle: Awaited<ReturnType<typeof runnerBundle>>;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'dr-sign-in-'));
    bundle = await runnerBundle();
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const options = (dir: string, c: DeployRunnerConfig) => ({
    config: c,
    dataDir: join(root, dir),
    port: 0,
    runnerScript: bundle.runner,
    toolPath: bundle.simulator,
    driftSchedules: false,
  });

  it('will not start a config with sign-in whose client secret it does not have', async () => {
    const c = config({ signIn: OKTA });
    await expect(startLocalServer(options('no-secret', c))).rejects.toThrow(
      /"deploy-runner\/sign-in", which local mode does not have: start with --sign-in/,
    );
  });

  it('runs the provider for the approvers, registers the page callback, and closes both', async () => {
    const server = await startLocalServerWithSignIn(true, options('on', config()));
    let closed = false;
    try {
      const signIn = server.signIn;
      expect(signIn?.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(signIn?.accounts.map((a) => a.email)).toEqual([
        'ada@example.com',
        'grace@example.com',
      ]);
      expect(signIn?.lines.join('\n')).toContain(`type ${OUTSIDER.email}`);
      const discovery = (await (
        await fetch(`${signIn?.issuer}/.well-known/openid-configuration`)
      ).json()) as { authorization_endpoint: string };
      const authorize = (redirect: string, clientId: string) =>
        fetch(
          `${discovery.authorization_endpoint}?${new URLSearchParams({
            client_id: clientId,
            redirect_uri: redirect,
            response_type: 'code',
            scope: 'openid email',
            code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
            code_challenge_method: 'S256',
          })}`,
          { redirect: 'manual' },
        );
      const clientId = signIn?.clientId ?? '';
      expect((await authorize(`${server.url}/a/signin`, clientId)).status).toBe(303);
      expect((await authorize(`${server.url}/a/elsewhere`, clientId)).status).toBe(400);
      expect((await authorize(`${server.url}/a/signin`, 'another-client')).status).toBe(400);

      // config → stack → environment → handler, as in AWS: the page and Verify approval read
      // the local issuer and client from their synthesized environments.
      const { template } = synthesizeDefinition(signIn?.config as DeployRunnerConfig);
      const { functions } = environmentsFromTemplate(template, { functionUrl: `${server.url}/` });
      const expected = {
        issuer: signIn?.issuer,
        clientId,
        clientSecretName: LOCAL_SIGN_IN_SECRET_NAME,
        claim: 'email',
      };
      for (const name of ['approval-page', 'verify-approval'] as const)
        expect(settingsFromEnv(functions[name] ?? {}, ['signIn']).signIn, name).toEqual(expected);
      await server.close();
      closed = true;
      await expect(fetch(`${signIn?.issuer}/.well-known/openid-configuration`)).rejects.toThrow();
    } finally {
      if (!closed) await server.close();
    }
  });

  it('is the plain local server without --sign-in', async () => {
    const server = await startLocalServerWithSignIn(false, options('off', config()));
    try {
      expect(server.signIn).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});
