import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  KMSClient,
  KMSInvalidSignatureException,
  NotFoundException,
  SignCommand,
  VerifyCommand,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AttestationError,
  attestDecision,
  canonicalJson,
  KmsDecisionSigner,
  KmsDecisionVerifier,
  readAttestation,
} from '../../handlers/shared/decision-signing';
import type { SignedDecision } from '../../lib/contracts';
import { LocalDecisionKey } from '../../lib/local/decision-key';
import { EXECUTION_ARN, planResult, request, START } from './support/fixtures';

const KEY_ARN = 'arn:aws:kms:eu-west-1:111111111111:key/0b6f1d7e-1111-2222-3333-444455556666';
const kmsMock = mockClient(KMSClient);
const kms = () => new KMSClient({ region: 'eu-west-1' });

const decision: SignedDecision = {
  v: 1,
  executionArn: EXECUTION_ARN,
  runId: request.runId,
  planSha256: planResult().planSha256,
  commit: planResult().commit,
  approvers: [{ id: 'alice@example.com', name: 'Alice Admin', decidedAt: START.toISOString() }],
  approvalsRequired: 1,
  decidedAt: START.toISOString(),
};

/** DER: SEQUENCE { INTEGER r, INTEGER s }, what KMS returns for ECDSA_SHA_256. */
const isDerEcdsa = (sig: Buffer) =>
  sig[0] === 0x30 && sig[1] === sig.length - 2 && sig[2] === 0x02 && sig.length <= 72;

beforeEach(() => kmsMock.reset());

describe('canonical JSON', () => {
  it('sorts keys at every level and drops undefined, so one record signs one way', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[2,{"y":2,"z":1}]},"b":1}',
    );
  });
});

describe('LocalDecisionKey (local mode): the same DER ECDSA P-256 signatures as KMS', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'dr-key-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('signs DER and verifies its own signatures, not altered ones', async () => {
    const key = LocalDecisionKey.generate();
    const message = Buffer.from('decision');
    const signature = await key.sign(message);
    expect(isDerEcdsa(signature)).toBe(true);
    expect(await key.verify(message, signature)).toBe(true);
    expect(await key.verify(Buffer.from('decisioN'), signature)).toBe(false);
    expect(await key.verify(message, Buffer.from('not a signature'))).toBe(false);
    expect(await LocalDecisionKey.generate().verify(message, signature)).toBe(false);
  });

  it('is generated once in the data folder, mode 0600, and read back after a restart', async () => {
    const first = LocalDecisionKey.inDataDir(dir);
    const file = join(dir, 'decision-signing-key.pem');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toContain('BEGIN PRIVATE KEY');
    const again = LocalDecisionKey.inDataDir(dir);
    expect(again.keyId).toBe(first.keyId);
    const signature = await first.sign(Buffer.from('x'));
    expect(await again.verify(Buffer.from('x'), signature)).toBe(true);
  });

  it('hands the page only the signing half and Verify approval only the public half', () => {
    const key = LocalDecisionKey.generate();
    expect(Object.keys(key.signer()).sort()).toEqual(['keyId', 'sign']);
    expect(Object.keys(key.verifier()).sort()).toEqual(['keyId', 'verify']);
  });

  it('an attestation round-trips; another key’s is refused', async () => {
    const key = LocalDecisionKey.generate();
    const attestation = await attestDecision(key.signer(), decision);
    expect(await readAttestation(key.verifier(), attestation)).toEqual(decision);
    await expect(
      readAttestation(LocalDecisionKey.generate().verifier(), attestation),
    ).rejects.toBeInstanceOf(AttestationError);
  });
});

describe('KMS signer and verifier', () => {
  // KMS's answers come from a real P-256 key, so what is signed is really checked.
  const key = LocalDecisionKey.generate();

  it('signs RAW messages with ECDSA_SHA_256 under the configured key', async () => {
    kmsMock.on(SignCommand).callsFake(async (input: { Message: Uint8Array }) => ({
      KeyId: KEY_ARN,
      Signature: await key.sign(Buffer.from(input.Message)),
      SigningAlgorithm: 'ECDSA_SHA_256',
    }));
    const attestation = await attestDecision(new KmsDecisionSigner(kms, KEY_ARN), decision);
    expect(kmsMock.commandCalls(SignCommand)[0]?.args[0].input).toMatchObject({
      KeyId: KEY_ARN,
      MessageType: 'RAW',
      SigningAlgorithm: 'ECDSA_SHA_256',
      Message: Buffer.from(canonicalJson(decision)),
    });
    expect(attestation.keyId).toBe(KEY_ARN);
    expect(isDerEcdsa(Buffer.from(attestation.signature, 'base64'))).toBe(true);
  });

  it('fails when KMS returns no signature', async () => {
    kmsMock.on(SignCommand).resolves({});
    await expect(new KmsDecisionSigner(kms, KEY_ARN).sign(Buffer.from('x'))).rejects.toThrow(
      /no signature/,
    );
  });

  it('verifies with kms:Verify; a bad signature is false, other errors are errors', async () => {
    const verifier = new KmsDecisionVerifier(kms, KEY_ARN);
    kmsMock.on(VerifyCommand).resolves({ KeyId: KEY_ARN, SignatureValid: true });
    expect(await verifier.verify(Buffer.from('m'), Buffer.from('s'))).toBe(true);
    expect(kmsMock.commandCalls(VerifyCommand)[0]?.args[0].input).toMatchObject({
      KeyId: KEY_ARN,
      MessageType: 'RAW',
      SigningAlgorithm: 'ECDSA_SHA_256',
    });

    kmsMock
      .on(VerifyCommand)
      .rejects(new KMSInvalidSignatureException({ message: 'invalid', $metadata: {} }));
    expect(await verifier.verify(Buffer.from('m'), Buffer.from('s'))).toBe(false);

    kmsMock.on(VerifyCommand).rejects(new NotFoundException({ message: 'gone', $metadata: {} }));
    await expect(verifier.verify(Buffer.from('m'), Buffer.from('s'))).rejects.toThrow(/gone/);
  });

  it('an attestation signed through KMS verifies through KMS', async () => {
    kmsMock.on(SignCommand).callsFake(async (input: { Message: Uint8Array }) => ({
      Signature: await key.sign(Buffer.from(input.Message)),
    }));
    kmsMock
      .on(VerifyCommand)
      .callsFake(async (input: { Message: Uint8Array; Signature: Uint8Array }) => ({
        SignatureValid: await key.verify(Buffer.from(input.Message), Buffer.from(input.Signature)),
      }));
    const attestation = await attestDecision(new KmsDecisionSigner(kms, KEY_ARN), decision);
    const verifier = new KmsDecisionVerifier(kms, KEY_ARN);
    expect(await readAttestation(verifier, attestation)).toEqual(decision);
    const tampered = { ...attestation, signature: Buffer.alloc(70, 1).toString('base64') };
    await expect(readAttestation(verifier, tampered)).rejects.toThrow(/signature is not valid/);
  });
});
