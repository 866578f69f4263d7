import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../lib/config';
import { deployabilityProblems } from '../../lib/constructs/private/deployability';
import { allowlistOf, allowlistSchema } from '../../lib/contracts';

const ROOT = path.resolve(__dirname, '..', '..');
const EXAMPLE = path.join(ROOT, 'examples', 'deploy-runner.config.json');
// biome-ignore lint/suspicious/noExplicitAny: each case edits the example config freely.
type Draft = Record<string, any>;
const example = () => JSON.parse(readFileSync(EXAMPLE, 'utf8')) as Draft;

/** The message parseConfig throws for `config`, or undefined when it is valid. */
function problemsOf(config: unknown): string | undefined {
  try {
    parseConfig(config);
    return undefined;
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
}

type Case = readonly [what: string, change: (c: Draft) => void, message: RegExp];

const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';

// Each line names the field, shows the value and says what to do about it.
const badConfigs: Case[] = [
  [
    'SSH URL without an SSH key',
    (c) => {
      c.repos.infra.url = 'git@github.com:acme/infra.git';
    },
    /repos\.infra\.url: "git@github\.com:acme\/infra\.git": is an SSH URL but no SSH key is configured: use the HTTPS form "https:\/\/github\.com\/acme\/infra\.git", or set git\.sshKeySecretName/,
  ],
  [
    'ssh:// URL without an SSH key',
    (c) => {
      c.repos.infra.url = 'ssh://git@github.com/acme/infra.git';
    },
    /repos\.infra\.url: .*is an SSH URL.*"https:\/\/github\.com\/acme\/infra\.git"/,
  ],
  [
    'credentials in the URL',
    (c) => {
      c.repos.infra.url = 'https://bot:ghp_secret@github.com/acme/infra.git';
    },
    /repos\.infra\.url: .*contains credentials: remove them and put a token in the secret named by git\.credentialsSecretName/,
  ],
  [
    'plain http URL',
    (c) => {
      c.repos.infra.url = 'http://git.acme.example/infra.git';
    },
    /repos\.infra\.url: .*uses http:\/\/: use https:\/\//,
  ],
  [
    'a ref pattern given as a full ref',
    (c) => {
      c.repos.infra.allowedRefs = ['refs/heads/main'];
    },
    /repos\.infra\.allowedRefs\.0: "refs\/heads\/main": ref pattern starts with "refs\/": give the branch name only/,
  ],
  [
    'a plan-only ref pattern given as a full ref',
    (c) => {
      c.repos.infra.planOnlyRefs = ['refs/pull/*/head'];
    },
    /repos\.infra\.planOnlyRefs\.0: "refs\/pull\/\*\/head": ref pattern starts with "refs\/": give the branch name only/,
  ],
  [
    'a ref pattern that reads as an option',
    (c) => {
      c.repos.infra.allowedRefs = ['main', '--upload-pack=evil'];
    },
    /repos\.infra\.allowedRefs\.1: "--upload-pack=evil": ref pattern starts with "-"/,
  ],
  [
    'a ref pattern with a space',
    (c) => {
      c.repos.infra.allowedRefs = ['release candidate'];
    },
    /allowedRefs\.0: "release candidate": ref pattern contains a character git does not allow/,
  ],
  [
    'an unknown top-level key',
    (c) => {
      c.approver = c.approvals;
    },
    /^ {2}- approver: unknown key: remove it or check its spelling$/m,
  ],
  [
    'an unknown key in a repo',
    (c) => {
      c.repos.infra.allowedRef = ['main'];
    },
    /repos\.infra\.allowedRef: unknown key: did you mean repos\.infra\.allowedRefs\?/,
  ],
  [
    'more approvals required than approvers',
    (c) => {
      c.approvals.approvalsRequired = 3;
    },
    /approvals\.approvalsRequired: 3: needs 3 distinct approvers but only 2 are listed: add approvers or lower approvalsRequired/,
  ],
  [
    'the same approver twice',
    (c) => {
      c.approvals.approvers[1].email = 'ADA@acme.example';
    },
    /approvals\.approvers\.1: .*lists ada@acme\.example twice: each approver counts once/,
  ],
  [
    'a Slack approver without a Slack token',
    (c) => {
      c.approvals.approvers.push({ slackUserId: 'U012AB3CD' });
    },
    /notifications\.slack: missing: approvers have slackUserId but no Slack bot token is configured: add notifications\.slack\.botTokenSecretName/,
  ],
  [
    'an approver with neither email nor Slack',
    (c) => {
      c.approvals.approvers.push({ name: 'Nobody' });
    },
    /approvals\.approvers\.2: .*an approver needs an "email", a "slackUserId", or both/,
  ],
  [
    'a duration without a unit',
    (c) => {
      c.approvals.timeout = '24';
    },
    /approvals\.timeout: "24": must be a duration like "90s", "30m", "24h" or "7d" \(the approval timeout\)/,
  ],
  [
    'a duration out of range',
    (c) => {
      c.runner.planTimeout = '2d';
    },
    /runner\.planTimeout: "2d": the plan timeout must be between 5 minutes and 1 days/,
  ],
  [
    'a sender that is not an email address',
    (c) => {
      c.notifications.fromEmail = 'deploy-runner at acme';
    },
    /notifications\.fromEmail: "deploy-runner at acme": is not an email address/,
  ],
  [
    'an approver email that is not an email address',
    (c) => {
      c.approvals.approvers[0].email = 'ada@';
    },
    /approvals\.approvers\.0\.email: "ada@": is not an email address/,
  ],
  [
    'an absolute path pattern',
    (c) => {
      c.repos.infra.allowedPaths = ['/envs/prod'];
    },
    /repos\.infra\.allowedPaths\.0: "\/envs\/prod": path pattern is absolute: give a path relative to the repository root/,
  ],
  [
    'a path pattern with ".."',
    (c) => {
      c.repos.infra.allowedPaths = ['envs/../secrets'];
    },
    /repos\.infra\.allowedPaths\.0: "envs\/\.\.\/secrets": path pattern contains a "\." or "\.\." segment/,
  ],
  [
    'a path pattern with shell characters',
    (c) => {
      c.repos.infra.allowedPaths = ['envs/$(whoami)'];
    },
    /allowedPaths\.0: .*path pattern may only contain letters, digits/,
  ],
  [
    'a CPU size Fargate does not have',
    (c) => {
      c.runner.cpu = 300;
    },
    /runner\.cpu: 300: must be one of 256, 512, 1024, 2048, 4096 \(Fargate CPU units\)/,
  ],
  [
    'a log retention CloudWatch does not offer',
    (c) => {
      c.logs.retentionDays = 10;
    },
    /logs\.retentionDays: 10: must be a CloudWatch Logs retention: 1, 3, 5, 7, 14, 30/,
  ],
  [
    'an artifact retention of zero days',
    (c) => {
      c.artifacts.retentionDays = 0;
    },
    /artifacts\.retentionDays: 0: /,
  ],
  [
    'a VPC ID that is not one',
    (c) => {
      c.network = {
        vpcId: 'my-vpc',
        availabilityZones: ['eu-west-1a'],
        subnetIds: ['subnet-0123456789abcdef0'],
      };
    },
    /network\.vpcId: "my-vpc": is not a VPC ID \(vpc-\.\.\.\)/,
  ],
  [
    'a subnet ID that is not one',
    (c) => {
      c.network = {
        vpcId: 'vpc-0123456789abcdef0',
        availabilityZones: ['eu-west-1a'],
        subnetIds: ['sn-1'],
      };
    },
    /network\.subnetIds\.0: "sn-1": is not a subnet ID/,
  ],
  [
    'a GitHub OIDC subject without "repo:"',
    (c) => {
      c.ci.github.subjects = ['acme/infra'];
    },
    /ci\.github\.subjects\.0: "acme\/infra": is not a GitHub OIDC subject \(like "repo:acme\/infra:ref:refs\/heads\/main"\)/,
  ],
  [
    'a managed policy given by name',
    (c) => {
      c.iam.apply.managedPolicyArns = ['AdministratorAccess'];
    },
    /iam\.apply\.managedPolicyArns\.0: "AdministratorAccess": is not a managed policy ARN .* for the apply role/,
  ],
  [
    'an unknown tool',
    (c) => {
      c.repos.infra.tool = 'pulumi';
    },
    /repos\.infra\.tool: "pulumi": must be "terraform" or "tofu"/,
  ],
  [
    'a repo name with capitals',
    (c) => {
      c.repos.Infra = c.repos.infra;
      delete c.repos.infra;
    },
    /repos\.Infra: .*repo names are 1-40 lowercase letters, digits and "-"/,
  ],
  [
    'SSH URL without known hosts',
    (c) => {
      c.repos.infra.url = 'git@github.com:acme/infra.git';
      c.git.sshKeySecretName = 'deploy-runner/ssh-key';
    },
    /repos\.infra\.url: "git@github\.com:acme\/infra\.git": is an SSH URL but git\.knownHosts has no host key for github\.com: add its known_hosts line to git\.knownHosts \(the output of "ssh-keyscan -t ed25519 github\.com", checked against the fingerprints github\.com publishes\)/,
  ],
  [
    'ssh:// URL on a port whose host key is not listed',
    (c) => {
      c.repos.infra.url = 'ssh://git@git.acme.example:2222/infra.git';
      c.git.sshKeySecretName = 'deploy-runner/ssh-key';
      c.git.knownHosts = [`git.acme.example ${ED25519}`];
    },
    /repos\.infra\.url: .*no host key for \[git\.acme\.example\]:2222: .*ssh-keyscan -t ed25519 -p 2222 git\.acme\.example/,
  ],
  [
    'a known_hosts entry that is not a known_hosts line',
    (c) => {
      c.git.knownHosts = ['github.com'];
    },
    /git\.knownHosts\.0: "github\.com": is not a known_hosts line/,
  ],
  [
    'a CI login with a space',
    (c) => {
      c.approvals.approvers[0].ciLogins = ['ada lovelace'];
    },
    /approvals\.approvers\.0\.ciLogins\.0: "ada lovelace": is not a CI login: 1-100 characters, no spaces or control characters/,
  ],
  [
    'CI logins that are not a list',
    (c) => {
      c.approvals.approvers[0].ciLogins = 'ada-gh';
    },
    /approvals\.approvers\.0\.ciLogins: "ada-gh": /,
  ],
  [
    'one CI login for two approvers',
    (c) => {
      c.approvals.approvers[0].ciLogins = ['ada-gh'];
      c.approvals.approvers[1].ciLogins = ['ＡＤＡ-gh'];
    },
    /approvals\.approvers\.1\.ciLogins: .*lists CI login "ＡＤＡ-gh" that approvals\.approvers\.0 lists too: a login belongs to one approver/,
  ],
  [
    'no repos',
    (c) => {
      c.repos = {};
    },
    /repos: \{\}: declare at least one repo/,
  ],
  [
    'plan-only results routed to an unknown audience',
    (c) => {
      c.notifications.results = { planOnly: 'everyone' };
    },
    /notifications\.results\.planOnly: "everyone": must be "requester" \(the requester's channel\), "approvers" \(also email every approver\) or "none"/,
  ],
  [
    'failures routed to nobody',
    (c) => {
      c.notifications.results = { failures: 'none' };
    },
    /notifications\.results\.failures: "none": must be "requester" \(the requester's channel\) or "approvers"/,
  ],
  [
    'a requester email domain written as an address',
    (c) => {
      c.notifications.results = { requesterEmailDomains: ['@acme.example'] };
    },
    /notifications\.results\.requesterEmailDomains\.0: "@acme\.example": is not an email domain \(like "example\.com", without "@"\)/,
  ],
  [
    'an unknown routing key',
    (c) => {
      c.notifications.results = { planOnlyRuns: 'none' };
    },
    /notifications\.results\.planOnlyRuns: unknown key/,
  ],
];

describe('deploy-runner.config.json validation', () => {
  it.each(badConfigs)('rejects %s', (_what, change, message) => {
    const config = example();
    change(config);
    const problems = problemsOf(config);
    expect(problems).toMatch(/^deploy-runner\.config\.json is invalid:\n/);
    expect(problems).toMatch(message);
  });

  it('has at least 15 bad configs', () => {
    expect(badConfigs.length).toBeGreaterThanOrEqual(15);
  });

  it('reports every problem at once, one per line', () => {
    const config = example();
    config.runner.cpu = 300;
    config.notifications.fromEmail = 'nope';
    config.typo = true;
    const lines = (problemsOf(config) ?? '').split('\n').slice(1);
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/^ {2}- \S+: /);
  });

  it('accepts the example and fills in defaults', () => {
    const config = example();
    expect(problemsOf(config)).toBeUndefined();
    const minimal = parseConfig({
      repos: {
        infra: {
          url: 'https://github.com/acme/infra.git',
          allowedRefs: ['main'],
          allowedPaths: ['envs/*'],
        },
      },
      approvals: { approvers: [{ email: 'ada@acme.example' }] },
      notifications: { fromEmail: 'deploy-runner@acme.example' },
    });
    expect(minimal.runner).toEqual({
      cpu: 1024,
      memoryMiB: 2048,
      planTimeout: '1h',
      applyTimeout: '2h',
    });
    expect(minimal.iam.plan.managedPolicyArns).toEqual(['arn:aws:iam::aws:policy/ReadOnlyAccess']);
    expect(minimal.iam.apply).toEqual({ managedPolicyArns: [], statements: [] });
    expect(minimal.approvals).toMatchObject({ approvalsRequired: 1, timeout: '24h' });
  });

  it('routes plan-only and failed results to the requester unless configured', () => {
    const config = example();
    expect(parseConfig(config).notifications.results).toEqual({
      planOnly: 'requester',
      failures: 'requester',
    });
    config.notifications.results = {
      planOnly: 'approvers',
      requesterEmailDomains: ['acme.example'],
    };
    expect(parseConfig(config).notifications.results).toEqual({
      planOnly: 'approvers',
      failures: 'requester',
      requesterEmailDomains: ['acme.example'],
    });
  });

  it('has no plan-only refs unless configured, and carries them into the allowlist', () => {
    const config = example();
    expect(parseConfig(config).repos.infra?.planOnlyRefs).toEqual([]);
    config.repos.infra.planOnlyRefs = ['pr/**'];
    const parsed = parseConfig(config);
    const allowlist = allowlistSchema.parse(JSON.parse(JSON.stringify(allowlistOf(parsed))));
    expect(allowlist.infra?.planOnlyRefs).toEqual(['pr/**']);
    // The runner's copy of an older stack has none: nothing becomes plan-only by accident.
    const { planOnlyRefs: _, ...older } = allowlist.infra as NonNullable<typeof allowlist.infra>;
    expect(allowlistSchema.parse({ infra: older }).infra?.planOnlyRefs).toEqual([]);
  });

  it('accepts an SSH URL once an SSH key and its host key are configured', () => {
    const config = example();
    config.repos.infra.url = 'git@github.com:acme/infra.git';
    config.git.sshKeySecretName = 'deploy-runner/ssh-key';
    config.git.knownHosts = [`github.com,140.82.121.4 ${ED25519}`];
    expect(problemsOf(config)).toBeUndefined();
    config.repos.infra.url = 'ssh://git@git.acme.example:2222/infra.git';
    config.git.knownHosts = [`[git.acme.example]:2222 ${ED25519} ops key`];
    expect(problemsOf(config)).toBeUndefined();
  });

  it('accepts CI logins, as many as an approver has', () => {
    const config = example();
    config.approvals.approvers[0].ciLogins = ['ada-gh', 'alovelace', 'ada@acme.example'];
    expect(parseConfig(config).approvals.approvers[0]?.ciLogins).toEqual([
      'ada-gh',
      'alovelace',
      'ada@acme.example',
    ]);
  });

  it('accepts every example under examples/, and the default config is the example', () => {
    const dir = path.join(ROOT, 'examples', 'configs');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const config = loadConfig(path.join(dir, file));
      expect(deployabilityProblems(config), file).toEqual([]);
    }
    expect(readFileSync(path.join(ROOT, 'deploy-runner.config.json'), 'utf8')).toBe(
      readFileSync(EXAMPLE, 'utf8'),
    );
  });

  it('says how to create a missing file, and where JSON is broken', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'deploy-runner-config-'));
    expect(() => loadConfig(path.join(dir, 'missing.json'))).toThrow(
      /cannot read the file \(ENOENT\): create it from examples\/deploy-runner\.config\.json/,
    );
    const broken = path.join(dir, 'broken.json');
    writeFileSync(broken, '{ "repos": ');
    expect(() => loadConfig(broken)).toThrow(
      /broken\.json is invalid:\n {2}- is not valid JSON at line 1, column 12: /,
    );
  });
});

