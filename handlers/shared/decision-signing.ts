import type * as ClientKMS from '@aws-sdk/client-kms';
import type { KMSClient } from '@aws-sdk/client-kms';
import {
  type DecisionAttestation,
  type SignedDecision,
  signedDecisionSchema,
} from '../../lib/contracts';
import { lazyModule } from '../../lib/lazy-module';
import { errorName } from './errors';

// Loaded when a decision is first signed or verified, not at import: see lib/lazy-module.ts.
const { SignCommand, VerifyCommand } = lazyModule<typeof ClientKMS>(() =>
  require('@aws-sdk/client-kms'),
);

/**
 * Signed approval decisions (docs/architecture.md, property 8). The approval page signs a
 * {@link SignedDecision} with a key only it may use; `Verify approval` checks the signature
 * before `Apply`. In AWS the key is a KMS ECC_NIST_P256 key; in local mode a P-256 key pair in
 * the data folder (lib/local/decision-key.ts). Both produce the same DER-encoded ECDSA-SHA-256 signature over the same bytes.
 */

/** Signs decision records. */
export interface DecisionSigner {
  /** The key's identity, carried in the attestation (a KMS key ARN, or `local:<fingerprint>`). */
  readonly keyId: string;
  /** DER-encoded ECDSA P-256 signature of SHA-256(message). */
  sign(message: Buffer): Promise<Buffer>;
}

/** Checks decision signatures under the one configured key. */
export interface DecisionVerifier {
  /** The key it verifies with; an attestation naming another key is refused. */
  readonly keyId: string;
  /** Whether `signature` (DER) is valid for `message`; false, never a throw, when it is not. */
  verify(message: Buffer, signature: Buffer): Promise<boolean>;
}

/** JSON with object keys sorted at every level: the same record always signs the same bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Signs a decision record; the attestation carries the exact bytes that were signed. */
export async function attestDecision(
  signer: DecisionSigner,
  decision: SignedDecision,
): Promise<DecisionAttestation> {
  const bytes = Buffer.from(canonicalJson(signedDecisionSchema.parse(decision)), 'utf8');
  const signature = await signer.sign(bytes);
  return {
    record: bytes.toString('base64url'),
    signature: signature.toString('base64'),
    keyId: signer.keyId,
  };
}

/** Why an attestation was refused, in words for the console reader. */
export class AttestationError extends Error {
  override readonly name = 'AttestationError';
}

/**
 * The decision an attestation carries, once its signature verifies under the configured key.
 * Throws {@link AttestationError} saying what is wrong otherwise.
 */
export async function readAttestation(
  verifier: DecisionVerifier,
  attestation: DecisionAttestation,
): Promise<SignedDecision> {
  if (attestation.keyId !== verifier.keyId)
    throw new AttestationError(
      `the decision was signed with key "${attestation.keyId.slice(0, 200)}", not the approval page's key`,
    );
  const bytes = Buffer.from(attestation.record, 'base64url');
  const signature = Buffer.from(attestation.signature, 'base64');
  if (!(await verifier.verify(bytes, signature)))
    throw new AttestationError('the decision signature is not valid under the approval page’s key');
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new AttestationError('the signed decision is not JSON');
  }
  const parsed = signedDecisionSchema.safeParse(json);
  if (!parsed.success)
    throw new AttestationError(
      `the signed decision does not match the contract: ${parsed.error.issues
        .map((i) => `${i.path.join('.') || '(record)'}: ${i.message}`)
        .join('; ')}`,
    );
  return parsed.data;
}

const KMS_ALGORITHM = 'ECDSA_SHA_256';

/** Signs with the KMS key whose policy lets only the approval page's role call `kms:Sign`. */
export class KmsDecisionSigner implements DecisionSigner {
  constructor(
    private readonly kms: () => KMSClient,
    /** The key ARN (also what the verifier is configured with). */
    readonly keyId: string,
  ) {}

  async sign(message: Buffer): Promise<Buffer> {
    const out = await this.kms().send(
      new SignCommand({
        KeyId: this.keyId,
        Message: message,
        MessageType: 'RAW',
        SigningAlgorithm: KMS_ALGORITHM,
      }),
    );
    if (!out.Signature) throw new Error('KMS Sign returned no signature');
    return Buffer.from(out.Signature);
  }
}

/** Verifies with KMS (`kms:Verify`), under the configured key only. */
export class KmsDecisionVerifier implements DecisionVerifier {
  constructor(
    private readonly kms: () => KMSClient,
    readonly keyId: string,
  ) {}

  async verify(message: Buffer, signature: Buffer): Promise<boolean> {
    try {
      const out = await this.kms().send(
        new VerifyCommand({
          KeyId: this.keyId,
          Message: message,
          MessageType: 'RAW',
          Signature: signature,
          SigningAlgorithm: KMS_ALGORITHM,
        }),
      );
      return out.SignatureValid === true;
    } catch (error) {
      // KMS answers a bad signature with an exception; anything else is a real failure.
      if (errorName(error) === 'KMSInvalidSignatureException') return false;
      throw error;
    }
  }
}
