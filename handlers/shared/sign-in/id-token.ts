import { createHmac } from 'node:crypto';
import { errors, type JWTVerifyGetKey, jwtVerify } from 'jose';
import type { VerifiedSubject } from '../../../lib/contracts';

/**
 * Checks an ID token from the approver's identity provider (OpenID Connect Core 3.1.3.7) with
 * `jose`, whatever the code exchange already checked: signature by a key of the provider's JWKS,
 * issuer, audience (and `azp` when there are several), expiry and issue time, the nonce this page
 * bound to the link, and, for the `email` claim, `email_verified`.
 */

/** Asymmetric algorithms only: an `HS256` token would be keyed by the client secret. */
export const ID_TOKEN_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

/** Clock skew tolerated between the provider and the page. */
export const CLOCK_TOLERANCE_SECONDS = 60;
/** An ID token issued longer ago than this is not a fresh sign-in. */
export const MAX_ID_TOKEN_AGE_SECONDS = 10 * 60;

/** Why a sign-in was refused, in words the refusal page shows. */
export class SignInRefused extends Error {
  override readonly name = 'SignInRefused';
  constructor(
    /** A short code for the log (never the token or a claim value). */
    readonly code:
      | 'signature'
      | 'issuer'
      | 'audience'
      | 'nonce'
      | 'expired'
      | 'not-yet-valid'
      | 'claim-missing'
      | 'email-unverified'
      | 'malformed',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The nonce of a sign-in for one link: bound to the link by the page's key, so an ID token
 * obtained for one link (or by anyone else's client) cannot complete a sign-in for another.
 */
export function linkNonce(key: Buffer, linkHash: string, state: string): string {
  return createHmac('sha256', key).update(`nonce:${linkHash}:${state}`).digest('base64url');
}

export interface IdTokenExpectations {
  readonly issuer: string;
  readonly clientId: string;
  readonly nonce: string;
  /** The claim naming a person (`email`, `preferred_username`, `sub`, ...). */
  readonly claim: string;
  readonly now: Date;
}

/** The verified person an ID token names, or a {@link SignInRefused}. */
export async function verifyIdToken(
  idToken: string,
  keys: JWTVerifyGetKey,
  expect: IdTokenExpectations,
): Promise<VerifiedSubject> {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(idToken, keys, {
      issuer: expect.issuer,
      audience: expect.clientId,
      algorithms: ID_TOKEN_ALGORITHMS,
      currentDate: expect.now,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      maxTokenAge: MAX_ID_TOKEN_AGE_SECONDS,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'nonce'],
    }));
  } catch (error) {
    throw refusalOf(error);
  }
  const aud = payload.aud;
  if (Array.isArray(aud) && aud.length > 1 && payload.azp !== expect.clientId)
    throw new SignInRefused(
      'audience',
      'The sign-in was issued to another application (azp). Nothing was recorded.',
    );
  if (payload.nonce !== expect.nonce)
    throw new SignInRefused(
      'nonce',
      'The sign-in answered a different request than this link made (nonce). Nothing was recorded.',
    );
  const sub = payload.sub;
  if (typeof sub !== 'string' || sub === '')
    throw new SignInRefused('claim-missing', 'The identity provider named no subject.');
  const identity = payload[expect.claim];
  if (typeof identity !== 'string' || identity === '')
    throw new SignInRefused(
      'claim-missing',
      `The identity provider did not say who you are: its ID token has no "${expect.claim}" claim. Ask the team that runs deploy-runner to have the provider include it.`,
    );
  if (expect.claim === 'email' && payload.email_verified !== true)
    throw new SignInRefused(
      'email-unverified',
      'The identity provider has not verified your email address, so it cannot prove who you are. Nothing was recorded.',
    );
  return { issuer: expect.issuer, sub, identity };
}

function refusalOf(error: unknown): SignInRefused {
  if (error instanceof errors.JWTExpired)
    return new SignInRefused('expired', 'The sign-in has expired. Sign in again.');
  if (error instanceof errors.JWTClaimValidationFailed) {
    const claim = error.claim;
    if (claim === 'iss')
      return new SignInRefused(
        'issuer',
        'The sign-in came from another identity provider than the one configured. Nothing was recorded.',
      );
    if (claim === 'aud')
      return new SignInRefused(
        'audience',
        'The sign-in was issued to another application. Nothing was recorded.',
      );
    if (claim === 'iat' || claim === 'nbf')
      return new SignInRefused(
        'not-yet-valid',
        'The sign-in is not current (check the clock of this device, then sign in again).',
      );
    return new SignInRefused(
      'claim-missing',
      `The identity provider's token lacks the "${claim}" claim. Nothing was recorded.`,
    );
  }
  if (
    error instanceof errors.JWSSignatureVerificationFailed ||
    error instanceof errors.JWKSNoMatchingKey ||
    error instanceof errors.JOSEAlgNotAllowed
  )
    return new SignInRefused(
      'signature',
      'The sign-in was not signed by the configured identity provider. Nothing was recorded.',
    );
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid)
    return new SignInRefused('malformed', 'The identity provider sent an unreadable token.');
  throw error;
}
