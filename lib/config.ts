import { readFileSync } from 'node:fs';
import * as z from 'zod';

/**
 * The deploy-runner configuration file (`deploy-runner.config.json`).
 *
 * Everything a run may touch is declared here and baked into the stack at synth time: CI can
 * only name a repo, a ref and a path, and each is checked against this file.
 */

const REPO_NAME = /^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$|^[a-z0-9]$/;
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SLACK_USER_ID = /^[UW][A-Z0-9]{2,20}$/;
const SLACK_CHANNEL_ID = /^[CG][A-Z0-9]{2,20}$/;
const EMAIL = /^[^\s@<>()[\]\\,;:"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;
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

/**
 * A branch name or pattern. `*` matches within one path segment, `**` across segments.
 * The rules are git's own (`git check-ref-format`), so a pattern can never match something
 * git would refuse, and nothing that looks like a command-line option.
 */
export function refPatternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'is empty';
  if (pattern.length > 200) return 'is longer than 200 characters';
  if (pattern.startsWith('-')) return 'starts with "-" (it would read as a command-line option)';
  if (pattern.startsWith('refs/'))
    return 'starts with "refs/": give the branch name only, e.g. "main" or "release/*"';
  if (/[\s~^:?[\\\x00-\x1f\x7f]/.test(pattern))
    return 'contains a character git does not allow in branch names (space, ~ ^ : ? [ \\ or a control character)';
  if (pattern.includes('..')) return 'contains ".."';
  if (pattern.includes('@{')) return 'contains "@{"';
  if (pattern.includes('//') || pattern.startsWith('/') || pattern.endsWith('/'))
    return 'has an empty path segment (a leading, trailing or double "/")';
  if (pattern.endsWith('.') || pattern.endsWith('.lock')) return 'ends with "." or ".lock"';
  if (pattern.split('/').some((segment) => segment.startsWith('.')))
    return 'has a path segment starting with "."';
  return undefined;
}

/** A path glob inside the repository: relative, no `..`, plain characters only. */
export function pathPatternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'is empty';
  if (pattern.length > 200) return 'is longer than 200 characters';
  if (pattern.startsWith('/')) return 'is absolute: give a path relative to the repository root';
  if (pattern.split('/').some((segment) => segment === '..' || segment === '.'))
    return 'contains a "." or ".." segment';
  if (!/^[A-Za-z0-9._*/-]+$/.test(pattern))
    return 'may only contain letters, digits, ".", "_", "-", "/" and "*"';
  if (pattern.includes('//') || pattern.endsWith('/'))
    return 'has an empty path segment (a trailing or double "/")';
  if (pattern.startsWith('-') || pattern.includes('/-'))
    return 'has a segment starting with "-" (it would read as a command-line option)';
  return undefined;
}

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
  })
  .superRefine((config, ctx) => {
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

/** The validated configuration, with defaults filled in. */
export type DeployRunnerConfig = z.output<typeof configSchema>;
export type RepoConfig = DeployRunnerConfig['repos'][string];
export type Approver = DeployRunnerConfig['approvals']['approvers'][number];

function repoUrlProblem(url: string, git: DeployRunnerConfig['git']): string | undefined {
  const scp = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!\/\/)/.test(url);
  if (scp || url.startsWith('ssh://')) {
    if (git.sshKeySecretName) return undefined;
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

function truncate(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/** Formats zod issues as `field: value: problem` lines. */
export function describeIssues(error: z.ZodError, input: unknown): string[] {
  return error.issues.flatMap((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map(
        (key) =>
          `${issue.path.length > 0 ? `${path}.` : ''}${key}: unknown key: remove it or check its spelling`,
      );
    }
    const value = valueAt(input, issue.path);
    const shown = value === undefined ? 'missing' : truncate(value);
    // A bad record key (a repo name) carries the key schema's own message one level down.
    const message =
      issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? issue.message) : issue.message;
    return [`${path}: ${shown}: ${message}`];
  });
}

/** Validates a parsed config object. */
export function parseConfig(
  input: unknown,
  source = 'deploy-runner.config.json',
): DeployRunnerConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) throw new ConfigError(source, describeIssues(result.error, input));
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
    throw new ConfigError(file, [`is not valid JSON: ${(error as Error).message}`]);
  }
  return parseConfig(json, file);
}
