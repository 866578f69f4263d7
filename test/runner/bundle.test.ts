import { readFileSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';

describe('the runner bundle (containers/runner/bundle.ts)', () => {
  it('leaves out the schemas of lib/contracts.ts the runner never reads (the pure-contracts plugin)', () => {
    const runner = readFileSync(inject('runnerBundle').runner, 'utf8');
    // approverSchema's message: the handlers check approvers, the runner never does. Without the
    // plugin, every schema of lib/contracts.ts is built when the runner starts, this one too.
    expect(runner).not.toContain('an approver needs an email or a slackUserId');
    // What the runner reads stays: knownHostsSchema checks the SSH host keys it is given.
    expect(runner).toContain('must be known_hosts lines');
  });
});
