import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * npm makes every `bin` target executable when it installs (`npm ci` too); a launcher committed
 * as 644 then shows as modified in a fresh clone. Committed as 755, `npm ci` leaves it alone.
 */
describe('the bin launcher', () => {
  it('is committed executable, so npm ci leaves the working tree clean', () => {
    const root = path.join(__dirname, '..', '..');
    const entry = execFileSync('git', ['ls-files', '-s', 'bin/deploy-runner.js'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(entry.split(' ')[0]).toBe('100755');
  });
});
