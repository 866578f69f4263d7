import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../lib/config';
import { approverIdentity, sameIdentity } from '../../lib/sign-in-config';

const EXAMPLE = path.resolve(__dirname, '..', '..', 'examples', 'deploy-runner.config.json');
// biome-ignore lint/suspicious/noExplicitAny: each case edits the example config freely.
type Draft = Record<string, any>;
const example = () => JSON.parse(readFileSync(EXAMPLE, 'utf8')) as Draft;

const SIGN_IN = {
  issuer: 'https://acme.okta.com',
  clientId: '0oa1b2c3d4',
  clientSecretName: 'deploy-runner/oidc-client',
};

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

const badConfigs: Case[] = [
  [
    'an http issuer that is not loopback',
    (c) => {
      c.approvals.signIn = { ...SIGN_IN, issuer: 'http://acme.okta.com' };
    },
    /approvals\.signIn\.issuer: "http:\/\/acme\.okta\.com": uses http:\/\/: an issuer must be https:\/\/ \(http:\/\/ only on 127\.0\.0\.1, localhost or \[::1\]\)/,
  ],
  [
    'an issuer that is not a URL',
    (c) => {
      c.approvals.signIn = { ...SIGN_IN, issuer: 'acme.okta.com' };
    },
    /approvals\.signIn\.issuer: "acme\.okta\.com": is not a URL/,
  ],
  [
    'a client secret name that is not a secret name',
    (c) => {
      c.approvals.signIn = { ...SIGN_IN, clientSecretName: 'my secret' };
    },
    /approvals\.signIn\.clientSecretName: "my secret": is not a secret name/,
  ],
  [
    'a missing client ID',
    (c) => {
      const { clientId: _, ...rest } = SIGN_IN;
      c.approvals.signIn = rest;
    },
    /approvals\.signIn\.clientId: missing: is required/,
  ],
  [
    'an approver with no identity for a claim other than email',
    (c) => {
      c.approvals.signIn = { ...SIGN_IN, claim: 'preferred_username' };
      c.approvals.approvers[0].identity = 'ada';
    },
    /approvals\.approvers\.1\.identity: missing: approvals\.signIn identifies people by the "preferred_username" claim; give this approver's value of it as identity/,
  ],
  [
    'a Slack-only approver with the email claim',
    (c) => {
      c.approvals.signIn = SIGN_IN;
      c.notifications.slack = { botTokenSecretName: 'deploy-runner/slack' };
      c.approvals.approvers.push({ slackUserId: 'U012AB3CD' });
    },
    /approvals\.approvers\.2\.identity: missing: approvals\.signIn identifies people by the "email" claim/,
  ],
  [
    'two approvers with one identity',
    (c) => {
      c.approvals.signIn = SIGN_IN;
      c.approvals.approvers[1].identity = 'ADA@acme.example';
    },
    /approvals\.approvers\.1\.identity: "ADA@acme\.example": is "ADA@acme\.example", the identity of approvals\.approvers\.0 too: each approver signs in as a different person/,
  ],
  [
    'an identity without sign-in',
    (c) => {
      c.approvals.approvers[0].identity = 'ada';
    },
    /approvals\.approvers\.0\.identity: "ada": is set but approvals\.signIn is not/,
  ],
  [
    'a misspelt signIn key',
    (c) => {
      const { clientSecretName, ...rest } = SIGN_IN;
      c.approvals.signIn = { ...rest, clientSecret: clientSecretName };
    },
    /approvals\.signIn\.clientSecret: unknown key: did you mean approvals\.signIn\.clientSecretName\?/,
  ],
];

describe('approvals.signIn validation', () => {
  it.each(badConfigs)('rejects %s', (_what, change, message) => {
    const config = example();
    change(config);
    expect(problemsOf(config)).toMatch(message);
  });

  it('accepts sign-in with the email claim by default, and a loopback http issuer', () => {
    const config = example();
    config.approvals.signIn = SIGN_IN;
    expect(parseConfig(config).approvals.signIn).toEqual({ ...SIGN_IN, claim: 'email' });
    for (const issuer of [
      'http://127.0.0.1:4123',
      'http://localhost:80/oidc',
      'http://[::1]:9000',
    ]) {
      config.approvals.signIn = { ...SIGN_IN, issuer };
      expect(problemsOf(config), issuer).toBeUndefined();
    }
  });

  it('resolves identities: the listed one, else the email for the email claim only', () => {
    expect(approverIdentity({ email: 'ada@acme.example' }, 'email')).toBe('ada@acme.example');
    expect(approverIdentity({ email: 'ada@acme.example', identity: 'ada' }, 'email')).toBe('ada');
    expect(approverIdentity({ email: 'ada@acme.example' }, 'sub')).toBeUndefined();
    expect(sameIdentity('email', 'Ada@ACME.example', 'ada@acme.example')).toBe(true);
    expect(sameIdentity('sub', 'AbC', 'abc')).toBe(false);
  });
});
