import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { summarizePlan } from '../../containers/runner/src/summary';
import {
  checkPlanText,
  compareChanges,
  jsonAction,
  unlistedDestructive,
} from '../../handlers/shared/plan-check';
import { parsePlanText } from '../../handlers/shared/plan-text';
import type { PlanResult } from '../../lib/contracts';

/**
 * The plan text against the JSON plan (handlers/shared/plan-check.ts): tables of texts that
 * disagree with their plan, then the ones that agree.
 */

type Plan = Pick<PlanResult, 'changes' | 'counts' | 'changesOmitted'>;

const FIXTURES = join(__dirname, '..', 'browser', 'fixtures', 'plan-text');

const header = (address: string, words: string, symbol: string, type = 'aws_x') => [
  `  # ${address} ${words}`,
  `${symbol} resource "${type}" "${address.split('.')[1]?.replace(/\[.*$/, '')}" {`,
  '      id = "x"',
  '    }',
  '',
];

/** A Terraform-shaped text: one block per change, and the totals Terraform prints. */
function textOf(
  blocks: readonly (readonly [string, 'create' | 'update' | 'destroy' | 'replace'])[],
  totals?: string,
): string {
  const words = {
    create: ['will be created', '  +'],
    update: ['will be updated in-place', '  ~'],
    destroy: ['will be destroyed', '  -'],
    replace: ['must be replaced', '-/+'],
  } as const;
  const lines = ['Terraform will perform the following actions:', ''];
  for (const [address, action] of blocks) {
    const [said, symbol] = words[action];
    lines.push(...header(address, said, symbol));
  }
  const n = (a: string) => blocks.filter(([, b]) => b === a).length;
  lines.push(
    totals ??
      `Plan: ${n('create') + n('replace')} to add, ${n('update')} to change, ${n('destroy') + n('replace')} to destroy.`,
  );
  return lines.join('\n');
}

const BASE: Plan = {
  counts: { add: 1, change: 1, destroy: 1, replace: 1 },
  changes: [
    { address: 'aws_x.gone', actions: ['delete'] },
    { address: 'aws_x.swap', actions: ['delete', 'create'] },
    { address: 'aws_x.edit', actions: ['update'] },
    { address: 'aws_x.new', actions: ['create'] },
  ],
  changesOmitted: 0,
};
const BASE_TEXT: [string, 'create' | 'update' | 'destroy' | 'replace'][] = [
  ['aws_x.gone', 'destroy'],
  ['aws_x.swap', 'replace'],
  ['aws_x.edit', 'update'],
  ['aws_x.new', 'create'],
];

const messages = (text: string, plan: Plan = BASE) =>
  checkPlanText(parsePlanText(text), plan).disagreements.map((d) =>
    d.address === undefined ? d.message : `${d.address}: ${d.message}`,
  );

