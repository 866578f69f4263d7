import { describe, expect, it } from 'vitest';
import {
  approvalChannelSummary,
  approvalRequestEmail,
  approvalRequestSlack,
  formatTime,
  MAX_LISTED_CHANGES,
  MAX_SLACK_CHANGE_SECTIONS,
  orderedChanges,
  resultEmail,
  resultSlack,
} from '../../handlers/shared/messages';
import type { PlanResult } from '../../lib/contracts';
import { decisionDeadline, formatDeadline } from '../../lib/deadline';
import { planResult, request, START } from './support/fixtures';

/**
 * Destroys are never buried (issue 12): every destroyed and replaced address is named in the
 * email and in Slack, destroys before replaces; only the other changes are capped, and the
 * messages say how many were left out.
 */

const input = (plan: PlanResult) => ({
  request,
  plan,
  consoleUrl: 'https://console.aws.amazon.com/states/home#/v2/executions/details/x',
  approverName: 'Alice Admin',
  validUntil: new Date(START.getTime() + 3600_000),
  approvalsRequired: 1,
  link: 'https://approve.example.com/a/capability',
});

/** A plan with `destroys` destroys, 2 replaces (listed first, as a runner may), and `others` creates. */
function bigPlan(destroys: number, others: number, unlisted = 0): PlanResult {
  return planResult({
    counts: { add: others, change: 0, destroy: destroys + unlisted, replace: 2 },
    changes: [
      { address: 'aws_db.swap[0]', actions: ['delete', 'create'] },
      { address: 'aws_db.swap[1]', actions: ['create', 'delete'] },
      ...Array.from({ length: destroys }, (_, i) => ({
        address: `module.data.aws_s3_bucket.gone[${i}]`,
        actions: ['delete' as const],
      })),
      ...Array.from({ length: others }, (_, i) => ({
        address: `aws_sqs_queue.new[${i}]`,
        actions: ['create' as const],
      })),
    ],
    changesOmitted: unlisted,
  });
}

const sectionText = (b: unknown) => (b as { text?: { text?: string } }).text?.text ?? '';
const slackText = (m: { blocks: readonly unknown[] }) => m.blocks.map(sectionText).join('\n');

