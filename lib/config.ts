import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { describeIssues, describeJsonError } from './config-errors';
import type { DeployRunnerProps } from './constructs/deploy-runner';
import { driftConfigProblems, driftSchema } from './drift-config';
import { foldIdentity } from './identity';
import { pathPatternProblem, refPatternProblem } from './patterns';
import { signInConfigProblems, signInSchema } from './sign-in-config';

// Kept importable from here; they live apart so the allowlist and the runner do not bundle the
// config schema.
export { describeIssues, pathPatternProblem, refPatternProblem };

/**
 * The deploy-runner configuration file (`deploy-runner.config.json`).
 *
 * Everything a run may touch is declared here and baked into the stack at synth time: CI can
 * only name a repo, a ref and a path, and each is checked against this file.
 */

const REPO_NAME = /^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$|^[a-z0-9]$/;
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SLACK_USER_ID = /^[UW][A-Z0-9]{2,20}$/;
/** What CI systems report as the user who started a job: a login, an email or a user ID. */
const CI_LOGIN = /^[^\s\p{Cc}\p{Cf}]{1,100}$/u;
const SLACK_CHANNEL_ID = /^[CG][A-Z0-9]{2,20}$/;
const EMAIL = /^[^\s@<>()[\]\\,;:"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;
const EMAIL_DOMAIN = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;
/** One known_hosts line: optional marker, host patterns, key type, base64 key, optional comment. */
const KNOWN_HOSTS_LINE =
  /^(@cert-authority |@revoked )?[^\s#@][^\s]* (ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\x00-\x1f\x7f]*)?$/;
const DURATION = /^([1-9][0-9]*)(s|m|h|d)$/;
const GITHUB_OIDC_PROVIDER_ARN =
  /^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider\/token\.actions\.githubusercontent\.com$/;
const MANAGED_POLICY_ARN = /^arn:aws[a-z-]*:iam::(aws|[0-9]{12}):policy\/[A-Za-z0-9+=,.@_/-]+$/;

/** Parses a duration such as `90s`, `30m`, `24h` or `7d` into seconds. */
export function durationSeconds(value: string): number {
  const match = DURATION.exec(value);
  if (!match) throw new Error(`not a duration: ${value}`);
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

const duration = (what: string, minSeconds: number, maxSeconds: number) =>
  z
    .string()
    .regex(DURATION, {
      error: `must be a duration like "90s", "30m", "24h" or "7d" (the ${what})`,
    })
    .refine(
      (v) =>
        !DURATION.test(v) || (durationSeconds(v) >= minSeconds && durationSeconds(v) <= maxSeconds),
      {
        error: `the ${what} must be between ${minSeconds < 60 ? `${minSeconds} seconds` : `${minSeconds / 60} minutes`} and ${maxSeconds / 86_400} days`,
      },
    );

const refPattern = z.string().superRefine((value, ctx) => {
  const problem = refPatternProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `ref pattern ${problem}` });
});

const pathPattern = z.string().superRefine((value, ctx) => {
  const problem = pathPatternProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `path pattern ${problem}` });
});

const repoSchema = z.strictObject({
  /** Clone URL: https:// (token auth), ssh:// or git@host:owner/repo (SSH key), or file:// (local mode). */
  url: z.string().min(1),
  /** Branch names or patterns that may be deployed. */
  allowedRefs: z.array(refPattern).min(1, { error: 'list at least one branch, e.g. ["main"]' }),
  /**
   * Branch names or patterns that may only ever be planned (pull-request branches): a
   * `plan-only` run may use them, an `apply` run never, even when `allowedRefs` matches too.
   */
  planOnlyRefs: z.array(refPattern).default([]),
  /** Path globs (directories holding a root module) that may be deployed. */
  allowedPaths: z.array(pathPattern).min(1, { error: 'list at least one path, e.g. ["envs/*"]' }),
  /**
   * Whether CI may send a 40-hex commit as `ref`. The runner still requires the commit to be
   * reachable from an allowed branch.
   */
  allowCommits: z.boolean().default(true),
  /** Which binary runs plan and apply. */
  tool: z
    .enum(['terraform', 'tofu'], { error: 'must be "terraform" or "tofu"' })
    .default('terraform'),
  /** Run the tool through terragrunt. */
  terragrunt: z.boolean().default(false),
});

