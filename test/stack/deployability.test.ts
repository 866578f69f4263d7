import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/config';
import { lambdaEnvironmentProblems } from '../../lib/constructs/private/deployability';
import { buildStack, type Draft, exampleConfig } from './helpers';

/** What the template would fail to deploy is refused at synth, with the fix. */

function synthError(change: (config: Draft) => void): ConfigError {
  const config = exampleConfig();
  change(config);
  try {
    buildStack(config);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('the stack synthesized');
}

describe("each function's environment against Lambda's 4 KB", () => {
  it('refuses a config with many repos, naming the allowlist and how to shrink it', () => {
    const error = synthError((config) => {
      for (let i = 0; i < 60; i++)
        config.repos[`team-${i}-infrastructure`] = {
          url: `https://github.com/acme/team-${i}-infrastructure.git`,
          allowedRefs: ['main', 'release/*'],
          allowedPaths: ['envs/staging', 'envs/production'],
        };
    });
    expect(error.problems.join('\n')).toMatch(/4 KB|4096/);
    expect(error.problems.join('\n')).toMatch(/fewer repos|broader patterns/);
  });

  it('refuses approvers that overflow the notify function, naming it and the fix', () => {
    const error = synthError((config) => {
      config.approvals.approvers = Array.from({ length: 60 }, (_, i) => ({
        name: `Approver number ${i} of the platform team`,
        email: `approver-${i}@platform-team.acme.example`,
      }));
    });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(
      /^the notify function's environment is about \d+ bytes, over Lambda's 4096-byte limit \(largest: DR_APPROVERS, \d+ bytes\): .*list fewer approvers/,
    );
  });

  it('lets the example config through, every function well under the limit', () => {
    const { stack } = buildStack();
    const { functions } = stack.runner;
    const all = {
      'validate-request': functions.validateRequest,
      'request-approval': functions.requestApproval,
      'approval-page': functions.approvalPage,
      notify: functions.notify,
      cleanup: functions.cleanup,
    };
    expect(lambdaEnvironmentProblems(all)).toEqual([]);
    // The same check fires on the same functions once the limit is within reach.
    functions.notify.addEnvironment('PADDING', 'x'.repeat(4096));
    expect(lambdaEnvironmentProblems(all)).toEqual([
      expect.stringMatching(
        /^the notify function's environment is about \d+ bytes.*largest: PADDING/,
      ),
    ]);
  });
});

describe('the GitHub OIDC provider', () => {
  it('is never created unless the config asks for it', () => {
    const config = exampleConfig();
    config.ci = { github: { subjects: ['repo:acme/infra:ref:refs/heads/main'] } };
    const error = synthError((c) => {
      c.ci = config.ci;
    });
    expect(error.problems[0]).toMatch(/^ci\.github: .*oidcProviderArn.*createOidcProvider: true/);
  });

  it('reuses an existing provider by ARN and creates none', () => {
    const config = exampleConfig();
    config.ci = {
      github: {
        subjects: ['repo:acme/infra:ref:refs/heads/main'],
        oidcProviderArn:
          'arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com',
      },
    };
    const { template } = buildStack(config);
    expect(Object.keys(template.findResources('AWS::IAM::OIDCProvider'))).toEqual([]);
    expect(JSON.stringify(template.findResources('AWS::IAM::Role'))).toContain(
      'arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com',
    );
  });

  it('creates one only with createOidcProvider: true', () => {
    const config = exampleConfig();
    config.ci = {
      github: { subjects: ['repo:acme/infra:ref:refs/heads/main'], createOidcProvider: true },
    };
    const { template } = buildStack(config);
    expect(Object.keys(template.findResources('AWS::IAM::OIDCProvider'))).toHaveLength(1);
  });
});
