import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DecisionSigner, DecisionVerifier } from '../../handlers/shared/decision-signing';

/**
 * A P-256 key pair held in memory (local mode, tests). Signs and verifies like KMS. Local mode
 * only: no handler bundle pulls it (test/handlers/bundle.test.ts).
 */
export class LocalDecisionKey implements DecisionSigner, DecisionVerifier {
  readonly keyId: string;
  private readonly publicKey: KeyObject;

  constructor(private readonly privateKey: KeyObject) {
    this.publicKey = createPublicKey(privateKey);
    const spki = this.publicKey.export({ type: 'spki', format: 'der' });
    this.keyId = `local:${createHash('sha256').update(spki).digest('hex').slice(0, 32)}`;
  }

  /** A fresh key pair. */
  static generate(): LocalDecisionKey {
    return new LocalDecisionKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  }

  /**
   * The key pair of a local data folder: generated once (mode 0600), then read, so decisions
   * signed before a restart still verify after it.
   */
  static inDataDir(dataDir: string): LocalDecisionKey {
    const file = join(dataDir, 'decision-signing-key.pem');
    if (existsSync(file)) return new LocalDecisionKey(createPrivateKey(readFileSync(file, 'utf8')));
    const key = LocalDecisionKey.generate();
    writeFileSync(file, key.privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
      flag: 'wx',
    });
    return key;
  }

  async sign(message: Buffer): Promise<Buffer> {
    return nodeSign('sha256', message, { key: this.privateKey, dsaEncoding: 'der' });
  }

  async verify(message: Buffer, signature: Buffer): Promise<boolean> {
    try {
      return nodeVerify('sha256', message, { key: this.publicKey, dsaEncoding: 'der' }, signature);
    } catch {
      return false;
    }
  }

  /** The public half only: what `Verify approval` gets. */
  verifier(): DecisionVerifier {
    const { keyId } = this;
    return { keyId, verify: (message, signature) => this.verify(message, signature) };
  }

  /** The private half only: what the approval page gets. */
  signer(): DecisionSigner {
    const { keyId } = this;
    return { keyId, sign: (message) => this.sign(message) };
  }
}