const approverSchema = z
  .strictObject({
    /** Display name used in messages. */
    name: z.string().min(1).max(100).optional(),
    email: z.string().regex(EMAIL, { error: 'is not an email address' }).optional(),
    slackUserId: z
      .string()
      .regex(SLACK_USER_ID, { error: 'is not a Slack user ID (like "U012AB3CD")' })
      .optional(),
    /**
     * The approver's logins on CI systems (`GITHUB_ACTOR`, `GITLAB_USER_LOGIN`,
     * `CIRCLE_USERNAME`, Jenkins `BUILD_USER_ID`): a run CI requested under one of them cannot
     * be approved by this approver.
     */
    ciLogins: z
      .array(
        z.string().regex(CI_LOGIN, {
          error:
            'is not a CI login: 1-100 characters, no spaces or control characters (like "octocat" or "jdoe@example.com")',
        }),
      )
      .max(20, { error: 'list at most 20 CI logins per approver' })
      .optional(),
    /**
     * This approver's value of the `approvals.signIn` claim (what their ID token says).
     * @default - their email, when the claim is "email"
     */
    identity: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[^\p{Cc}\p{Cf}]+$/u, { error: 'is not an identity: no control characters' })
      .optional(),
  })
  .refine((a) => a.email !== undefined || a.slackUserId !== undefined, {
    error: 'an approver needs an "email", a "slackUserId", or both',
  });

const policyStatementSchema = z.strictObject({
  Sid: z.string().optional(),
  Effect: z.enum(['Allow', 'Deny']).default('Allow'),
  Action: z.union([z.string(), z.array(z.string()).min(1)]),
  Resource: z.union([z.string(), z.array(z.string()).min(1)]),
});

const roleSchema = (what: string, defaultPolicies: string[]) =>
  z
    .strictObject({
      /** AWS managed or customer managed policy ARNs attached to the role. */
      managedPolicyArns: z
        .array(
          z.string().regex(MANAGED_POLICY_ARN, {
            error: `is not a managed policy ARN (like "arn:aws:iam::aws:policy/ReadOnlyAccess") for the ${what} role`,
          }),
        )
        .default(defaultPolicies),
      /** Inline IAM statements added to the role. */
      statements: z.array(policyStatementSchema).default([]),
    })
    .prefault({});

