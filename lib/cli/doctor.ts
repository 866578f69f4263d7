import { execFile } from 'node:child_process';
import type * as ClientCloudFormation from '@aws-sdk/client-cloudformation';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type * as ClientIam from '@aws-sdk/client-iam';
import type { IAMClient } from '@aws-sdk/client-iam';
import type * as ClientSecretsManager from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type * as ClientSesv2 from '@aws-sdk/client-sesv2';
import type { SESv2Client } from '@aws-sdk/client-sesv2';
import type * as ClientSts from '@aws-sdk/client-sts';
import type { STSClient } from '@aws-sdk/client-sts';
import type { Command } from 'commander';
import { type DeployRunnerConfig, loadConfig } from '../config';
import { lazyModule } from '../lazy-module';
import { ExitCode } from './exit-codes';
import { neutraliseLines } from './neutralise';

// Loaded at the first check, not at import: every CLI start imports this module to register the
// command, and these five packages were a fifth of a `local serve` start's CPU.
const { DescribeStacksCommand, CloudFormationClient: CloudFormation } = lazyModule<
  typeof ClientCloudFormation
>(() => require('@aws-sdk/client-cloudformation'));
const { ListOpenIDConnectProvidersCommand, IAMClient: Iam } = lazyModule<typeof ClientIam>(() =>
  require('@aws-sdk/client-iam'),
);
const {
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient: SecretsManager,
} = lazyModule<typeof ClientSecretsManager>(() => require('@aws-sdk/client-secrets-manager'));
const {
  GetAccountCommand,
  GetEmailIdentityCommand,
  SESv2Client: Sesv2,
} = lazyModule<typeof ClientSesv2>(() => require('@aws-sdk/client-sesv2'));
const { GetCallerIdentityCommand, STSClient: Sts } = lazyModule<typeof ClientSts>(() =>
  require('@aws-sdk/client-sts'),
);

/**
 * `deploy-runner doctor`: every precondition of a first deploy and a first run, checked with the
 * caller's credentials, one line each with the fix. Secret values are read to check their shape
 * and never printed.
 */

/** GitHub Actions' OIDC issuer (as in lib/constructs/ci-access.ts; the CLI does not load CDK). */
const GITHUB_OIDC_HOST = 'token.actions.githubusercontent.com';

/** One precondition's verdict. A failed blocker makes `doctor` exit non-zero. */
export interface Check {
  readonly name: string;
  readonly status: 'pass' | 'fail' | 'warn' | 'skip';
  readonly detail: string;
  readonly fix?: string;
}

/** What a program run returned (`docker buildx ls`). */
export interface ExecResult {
  readonly code: number | 'ENOENT';
  readonly stdout: string;
}

/** Collaborators, injected so every branch is testable without AWS or Docker. */
export interface DoctorDeps {
  readonly config: DeployRunnerConfig;
  /** Region the stack is deployed to; undefined when none was given. */
  readonly region: string | undefined;
  /** The deployed stack's name (`cdk.json` context `stackName`, default `DeployRunner`). */
  readonly stackName: string;
  readonly sts: STSClient;
  readonly cloudformation: CloudFormationClient;
  readonly sesv2: SESv2Client;
  readonly secrets: SecretsManagerClient;
  readonly iam: IAMClient;
  /** Runs a program without a shell. */
  readonly exec: (file: string, args: readonly string[]) => Promise<ExecResult>;
  readonly fetch: (url: string) => Promise<{ status: number }>;
}

const errorName = (error: unknown) =>
  (error as { name?: string } | undefined)?.name ?? String(error);

