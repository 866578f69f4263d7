import * as z from 'zod';
import { foldIdentity } from './identity';

/**
 * The `approvals.signIn` section of the config (docs/sign-in.md): approvers sign in with the
 * team's OpenID Connect provider before a decision counts, so a forwarded link decides nothing.
 * Checked at synth like the rest.
 */

const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
/** A claim name as providers spell them (`email`, `preferred_username`, `upn`, `oid`, `custom:x`). */
const CLAIM = /^[A-Za-z_][A-Za-z0-9_:.-]{0,99}$/;

/** Hosts where plain http is allowed: the issuer of local mode's own provider. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Whether a URL's host is the loopback interface (plain http is allowed only there). */
export function isLoopbackUrl(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname.toLowerCase());
}

/** Why an issuer URL is refused, or undefined. */
export function issuerProblem(issuer: string): string | undefined {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return 'is not a URL: give the issuer as the provider publishes it, like "https://acme.okta.com"';
  }
  if (url.protocol === 'http:' && isLoopbackUrl(url)) return undefined;
  if (url.protocol !== 'https:')
    return `uses ${url.protocol.replace(':', '')}://: an issuer must be https:// (http:// only on 127.0.0.1, localhost or [::1])`;
  if (url.username || url.password) return 'contains credentials: remove them';
  if (url.search || url.hash) return 'has a query or fragment: give the issuer URL itself';
  return undefined;
}

export const signInSchema = z.strictObject({
  /** The provider's issuer URL; its `/.well-known/openid-configuration` is read at run time. */
  issuer: z.string().superRefine((value, ctx) => {
    const problem = issuerProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  /** The OAuth client ID registered for the approval page. */
  clientId: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[\x21-\x7e]+$/, { error: 'is not a client ID: printable characters, no spaces' }),
  /** Secrets Manager secret holding the client secret; only the approval page may read it. */
  clientSecretName: z.string().regex(SECRET_NAME, { error: 'is not a secret name' }),
  /**
   * The ID token claim that names a person. With `email` (the default) the provider must also
   * say `email_verified: true`.
   */
  claim: z
    .string()
    .regex(CLAIM, { error: 'is not a claim name (like "email" or "preferred_username")' })
    .default('email'),
});
export type SignInConfig = z.output<typeof signInSchema>;

/** What an approver is known by for sign-in: the listed `identity`, else their email when the claim is `email`. */
export function approverIdentity(
  approver: { readonly identity?: string; readonly email?: string },
  claim: string,
): string | undefined {
  if (approver.identity !== undefined) return approver.identity;
  return claim === 'email' ? approver.email : undefined;
}

/**
 * Whether a verified claim value names the same person as a configured identity. Emails compare
 * case-folded (providers do not keep one case); any other claim (`sub`, `oid`) exactly.
 */
export function sameIdentity(claim: string, a: string, b: string): boolean {
  return claim === 'email' ? foldIdentity(a) === foldIdentity(b) : a === b;
}

/** The key an identity is compared by, for checking that identities are distinct. */
export function identityKey(claim: string, identity: string): string {
  return claim === 'email' ? foldIdentity(identity) : identity;
}

interface Problem {
  readonly path: (string | number)[];
  readonly input?: unknown;
  readonly message: string;
}

/** Problems of the approvers' identities with sign-in on (or identities given with it off). */
export function signInConfigProblems(approvals: {
  readonly signIn?: SignInConfig;
  readonly approvers: readonly { readonly identity?: string; readonly email?: string }[];
}): Problem[] {
  const problems: Problem[] = [];
  const { signIn, approvers } = approvals;
  if (signIn === undefined) {
    approvers.forEach((a, i) => {
      if (a.identity !== undefined)
        problems.push({
          path: ['approvals', 'approvers', i, 'identity'],
          input: a.identity,
          message:
            'is set but approvals.signIn is not: identities are checked only when approvers sign in; add approvals.signIn or remove identity',
        });
    });
    return problems;
  }
  const seen = new Map<string, number>();
  approvers.forEach((a, i) => {
    const identity = approverIdentity(a, signIn.claim);
    if (identity === undefined) {
      problems.push({
        path: ['approvals', 'approvers', i, 'identity'],
        message: `approvals.signIn identifies people by the "${signIn.claim}" claim; give this approver's value of it as identity`,
      });
      return;
    }
    const key = identityKey(signIn.claim, identity);
    const first = seen.get(key);
    if (first !== undefined)
      problems.push({
        path: ['approvals', 'approvers', i, 'identity'],
        input: identity,
        message: `is "${identity}", the identity of approvals.approvers.${first} too: each approver signs in as a different person`,
      });
    else seen.set(key, i);
  });
  return problems;
}