export const configSchema = z
  .strictObject({
    $schema: z.string().optional(),
    /** Repositories that may be deployed, by logical name. CI names a repo, never a URL. */
    repos: z
      .record(
        z.string().regex(REPO_NAME, {
          error:
            'repo names are 1-40 lowercase letters, digits and "-", starting and ending with a letter or digit',
        }),
        repoSchema,
      )
      .refine((repos) => Object.keys(repos).length > 0, {
        error: 'declare at least one repo, e.g. { "infra": { "url": ..., ... } }',
      }),
    approvals: z.strictObject({
      approvers: z.array(approverSchema).min(1, { error: 'list at least one approver' }),
      /** How many distinct approvers must approve. */
      approvalsRequired: z.int().min(1).max(10).default(1),
      /**
       * How long a run waits for a decision before it fails as ApprovalExpired. Values under a
       * minute exist for tests and demos.
       */
      timeout: duration('approval timeout', 5, 7 * 86_400).default('24h'),
      /**
       * Approvers sign in with the team's OpenID Connect provider before they can decide
       * (docs/sign-in.md). @default - off: a link decides as its approver
       */
      signIn: signInSchema.optional(),
    }),
    notifications: z.strictObject({
      /** Verified SES identity that sends approval and result emails. */
      fromEmail: z.string().regex(EMAIL, { error: 'is not an email address' }),
      slack: z
        .strictObject({
          /** Secrets Manager secret holding the Slack bot token (xoxb-...). */
          botTokenSecretName: z.string().regex(SECRET_NAME, { error: 'is not a secret name' }),
          /** Channel ID that receives summaries (no decision links). */
          channel: z
            .string()
            .regex(SLACK_CHANNEL_ID, { error: 'is not a Slack channel ID (like "C012AB3CD")' })
            .optional(),
        })
        .optional(),
      /**
       * Who hears how a run ended, besides CI (which always prints it). An applied run's result
       * always goes to the approvers, the requester and the channel. "The requester's channel"
       * is the Slack channel (or, without one, the requester's own Slack DM when the requester
       * is a listed approver) and the requester's email when it is allowed (see
       * `requesterEmailDomains`, or the email of the listed approver the requester is).
       */
      results: z
        .strictObject({
          /** Plan-only runs (pull requests): "requester", "approvers" (everyone, as an apply) or "none". */
          planOnly: z
            .enum(['requester', 'approvers', 'none'], {
              error:
                'must be "requester" (the requester\'s channel), "approvers" (also email every approver) or "none"',
            })
            .default('requester'),
          /**
           * Failed, rejected and expired apply runs: "requester" or "approvers". When the
           * requester's channel is empty, a failure goes to the approvers so it is never silent.
           */
          failures: z
            .enum(['requester', 'approvers'], {
              error:
                'must be "requester" (the requester\'s channel) or "approvers" (also email every approver)',
            })
            .default('requester'),
          /**
           * Email domains a requester's address (CI's requestedBy) may be in to be emailed: CI
           * names the requester, so it must not make the stack mail any address it likes.
           * @default - the domains of the approvers' emails and of fromEmail
           */
          requesterEmailDomains: z
            .array(
              z.string().regex(EMAIL_DOMAIN, {
                error: 'is not an email domain (like "example.com", without "@")',
              }),
            )
            .optional(),
        })
        .prefault({}),
    }),
    git: z
      .strictObject({
        /** Secrets Manager secret holding an HTTPS token for cloning. */
        credentialsSecretName: z
          .string()
          .regex(SECRET_NAME, { error: 'is not a secret name' })
          .optional(),
        /** Secrets Manager secret holding an SSH private key for cloning ssh:// URLs. */
        sshKeySecretName: z
          .string()
          .regex(SECRET_NAME, { error: 'is not a secret name' })
          .optional(),
        /**
         * The SSH host keys the runner trusts, as known_hosts lines (`github.com ssh-ed25519
         * AAAA...`). SSH clones verify the server against these and nothing else.
         */
        knownHosts: z
          .array(
            z.string().regex(KNOWN_HOSTS_LINE, {
              error:
                'is not a known_hosts line: "<host>[,<host>...] <key type> <base64 key>", e.g. "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"',
            }),
          )
          .optional(),
      })
      .prefault({}),
    runner: z
      .strictObject({
        /** Fargate CPU units. */
        cpu: z
          .union(
            [z.literal(256), z.literal(512), z.literal(1024), z.literal(2048), z.literal(4096)],
            {
              error: 'must be one of 256, 512, 1024, 2048, 4096 (Fargate CPU units)',
            },
          )
          .default(1024),
        memoryMiB: z.int().min(512).max(30_720).default(2048),
        planTimeout: duration('plan timeout', 300, 86_400).default('1h'),
        applyTimeout: duration('apply timeout', 300, 86_400).default('2h'),
      })
      .prefault({}),
    iam: z
      .strictObject({
        plan: roleSchema('plan', ['arn:aws:iam::aws:policy/ReadOnlyAccess']),
        apply: roleSchema('apply', []),
      })
      .prefault({}),
    network: z
      .strictObject({
        vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, { error: 'is not a VPC ID (vpc-...)' }),
        availabilityZones: z.array(z.string().min(1)).min(1),
        subnetIds: z
          .array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, { error: 'is not a subnet ID' }))
          .min(1),
        /** Give tasks a public IP (subnets without NAT need it to reach git and registries). */
        assignPublicIp: z.boolean().default(false),
      })
      .optional(),
    ci: z
      .strictObject({
        /**
         * Longest session of the CI role: the CLI follows a run, approval wait included, with it.
         * IAM allows 1h to 12h; GitHub-hosted jobs stop after 6h.
         */
        maxSessionDuration: z
          .string()
          .regex(DURATION, { error: 'must be a duration like "6h" or "90m" (the CI role session)' })
          .refine(
            (v) =>
              !DURATION.test(v) || (durationSeconds(v) >= 3600 && durationSeconds(v) <= 43_200),
            { error: 'the CI role session must be between 1h and 12h (what IAM allows)' },
          )
          .default('6h'),
        github: z
          .strictObject({
            /** OIDC `sub` claims that may assume the CI role, e.g. repo:acme/infra:ref:refs/heads/main. */
            subjects: z
              .array(
                z.string().regex(/^repo:[A-Za-z0-9_.-]+\/[A-Za-z0-9_.*-]+:.+$/, {
                  error:
                    'is not a GitHub OIDC subject (like "repo:acme/infra:ref:refs/heads/main")',
                }),
              )
              .min(1),
            /**
             * The account's existing GitHub OIDC provider (IAM allows one per URL, and most
             * accounts that use GitHub Actions have it): `aws iam list-open-id-connect-providers`.
             */
            oidcProviderArn: z
              .string()
              .regex(GITHUB_OIDC_PROVIDER_ARN, {
                error:
                  'is not the ARN of a GitHub OIDC provider (like "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com")',
              })
              .optional(),
            /**
             * Create the provider with this stack. Only for an account that has none: creating
             * a second one fails the deploy with EntityAlreadyExists.
             */
            createOidcProvider: z.boolean().default(false),
          })
          .superRefine((github, ctx) => {
            if (github.oidcProviderArn === undefined && !github.createOidcProvider)
              ctx.addIssue({
                code: 'custom',
                message:
                  "names no OIDC provider: set oidcProviderArn to the account's existing provider (aws iam list-open-id-connect-providers), or createOidcProvider: true if the account has none",
              });
            if (github.oidcProviderArn !== undefined && github.createOidcProvider)
              ctx.addIssue({
                code: 'custom',
                path: ['createOidcProvider'],
                message:
                  'is true but oidcProviderArn is set: an account has one GitHub provider; keep oidcProviderArn and drop createOidcProvider',
              });
          })
          .optional(),
      })
      .prefault({}),
    artifacts: z.strictObject({ retentionDays: z.int().min(1).max(3650).default(30) }).prefault({}),
    logs: z
      .strictObject({
        retentionDays: z
          .union(
            [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653].map((d) =>
              z.literal(d),
            ) as unknown as [z.ZodLiteral<number>, z.ZodLiteral<number>],
            {
              error:
                'must be a CloudWatch Logs retention: 1, 3, 5, 7, 14, 30, 60, 90, 180, 365, ...',
            },
          )
          .default(90),
      })
      .prefault({}),
    monitoring: z
      .strictObject({
        /**
         * An alarm on failed and timed-out runs, published to a new encrypted SNS topic these
         * addresses subscribe to. Off unless present: an alarm costs about $0.20 a month.
         */
        alarm: z
          .strictObject({
            emails: z.array(z.string().regex(EMAIL, { error: 'is not an email address' })),
          })
          .optional(),
      })
      .prefault({}),
    /** Scheduled drift checks (docs/drift.md). */
    drift: driftSchema,
  })
  .superRefine((config, ctx) => {
    for (const problem of driftConfigProblems(config, pathPatternProblem))
      ctx.addIssue({ code: 'custom', ...problem });
    for (const problem of signInConfigProblems(config.approvals))
      ctx.addIssue({ code: 'custom', ...problem });
    const { approvers, approvalsRequired } = config.approvals;
    if (approvalsRequired > approvers.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['approvals', 'approvalsRequired'],
        input: approvalsRequired,
        message: `needs ${approvalsRequired} distinct approvers but only ${approvers.length} are listed: add approvers or lower approvalsRequired`,
      });
    }
    const seen = new Set<string>();
    approvers.forEach((a, i) => {
      for (const id of [a.email?.toLowerCase(), a.slackUserId]) {
        if (id === undefined) continue;
        if (seen.has(id))
          ctx.addIssue({
            code: 'custom',
            path: ['approvals', 'approvers', i],
            input: id,
            message: `lists ${id} twice: each approver counts once`,
          });
        seen.add(id);
      }
    });
    // A login that names two approvers would let one requester block both.
    const logins = new Map<string, number>();
    approvers.forEach((a, i) => {
      for (const login of a.ciLogins ?? []) {
        const key = foldIdentity(login);
        const first = logins.get(key);
        if (first !== undefined && first !== i)
          ctx.addIssue({
            code: 'custom',
            path: ['approvals', 'approvers', i, 'ciLogins'],
            input: login,
            message: `lists CI login "${login}" that approvals.approvers.${first} lists too: a login belongs to one approver`,
          });
        logins.set(key, first ?? i);
      }
    });
    const needsSlack = approvers.some((a) => a.slackUserId !== undefined);
    if (needsSlack && config.notifications.slack === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['notifications', 'slack'],
        message:
          'approvers have slackUserId but no Slack bot token is configured: add notifications.slack.botTokenSecretName',
      });
    }
    for (const [name, repo] of Object.entries(config.repos)) {
      const problem = repoUrlProblem(repo.url, config.git);
      if (problem)
        ctx.addIssue({
          code: 'custom',
          path: ['repos', name, 'url'],
          input: repo.url,
          message: problem,
        });
    }
  });