describe('configs that pass the schema but cannot deploy', () => {
  const cases: Case[] = [
    [
      'memory Fargate does not pair with the CPU',
      (c) => {
        c.runner.cpu = 1024;
        c.runner.memoryMiB = 1000;
      },
      /^runner\.memoryMiB: 1000: Fargate does not run 1024 CPU units with 1000 MiB: use 2048 to 8192 in steps of 1024$/,
    ],
    [
      'memory above what a small task gets',
      (c) => {
        c.runner.cpu = 256;
        c.runner.memoryMiB = 4096;
      },
      /^runner\.memoryMiB: 4096: .*use 512, 1024, 2048$/,
    ],
    [
      'an allowlist too large for a Lambda environment',
      (c) => {
        c.repos.infra.allowedPaths = Array.from({ length: 300 }, (_, i) => `envs/team-${i}`);
      },
      /^repos: \d+ bytes as JSON: the allowlist travels in a Lambda environment variable/,
    ],
    [
      'terragrunt, which the runner image does not have',
      (c) => {
        c.repos.infra.terragrunt = true;
      },
      /^repos\.infra\.terragrunt: true: the runner image \(containers\/runner\/Dockerfile\) has no terragrunt, so every run would fail: set "terragrunt": false, or pass your own image/,
    ],
    [
      'a git secret name ending in "-" and six characters',
      (c) => {
        c.git.credentialsSecretName = 'deploy-runner/github-abc123';
      },
      /^git\.credentialsSecretName: "deploy-runner\/github-abc123": ends in "-" and six characters.*rename the secret \(e\.g\. "deploy-runner\/github" or "deploy-runner\/github-abc123-secret"\)/,
    ],
    [
      'a Slack secret name ending in "-" and six characters',
      (c) => {
        c.notifications.slack = { botTokenSecretName: 'slack-tokens' };
      },
      /^notifications\.slack\.botTokenSecretName: "slack-tokens": ends in "-" and six characters/,
    ],
  ];

  it.each(cases)('rejects %s', (_what, change, message) => {
    const config = example();
    change(config);
    const problems = deployabilityProblems(parseConfig(config));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it('accepts terragrunt with a runner image of your own', () => {
    const config = example();
    config.repos.infra.terragrunt = true;
    expect(deployabilityProblems(parseConfig(config), { customRunnerImage: true })).toEqual([]);
  });

  it('accepts secret names whose last segment is not "-" plus six characters', () => {
    const config = example();
    for (const name of [
      'deploy-runner/token',
      'git-token',
      'a-abc12',
      'a-abc1234',
      'github_abc123',
    ])
      config.git.credentialsSecretName = name;
    expect(deployabilityProblems(parseConfig(config))).toEqual([]);
  });

  it('accepts every Fargate size', () => {
    const config = example();
    for (const [cpu, memoryMiB] of [
      [256, 512],
      [512, 4096],
      [1024, 8192],
      [2048, 4096],
      [4096, 30_720],
    ]) {
      config.runner.cpu = cpu;
      config.runner.memoryMiB = memoryMiB;
      expect(deployabilityProblems(parseConfig(config))).toEqual([]);
    }
  });
});