describe('the approval messages name every destroy', () => {
  it('orders destroys before replaces, each in plan order', () => {
    expect(orderedChanges(bigPlan(2, 1)).destructive.map((c) => `${c.kind} ${c.address}`)).toEqual([
      'destroy module.data.aws_s3_bucket.gone[0]',
      'destroy module.data.aws_s3_bucket.gone[1]',
      'replace aws_db.swap[0]',
      'replace aws_db.swap[1]',
    ]);
  });

  it('email: 300 destroys all named (text and HTML), destroys first, other changes capped and counted', () => {
    const mail = approvalRequestEmail(input(bigPlan(300, 50)));
    for (const m of [mail.text, mail.html]) {
      for (let i = 0; i < 300; i++) expect(m).toContain(`module.data.aws_s3_bucket.gone[${i}]`);
      expect(m.indexOf('gone[299]')).toBeLessThan(m.indexOf('aws_db.swap[0]'));
      expect(m).toContain(`aws_sqs_queue.new[${MAX_LISTED_CHANGES - 1}]`);
      expect(m).not.toContain(`aws_sqs_queue.new[${MAX_LISTED_CHANGES}]`);
      expect(m).toContain(`and ${50 - MAX_LISTED_CHANGES} more`);
    }
  });

  it('Slack: 300 destroys all named across sections of at most 3000 characters', () => {
    for (const message of [
      approvalRequestSlack(input(bigPlan(300, 50))),
      approvalChannelSummary({ ...input(bigPlan(300, 50)), approverNames: ['Alice Admin'] }),
    ]) {
      const text = slackText(message);
      for (let i = 0; i < 300; i++)
        expect(text).toContain(`module.data.aws_s3_bucket.gone[${i}]\``);
      expect(text.indexOf('gone[299]')).toBeLessThan(text.indexOf('aws_db.swap[0]'));
      expect(message.blocks.length).toBeLessThanOrEqual(50);
      for (const b of message.blocks) expect(sectionText(b).length).toBeLessThanOrEqual(3000);
    }
  });

  it('Slack: when even 40 sections cannot hold them, says how many are named only on the page and in the email', () => {
    const plan = planResult({
      counts: { add: 0, change: 0, destroy: 500, replace: 0 },
      changes: Array.from({ length: 500 }, (_, i) => ({
        address: `module.${'very_long_module_name_'.repeat(12)}.aws_s3_bucket.gone[${i}]`,
        actions: ['delete' as const],
      })),
    });
    const message = approvalRequestSlack(input(plan));
    const text = slackText(message);
    expect(message.blocks.length).toBeLessThanOrEqual(50);
    const named = (text.match(/aws_s3_bucket\.gone\[/g) ?? []).length;
    expect(named).toBeGreaterThan(100);
    expect(named).toBeLessThan(500);
    expect(text).toContain(
      `... and ${500 - named} more destroyed or replaced: they do not fit in Slack; the approval page and the email name every one`,
    );
    expect(MAX_SLACK_CHANGE_SECTIONS).toBe(40);
  });

  it('says plainly when destroys exceed what the plan result can name, and that approval is blocked', () => {
    const plan = bigPlan(3, 0, 4);
    const expected =
      '4 more destroyed or replaced resources are not named: the plan destroys or replaces more than a run can list (500). Approval is blocked; split the change.';
    const mail = approvalRequestEmail(input(plan));
    expect(mail.text).toContain(expected);
    expect(mail.html).toContain(expected);
    expect(slackText(approvalRequestSlack(input(plan)))).toContain(expected);
  });

  it('shows control and bidi characters in addresses as escapes', () => {
    const plan = planResult({
      counts: { add: 0, change: 0, destroy: 1, replace: 0 },
      changes: [{ address: 'aws_x.y["a\u202eb\rc"]', actions: ['delete'] }],
    });
    const mail = approvalRequestEmail(input(plan));
    expect(mail.text).toContain('DESTROY aws_x.y["a\\u202Eb␍c"]');
    expect(mail.text).not.toMatch(/[\u202e\r]/);
    expect(slackText(approvalRequestSlack(input(plan)))).toContain('aws_x.y["a\\u202Eb␍c"]');
  });
});

describe('what the newcomer and the approver stumbled on (issue 17)', () => {
  it('the approval email has no empty plan log line or link when the log is not known', () => {
    const known = approvalRequestEmail(input(planResult()));
    expect(known.text).toContain(`Plan log: ${planResult().logUrl}`);
    expect(known.html).toContain('>Plan log</a>');
    for (const logUrl of ['', '#']) {
      const email = approvalRequestEmail(input(planResult({ logUrl })));
      expect(email.text).not.toContain('Plan log');
      expect(email.html).not.toContain('Plan log');
      expect(email.html).not.toContain('href="#"');
      expect(slackText(approvalRequestSlack(input(planResult({ logUrl }))))).not.toContain(
        'Plan log',
      );
    }
  });

  it('one deadline rule: the CLI and the messages show the same minute', () => {
    // A wait that starts at 15:00:30 with 1 h to decide: the links close at 15:59:30.
    const start = Date.UTC(2026, 10, 26, 15, 0, 30) / 1000;
    const deadline = new Date(decisionDeadline(start, 3600) * 1000);
    expect(formatTime(deadline)).toBe('2026-11-26 15:59 UTC');
    expect(formatDeadline(deadline)).toBe(formatTime(deadline));
    expect(decisionDeadline(start, 3600, start + 600)).toBe(start + 600);
  });

  it('the result messages echo the approver’s comment', () => {
    const result = {
      kind: 'applied' as const,
      request,
      plan: planResult(),
      consoleUrl: 'https://console.aws.amazon.com/states/home#/v2/executions/details/x',
      approver: 'Alice Admin',
      comment: 'after the DB backup',
    };
    expect(resultEmail(result).text).toContain(
      'The approved plan was applied (approved by Alice Admin: “after the DB backup”).',
    );
    expect(resultEmail(result).html).toContain('“after the DB backup”');
    expect(slackText(resultSlack(result))).toContain('“after the DB backup”');
    expect(resultEmail({ ...result, comment: undefined }).text).toContain(
      '(approved by Alice Admin).',
    );
  });
});