async function credentials(deps: DoctorDeps): Promise<Check[]> {
  const checks: Check[] = [];
  if (!deps.region)
    return [
      {
        name: 'region',
        status: 'fail',
        detail: 'no region given',
        fix: 'pass --region (the region to deploy to) or set AWS_REGION',
      },
    ];
  checks.push({ name: 'region', status: 'pass', detail: deps.region });
  try {
    const me = await deps.sts.send(new GetCallerIdentityCommand({}));
    checks.push({
      name: 'credentials',
      status: 'pass',
      detail: `account ${me.Account} as ${me.Arn}`,
    });
  } catch (error) {
    checks.push({
      name: 'credentials',
      status: 'fail',
      detail: `sts:GetCallerIdentity failed (${errorName(error)})`,
      fix: 'configure AWS credentials (aws configure, aws sso login, or AWS_PROFILE) for the account to deploy to',
    });
  }
  return checks;
}

async function bootstrap(deps: DoctorDeps): Promise<Check> {
  const fix = `run npx cdk bootstrap aws://<account>/${deps.region}`;
  try {
    const { Stacks = [] } = await deps.cloudformation.send(
      new DescribeStacksCommand({ StackName: 'CDKToolkit' }),
    );
    const stack = Stacks[0];
    const version = stack?.Outputs?.find((o) => o.OutputKey === 'BootstrapVersion')?.OutputValue;
    if (!stack?.StackStatus?.endsWith('_COMPLETE') || stack.StackStatus.includes('ROLLBACK'))
      return {
        name: 'cdk bootstrap',
        status: 'fail',
        detail: `CDKToolkit is ${stack?.StackStatus ?? 'missing'}`,
        fix,
      };
    return {
      name: 'cdk bootstrap',
      status: 'pass',
      detail: `CDKToolkit version ${version ?? '?'}`,
    };
  } catch (error) {
    return {
      name: 'cdk bootstrap',
      status: 'fail',
      detail: `no CDKToolkit stack in ${deps.region} (${errorName(error)})`,
      fix,
    };
  }
}

/** Whether SES may send from or to `address`: the address or its domain is verified. */
async function verified(deps: DoctorDeps, address: string): Promise<boolean> {
  for (const identity of [address, address.slice(address.lastIndexOf('@') + 1)]) {
    try {
      const out = await deps.sesv2.send(new GetEmailIdentityCommand({ EmailIdentity: identity }));
      if (out.VerifiedForSendingStatus) return true;
    } catch (error) {
      if (errorName(error) !== 'NotFoundException') throw error;
    }
  }
  return false;
}

async function ses(deps: DoctorDeps): Promise<Check[]> {
  const from = deps.config.notifications.fromEmail;
  const checks: Check[] = [];
  try {
    checks.push(
      (await verified(deps, from))
        ? { name: 'ses sender', status: 'pass', detail: `${from} is verified` }
        : {
            name: 'ses sender',
            status: 'fail',
            detail: `${from} (nor its domain) is not a verified SES identity in ${deps.region}`,
            fix: `aws sesv2 create-email-identity --email-identity ${from} --region ${deps.region}, then open the link SES mails to it (or verify the domain)`,
          },
    );
    const account = await deps.sesv2.send(new GetAccountCommand({}));
    if (account.ProductionAccessEnabled) {
      checks.push({
        name: 'ses sandbox',
        status: 'pass',
        detail: 'production access: any recipient',
      });
      return checks;
    }
    const emails = deps.config.approvals.approvers.flatMap((a) => (a.email ? [a.email] : []));
    const unverified: string[] = [];
    for (const email of emails) if (!(await verified(deps, email))) unverified.push(email);
    checks.push(
      unverified.length === 0
        ? {
            name: 'ses sandbox',
            status: 'pass',
            detail: 'in the SES sandbox, and every approver address is verified',
          }
        : {
            name: 'ses sandbox',
            status: 'fail',
            detail: `in the SES sandbox: approval emails to ${unverified.join(', ')} would be refused`,
            fix: `request production access (SES console > Account dashboard > Request production access), or verify each address: aws sesv2 create-email-identity --email-identity <address>`,
          },
    );
  } catch (error) {
    checks.push({
      name: 'ses',
      status: 'fail',
      detail: `SES could not be read (${errorName(error)})`,
      fix: 'use credentials allowed ses:GetAccount and ses:GetEmailIdentity, in the deploy region',
    });
  }
  return checks;
}

