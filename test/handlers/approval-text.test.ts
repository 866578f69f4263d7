import { describe, expect, it } from 'vitest';
import {
  cleanText,
  closedPage,
  FIXED_PAGES,
  leftTheWait,
  liveOutcomeSentence,
  outcomeSentence,
  resendPage,
  sentPage,
  taskGonePage,
  waitingPage,
} from '../../handlers/shared/approval-text';
import type { ApprovalLink, ApprovalRun } from '../../handlers/shared/store';
import { outcomeOf } from '../../lib/cli/exit-codes';
import { approvalRun, EXECUTION_ARN, START } from './support/fixtures';

const NOW = new Date('2025-11-25T10:30:00.000Z');
const CONSOLE = 'https://console.example/run';

const run = (overrides: Partial<ApprovalRun> = {}): ApprovalRun => approvalRun(overrides);

const link = (overrides: Partial<ApprovalLink> = {}): ApprovalLink => ({
  hash: 'h',
  executionArn: EXECUTION_ARN,
  approverId: 'alice',
  approverName: 'Alice',
  validUntil: START.getTime() / 1000 + 3600,
  expiresAt: START.getTime() / 1000 + 7200,
  status: 'open',
  ...overrides,
});

const decidedAt = '2025-11-25T10:05:00.000Z';
const outcome = (approved: boolean, reason = '') => ({
  approved,
  approver: 'Alice',
  reason,
  decidedAt,
  planSha256: 'f'.repeat(64),
});

describe('sentences', () => {
  it('outcomeSentence says who decided, and a rejection its reason', () => {
    expect(outcomeSentence({})).toBe('');
    expect(outcomeSentence({ outcome: outcome(true) })).toMatch(
      /^The run was approved by Alice at /,
    );
    expect(outcomeSentence({ outcome: outcome(false, 'no') })).toMatch(
      /^The run was rejected by Alice at .*: “no”\.$/,
    );
  });

  it('liveOutcomeSentence ends with exactly one full stop', () => {
    expect(liveOutcomeSentence({ result: 'running', message: 'x' })).toBe(
      'The run is still running.',
    );
    const applied = outcomeOf({ status: 'SUCCEEDED', output: '{}' });
    expect(liveOutcomeSentence({ ...applied, message: 'Applied.  ' })).toBe(
      'Outcome of the run: Applied.',
    );
  });

  it('cleanText drops control characters but keeps newlines and tabs', () => {
    expect(cleanText('  a\r\nb\rc\u0000\u0007\td\u007f\u001b[31m  ')).toBe('a\nb\nc\td[31m');
  });
});

describe('closedPage', () => {
  it('an open, unexpired link on a pending run can still decide', () => {
    expect(closedPage(link(), run(), NOW, CONSOLE)).toBe(undefined);
    expect(leftTheWait(run(), { ...outcomeOf({ status: 'RUNNING' }) })).toBe(false);
  });

  it('says the run ended when Step Functions left the wait without the page', () => {
    const live = outcomeOf({ status: 'ABORTED' });
    expect(leftTheWait(run(), live)).toBe(true);
    const page = closedPage(link(), run(), NOW, CONSOLE, live);
    expect(page?.status).toBe(409);
    expect(page?.body).toContain('This run already ended');
  });

  it('a used link shows your own decision', () => {
    const r = run({
      decisions: {
        alice: {
          approverId: 'alice',
          approverName: 'Alice',
          decision: 'reject',
          reason: 'no',
          decidedAt,
        },
      },
    });
    const page = closedPage(link({ status: 'used' }), r, NOW, CONSOLE);
    expect(page?.status).toBe(409);
    expect(page?.body).toContain('You rejected this run at');
  });

  it('an expired link is 410, a void one 409, a decided run 409', () => {
    expect(
      closedPage(link({ validUntil: NOW.getTime() / 1000 }), run(), NOW, CONSOLE)?.status,
    ).toBe(410);
    expect(closedPage(link({ status: 'void' }), run(), NOW, CONSOLE)?.body).toContain(
      'no longer valid',
    );
    const decided = run({ status: 'approved', outcome: outcome(true) });
    expect(closedPage(link(), decided, NOW, CONSOLE)?.body).toContain('already decided');
  });
});

describe('pages', () => {
  const common = { run: run(), consoleUrl: CONSOLE };

  it('the resend page posts only the recorded decision with the nonce', () => {
    const page = resendPage(
      run(),
      { approverId: 'alice', approverName: 'Alice', decision: 'approve', reason: '', decidedAt },
      'NONCE"<x>',
      CONSOLE,
    );
    expect(page.body).toContain('name="decision" value="approve"');
    expect(page.body).toContain('value="NONCE&quot;&lt;x&gt;"');
  });

  it('sent, waiting and task-gone pages word the outcome', () => {
    const rec = {
      approverId: 'alice',
      approverName: 'Alice',
      decision: 'approve' as const,
      reason: 'ship it',
      decidedAt,
    };
    const sent = sentPage(outcome(true), rec, common);
    expect(sent.body).toContain('Approved: the apply starts now');
    expect(sent.body).toContain('sha256:ffffffffffff…');
    expect(sent.body).toContain('Your comment, which the requester sees: “ship it”');
    expect(waitingPage(1, 2, common).body).toContain('1 of 2 required approvals so far');
    expect(taskGonePage('TaskTimedOut', common).status).toBe(410);
    expect(taskGonePage('TaskDoesNotExist', common).status).toBe(409);
  });

  it('fixed pages carry their status and the Allow header', () => {
    expect(FIXED_PAGES.methodNotAllowed('GET, POST')).toMatchObject({
      status: 405,
      headers: { allow: 'GET, POST' },
    });
    expect(FIXED_PAGES.notFound().headers).toBe(undefined);
    expect(FIXED_PAGES.failed('abc123').body).toContain('abc123');
    expect(FIXED_PAGES.badNonce(true).body).toContain('within 30 minutes');
  });
});