describe('checkPlanText: texts that disagree with their plan', () => {
  it.each<[string, string, Plan, string[]]>([
    [
      'a destroy shown as an update',
      textOf([['aws_x.gone', 'update'], ...BASE_TEXT.slice(1)]),
      BASE,
      [
        'aws_x.gone: the plan text shows update, but the JSON plan will destroy it',
        "the plan text's totals say 2 to change, the JSON plan 1",
        "the plan text's totals say 1 to destroy, the JSON plan 2",
        'the plan text shows 0 destroy blocks, the JSON plan counts 1',
        'the plan text shows 2 update blocks, the JSON plan counts 1',
      ],
    ],
    [
      'a destroy left out of the text',
      textOf(BASE_TEXT.slice(1), 'Plan: 2 to add, 1 to change, 2 to destroy.'),
      BASE,
      [
        'aws_x.gone: the JSON plan will destroy it, but the plan text does not show it as a change',
        'the plan text shows 0 destroy blocks, the JSON plan counts 1',
      ],
    ],
    [
      'a phantom block the plan does not have',
      textOf(
        [...BASE_TEXT, ['aws_x.phantom', 'destroy']],
        'Plan: 2 to add, 1 to change, 2 to destroy.',
      ),
      BASE,
      [
        'aws_x.phantom: the plan text shows destroy, but the JSON plan does not change it',
        'the plan text shows 2 destroy blocks, the JSON plan counts 1',
      ],
    ],
    [
      'forged totals',
      textOf(BASE_TEXT, 'Plan: 0 to add, 0 to change, 0 to destroy.'),
      BASE,
      [
        "the plan text's totals say 0 to add, the JSON plan 2",
        "the plan text's totals say 0 to change, the JSON plan 1",
        "the plan text's totals say 0 to destroy, the JSON plan 2",
      ],
    ],
    [
      'no totals at all',
      textOf(BASE_TEXT, ''),
      BASE,
      [
        'the plan text has no "Plan:" totals, but the JSON plan has 2 to add, 1 to change, 2 to destroy',
      ],
    ],
    [
      'a destroy moved under “changed outside”',
      [
        'Note: Objects have changed outside of Terraform',
        '',
        ...header('aws_x.gone', 'will be destroyed', '  -'),
        'Terraform will perform the following actions:',
        '',
        ...textOf(BASE_TEXT.slice(1), 'Plan: 2 to add, 1 to change, 2 to destroy.').split('\n'),
      ].join('\n'),
      BASE,
      [
        'aws_x.gone: the JSON plan will destroy it, but the plan text does not show it as a change',
        'the plan text shows 0 destroy blocks, the JSON plan counts 1',
      ],
    ],
    [
      'an address that differs by a bidi override',
      textOf([['aws_x.gone\u202e', 'destroy'], ...BASE_TEXT.slice(1)]),
      BASE,
      [
        'aws_x.gone: the JSON plan will destroy it, but the plan text does not show it as a change',
        'the plan text shows 0 destroy blocks, the JSON plan counts 1',
      ],
    ],
    [
      'a block in words this page does not know',
      textOf(BASE_TEXT).replace(
        'Plan:',
        '  # aws_x.odd will be frobnicated\n~/+ resource "aws_x" "odd" {\n    }\n\nPlan:',
      ),
      BASE,
      ['aws_x.odd: the plan text shows a change this page does not recognize'],
    ],
  ])('%s', (_, text, plan, expected) => {
    expect(messages(text, plan)).toEqual(expected);
  });

  it('names destroys and replaces the plan result could not list, and blocks on them', () => {
    const plan: Plan = {
      counts: { add: 0, change: 0, destroy: 3, replace: 0 },
      changes: [
        { address: 'aws_x.a', actions: ['delete'] },
        { address: 'aws_x.b', actions: ['delete'] },
      ],
      changesOmitted: 1,
    };
    expect(unlistedDestructive(plan)).toBe(1);
    const text = textOf([
      ['aws_x.a', 'destroy'],
      ['aws_x.b', 'destroy'],
      ['aws_x.c', 'destroy'],
    ]);
    expect(messages(text, plan)).toEqual([
      '1 destroyed or replaced resource is not listed in the JSON plan result (it lists at most 2 changes), so they cannot be checked by name',
    ]);
  });

  it('with a capped JSON list: checks totals, every destroy and replace, and the listed changes', () => {
    const plan: Plan = {
      counts: { add: 3, change: 0, destroy: 1, replace: 0 },
      changes: [
        { address: 'aws_x.gone', actions: ['delete'] },
        { address: 'aws_x.n0', actions: ['create'] },
      ],
      changesOmitted: 2,
    };
    const agreeing = textOf([
      ['aws_x.gone', 'destroy'],
      ['aws_x.n0', 'create'],
      ['aws_x.n1', 'create'],
      ['aws_x.n2', 'create'],
    ]);
    expect(checkPlanText(parsePlanText(agreeing), plan)).toEqual({
      disagreements: [],
      partial: true,
    });
    // An extra destroy is caught by name even though the list is capped.
    expect(
      messages(
        textOf([
          ['aws_x.gone', 'destroy'],
          ['aws_x.n0', 'create'],
          ['aws_x.n1', 'destroy'],
          ['aws_x.n2', 'create'],
        ]),
        plan,
      ),
    ).toEqual([
      'aws_x.n1: the plan text shows destroy, but the JSON plan does not destroy or replace it',
      "the plan text's totals say 2 to add, the JSON plan 3",
      "the plan text's totals say 2 to destroy, the JSON plan 1",
      'the plan text shows 2 destroy blocks, the JSON plan counts 1',
      'the plan text shows 2 create blocks, the JSON plan counts 3',
    ]);
    // A listed change missing from the text is caught too.
    expect(
      messages(
        textOf([
          ['aws_x.gone', 'destroy'],
          ['aws_x.n1', 'create'],
          ['aws_x.n2', 'create'],
          ['aws_x.n3', 'create'],
        ]),
        plan,
      ),
    ).toEqual([
      'aws_x.n0: the JSON plan will create it, but the plan text does not show it as a change',
    ]);
  });
});

