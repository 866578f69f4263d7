import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validatedStateMachine, validityKey } from '../../lib/local/validated-machine';

/**
 * The local engine's definition is validated as Step Functions validates it, once per distinct
 * definition: a valid one is recorded and not validated again, an invalid one is refused every
 * time and never recorded.
 */

const CACHE = resolve(
  __dirname,
  '..',
  '..',
  'node_modules',
  '.cache',
  'deploy-runner',
  'valid-asl',
);
const record = (definition: Record<string, unknown>) =>
  join(CACHE, `${validityKey(definition)}.json`);

// A nonce in the comment: a definition no other test has recorded.
const nonce = `${process.pid}-${Date.now()}`;
const valid = {
  Comment: `validated-machine ${nonce}`,
  StartAt: 'Done',
  States: { Done: { Type: 'Pass', End: true } },
};
const invalid = {
  Comment: `validated-machine ${nonce}`,
  StartAt: 'Missing',
  States: { Done: { Type: 'Pass', End: true } },
};

describe('validatedStateMachine', () => {
  it('records a valid definition once it passed, and gives it the defaults validation fills in', async () => {
    const fresh = () => structuredClone(valid) as Record<string, unknown>;
    rmSync(record(valid), { force: true });
    const validatedOnce = fresh();
    const first = validatedStateMachine(validatedOnce);
    expect(existsSync(record(valid))).toBe(true);
    const recordedOnce = fresh();
    const second = validatedStateMachine(recordedOnce);
    // The same definition either way, defaults included (asl-validator adds QueryLanguage).
    expect(recordedOnce).toEqual(validatedOnce);
    expect(recordedOnce).not.toEqual(valid);
    for (const machine of [first, second])
      expect(await machine.run({ x: 1 }).result).toEqual({ x: 1 });
    // Another definition (even one comment apart) is not covered by the record.
    expect(validityKey({ ...valid, Comment: 'other' })).not.toBe(validityKey(valid));
  });

  it('refuses an invalid definition every time and records nothing', () => {
    for (let i = 0; i < 2; i++)
      expect(() => validatedStateMachine(invalid)).toThrow(/definition is invalid/);
    expect(existsSync(record(invalid))).toBe(false);
  });
});
