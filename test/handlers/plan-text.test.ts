import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  groupResources,
  type ParsedPlanText,
  parsePlanText,
} from '../../handlers/shared/plan-text';
import { visibleHtml, visibleText } from '../../handlers/shared/visible';
import { runSim } from '../../tools/terraform-sim/sim';

/**
 * The plan text parser against Terraform's own output (`terraform show -no-color` of a real
 * Terraform 1.11 plan, regenerated with terraform_data resources), a realistic AWS plan in the
 * same format, the simulator's output, and text it was never meant to read.
 */

const FIXTURES = join(__dirname, '..', 'browser', 'fixtures', 'plan-text');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

const summaryOf = (plan: ParsedPlanText) => plan.resources.map((r) => `${r.action} ${r.address}`);
const find = (plan: ParsedPlanText, address: string) => {
  const found = plan.resources.find((r) => r.address === address);
  if (!found) throw new Error(`no resource ${address} in ${summaryOf(plan).join(', ')}`);
  return found;
};

describe('real Terraform 1.11 output', () => {
  const plan = parsePlanText(fixture('terraform-1.11.txt'));

  it('finds every resource with its action, in the order of the text', () => {
    expect(summaryOf(plan)).toEqual([
      'read data.terraform_remote_state.net',
      'replace terraform_data.app_config',
      'destroy terraform_data.by_key["b"]',
      'replace terraform_data.cache',
      'create terraform_data.counted[0]',
      'create terraform_data.counted[1]',
      'update terraform_data.db_password',
      'forget terraform_data.keep_but_forget',
      'destroy terraform_data.legacy_worker',
      'create terraform_data.new_bucket',
      'move terraform_data.old_name',
      'replace terraform_data.queue_cbd',
      'replace terraform_data.tainted_node',
      'update terraform_data.worker["blue"]',
    ]);
    expect(plan.resources.every((r) => r.section === 'changes')).toBe(true);
  });

  it('keeps Terraform’s words and notes for each header', () => {
    expect(find(plan, 'terraform_data.app_config').headline).toBe('will be replaced, as requested');
    expect(find(plan, 'terraform_data.tainted_node').headline).toBe(
      'is tainted, so must be replaced',
    );
    expect(find(plan, 'terraform_data.old_name').headline).toBe(
      'has moved to terraform_data.new_name',
    );
    expect(find(plan, 'terraform_data.by_key["b"]').notes).toEqual([
      '(because key ["b"] is not in for_each map)',
    ]);
    expect(find(plan, 'terraform_data.worker["blue"]').notes).toEqual([
      '(moved from terraform_data.renamed_and_changed)',
    ]);
    // The forget header is indented by one space, not two.
    expect(find(plan, 'terraform_data.keep_but_forget')).toMatchObject({
      headline: 'will no longer be managed by Terraform, but will not be destroyed',
      notes: ['(destroy = false is set in the configuration)'],
    });
    expect(find(plan, 'data.terraform_remote_state.net').notes).toEqual([
      '(config refers to values not yet known)',
    ]);
  });

  it('keeps each attribute block whole: resource line to closing brace, heredocs and maps inside', () => {
    const app = find(plan, 'terraform_data.app_config');
    expect(app.lines[0]).toBe('-/+ resource "terraform_data" "app_config" {');
    expect(app.lines.at(-1)).toBe('    }');
    expect(app.lines).toContain('          + policy   = <<-EOT');
    expect(app.lines).toContain('          ~ replicas = 2 -> 3');
    expect(app.lines).toContain('        } -> (known after apply)');
    expect(find(plan, 'terraform_data.queue_cbd').lines[0]).toMatch(/^\+\/- resource/);
    expect(find(plan, 'terraform_data.keep_but_forget').lines[0]).toBe(
      ' . resource "terraform_data" "keep_but_forget" {',
    );
    // Sensitive values stay as Terraform masked them.
    expect(find(plan, 'terraform_data.db_password').lines).toContain(
      '      ~ input  = (sensitive value)',
    );
    // Markup in a value is kept as text; escaping is the page's job.
    expect(find(plan, 'terraform_data.new_bucket').lines).toContain(
      '          + bucket = "acme-logs-<script>alert(1)</script>"',
    );
    // No block swallows the next header, the summary or the outputs.
    for (const r of plan.resources) {
      expect(r.lines.some((l) => /^ {1,2}# /.test(l) || /^(Plan|Changes to)/.test(l))).toBe(false);
      expect(r.lines.at(-1)).toBe('    }');
    }
  });

  it('reads the summary line and the output changes', () => {
    expect(plan.summaryLine).toBe('Plan: 7 to add, 2 to change, 6 to destroy.');
    expect(plan.summary).toEqual({ add: 7, change: 2, destroy: 6 });
    expect(plan.noChanges).toBe(false);
    expect(plan.outputs.map((o) => [o.name, o.action])).toEqual([
      ['api_key', 'create'],
      ['computed', 'create'],
      ['endpoint', 'update'],
      ['removed_output', 'delete'],
      ['tags', 'update'],
    ]);
    expect(plan.outputs.find((o) => o.name === 'api_key')?.lines).toEqual([
      '  + api_key        = (sensitive value)',
    ]);
    expect(plan.outputs.find((o) => o.name === 'tags')?.lines).toEqual([
      '  ~ tags           = {',
      '      + owner = "sre"',
      '        # (1 unchanged attribute hidden)',
      '    }',
    ]);
  });

  it('groups destroys, replaces, updates, creates, then the rest', () => {
    expect(
      groupResources(plan.resources).map((g) => [g.key, g.resources.map((r) => r.address)]),
    ).toEqual([
      ['destroy', ['terraform_data.by_key["b"]', 'terraform_data.legacy_worker']],
      [
        'replace',
        [
          'terraform_data.app_config',
          'terraform_data.cache',
          'terraform_data.queue_cbd',
          'terraform_data.tainted_node',
        ],
      ],
      ['update', ['terraform_data.db_password', 'terraform_data.worker["blue"]']],
      [
        'create',
        ['terraform_data.counted[0]', 'terraform_data.counted[1]', 'terraform_data.new_bucket'],
      ],
      [
        'other',
        [
          'data.terraform_remote_state.net',
          'terraform_data.keep_but_forget',
          'terraform_data.old_name',
        ],
      ],
    ]);
  });
});

describe('a realistic AWS plan (nested blocks, drift, jsonencode, heredoc, moved)', () => {
  const plan = parsePlanText(fixture('aws-realistic.txt'));

  it('tells drift from planned changes', () => {
    expect(summaryOf(plan)).toEqual([
      'drift aws_security_group.api',
      'read data.aws_iam_policy_document.assume',
      'replace aws_db_instance.main',
      'update aws_iam_role_policy.deploy',
      'update aws_instance.web[0]',
      'destroy aws_s3_bucket.old_logs',
      'update aws_security_group.api',
      'create aws_sqs_queue.jobs',
      'create aws_ssm_parameter.api_key',
      'create module.dns.aws_route53_record.api["eu-west-1"]',
      'move aws_lb_listener.https',
    ]);
    expect(plan.resources[0]).toMatchObject({ section: 'drift', headline: 'has changed' });
    expect(plan.resources.slice(1).every((r) => r.section === 'changes')).toBe(true);
  });

  it('keeps nested blocks, blank lines inside a block and hidden-attribute comments', () => {
    const web = find(plan, 'aws_instance.web[0]');
    expect(web.lines).toContain('      ~ root_block_device {');
    expect(web.lines).toContain('');
    expect(web.lines).toContain('        # (4 unchanged blocks hidden)');
    expect(web.lines).toContain('            #!/bin/bash');
    expect(web.lines.at(-1)).toBe('    }');
    const policy = find(plan, 'data.aws_iam_policy_document.assume');
    expect(policy.lines).toContain('          + principals {');
    expect(policy.lines.at(-1)).toBe('    }');
    expect(find(plan, 'aws_iam_role_policy.deploy').lines).toContain('        )');
    expect(find(plan, 'aws_db_instance.main').lines).toContain(
      '      ~ identifier                = "main" -> "main-v2" # forces replacement',
    );
  });

  it('reads outputs after the summary', () => {
    expect(plan.summary).toEqual({ add: 4, change: 3, destroy: 2 });
    expect(plan.outputs.map((o) => o.name)).toEqual(['db_endpoint', 'queue_url']);
  });
});

describe('headers in every wording', () => {
  const block = (header: string, symbol = '  ~', notes: string[] = []) =>
    [
      header,
      ...notes,
      `${symbol} resource "aws_instance" "x" {`,
      '        id = "i-1"',
      '    }',
      '',
    ].join('\n');

  it.each([
    ['  # aws_instance.x will be created', '  +', 'create'],
    ['  # aws_instance.x will be updated in-place', '  ~', 'update'],
    ['  # aws_instance.x will be destroyed', '  -', 'destroy'],
    ['  # aws_instance.x must be replaced', '-/+', 'replace'],
    ['  # aws_instance.x must be replaced', '+/-', 'replace'],
    ['  # aws_instance.x is tainted, so must be replaced', '-/+', 'replace'],
    ['  # aws_instance.x will be replaced, as requested', '-/+', 'replace'],
    [
      '  # aws_instance.x will be replaced due to changes in replace_triggered_by',
      '-/+',
      'replace',
    ],
    [
      ' # aws_instance.x must be replaced, but the existing object will not be destroyed',
      ' +/.',
      'replace',
    ],
    ['  # aws_instance.x will be read during apply', ' <=', 'read'],
    ['  # aws_instance.x has moved to aws_instance.y', '   ', 'move'],
    ['  # aws_instance.x will be imported', '   ', 'import'],
    ['  # aws_instance.x will no longer be managed by OpenTofu', '  .', 'forget'],
    [
      ' # aws_instance.x will be removed from Terraform state, but will not be destroyed',
      '  .',
      'forget',
    ],
    ['  # aws_instance.x has been deleted', '  -', 'drift'],
    ['  # aws_instance.x was deferred', '  +', 'deferred'],
  ] as const)('%s', (header, symbol, action) => {
    const [resource] = parsePlanText(block(header, symbol)).resources;
    expect(resource?.action).toBe(action);
    expect(resource?.address).toBe('aws_instance.x');
    expect(resource?.lines).toHaveLength(3);
  });

  it('reads the deposed object, import notes and warnings as written', () => {
    const plan = parsePlanText(
      [
        '  # aws_instance.x (deposed object 1a2b3c4d) will be destroyed',
        '  # (left over from a partially-failed replacement of this instance)',
        '  - resource "aws_instance" "x" {',
        '      - id = "i-old" -> null',
        '    }',
        '',
        '  # aws_instance.y must be replaced',
        '  # (imported from "i-0abc")',
        '  # Warning: this will destroy the imported resource',
        '-/+ resource "aws_instance" "y" {',
        '      ~ ami = "ami-1" -> "ami-2" # forces replacement',
        '    }',
        '',
        '  # aws_instance.z will be imported',
        '  # (config will be generated)',
        '    resource "aws_instance" "z" {',
        '        id = "i-0z"',
        '    }',
      ].join('\n'),
    );
    expect(plan.resources.map((r) => [r.address, r.action, r.notes])).toEqual([
      [
        'aws_instance.x (deposed object 1a2b3c4d)',
        'destroy',
        ['(left over from a partially-failed replacement of this instance)'],
      ],
      [
        'aws_instance.y',
        'replace',
        ['(imported from "i-0abc")', 'Warning: this will destroy the imported resource'],
      ],
      ['aws_instance.z', 'import', ['(config will be generated)']],
    ]);
  });

  it('reads OpenTofu’s wording and a partial plan’s deferred resources', () => {
    const plan = parsePlanText(
      [
        '',
        'Note: This is a partial plan, parts can only be known in the next plan / apply cycle.',
        '',
        '  # aws_instance.later["a"] was deferred',
        '  # (because the number of resource instances is unknown)',
        '  + resource "aws_instance" "later" {',
        '      + id = (known after apply)',
        '    }',
        '',
        '─────────────────────────────────────────────',
        '',
        'OpenTofu will perform the following actions:',
        '',
        '  # aws_instance.now will be created',
        '  + resource "aws_instance" "now" {}',
        '',
        'Plan: 1 to add, 0 to change, 0 to destroy, 1 to forget.',
      ].join('\n'),
    );
    expect(plan.resources.map((r) => [r.address, r.action, r.section])).toEqual([
      ['aws_instance.later["a"]', 'deferred', 'deferred'],
      ['aws_instance.now', 'create', 'changes'],
    ]);
    expect(plan.resources[1]?.lines).toEqual(['  + resource "aws_instance" "now" {}']);
    expect(plan.summary).toEqual({ add: 1, change: 0, destroy: 0, forget: 1 });
  });

  it('takes a header in words it does not know when a resource line follows it', () => {
    const plan = parsePlanText(
      [
        '  # aws_instance.x will be frobnicated',
        '  # (because the future is here)',
        '  ~ resource "aws_instance" "x" {',
        '      ~ a = 1 -> 2',
        '    }',
        '  # just a comment that heads nothing',
        'Some banner text',
      ].join('\n'),
    );
    expect(plan.resources).toEqual([
      {
        address: 'aws_instance.x',
        action: 'update',
        headline: 'will be frobnicated',
        notes: ['(because the future is here)'],
        lines: ['  ~ resource "aws_instance" "x" {', '      ~ a = 1 -> 2', '    }'],
        section: 'changes',
      },
    ]);
  });

  it('splits the address from the words even when a key contains the words', () => {
    const [r] = parsePlanText(
      block('  # aws_s3_object.o["will be destroyed <script>x</script>"] will be destroyed', '  -'),
    ).resources;
    expect(r?.address).toBe('aws_s3_object.o["will be destroyed <script>x</script>"]');
    expect(r?.headline).toBe('will be destroyed');
  });
});

describe('the simulator’s output', () => {
  it('is read like Terraform’s: create, update, replace (-/+ and +/-), destroy, sensitive, outputs', () => {
    const root = mkdtempSync(join(tmpdir(), 'plan-text-sim-'));
    try {
      const moduleDir = join(root, 'repo', 'envs', 'prod');
      mkdirSync(join(root, 'repo', '.git'), { recursive: true });
      mkdirSync(moduleDir, { recursive: true });
      const sim = (...argv: string[]) => {
        let stdout = '';
        const code = runSim({
          argv,
          env: { TF_SIM_STATE_DIR: join(root, 'state') },
          cwd: moduleDir,
          stdout: (t) => {
            stdout += t;
          },
          stderr: () => {},
          now: () => new Date('2026-01-01T00:00:00Z'),
        });
        expect(code).not.toBe(1);
        return stdout;
      };
      const configure = (config: unknown) =>
        writeFileSync(join(moduleDir, 'resources.json'), JSON.stringify(config));
      const db = { type: 'sim_db', name: 'main', attributes: { name: 'main', password: 'pw-1' } };
      configure({
        resources: [
          { type: 'sim_bucket', name: 'logs', attributes: { name: 'logs', size: 1 } },
          { ...db, forceNew: ['name'], sensitive: ['password'] },
          { type: 'sim_cdn', name: 'edge', attributes: { origin: 'a' }, forceNew: ['origin'] },
          { type: 'sim_queue', name: 'old', attributes: { name: 'old' } },
        ],
        outputs: { bucket: { value: 'logs' } },
      });
      sim('init');
      sim('plan', '-out=p1');
      sim('apply', 'p1');
      configure({
        resources: [
          { type: 'sim_bucket', name: 'logs', attributes: { name: 'logs', size: 2 } },
          {
            ...db,
            attributes: { name: 'main-v2', password: 'pw-2' },
            forceNew: ['name'],
            sensitive: ['password'],
          },
          {
            type: 'sim_cdn',
            name: 'edge',
            attributes: { origin: 'b' },
            forceNew: ['origin'],
            createBeforeDestroy: true,
          },
          { type: 'sim_topic', name: 'events', count: 2, attributes: { name: 'events' } },
        ],
        outputs: { bucket: { value: 'logs-2' }, secret: { value: 's', sensitive: true } },
      });
      sim('plan', '-out=p2');
      const text = sim('show', '-no-color', 'p2');
      const plan = parsePlanText(text);
      expect(summaryOf(plan).sort()).toEqual([
        'create sim_topic.events[0]',
        'create sim_topic.events[1]',
        'destroy sim_queue.old',
        'replace sim_cdn.edge',
        'replace sim_db.main',
        'update sim_bucket.logs',
      ]);
      expect(find(plan, 'sim_cdn.edge').lines[0]).toMatch(/^\+\/- resource "sim_cdn" "edge" \{$/);
      expect(find(plan, 'sim_db.main').lines.join('\n')).toContain('(sensitive value)');
      expect(find(plan, 'sim_db.main').lines.join('\n')).toContain('# forces replacement');
      expect(text).not.toContain('pw-2');
      expect(plan.summary).toEqual({ add: 4, change: 1, destroy: 3 });
      expect(plan.outputs.map((o) => [o.name, o.action])).toEqual([
        ['bucket', 'update'],
        ['secret', 'create'],
      ]);
      for (const r of plan.resources) expect(r.lines.at(-1)).toBe('    }');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('text it was not made for', () => {
  it('reads "No changes." plans and empty text; colour codes are content, never structure', () => {
    const none = parsePlanText(
      '\nNo changes. Your infrastructure matches the configuration.\n\nTerraform has compared your real infrastructure against your configuration\nand found no differences, so no changes are needed.\n',
    );
    expect(none).toEqual({ resources: [], outputs: [], summary: {}, noChanges: true });
    expect(parsePlanText('')).toEqual({
      resources: [],
      outputs: [],
      summary: {},
      noChanges: false,
    });
    const coloured = parsePlanText(
      '\x1b[1m  # aws_instance.x\x1b[0m will be created\r\n\x1b[32m  +\x1b[0m resource "aws_instance" "x" {\r\n      + id = (known after apply)\r\n    }\r\n',
    );
    // The runner prints with -no-color: ESC (and CR) in a line mean the line is not Terraform's
    // layout, so nothing of it is read as a header or block.
    expect(coloured.resources).toEqual([]);
  });

  it('ends a block cut off mid-way at the next header or unindented line', () => {
    const plan = parsePlanText(
      [
        '  # a.b will be created',
        '  + resource "a" "b" {',
        '      + x = 1',
        '  # a.c will be destroyed',
        '  - resource "a" "c" {',
        '      - y = 2 -> null',
        'Plan: 1 to add, 0 to change, 1 to destroy.',
      ].join('\n'),
    );
    expect(plan.resources.map((r) => [r.address, r.lines.length])).toEqual([
      ['a.b', 2],
      ['a.c', 2],
    ]);
    expect(plan.summaryLine).toBe('Plan: 1 to add, 0 to change, 1 to destroy.');
  });

  it('keeps a header without a resource line as an empty block', () => {
    const plan = parsePlanText('  # a.b will be destroyed\n\nrandom words\n');
    expect(plan.resources).toEqual([
      expect.objectContaining({ address: 'a.b', action: 'destroy', lines: [] }),
    ]);
  });

  it('never throws, on any input', () => {
    const fragments = [
      '  # a.b will be created',
      '  # ',
      '  #',
      '  + resource "a" "b" {',
      '-/+ resource "a" "b" {}',
      '    }',
      '      + x = 1',
      'Changes to Outputs:',
      '  + o = 1',
      '    ',
      'Plan: x to add',
      'Note: Objects have changed outside of Terraform',
      '',
      '\u0000\u001b[31m',
    ];
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.constantFrom(...fragments),
            fc.string(),
            // Arbitrary bytes, as text would look after a bad decode.
            fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b).toString('latin1')),
          ),
          { maxLength: 60 },
        ),
        (lines) => {
          const plan = parsePlanText(lines.join('\n'));
          for (const r of plan.resources) expect(typeof r.address).toBe('string');
        },
      ),
      { numRuns: 300 },
    );
    expect(() => parsePlanText(undefined as unknown as string)).not.toThrow();
  });

  it('stays linear on large and hostile input', () => {
    const many = Array.from(
      { length: 20_000 },
      (_, i) =>
        `  # aws_x.r[${i}] will be created\n  + resource "aws_x" "r" {\n      + v = "${'<&>'.repeat(10)}"\n    }\n`,
    ).join('\n');
    const comments = '  # just a comment\n'.repeat(50_000);
    const longLine = `  # ${'x has moved to '.repeat(20_000)}`;
    const started = Date.now();
    expect(parsePlanText(many).resources).toHaveLength(20_000);
    expect(parsePlanText(comments).resources).toHaveLength(0);
    parsePlanText(longLine);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

// ---------------------------------------------------------------------------------------------
// Issue 12: the plan text cannot lie. Terraform prints string values raw inside heredocs, so a
// value may hold carriage returns, ESC, NUL and bidi or zero-width characters.

const HOSTILE = join(FIXTURES, 'hostile');

describe('values that try to rewrite the plan text (real Terraform 1.11 output)', () => {
  const text = readFileSync(join(HOSTILE, 'plan.txt'), 'utf8');
  const plan = parsePlanText(text);

  it('holds raw CR, U+202E, U+200B, U+2066, NUL and ESC inside a heredoc, as Terraform printed them', () => {
    for (const ch of ['\r', '\u202e', '\u200b', '\u2066', '\u0000', '\u001b'])
      expect(text.includes(ch), JSON.stringify(ch)).toBe(true);
  });

  it('reads only the real blocks: no phantom destroy, nothing moved under “changed outside”', () => {
    expect(plan.resources.map((r) => `${r.section} ${r.action} ${r.address}`)).toEqual([
      'changes create terraform_data.a_payload',
      'changes replace terraform_data.replaced',
      'changes destroy terraform_data.z_victim',
    ]);
  });

  it('keeps Terraform’s own totals: a CR in an output value cannot forge the “Plan:” line', () => {
    expect(plan.summaryLine).toBe('Plan: 2 to add, 0 to change, 2 to destroy.');
    expect(plan.summary).toEqual({ add: 2, change: 0, destroy: 2 });
    expect(plan.outputs.map((o) => o.lines)).toEqual([
      [
        '  + note = <<-EOT',
        '        see below',
        '        \rPlan: 0 to add, 0 to change, 0 to destroy.',
        '    EOT',
      ],
    ]);
  });

  it('keeps the forged lines inside the block they came from, characters and all', () => {
    const payload = find(plan, 'terraform_data.a_payload');
    const forged = payload.lines.find((l) => l.includes('phantom'));
    expect(forged).toMatch(/^ {12}\r\r {2}# terraform_data\.phantom will be destroyed\r/);
    expect(payload.lines.some((l) => l.includes('\u202eevil\u202c'))).toBe(true);
    expect(payload.lines.at(-1)).toBe('    }');
  });
});

describe('a character inside a line never starts a line, block, section or total', () => {
  const block = (value: string) =>
    [
      '  # aws_s3_bucket.a will be created',
      '  + resource "aws_s3_bucket" "a" {',
      '      + policy = <<-EOT',
      `            ${value}`,
      '        EOT',
      '    }',
      '',
      '  # aws_db_instance.main will be destroyed',
      '  - resource "aws_db_instance" "main" {',
      '      - name = "main" -> null',
      '    }',
      '',
      'Plan: 1 to add, 0 to change, 1 to destroy.',
      '',
      'Changes to Outputs:',
      '  + o = <<-EOT',
      `        ${value}`,
      '    EOT',
    ].join('\n');
  const expected = ['changes create aws_s3_bucket.a', 'changes destroy aws_db_instance.main'];
  const attacks: [string, string][] = [
    ['CR forging a “Plan:” line', '\rPlan: 0 to add, 0 to change, 0 to destroy.'],
    [
      'CR forging a phantom resource block',
      '\r  # aws_iam_user.phantom will be destroyed\r  - resource "aws_iam_user" "phantom" {\r    }\r',
    ],
    [
      'CR moving the next destroy under “changed outside”',
      '\rNote: Objects have changed outside of Terraform\r\rTerraform detected the following changes',
    ],
    ['a vertical tab or form feed', '\vPlan: 0 to add\f  # aws_x.y will be destroyed'],
    [
      'NEL, LINE and PARAGRAPH SEPARATOR',
      '\u0085Plan: 0 to add\u2028  # aws_x.y will be destroyed\u2029',
    ],
    [
      'ESC sequences (erase line, cursor up)',
      '\u001b[2K\u001b[1APlan: 0 to add, 0 to change, 0 to destroy.',
    ],
    ['NUL', '\u0000Plan: 0 to add, 0 to change, 0 to destroy.'],
    ['U+202E RIGHT-TO-LEFT OVERRIDE', '\u202e  # aws_x.y will be destroyed'],
    ['U+2066 LEFT-TO-RIGHT ISOLATE', '\u2066Plan: 0 to add\u2069'],
    ['U+200B ZERO WIDTH SPACE', '\u200b  # aws_x.y will be destroyed'],
    ['U+FEFF BOM', '\ufeffPlan: 0 to add, 0 to change, 0 to destroy.'],
  ];

  it.each(attacks)('%s', (_, value) => {
    const plan = parsePlanText(block(value));
    expect(plan.resources.map((r) => `${r.section} ${r.action} ${r.address}`)).toEqual(expected);
    expect(plan.summaryLine).toBe('Plan: 1 to add, 0 to change, 1 to destroy.');
    expect(plan.outputs).toHaveLength(1);
    // The value stays in its block, whole.
    expect(find(plan, 'aws_s3_bucket.a').lines).toContain(`            ${value.split('\n')[0]}`);
  });

  it('does not read a header, total or section line that holds such a character', () => {
    const plan = parsePlanText(
      [
        'Note: Objects have changed outside of Terraform\u200b',
        '',
        '  # aws_x.y\u202e will be destroyed',
        '  - resource "aws_x" "y" {',
        '    }',
        '  # aws_x.z will be created',
        '  + resource "aws_x" "z" {',
        '    }',
        'Plan: 1 to add, 0 to change, 0 to destroy.\r',
      ].join('\n'),
    );
    expect(plan.resources.map((r) => `${r.section} ${r.action} ${r.address}`)).toEqual([
      'changes create aws_x.z',
    ]);
    expect(plan.summaryLine).toBeUndefined();
  });
});

describe('visibleText and visibleHtml', () => {
  it.each([
    ['\r', '␍'],
    ['\n', '␊'],
    ['\u0000', '␀'],
    ['\u001b[2K', '␛[2K'],
    ['\t', '␉'],
    ['\u007f', '␡'],
    ['\u0085', '\\u0085'],
    ['\u202e', '\\u202E'],
    ['\u202a\u202b\u202c\u202d', '\\u202A\\u202B\\u202C\\u202D'],
    ['\u2066\u2067\u2068\u2069', '\\u2066\\u2067\\u2068\\u2069'],
    [
      '\u200b\u200c\u200d\u200e\u200f\u2060\ufeff',
      '\\u200B\\u200C\\u200D\\u200E\\u200F\\u2060\\uFEFF',
    ],
    ['\u061c', '\\u061C'],
    ['\u00a0\u3000', '\\u00A0\\u3000'],
    ['\u2028\u2029', '\\u2028\\u2029'],
    ['\u00ad\u3164\ufe0f', '\\u00AD\\u3164\\uFE0F'],
    ['\u{e0041}', '\\u{E0041}'],
  ])('shows %j as %s', (raw, shown) => {
    expect(visibleText(`a${raw}b`)).toBe(`a${shown}b`);
    expect(visibleHtml(`a${raw}b`).value).not.toMatch(
      /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/,
    );
  });

  it('leaves plain text, spaces and non-Latin letters alone', () => {
    for (const text of ['  + name = "x" -> "y"', 'Größe: 東京 • café', 'emoji 🚀'])
      expect(visibleText(text)).toBe(text);
  });

  it('marks each escape in HTML, and escapes markup around it', () => {
    expect(visibleHtml('<a>\u202e"').value).toBe(
      '&lt;a&gt;<span class="ctl" title="U+202E">\\u202E</span>&quot;',
    );
  });
});