/**
 * Configurations that synthesize but can leave a run waiting for approvals it can never get.
 * `cdk synth` prints them as warnings (the DeployRunner construct adds them).
 */
export function configWarnings(config: DeployRunnerConfig): string[] {
  const { approvers, approvalsRequired } = config.approvals;
  const distinct = new Set(approvers.map((a) => a.email?.toLowerCase() ?? a.slackUserId)).size;
  if (approvalsRequired < distinct) return [];
  return [
    `approvals.approvalsRequired is ${approvalsRequired} and ${distinct} approver${distinct === 1 ? ' is' : 's are'} listed: when an approver requests a run themselves (CI's requestedBy matches their email, name, slackUserId or ciLogins), they may not approve it and the run can never get ${approvalsRequired} approval${approvalsRequired === 1 ? '' : 's'}; it waits until the approval timeout. Add an approver or lower approvalsRequired.`,
  ];
}

/** The validated configuration, with defaults filled in. */
export type DeployRunnerConfig = z.output<typeof configSchema>;
export type RepoConfig = DeployRunnerConfig['repos'][string];
export type Approver = DeployRunnerConfig['approvals']['approvers'][number];

function repoUrlProblem(url: string, git: DeployRunnerConfig['git']): string | undefined {
  const scp = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!\/\/)/.test(url);
  if (scp || url.startsWith('ssh://')) {
    if (git.sshKeySecretName) return knownHostsProblem(url, scp, git.knownHosts ?? []);
    const https = scp
      ? `https://${url.replace(/^[^@]+@/, '').replace(':', '/')}`
      : url.replace(/^ssh:\/\/([^@/]+@)?/, 'https://');
    return `is an SSH URL but no SSH key is configured: use the HTTPS form "${https}", or set git.sshKeySecretName`;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL: use https://host/owner/repo.git';
  }
  if (parsed.protocol === 'file:') return undefined;
  if (parsed.protocol !== 'https:')
    return `uses ${parsed.protocol.replace(':', '')}://: use https:// (or ssh:// with git.sshKeySecretName)`;
  if (parsed.username || parsed.password)
    return 'contains credentials: remove them and put a token in the secret named by git.credentialsSecretName';
  if (parsed.search || parsed.hash) return 'has a query or fragment: give the plain clone URL';
  return undefined;
}

