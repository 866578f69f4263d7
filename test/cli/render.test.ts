import { describe, expect, it } from 'vitest';
import { outcomeOf } from '../../lib/cli/exit-codes';
import type { FollowEvent, PlanSummary } from '../../lib/cli/history';
import {
  formatDuration,
  formatPlanSummary,
  Renderer,
  renderSettings,
  stripAnsi,
} from '../../lib/cli/render';
import { EXECUTION_ARN, FakeStream, planSummary } from './fixtures';

const NOW = Date.UTC(2026, 10, 25, 17, 0, 0);
const at = new Date(NOW);

const story: FollowEvent[] = [
  { type: 'state', name: 'Plan', at },
  {
    type: 'log',
    state: 'Plan',
    taskId: 'plan0task1',
    at,
    message: '\x1b[1mPlan:\x1b[0m 2 to add',
  },
  { type: 'plan', summary: planSummary() as PlanSummary },
  {
    type: 'approval-requested',
    approvers: ['Alice <alice@example.com>', 'bob@example.com'],
    approvalsRequired: 2,
    expiresAt: new Date(NOW + 86_400_000),
  },
  {
    type: 'result',
    executionArn: EXECUTION_ARN,
    ...outcomeOf({
      status: 'FAILED',
      error: 'DeployRunner.Rejected',
      cause: 'Rejected by bob@example.com: no',
    }),
  },
];

function render(isTTY: boolean, env: Record<string, string>, json = false) {
  const stream = new FakeStream(isTTY);
  const renderer = new Renderer({ stream, env, json, spinner: false, now: () => NOW });
  for (const event of story) renderer.event(event);
  renderer.close();
  return { renderer, text: stream.text };
}

