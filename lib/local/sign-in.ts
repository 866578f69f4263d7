import { CALLBACK_PATH } from '../../handlers/shared/sign-in/cookies';
import type { DeployRunnerConfig } from '../config';
import { approverIdentity, signInConfigProblems } from '../sign-in-config';
import { type LocalServer, type LocalServerOptions, startLocalServer } from './local-server';
import { type LocalOidcAccount, startLocalOidcProvider } from './oidc-provider';
import { LocalSetupError } from './preflight';

/**
 * `local serve --sign-in` and `local demo --sign-in` (docs/sign-in.md): approvers sign in before
 * they decide, against a real OpenID provider on loopback (lib/local/oidc-provider.ts) instead of
 * the team's. The config reaches the handlers as in AWS: `approvals.signIn` names the local issuer
 * and client, the synthesized template gives the page (and Verify approval) DR_SIGN_IN, and the
 * client secret waits under its name in local mode's stand-in for Secrets Manager.
 */

/** The Secrets Manager name local mode files its provider's client secret under. */
export const LOCAL_SIGN_IN_SECRET_NAME = 'deploy-runner/local-sign-in-client-secret';

/** An account that is no approver, to see a refusal. */
export const OUTSIDER: LocalOidcAccount = {
  accountId: 'someone-else',
  email: 'someone-else@example.com',
  email_verified: true,
  name: 'Someone else (not an approver)',
};

export interface LocalSignIn {
  readonly issuer: string;
  /** The client the page signs in as; its secret stays with the provider and the page. */
  readonly clientId: string;
  /** The config the server runs: the given one, `approvals.signIn` pointing at the local provider. */
  readonly config: DeployRunnerConfig;
  /** Who can sign in: each approver, then the outsider. */
  readonly accounts: readonly LocalOidcAccount[];
  /** What to print: where sign-in happens and what to type. */
  readonly lines: readonly string[];
}

/**
 * The local server, with sign-in when `signIn` is true: starts the local provider with one account
 * per approver, points `approvals.signIn` at it (keeping a configured claim), starts the server,
 * then registers `<server>/a/signin` as the client's only redirect URI. Closing the server closes
 * the provider. Without `signIn` this is `startLocalServer` itself.
 */
export async function startLocalServerWithSignIn(
  signIn: boolean | undefined,
  options: LocalServerOptions,
): Promise<LocalServer & { readonly signIn?: LocalSignIn }> {
  if (!signIn) return startLocalServer(options);
  const claim = options.config.approvals.signIn?.claim ?? 'email';
  const accounts = approverAccounts(options.config, claim);
  const provider = await startLocalOidcProvider({
    accounts: [...accounts, OUTSIDER],
    redirectUris: [],
    onError: (line) => options.echo?.(`! ${line}`),
  });
  try {
    const config: DeployRunnerConfig = {
      ...options.config,
      approvals: {
        ...options.config.approvals,
        signIn: {
          issuer: provider.issuer,
          clientId: provider.clientId,
          clientSecretName: LOCAL_SIGN_IN_SECRET_NAME,
          claim,
        },
      },
    };
    const server = await startLocalServer({
      ...options,
      config,
      secrets: { ...options.secrets, [LOCAL_SIGN_IN_SECRET_NAME]: provider.clientSecret },
    });
    provider.setRedirectUris([`${server.url}${CALLBACK_PATH}`]);
    const lines = [
      `sign-in        on: approvers sign in at the local OpenID provider ${provider.issuer}`,
      ...[...accounts, OUTSIDER].map(
        (account) =>
          `               type ${account.email.padEnd(28)} to sign in as ${account.name}`,
      ),
    ];
    return {
      ...server,
      signIn: { issuer: provider.issuer, clientId: provider.clientId, config, accounts, lines },
      close: async () => {
        try {
          await server.close();
        } finally {
          await provider.close();
        }
      },
    };
  } catch (error) {
    await provider.close();
    throw error;
  }
}

/**
 * One account per approver, carrying what their ID token would: their identity in the configured
 * claim, their email verified. An approver without an email gets a placeholder one, unverified,
 * so the only way to be them is the claim.
 */
export function approverAccounts(config: DeployRunnerConfig, claim: string): LocalOidcAccount[] {
  const { approvers } = config.approvals;
  const problems = signInConfigProblems({
    approvers,
    signIn: { issuer: 'http://127.0.0.1', clientId: 'local', clientSecretName: 'local', claim },
  });
  if (problems.length > 0)
    throw new LocalSetupError(
      `--sign-in needs every approver's identity: ${problems
        .map((p) => `${p.path.join('.')} ${p.message}`)
        .join('; ')}`,
    );
  return approvers.map((approver, i) => {
    const identity = approverIdentity(approver, claim) as string;
    const accountId = claim === 'sub' ? identity : `approver-${i + 1}`;
    const email = claim === 'email' ? identity : (approver.email ?? `${accountId}@approvers.local`);
    return {
      accountId,
      email,
      email_verified: claim === 'email' || approver.email !== undefined,
      name: approver.name ?? email,
      ...(claim !== 'email' && claim !== 'sub' && { claims: { [claim]: identity } }),
    };
  });
}