/**
 * An SSH clone trusts only configured host keys: without a line for the repo's host, the
 * runner would have to accept whatever key the network presents on first use.
 */
function knownHostsProblem(url: string, scp: boolean, knownHosts: readonly string[]) {
  let host: string;
  let port = '';
  if (scp) host = url.replace(/^[^@]+@/, '').split(':')[0] as string;
  else {
    try {
      const parsed = new URL(url);
      host = parsed.hostname;
      port = parsed.port;
    } catch {
      return 'is not a URL: use ssh://git@host/owner/repo.git or git@host:owner/repo.git';
    }
  }
  const wanted = port && port !== '22' ? `[${host}]:${port}` : host;
  const listed = knownHosts.some((line) => {
    const hosts = (line.startsWith('@') ? line.split(' ')[1] : line.split(' ')[0]) ?? '';
    // Hashed entries (|1|...) cannot be read back; ssh checks them itself.
    return hosts
      .split(',')
      .some((h) => h.toLowerCase() === wanted.toLowerCase() || h.startsWith('|1|'));
  });
  if (listed) return undefined;
  return `is an SSH URL but git.knownHosts has no host key for ${wanted}: add its known_hosts line to git.knownHosts (the output of "ssh-keyscan -t ed25519${port && port !== '22' ? ` -p ${port}` : ''} ${host}", checked against the fingerprints ${host} publishes); the runner trusts no other key`;
}

/** Thrown when the configuration is invalid; the message lists every problem, one per line. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Validates a parsed config object. */
export function parseConfig(
  input: unknown,
  source = 'deploy-runner.config.json',
): DeployRunnerConfig {
  const result = configSchema.safeParse(input);
  if (!result.success)
    throw new ConfigError(source, describeIssues(result.error, input, configSchema));
  return result.data;
}

/** Reads and validates a config file. */
export function loadConfig(file: string): DeployRunnerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [
      `cannot read the file (${(error as NodeJS.ErrnoException).code ?? String(error)}): create it from examples/deploy-runner.config.json`,
    ]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, [describeJsonError(text, error)]);
  }
  return parseConfig(json, file);
}

/**
 * The construct props a config stands for: `bin/app.ts` reads the JSON file, this turns it into
 * what {@link DeployRunnerProps} takes. The construct itself never reads `monitoring`.
 */
export function deployRunnerProps(
  config: DeployRunnerConfig,
  configSource?: string,
): DeployRunnerProps {
  const alarm = config.monitoring.alarm;
  return {
    config,
    configSource,
    ...(alarm ? { failedRunsAlarm: { emails: alarm.emails } } : {}),
  };
}
