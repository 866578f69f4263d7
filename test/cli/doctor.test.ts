import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { IAMClient, ListOpenIDConnectProvidersCommand } from '@aws-sdk/client-iam';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetAccountCommand, GetEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { Command } from 'commander';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  type Check,
  type DoctorDeps,
  type ExecResult,
  formatChecks,
  registerDoctor,
  runDoctor,
} from '../../lib/cli/doctor';
import { parseConfig } from '../../lib/config';
import { type Draft, exampleConfig } from '../stack/helpers';

/** `deploy-runner doctor`: each precondition passes or fails with its fix; secrets never print. */

const sts = mockClient(STSClient);
const cfn = mockClient(CloudFormationClient);
const ses = mockClient(SESv2Client);
const sm = mockClient(SecretsManagerClient);
const iam = mockClient(IAMClient);

const PROVIDER = 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com';
const TOKEN = 'ghp_0123456789abcdefSECRET';
const SSH_KEY =
  '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQSECRET\n-----END OPENSSH PRIVATE KEY-----\n';
const SLACK = 'xoxb-1234-5678-SECRETSLACK';

function notFound(name: string): Error {
  const error = new Error(`${name}: not found`);
  error.name = name;
  return error;
}

let dockerResult: ExecResult;
let fetched: string[];
let pageStatus: number | Error;

function deps(configChange: (c: Draft) => void = () => {}): DoctorDeps {
  const config = exampleConfig();
  config.notifications.slack = { botTokenSecretName: 'deploy-runner/slack' };
  config.git.sshKeySecretName = 'deploy-runner/ssh-key';
  configChange(config);
  return {
    config: parseConfig(config),
    region: 'eu-west-1',
    stackName: 'DeployRunner',
    sts: new STSClient({ region: 'eu-west-1' }),
    cloudformation: new CloudFormationClient({ region: 'eu-west-1' }),
    sesv2: new SESv2Client({ region: 'eu-west-1' }),
    secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
    iam: new IAMClient({ region: 'eu-west-1' }),
    exec: async (file, args) => {
      expect([file, ...args]).toEqual(['docker', 'buildx', 'ls']);
      return dockerResult;
    },
    fetch: async (url) => {
      fetched.push(url);
      if (pageStatus instanceof Error) throw pageStatus;
      return { status: pageStatus };
    },
  };
}

const byName = (checks: Check[], name: string) => {
  const found = checks.find((c) => c.name === name);
  if (!found) throw new Error(`no check ${name}: ${formatChecks(checks)}`);
  return found;
};

beforeEach(() => {
  for (const m of [sts, cfn, ses, sm, iam]) m.reset();
  sts
    .on(GetCallerIdentityCommand)
    .resolves({ Account: '123456789012', Arn: 'arn:aws:iam::123456789012:user/ada' });
  cfn.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).resolves({
    Stacks: [
      {
        StackName: 'CDKToolkit',
        StackStatus: 'UPDATE_COMPLETE',
        CreationTime: new Date(0),
        Outputs: [{ OutputKey: 'BootstrapVersion', OutputValue: '27' }],
      },
    ],
  });
  cfn.on(DescribeStacksCommand, { StackName: 'DeployRunner' }).resolves({
    Stacks: [
      {
        StackName: 'DeployRunner',
        StackStatus: 'CREATE_COMPLETE',
        CreationTime: new Date(0),
        Outputs: [
          {
            OutputKey: 'StateMachineArn',
            OutputValue: 'arn:aws:states:eu-west-1:123456789012:stateMachine:DeployRunner',
          },
          { OutputKey: 'ApprovalBaseUrl', OutputValue: 'https://abc.lambda-url.eu-west-1.on.aws' },
        ],
      },
    ],
  });
  ses.on(GetEmailIdentityCommand).resolves({ VerifiedForSendingStatus: true });
  ses.on(GetAccountCommand).resolves({ ProductionAccessEnabled: true });
  sm.on(DescribeSecretCommand).resolves({});
  sm.on(GetSecretValueCommand, { SecretId: 'deploy-runner/git-token' }).resolves({
    SecretString: TOKEN,
  });
  sm.on(GetSecretValueCommand, { SecretId: 'deploy-runner/ssh-key' }).resolves({
    SecretString: SSH_KEY,
  });
  sm.on(GetSecretValueCommand, { SecretId: 'deploy-runner/slack' }).resolves({
    SecretString: SLACK,
  });
  iam
    .on(ListOpenIDConnectProvidersCommand)
    .resolves({ OpenIDConnectProviderList: [{ Arn: PROVIDER }] });
  dockerResult = {
    code: 0,
    stdout:
      'NAME/NODE DRIVER/ENDPOINT STATUS PLATFORMS\ndefault docker running linux/amd64, linux/arm64\n',
  };
  fetched = [];
  pageStatus = 404;
});

