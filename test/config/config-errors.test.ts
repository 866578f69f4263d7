import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkExecutionInput, describeRejections } from '../../lib/allowlist';
import { ConfigError, configSchema, parseConfig } from '../../lib/config';
import { closestKey, describeJsonError, editDistance, keyPaths } from '../../lib/config-errors';
import { settings } from '../handlers/support/fixtures';

/** Issue 17: config and request errors in plain words, with the fix named. */

const ROOT = path.join(__dirname, '..', '..');
const example = () =>
  JSON.parse(readFileSync(path.join(ROOT, 'deploy-runner.config.json'), 'utf8')) as Record<
    string,
    Record<string, unknown>
  >;

function problemsOf(config: unknown): string[] {
  try {
    parseConfig(config);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('the config was accepted');
}

/** Zod's default English wording: never shown to a user. */
const ZOD_WORDING = /Too small|Too big|Invalid input|expected string|expected number|>=|<=/;

describe('config errors', () => {
  it('edit distance counts insertions, deletions and substitutions', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });

  it('the valid key paths come from the schema itself', () => {
    const paths = keyPaths(configSchema);
    expect(paths).toContain('notifications.slack.channel');
    expect(paths).toContain('repos.*.allowedRefs');
    expect(paths).toContain('approvals.approvalsRequired');
    expect(closestKey(['notifications', 'nothingLikeIt'], paths)).toBeUndefined();
  });

  it('an unknown key suggests the closest valid one', () => {
    const config = example();
    config.notifications = { ...config.notifications, slackChannel: '#deploys' };
    expect(problemsOf(config)).toContain(
      'notifications.slackChannel: unknown key: did you mean notifications.slack.channel?',
    );
    const typo = example();
    typo.approvals = { ...typo.approvals, approvalRequired: 2 };
    expect(problemsOf(typo)).toContain(
      'approvals.approvalRequired: unknown key: did you mean approvals.approvalsRequired?',
    );
    const far = example();
    far.approvals = { ...far.approvals, zzzzzzzzzzzz: 1 };
    expect(problemsOf(far)).toContain(
      'approvals.zzzzzzzzzzzz: unknown key: remove it or check its spelling',
    );
  });

  it('invalid JSON says the line and column and shows the line with a caret', () => {
    const text = '{\n  "repos": {\n    "infra": { "url": "x", }\n  }\n}\n';
    let error: unknown;
    try {
      JSON.parse(text);
    } catch (e) {
      error = e;
    }
    const lines = describeJsonError(text, error).split('\n');
    expect(lines[0]).toMatch(/^is not valid JSON at line 3, column 28: /);
    expect(lines[1]).toBe('    3 |     "infra": { "url": "x", }');
    // The caret sits under the character at fault: the "}" after the trailing comma.
    expect(lines[2]?.indexOf('^')).toBe(lines[1]?.indexOf('}'));
  });

  it('never shows zod’s own wording', () => {
    const empty = example();
    (empty.repos as Record<string, Record<string, unknown>>).infra = {
      ...((empty.repos as Record<string, Record<string, unknown>>).infra ?? {}),
      allowedRefs: [],
      allowedPaths: [''],
    };
    empty.approvals = { ...empty.approvals, approvalsRequired: 0, approvers: 'alice' };
    const problems = problemsOf(empty);
    expect(problems.length).toBeGreaterThan(2);
    for (const problem of problems) expect(problem).not.toMatch(ZOD_WORDING);
    expect(problems).toContain('approvals.approvalsRequired: 0: must be at least 1');
    expect(problems).toContain('approvals.approvers: "alice": must be a list [ ... ]');
  });

  it('a request with an empty path is refused in plain words', () => {
    const verdict = checkExecutionInput(
      { repo: 'infra', ref: 'main', path: '' },
      settings.allowlist,
    );
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    const message = describeRejections(verdict.rejections);
    expect(message).toContain('must not be empty');
    expect(message).not.toMatch(ZOD_WORDING);
  });
});