/** The shape each secret must have; the value itself is never printed. */
const SECRET_SHAPES = {
  'git token': {
    problem: (v: string) =>
      v.trim().startsWith('{')
        ? 'is JSON, but the runner uses the whole secret string as the token'
        : /\s/.test(v.trim()) || v.trim() === ''
          ? 'is empty or contains whitespace'
          : undefined,
    fix: 'store the bare token as the secret string (aws secretsmanager put-secret-value --secret-id <name> --secret-string <token>)',
  },
  'git ssh key': {
    problem: (v: string) =>
      /^-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n[\s\S]+\n-----END [A-Z ]*PRIVATE KEY-----\s*$/.test(
        v.trim().concat('\n'),
      )
        ? undefined
        : 'is not a PEM/OpenSSH private key (-----BEGIN ... PRIVATE KEY----- ... -----END ... PRIVATE KEY-----)',
    fix: 'store the private key file as the secret string: aws secretsmanager put-secret-value --secret-id <name> --secret-string file://deploy_key',
  },
  'slack token': {
    problem: (v: string) => {
      let token = v.trim();
      if (token.startsWith('{')) {
        try {
          const parsed = JSON.parse(token) as Record<string, unknown>;
          token = String(parsed.token ?? parsed.botToken ?? '');
        } catch {
          return 'starts with "{" but is not JSON';
        }
      }
      return token.startsWith('xoxb-') ? undefined : 'is not a Slack bot token (xoxb-...)';
    },
    fix: 'store the bot token (xoxb-...) as the secret string, or as {"token": "xoxb-..."}',
  },
} as const;

async function secret(
  deps: DoctorDeps,
  kind: keyof typeof SECRET_SHAPES,
  field: string,
  name: string | undefined,
): Promise<Check | undefined> {
  if (name === undefined) return undefined;
  const check = `secret ${field}`;
  try {
    await deps.secrets.send(new DescribeSecretCommand({ SecretId: name }));
  } catch (error) {
    return {
      name: check,
      status: 'fail',
      detail: `${name}: ${errorName(error) === 'ResourceNotFoundException' ? 'does not exist' : `cannot be described (${errorName(error)})`} in ${deps.region}`,
      fix: `aws secretsmanager create-secret --name ${name} --region ${deps.region} --secret-string ... (see docs/deploying.md)`,
    };
  }
  let value: string;
  try {
    const out = await deps.secrets.send(new GetSecretValueCommand({ SecretId: name }));
    value = out.SecretString ?? '';
  } catch (error) {
    return {
      name: check,
      status: 'warn',
      detail: `${name} exists; its value could not be read to check its shape (${errorName(error)})`,
    };
  }
  const problem = SECRET_SHAPES[kind].problem(value);
  return problem
    ? { name: check, status: 'fail', detail: `${name} ${problem}`, fix: SECRET_SHAPES[kind].fix }
    : { name: check, status: 'pass', detail: `${name} exists and looks like a ${kind}` };
}