const HAS_ANSI = /\x1b\[/;

describe('renderSettings', () => {
  it.each([
    ['terminal', true, {}, false, { mode: 'tty', color: true }],
    ['terminal with NO_COLOR', true, { NO_COLOR: '1' }, false, { mode: 'tty', color: false }],
    ['terminal with empty NO_COLOR', true, { NO_COLOR: '' }, false, { mode: 'tty', color: true }],
    ['terminal in CI', true, { CI: 'true' }, false, { mode: 'plain', color: false }],
    ['pipe', false, {}, false, { mode: 'plain', color: false }],
    ['pipe with FORCE_COLOR', false, { FORCE_COLOR: '1' }, false, { mode: 'plain', color: true }],
    [
      'FORCE_COLOR and NO_COLOR',
      false,
      { FORCE_COLOR: '1', NO_COLOR: '1' },
      false,
      { mode: 'plain', color: false },
    ],
    ['--json on a terminal', true, {}, true, { mode: 'json', color: false }],
    ['terminal with TERM=dumb', true, { TERM: 'dumb' }, false, { mode: 'plain', color: false }],
    [
      'terminal with FORCE_COLOR=0',
      true,
      { FORCE_COLOR: '0' },
      false,
      { mode: 'tty', color: false },
    ],
    [
      'pipe with FORCE_COLOR=false',
      false,
      { FORCE_COLOR: 'false' },
      false,
      { mode: 'plain', color: false },
    ],
    [
      'TERM=dumb with FORCE_COLOR',
      true,
      { TERM: 'dumb', FORCE_COLOR: '1' },
      false,
      { mode: 'plain', color: true },
    ],
  ])('%s', (_label, isTTY, env, json, expected) => {
    expect(renderSettings({ stream: { write: () => true, isTTY }, env, json })).toEqual(expected);
  });
});

describe('Renderer', () => {
  it('echoes the approver’s comment with an approval, as with a rejection', () => {
    const stream = new FakeStream(false);
    const renderer = new Renderer({ stream, env: {}, spinner: false, now: () => NOW });
    renderer.event({
      type: 'approval-decided',
      approved: true,
      approver: 'Alice',
      reason: 'after the DB backup',
    });
    renderer.event({ type: 'approval-decided', approved: true, approver: 'Bob' });
    expect(stream.text).toBe('   Approved by Alice: after the DB backup\n   Approved by Bob\n');
  });

  it('lists in-place updates apart from destroys and replaces', () => {
    const lines = formatPlanSummary({
      ...(planSummary() as PlanSummary),
      counts: { add: 0, change: 1, destroy: 1, replace: 0 },
      changes: [
        { address: 'aws_lambda_function.api', actions: ['update'] },
        { address: 'aws_iam_role.old', actions: ['delete'] },
      ],
      changesOmitted: 0,
    });
    const heading = lines.indexOf('   Destroys or replaces:');
    const other = lines.indexOf('   Other changes:');
    expect(lines.slice(heading, heading + 2)).toEqual([
      '   Destroys or replaces:',
      '     - aws_iam_role.old',
    ]);
    expect(other).toBeGreaterThan(heading);
    expect(lines.indexOf('     ~ aws_lambda_function.api')).toBeGreaterThan(other);
  });

  it('terminal: colours, markers, log gutter', () => {
    const { text } = render(true, {});
    expect(text).toMatch(HAS_ANSI);
    expect(stripAnsi(text)).toContain('17:00:00 ▸ Plan');
    expect(stripAnsi(text)).toContain('   │ Plan: 2 to add');
    expect(stripAnsi(text)).toContain('✖ Rejected by bob@example.com: no (exit 3)');
  });

  it('plain (CI logs): no escapes at all, ASCII markers, the task in each log line', () => {
    const { text } = render(false, {});
    expect(text).not.toMatch(HAS_ANSI);
    expect(text).toBe(
      [
        '17:00:00 -> Plan',
        '   plan | Plan: 2 to add',
        '   Plan: 2 to add, 1 to change, 1 to destroy, 1 to replace (terraform 1.9.8, commit abc1234)',
        '   Destroys or replaces:',
        '     -/+ aws_instance.web',
        '     - aws_iam_role.old',
        '   Other changes:',
        '     + aws_s3_bucket.logs',
        '     + aws_sqs_queue.jobs',
        '     ~ aws_lambda_function.api',
        '   Waiting for approval from Alice <alice@example.com>, bob@example.com (2 approvals needed); expires 2026-11-26 17:00 UTC (in 1d 0h)',
        'FAILED Rejected by bob@example.com: no (exit 3)',
        '',
      ].join('\n'),
    );
  });

  it("GitHub Actions: each task's output folds into a group", () => {
    const stream = new FakeStream(false);
    const renderer = new Renderer({ stream, env: { GITHUB_ACTIONS: 'true', CI: 'true' } });
    const taskArn = 'arn:aws:ecs:eu-west-1:123456789012:task/c/abc123';
    renderer.event({ type: 'state', name: 'Plan', at });
    renderer.event({ type: 'task-started', state: 'Plan', taskArn });
    renderer.event({ type: 'log', state: 'Plan', taskId: 'abc123', message: 'init' });
    renderer.event({ type: 'state', name: 'Inspect plan', at });
    renderer.close();
    expect(stream.text).toBe(
      [
        '17:00:00 -> Plan',
        '::group::Plan output (task abc123)',
        `   Plan runs as ECS task ${taskArn}`,
        '   plan | init',
        '::endgroup::',
        '17:00:00 -> Inspect plan',
        '',
      ].join('\n'),
    );
  });

  it('NO_COLOR on a terminal: the terminal layout without colour', () => {
    const { text } = render(true, { NO_COLOR: '1' });
    expect(text).not.toMatch(HAS_ANSI);
    expect(text).toContain('▸ Plan');
  });

  it('--json: one parseable object per line and nothing else', () => {
    const { text } = render(true, {}, true);
    const records = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(records.map((r) => r.type)).toEqual([
      'state',
      'log',
      'plan',
      'approval-requested',
      'result',
    ]);
    expect(records[0]).toEqual({ type: 'state', name: 'Plan', at: '2026-11-25T17:00:00.000Z' });
    expect(records[4]).toMatchObject({
      exitCode: 3,
      result: 'rejected',
      error: 'DeployRunner.Rejected',
    });
  });

  it('terminal spinner: redraws a status line and clears it before each printed line', async () => {
    const stream = new FakeStream(true);
    const renderer = new Renderer({ stream, env: { NO_COLOR: '1' }, now: () => NOW + 65_000 });
    renderer.event({ type: 'state', name: 'Plan', at });
    await new Promise((resolve) => setTimeout(resolve, 250));
    renderer.line('next');
    renderer.close();
    expect(stream.text).toContain('Plan (1m 05s)');
    expect(stream.text).toContain('\r\x1b[Knext\n');
    expect(stream.text.endsWith('\r\x1b[K')).toBe(true);
  });

  it('no spinner outside a terminal', async () => {
    const stream = new FakeStream(false);
    const renderer = new Renderer({ stream, env: {} });
    renderer.event({ type: 'state', name: 'Plan', at });
    await new Promise((resolve) => setTimeout(resolve, 150));
    renderer.close();
    expect(stream.text).toBe('17:00:00 -> Plan\n');
  });
});

describe('formatPlanSummary', () => {
  it('says "no changes" plainly', () => {
    expect(formatPlanSummary({ ...(planSummary() as PlanSummary), hasChanges: false })).toEqual([
      '   Plan: no changes (terraform 1.9.8, commit abc1234)',
    ]);
  });

  it('lists every destructive change but caps the rest', () => {
    const changes: PlanSummary['changes'] = [
      ...Array.from({ length: 30 }, (_, i) => ({
        address: `aws_sqs_queue.q${i}`,
        actions: ['create' as const],
      })),
      { address: 'aws_db_instance.main', actions: ['delete'] },
    ];
    const lines = formatPlanSummary({
      ...(planSummary() as PlanSummary),
      changes,
      changesOmitted: 5,
    });
    expect(lines[2]).toBe('     - aws_db_instance.main');
    expect(lines.at(-1)).toBe('     ... and 15 more');
  });
});

it('formatDuration', () => {
  expect([0, 42_000, 187_000, 3_900_000, 90_000_000, -5].map(formatDuration)).toEqual([
    '0s',
    '42s',
    '3m 07s',
    '1h 05m',
    '1d 1h',
    '0s',
  ]);
});