describe('runDoctor', () => {
  it('passes every check of a ready, deployed account, and prints no secret', async () => {
    const checks = await runDoctor(deps());
    expect(checks.filter((c) => c.status !== 'pass')).toEqual([]);
    expect(checks.map((c) => c.name)).toEqual([
      'region',
      'credentials',
      'ses sender',
      'ses sandbox',
      'cdk bootstrap',
      'secret git.credentialsSecretName',
      'secret git.sshKeySecretName',
      'secret notifications.slack.botTokenSecretName',
      'github oidc',
      'docker',
      'stack',
      'approval page',
    ]);
    expect(fetched).toEqual(['https://abc.lambda-url.eu-west-1.on.aws']);
    const text = formatChecks(checks);
    for (const secret of ['SECRET', TOKEN, SLACK, 'b3BlbnNzaC1rZXkt'])
      expect(text).not.toContain(secret);
  });

  it('fails without a region, and stops there', async () => {
    const checks = await runDoctor({ ...deps(), region: undefined });
    expect(checks).toEqual([
      expect.objectContaining({
        name: 'region',
        status: 'fail',
        fix: expect.stringContaining('--region'),
      }),
    ]);
  });

  it('fails without credentials', async () => {
    sts.on(GetCallerIdentityCommand).rejects(notFound('ExpiredToken'));
    const checks = await runDoctor(deps());
    expect(byName(checks, 'credentials')).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('aws sso login'),
    });
    expect(checks).toHaveLength(2);
  });

  it('fails without CDK bootstrap, or with a broken one', async () => {
    cfn.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).rejects(notFound('ValidationError'));
    expect(byName(await runDoctor(deps()), 'cdk bootstrap')).toMatchObject({
      status: 'fail',
      fix: 'run npx cdk bootstrap aws://<account>/eu-west-1',
    });
    cfn.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).resolves({
      Stacks: [
        {
          StackName: 'CDKToolkit',
          StackStatus: 'UPDATE_ROLLBACK_COMPLETE',
          CreationTime: new Date(0),
        },
      ],
    });
    expect(byName(await runDoctor(deps()), 'cdk bootstrap').status).toBe('fail');
  });

  it('fails when the sender is not verified, and accepts a verified domain', async () => {
    ses.on(GetEmailIdentityCommand).rejects(notFound('NotFoundException'));
    expect(byName(await runDoctor(deps()), 'ses sender')).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining(
        'aws sesv2 create-email-identity --email-identity deploy-runner@acme.example',
      ),
    });
    ses
      .on(GetEmailIdentityCommand, { EmailIdentity: 'acme.example' })
      .resolves({ VerifiedForSendingStatus: true });
    expect(byName(await runDoctor(deps()), 'ses sender').status).toBe('pass');
  });

  it('in the sandbox, names the approvers whose addresses are not verified', async () => {
    ses.on(GetAccountCommand).resolves({ ProductionAccessEnabled: false });
    ses.on(GetEmailIdentityCommand).rejects(notFound('NotFoundException'));
    ses
      .on(GetEmailIdentityCommand, { EmailIdentity: 'deploy-runner@acme.example' })
      .resolves({ VerifiedForSendingStatus: true });
    ses
      .on(GetEmailIdentityCommand, { EmailIdentity: 'ada@acme.example' })
      .resolves({ VerifiedForSendingStatus: true });
    const sandbox = byName(await runDoctor(deps()), 'ses sandbox');
    expect(sandbox.status).toBe('fail');
    expect(sandbox.detail).toContain('grace@acme.example');
    expect(sandbox.detail).not.toContain('ada@acme.example');
    expect(sandbox.fix).toMatch(/production access.*verify each address/);
    ses
      .on(GetEmailIdentityCommand, { EmailIdentity: 'grace@acme.example' })
      .resolves({ VerifiedForSendingStatus: true });
    expect(byName(await runDoctor(deps()), 'ses sandbox').status).toBe('pass');
  });

  it('fails when SES cannot be read', async () => {
    ses.on(GetEmailIdentityCommand).rejects(notFound('AccessDeniedException'));
    expect(byName(await runDoctor(deps()), 'ses')).toMatchObject({ status: 'fail' });
  });

  it('fails on a missing secret, a wrongly shaped one, and warns when a value cannot be read', async () => {
    sm.on(DescribeSecretCommand, { SecretId: 'deploy-runner/git-token' }).rejects(
      notFound('ResourceNotFoundException'),
    );
    sm.on(GetSecretValueCommand, { SecretId: 'deploy-runner/ssh-key' }).resolves({
      SecretString: 'ssh-ed25519 AAAASECRET public key',
    });
    sm.on(GetSecretValueCommand, { SecretId: 'deploy-runner/slack' }).rejects(
      notFound('AccessDeniedException'),
    );
    const checks = await runDoctor(deps());
    expect(byName(checks, 'secret git.credentialsSecretName')).toMatchObject({
      status: 'fail',
      detail: 'deploy-runner/git-token: does not exist in eu-west-1',
      fix: expect.stringContaining(
        'aws secretsmanager create-secret --name deploy-runner/git-token',
      ),
    });
    expect(byName(checks, 'secret git.sshKeySecretName')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('is not a PEM/OpenSSH private key'),
    });
    expect(byName(checks, 'secret notifications.slack.botTokenSecretName').status).toBe('warn');
    expect(formatChecks(checks)).not.toContain('SECRET');
  });

  it('fails a JSON git token and a Slack secret that is not a bot token; accepts {"token": "xoxb-..."}', async () => {
    sm.on(GetSecretValueCommand, { SecretId: 'deploy-runner/git-token' }).resolves({
      SecretString: `{"token":"${TOKEN}"}`,
    });
    sm.on(GetSecretValueCommand, { SecretId: 'deploy-runner/slack' }).resolves({
      SecretString: 'xoxp-SECRET-user-token',
    });
    let checks = await runDoctor(deps());
    expect(byName(checks, 'secret git.credentialsSecretName').detail).toContain('is JSON');
    expect(byName(checks, 'secret notifications.slack.botTokenSecretName').status).toBe('fail');
    sm.on(GetSecretValueCommand, { SecretId: 'deploy-runner/slack' }).resolves({
      SecretString: `{"token":"${SLACK}"}`,
    });
    checks = await runDoctor(deps());
    expect(byName(checks, 'secret notifications.slack.botTokenSecretName').status).toBe('pass');
    expect(formatChecks(checks)).not.toContain('SECRET');
  });

  it('checks the GitHub OIDC provider: reused, missing, or about to collide', async () => {
    iam.on(ListOpenIDConnectProvidersCommand).resolves({ OpenIDConnectProviderList: [] });
    expect(byName(await runDoctor(deps()), 'github oidc')).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('createOidcProvider: true'),
    });
    const create = (c: Draft) => {
      delete c.ci.github.oidcProviderArn;
      c.ci.github.createOidcProvider = true;
    };
    expect(byName(await runDoctor(deps(create)), 'github oidc').status).toBe('pass');
    iam
      .on(ListOpenIDConnectProvidersCommand)
      .resolves({ OpenIDConnectProviderList: [{ Arn: PROVIDER }] });
    expect(byName(await runDoctor(deps(create)), 'github oidc')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('EntityAlreadyExists'),
      fix: `set ci.github.oidcProviderArn to ${PROVIDER} and drop createOidcProvider`,
    });
    iam.on(ListOpenIDConnectProvidersCommand).rejects(notFound('AccessDenied'));
    expect(byName(await runDoctor(deps()), 'github oidc').status).toBe('fail');
    const checks = await runDoctor(deps((c) => delete c.ci));
    expect(checks.some((c) => c.name === 'github oidc')).toBe(false);
  });

  it('skips Docker cleanly when absent, and fails without a buildx builder', async () => {
    dockerResult = { code: 'ENOENT', stdout: '' };
    expect(byName(await runDoctor(deps()), 'docker').status).toBe('skip');
    dockerResult = { code: 1, stdout: '' };
    expect(byName(await runDoctor(deps()), 'docker')).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('buildx'),
    });
  });

  it('after deploy: skips a stack not deployed yet, fails on missing outputs and a page that does not answer', async () => {
    cfn
      .on(DescribeStacksCommand, { StackName: 'DeployRunner' })
      .rejects(notFound('ValidationError'));
    let checks = await runDoctor(deps());
    expect(byName(checks, 'stack').status).toBe('skip');
    expect(fetched).toEqual([]);
    cfn.on(DescribeStacksCommand, { StackName: 'DeployRunner' }).resolves({
      Stacks: [
        {
          StackName: 'DeployRunner',
          StackStatus: 'CREATE_COMPLETE',
          CreationTime: new Date(0),
          Outputs: [],
        },
      ],
    });
    expect(byName(await runDoctor(deps()), 'stack')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('ApprovalBaseUrl'),
    });
    cfn.reset();
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'x',
          StackStatus: 'CREATE_COMPLETE',
          CreationTime: new Date(0),
          Outputs: [
            { OutputKey: 'StateMachineArn', OutputValue: 'arn' },
            { OutputKey: 'ApprovalBaseUrl', OutputValue: 'https://page' },
          ],
        },
      ],
    });
    pageStatus = 502;
    checks = await runDoctor(deps());
    expect(byName(checks, 'approval page').status).toBe('fail');
    pageStatus = new TypeError('fetch failed');
    expect(byName(await runDoctor(deps()), 'approval page').status).toBe('fail');
  });
});