async function oidc(deps: DoctorDeps): Promise<Check | undefined> {
  const github = deps.config.ci.github;
  if (!github) return undefined;
  let arns: string[];
  try {
    const out = await deps.iam.send(new ListOpenIDConnectProvidersCommand({}));
    arns = (out.OpenIDConnectProviderList ?? []).flatMap((p) => (p.Arn ? [p.Arn] : []));
  } catch (error) {
    return {
      name: 'github oidc',
      status: 'fail',
      detail: `IAM providers could not be listed (${errorName(error)})`,
      fix: 'use credentials allowed iam:ListOpenIDConnectProviders',
    };
  }
  const existing = arns.find((arn) => arn.endsWith(`/${GITHUB_OIDC_HOST}`));
  if (github.oidcProviderArn !== undefined) {
    if (arns.includes(github.oidcProviderArn))
      return { name: 'github oidc', status: 'pass', detail: `reusing ${github.oidcProviderArn}` };
    return {
      name: 'github oidc',
      status: 'fail',
      detail: `ci.github.oidcProviderArn ${github.oidcProviderArn} does not exist in this account`,
      fix: existing
        ? `set ci.github.oidcProviderArn to ${existing}`
        : 'drop oidcProviderArn and set ci.github.createOidcProvider: true (the account has none)',
    };
  }
  if (existing)
    return {
      name: 'github oidc',
      status: 'fail',
      detail: `createOidcProvider is true but ${existing} exists: the deploy would fail with EntityAlreadyExists`,
      fix: `set ci.github.oidcProviderArn to ${existing} and drop createOidcProvider`,
    };
  return { name: 'github oidc', status: 'pass', detail: 'no provider yet: the stack creates it' };
}

async function docker(deps: DoctorDeps): Promise<Check> {
  const result = await deps.exec('docker', ['buildx', 'ls']);
  if (result.code === 'ENOENT')
    return {
      name: 'docker',
      status: 'skip',
      detail: 'docker is not on PATH here',
      fix: 'cdk deploy builds the runner image: deploy from a machine with Docker (BuildKit/buildx)',
    };
  if (result.code !== 0 || !/\S/.test(result.stdout))
    return {
      name: 'docker',
      status: 'fail',
      detail: 'docker has no buildx (BuildKit) builder',
      fix: 'install the buildx plugin (Docker Engine 23+: docker-buildx-plugin) or Docker Desktop',
    };
  const arm = /linux\/arm64/.test(result.stdout);
  return {
    name: 'docker',
    status: 'pass',
    detail: `buildx builder ready${arm ? ' (linux/arm64 native or emulated)' : ''}; the Dockerfile runs its commands on the build platform, so no QEMU is needed`,
  };
}

async function deployed(deps: DoctorDeps): Promise<Check[]> {
  let outputs: Record<string, string>;
  try {
    const { Stacks = [] } = await deps.cloudformation.send(
      new DescribeStacksCommand({ StackName: deps.stackName }),
    );
    outputs = Object.fromEntries(
      (Stacks[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']),
    );
  } catch (error) {
    return [
      {
        name: 'stack',
        status: 'skip',
        detail: `${deps.stackName} is not deployed in ${deps.region} yet (${errorName(error)})`,
      },
    ];
  }
  const missing = ['StateMachineArn', 'ApprovalBaseUrl'].filter((k) => !outputs[k]);
  if (missing.length > 0)
    return [
      {
        name: 'stack',
        status: 'fail',
        detail: `${deps.stackName} has no output ${missing.join(', ')}`,
        fix: 'finish the deploy: npx cdk deploy',
      },
    ];
  const checks: Check[] = [
    { name: 'stack', status: 'pass', detail: `state machine ${outputs.StateMachineArn}` },
  ];
  const url = outputs.ApprovalBaseUrl as string;
  try {
    const response = await deps.fetch(url);
    checks.push(
      response.status < 500
        ? {
            name: 'approval page',
            status: 'pass',
            detail: `${url} answers (HTTP ${response.status})`,
          }
        : {
            name: 'approval page',
            status: 'fail',
            detail: `${url} answers HTTP ${response.status}`,
            fix: "read the approval-page function's log group in CloudWatch",
          },
    );
  } catch (error) {
    checks.push({
      name: 'approval page',
      status: 'fail',
      detail: `${url} does not answer (${errorName(error)})`,
      fix: 'check the function URL in the Lambda console and the network path to it',
    });
  }
  return checks;
}

/** Runs every check, in the order a first deploy meets them. */
export async function runDoctor(deps: DoctorDeps): Promise<Check[]> {
  const checks = await credentials(deps);
  if (checks.some((c) => c.status === 'fail')) return checks;
  const { git, notifications } = deps.config;
  const more = await Promise.all([
    bootstrap(deps),
    secret(deps, 'git token', 'git.credentialsSecretName', git.credentialsSecretName),
    secret(deps, 'git ssh key', 'git.sshKeySecretName', git.sshKeySecretName),
    secret(
      deps,
      'slack token',
      'notifications.slack.botTokenSecretName',
      notifications.slack?.botTokenSecretName,
    ),
    oidc(deps),
    docker(deps),
  ]);
  checks.push(...(await ses(deps)));
  checks.push(...more.filter((c): c is Check => c !== undefined));
  checks.push(...(await deployed(deps)));
  return checks;
}

/** `PASS  name  detail` lines, with the fix under each failure. */
export function formatChecks(checks: readonly Check[]): string {
  return checks
    .map((c) => {
      const line = `${c.status.toUpperCase().padEnd(4)}  ${c.name.padEnd(30)}  ${c.detail}`;
      return c.fix && c.status !== 'pass' ? `${line}\n      fix: ${c.fix}` : line;
    })
    .join('\n');
}

/** Whether a check blocks a deploy or a run. */
export const isBlocker = (check: Check) => check.status === 'fail';

/** `docker buildx ls`, run without a shell. */
export function execNoShell(file: string, args: readonly string[]): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(file, [...args], { shell: false, timeout: 30_000 }, (error, stdout) => {
      if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT')
        resolve({ code: 'ENOENT', stdout: '' });
      else resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout });
    });
  });
}

