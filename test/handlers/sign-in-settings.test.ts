import { describe, expect, it } from 'vitest';
import { approverRefs } from '../../handlers/request-approval';
import { SettingsError } from '../../handlers/shared/errors';
import { settingsFromEnv, settingsToEnv } from '../../handlers/shared/settings';
import { approverSchema } from '../../lib/contracts';

const SIGN_IN = {
  issuer: 'https://acme.okta.com',
  clientId: '0oa1b2c3d4',
  clientSecretName: 'deploy-runner/oidc-client',
  claim: 'email',
};

describe('sign-in settings (DR_SIGN_IN)', () => {
  it('travels through the environment as written, and is absent when off', () => {
    const env = settingsToEnv({ signIn: SIGN_IN, tableName: 't' });
    expect(Object.keys(env).sort()).toEqual(['DR_SIGN_IN', 'DR_TABLE_NAME']);
    expect(settingsFromEnv(env).signIn).toEqual(SIGN_IN);
    expect(settingsFromEnv({ DR_TABLE_NAME: 't' }).signIn).toBeUndefined();
  });

  it('refuses a DR_SIGN_IN that is not the schema, naming the variable', () => {
    const { clientSecretName: _, ...noSecret } = SIGN_IN;
    expect(() => settingsFromEnv({ DR_SIGN_IN: JSON.stringify(noSecret) })).toThrow(SettingsError);
    expect(() => settingsFromEnv({ DR_SIGN_IN: JSON.stringify({ ...SIGN_IN, extra: 1 }) })).toThrow(
      /DR_SIGN_IN/,
    );
    expect(() => settingsFromEnv({ DR_SIGN_IN: '{' })).toThrow(/DR_SIGN_IN: is not valid JSON/);
  });

  it("keeps each approver's identity on the way to the stored run", () => {
    const approvers = [
      { email: 'ada@acme.example', identity: '00u1ada' },
      { email: 'grace@acme.example' },
    ].map((a) => approverSchema.parse(a));
    const refs = approverRefs(approvers);
    expect(refs[0]?.identity).toBe('00u1ada');
    expect(refs[1]).not.toHaveProperty('identity');
  });
});