describe('deploy-runner doctor', () => {
  async function runCommand(change: (d: DoctorDeps) => void = () => {}) {
    let out = '';
    let code = -1;
    const d = deps();
    change(d);
    const program = new Command().exitOverride();
    registerDoctor(
      program,
      {
        stdout: { write: (s: string) => (out += s) },
        stderr: { write: (s: string) => (out += s) },
        env: { AWS_REGION: 'eu-west-1' },
      },
      (c) => {
        code = c;
      },
      {
        exec: d.exec,
        fetch: d.fetch,
        clients: () => ({
          sts: d.sts,
          cloudformation: d.cloudformation,
          sesv2: d.sesv2,
          secrets: d.secrets,
          iam: d.iam,
        }),
      },
    );
    await program.parseAsync([
      'node',
      'x',
      'doctor',
      '--config',
      'examples/configs/slack-and-github.json',
    ]);
    return { out, code };
  }

  it('exits 0 with no blockers and 1 with one, printing one line per check and the fix', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: SLACK });
    sm.on(GetSecretValueCommand, { SecretId: 'deploy-runner/github-token' }).resolves({
      SecretString: TOKEN,
    });
    let result = await runCommand();
    expect(result.out).toContain('No blockers found.');
    expect(result.code).toBe(0);
    ses.on(GetAccountCommand).resolves({ ProductionAccessEnabled: false });
    ses
      .on(GetEmailIdentityCommand, { EmailIdentity: 'edsger@acme.example' })
      .resolves({ VerifiedForSendingStatus: false });
    ses
      .on(GetEmailIdentityCommand, { EmailIdentity: 'acme.example' })
      .resolves({ VerifiedForSendingStatus: false });
    result = await runCommand();
    expect(result.out).toMatch(
      /^FAIL {2}ses sandbox .*edsger@acme\.example.*\n {6}fix: request production access/m,
    );
    expect(result.out).toContain('1 blocker: fix it and run deploy-runner doctor again.');
    expect(result.code).toBe(1);
    expect(result.out).not.toContain('SECRET');
  });
});