/** The real clients for `region`. */
export function doctorClients(region: string | undefined) {
  const options = { region };
  return {
    sts: new Sts(options),
    cloudformation: new CloudFormation(options),
    sesv2: new Sesv2(options),
    secrets: new SecretsManager(options),
    iam: new Iam(options),
  };
}

/** Adds `deploy-runner doctor` to the program. */
export function registerDoctor(
  program: Command,
  io: {
    stdout: { write(chunk: string): unknown };
    stderr: { write(chunk: string): unknown };
    env: Readonly<Record<string, string | undefined>>;
  },
  exit: (code: number) => void,
  overrides: Partial<Pick<DoctorDeps, 'exec' | 'fetch'>> & {
    clients?: typeof doctorClients;
  } = {},
): Command {
  return program
    .command('doctor')
    .description(
      'check an AWS account before and after deploying: one pass/fail line per precondition, with the fix',
    )
    .option('--config <file>', 'the deploy-runner config', 'deploy-runner.config.json')
    .option('--region <region>', 'region to deploy to (default: AWS_REGION)')
    .option('--stack-name <name>', 'name of the deployed stack', 'DeployRunner')
    .action(async (flags: { config: string; region?: string; stackName: string }) => {
      let config: DeployRunnerConfig;
      try {
        config = loadConfig(flags.config);
      } catch (error) {
        io.stderr.write(neutraliseLines(`FAIL  config  ${(error as Error).message}\n`));
        exit(ExitCode.Usage);
        return;
      }
      const region = flags.region ?? (io.env.AWS_REGION || io.env.AWS_DEFAULT_REGION || undefined);
      const checks = await runDoctor({
        config,
        region,
        stackName: flags.stackName,
        ...(overrides.clients ?? doctorClients)(region),
        exec: overrides.exec ?? execNoShell,
        fetch: overrides.fetch ?? ((url) => fetch(url, { redirect: 'manual' })),
      });
      // Checks quote what AWS and the config said, which the CI log must not run as commands.
      io.stdout.write(neutraliseLines(`${formatChecks(checks)}\n`));
      const blockers = checks.filter(isBlocker).length;
      io.stdout.write(
        blockers === 0
          ? 'No blockers found.\n'
          : `${blockers} blocker${blockers === 1 ? '' : 's'}: fix ${blockers === 1 ? 'it' : 'them'} and run deploy-runner doctor again.\n`,
      );
      exit(blockers === 0 ? ExitCode.Ok : ExitCode.RunFailed);
    });
}
