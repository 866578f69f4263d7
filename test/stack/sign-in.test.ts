import { beforeAll, describe, expect, it } from 'vitest';
import { settingsFromEnv } from '../../handlers/shared/settings';
import { type Built, buildStack, type Draft, exampleConfig, roleStatements } from './helpers';

/**
 * approvals.signIn in the stack (docs/sign-in.md): the approval page, and only it, may read the
 * client secret, and its environment carries the sign-in settings; with sign-in off, nothing of
 * it is in the template.
 */

const SECRET_ARN =
  'arn:aws:secretsmanager:eu-west-1:111111111111:secret:deploy-runner/sign-in-client-??????';

function withSignIn(signIn: Draft = {}): Draft {
  const config = exampleConfig();
  config.approvals.signIn = {
    issuer: 'https://acme.okta.com',
    clientId: '0oa1b2c3d4e5f6g7h8i9',
    clientSecretName: 'deploy-runner/sign-in-client',
    ...signIn,
  };
  return config;
}

type Resources = Record<string, { Type: string; Properties: Draft }>;

function functionEnv(built: Built, fn: Parameters<Built['id']>[0]): Record<string, string> {
  const resources = built.template.toJSON().Resources as Resources;
  return resources[built.id(fn)]?.Properties.Environment?.Variables ?? {};
}

function roleIds(built: Built): string[] {
  const resources = built.template.toJSON().Resources as Resources;
  return Object.keys(resources).filter((id) => resources[id]?.Type === 'AWS::IAM::Role');
}

describe('stack: approver sign-in', () => {
  let on: Built;
  let off: Built;
  beforeAll(() => {
    on = buildStack(withSignIn());
    off = buildStack(exampleConfig());
  });

  it('lets the approval page read the client secret, with GetSecretValue only', () => {
    const page = on.id(on.stack.runner.functions.approvalPage.role);
    const reads = roleStatements(on.template, page).filter((s) =>
      JSON.stringify(s.Resource).includes('deploy-runner/sign-in-client'),
    );
    expect(reads).toEqual([
      {
        Sid: 'ReadTheSignInClientSecret',
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: SECRET_ARN,
      },
    ]);
  });

  it('gives no other role any access to the client secret', () => {
    const page = on.id(on.stack.runner.functions.approvalPage.role);
    const others = roleIds(on).filter((id) => id !== page);
    expect(others.length).toBeGreaterThan(5);
    for (const role of others)
      expect(JSON.stringify(roleStatements(on.template, role)), role).not.toContain(
        'sign-in-client',
      );
  });

  it("puts the sign-in settings in the page's environment, as the page reads them", () => {
    const env = functionEnv(on, on.stack.runner.functions.approvalPage);
    expect(Object.keys(env)).toEqual(
      expect.arrayContaining(['DR_SIGN_IN', 'DR_TABLE_NAME', 'DR_PAGE_SECRET_ARN']),
    );
    // The other values are CloudFormation references here; the setting is a literal.
    expect(settingsFromEnv({ DR_SIGN_IN: env.DR_SIGN_IN }, ['signIn']).signIn).toEqual({
      issuer: 'https://acme.okta.com',
      clientId: '0oa1b2c3d4e5f6g7h8i9',
      clientSecretName: 'deploy-runner/sign-in-client',
      claim: 'email',
    });
  });

  it('carries a configured claim through', () => {
    const config = withSignIn({ claim: 'oid' });
    config.approvals.approvers = config.approvals.approvers.map((a: Draft, i: number) => ({
      ...a,
      identity: `00000000-0000-0000-0000-00000000000${i}`,
    }));
    const built = buildStack(config);
    const env = functionEnv(built, built.stack.runner.functions.approvalPage);
    expect(settingsFromEnv({ DR_SIGN_IN: env.DR_SIGN_IN }, ['signIn']).signIn?.claim).toBe('oid');
  });

  it('gives Verify approval the same settings (it checks the verified subjects), and no other function', () => {
    const { functions } = on.stack.runner;
    expect(functionEnv(on, functions.verifyApproval).DR_SIGN_IN).toBe(
      functionEnv(on, functions.approvalPage).DR_SIGN_IN,
    );
    const readers = [functions.approvalPage, functions.verifyApproval];
    for (const fn of functions.all.filter((f) => !readers.includes(f)))
      expect(Object.keys(functionEnv(on, fn)), fn.node.path).not.toContain('DR_SIGN_IN');
  });

  it('adds nothing when sign-in is off: no setting, no statement, the same page role', () => {
    const { functions } = off.stack.runner;
    for (const fn of functions.all)
      expect(Object.keys(functionEnv(off, fn)), fn.node.path).not.toContain('DR_SIGN_IN');
    const pageOff = roleStatements(off.template, off.id(functions.approvalPage.role));
    const pageOn = roleStatements(on.template, on.id(on.stack.runner.functions.approvalPage.role));
    expect(pageOn.filter((s) => s.Sid !== 'ReadTheSignInClientSecret')).toEqual(pageOff);
    expect(JSON.stringify(off.template.toJSON())).not.toContain('SignInClientSecret');
  });
});