describe('checkPlanText: texts that agree with their plan', () => {
  it('the plan the test builds', () => {
    expect(checkPlanText(parsePlanText(textOf(BASE_TEXT)), BASE)).toEqual({
      disagreements: [],
      partial: false,
    });
  });

  it('a plan with no changes, and an output-only plan', () => {
    const none = {
      counts: { add: 0, change: 0, destroy: 0, replace: 0 },
      changes: [],
      changesOmitted: 0,
    };
    expect(
      messages('\nNo changes. Your infrastructure matches the configuration.\n', none),
    ).toEqual([]);
    expect(messages('\nChanges to Outputs:\n  + o = "x"\n', none)).toEqual([]);
  });

  it('reads, moves, imports, drift and a deposed object are matched as Terraform prints them', () => {
    const text = [
      'Note: Objects have changed outside of Terraform',
      '',
      ...header('aws_x.drifted', 'has changed', '  ~'),
      'Terraform will perform the following actions:',
      '',
      ...header('data.aws_x.read', 'will be read during apply', ' <=').map((l) =>
        l.replace('resource', 'data'),
      ),
      '  # aws_x.old has moved to aws_x.new_name',
      '    resource "aws_x" "new_name" {',
      '    }',
      '',
      ...header('aws_x.swap', 'must be replaced', '+/-'),
      ...header('aws_x.swap (deposed object 1a2b3c4d)', 'will be destroyed', '  -'),
      'Plan: 1 to add, 0 to change, 2 to destroy.',
    ].join('\n');
    const plan: Plan = {
      counts: { add: 0, change: 0, destroy: 1, replace: 1 },
      changes: [
        { address: 'aws_x.swap', actions: ['delete'] },
        { address: 'aws_x.swap', actions: ['create', 'delete'] },
      ],
      changesOmitted: 0,
    };
    expect(messages(text, plan)).toEqual([]);
  });

  it('maps JSON actions as the text names them', () => {
    expect(
      [
        ['create'],
        ['update'],
        ['delete'],
        ['delete', 'create'],
        ['create', 'delete'],
        ['create', 'forget'],
        ['forget'],
        ['read'],
        ['no-op'],
      ].map((a) => jsonAction(a)),
    ).toEqual([
      'create',
      'update',
      'destroy',
      'replace',
      'replace',
      'replace',
      'forget',
      undefined,
      undefined,
    ]);
  });

  it('compares per address, each way', () => {
    const a = { address: 'a', action: 'create' } as const;
    const b = { address: 'b', action: 'destroy' } as const;
    expect(compareChanges([a, b], [b, a], { complete: true, destructiveComplete: true })).toEqual(
      [],
    );
    expect(compareChanges([a], [a, b], { complete: true, destructiveComplete: true })).toHaveLength(
      1,
    );
    expect(compareChanges([a, b], [a], { complete: true, destructiveComplete: true })).toHaveLength(
      1,
    );
  });
});

describe('real Terraform: the text and show -json of one plan agree', () => {
  it('the hostile fixture (CR, bidi, NUL, ESC in values) agrees with its JSON plan', () => {
    const text = readFileSync(join(FIXTURES, 'hostile', 'plan.txt'), 'utf8');
    const json = readFileSync(join(FIXTURES, 'hostile', 'plan.json'), 'utf8');
    const summary = summarizePlan(json, 2);
    expect(summary.counts).toEqual({ add: 1, change: 0, destroy: 1, replace: 1 });
    expect(checkPlanText(parsePlanText(text), summary)).toEqual({
      disagreements: [],
      partial: false,
    });
  });

  it('a lifecycle plan (moved, removed with destroy = false, tainted, create_before_destroy, for_each key gone) agrees with its JSON plan', () => {
    const dir = join(FIXTURES, 'lifecycle');
    const summary = summarizePlan(readFileSync(join(dir, 'plan.json'), 'utf8'), 2);
    expect(summary.counts).toEqual({ add: 1, change: 1, destroy: 1, replace: 2 });
    const text = parsePlanText(readFileSync(join(dir, 'plan.txt'), 'utf8'));
    expect(checkPlanText(text, summary)).toEqual({ disagreements: [], partial: false });
    // Change one action in the JSON plan and the same text disagrees.
    const changed = {
      ...summary,
      changes: summary.changes.map((c) =>
        c.address === 'terraform_data.upd' ? { ...c, actions: ['delete' as const] } : c,
      ),
    };
    expect(checkPlanText(text, changed).disagreements[0]).toEqual({
      address: 'terraform_data.upd',
      message: 'the plan text shows update, but the JSON plan will destroy it',
    });
  });

  const TERRAFORM = '/usr/local/bin/terraform';
  const hasTerraform = existsSync(TERRAFORM);
  if (!hasTerraform)
    console.warn(`skipping the live Terraform check: ${TERRAFORM} is not installed`);

  it.skipIf(!hasTerraform)(
    'a plan made now by real Terraform: raw characters kept, nothing forged, text and JSON agree',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'dr-hostile-plan-'));
      try {
        for (const f of ['before.tf.txt', 'main.tf.txt', 'generate.sh'])
          copyFileSync(join(FIXTURES, 'hostile', f), join(dir, f));
        execFileSync('sh', ['generate.sh'], {
          cwd: dir,
          env: { ...process.env, PATH: `/usr/local/bin:${process.env.PATH ?? ''}` },
          stdio: 'pipe',
        });
        const text = readFileSync(join(dir, 'plan.txt'), 'utf8');
        expect(text).toContain('\rPlan: 0 to add, 0 to change, 0 to destroy.');
        expect(text).toContain('\u202eevil');
        const parsed = parsePlanText(text);
        expect(parsed.summaryLine).toBe('Plan: 2 to add, 0 to change, 2 to destroy.');
        expect(parsed.resources.map((r) => `${r.section} ${r.action} ${r.address}`)).toEqual([
          'changes create terraform_data.a_payload',
          'changes replace terraform_data.replaced',
          'changes destroy terraform_data.z_victim',
        ]);
        const summary = summarizePlan(readFileSync(join(dir, 'plan.json'), 'utf8'), 2);
        expect(checkPlanText(parsed, summary).disagreements).toEqual([]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
