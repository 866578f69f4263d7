import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PlanJsonError, planToolVersion, summarizePlan } from '../../containers/runner/src/summary';
import { unlistedDestructive } from '../../handlers/shared/plan-check';
import { MAX_CHANGES_IN_RESULT, planResultSchema, toolVersionSchema } from '../../lib/contracts';

const rc = (address: string, actions: string[], values: Record<string, unknown> = {}) => ({
  address,
  mode: 'managed',
  type: address.split('.')[0],
  name: address.split('.')[1],
  change: { actions, before: values, after: values, after_unknown: {} },
});

describe('planToolVersion', () => {
  it('reads the version show -json records, and nothing from anything else', () => {
    expect(planToolVersion({ format_version: '1.2', terraform_version: '1.11.4' })).toBe('1.11.4');
    for (const raw of [{}, { terraform_version: 1 }, { terraform_version: '' }, null, 'x', []])
      expect(planToolVersion(raw)).toBeUndefined();
  });

  it('takes only a version token: the value is shown to approvers, and rides in the run state', () => {
    for (const version of ['1.8.0-beta1', '1.11.0-sim', '1.6.0+dev_2', 'unknown'])
      expect(planToolVersion({ terraform_version: version })).toBe(version);
    for (const version of [
      '1.11.4\nApproved by: alice',
      '1.11.4 <img src=x>',
      ' 1.11.4',
      '-1.11.4',
      `1.${'9'.repeat(63)}`,
    ])
      expect(planToolVersion({ terraform_version: version }), version).toBeUndefined();
  });

  it('is what the plan result contract holds: a longer or odd version is refused', () => {
    expect(toolVersionSchema.safeParse('1.11.4').success).toBe(true);
    expect(toolVersionSchema.safeParse('x'.repeat(65)).success).toBe(false);
    expect(planResultSchema.shape.toolVersion).toBe(toolVersionSchema);
  });
});

describe('summarizePlan', () => {
  it('counts by kind and lists destroys, then replaces, first', () => {
    const summary = summarizePlan(
      {
        format_version: '1.2',
        resource_changes: [
          rc('aws_s3_bucket.a', ['create']),
          rc('aws_iam_role.b', ['update']),
          rc('aws_instance.c', ['delete']),
          rc('aws_db.d', ['delete', 'create']),
          rc('aws_db.e', ['create', 'delete']),
          rc('aws_vpc.f', ['no-op']),
          rc('data.aws_ami.g', ['read']),
          rc('aws_old.h', ['forget']),
        ],
      },
      2,
    );
    expect(summary).toEqual({
      hasChanges: true,
      counts: { add: 1, change: 1, destroy: 1, replace: 2 },
      changes: [
        { address: 'aws_instance.c', actions: ['delete'] },
        { address: 'aws_db.d', actions: ['delete', 'create'] },
        { address: 'aws_db.e', actions: ['create', 'delete'] },
        { address: 'aws_old.h', actions: ['forget'] },
        { address: 'aws_iam_role.b', actions: ['update'] },
        { address: 'aws_s3_bucket.a', actions: ['create'] },
      ],
      changesOmitted: 0,
    });
  });

  it('caps the list but counts everything', () => {
    const changes = Array.from({ length: 7 }, (_, i) => rc(`aws_x.r${i}`, ['create']));
    changes.push(rc('aws_x.gone', ['delete']));
    const summary = summarizePlan({ resource_changes: changes }, 2, 3);
    expect(summary.counts).toEqual({ add: 7, change: 0, destroy: 1, replace: 0 });
    expect(summary.changes).toHaveLength(3);
    expect(summary.changes[0]).toEqual({ address: 'aws_x.gone', actions: ['delete'] });
    expect(summary.changesOmitted).toBe(5);
  });

  it('keeps every destroy, then every replace, when the cap cuts the list', () => {
    const changes = [
      ...Array.from({ length: 5 }, (_, i) => rc(`aws_a.add${i}`, ['create'])),
      ...Array.from({ length: 3 }, (_, i) => rc(`aws_z.swap${i}`, ['delete', 'create'])),
      ...Array.from({ length: 4 }, (_, i) => rc(`aws_z.gone${i}`, ['delete'])),
    ];
    const summary = summarizePlan({ resource_changes: changes }, 2, 7);
    expect(summary.changes.map((c) => c.address)).toEqual([
      'aws_z.gone0',
      'aws_z.gone1',
      'aws_z.gone2',
      'aws_z.gone3',
      'aws_z.swap0',
      'aws_z.swap1',
      'aws_z.swap2',
    ]);
    expect(unlistedDestructive(summary)).toBe(0);
    // Destroys alone over the cap: the list keeps destroys, and the shortfall is visible (the
    // approval page blocks approval on it) instead of the state growing past 256 KiB.
    const many = summarizePlan({ resource_changes: changes }, 2, 3);
    expect(many.changes.every((c) => c.actions.join() === 'delete')).toBe(true);
    expect(unlistedDestructive(many)).toBe(4);
  });

  it(`keeps the execution state under 256 KiB at ${MAX_CHANGES_IN_RESULT} destroys with long addresses`, () => {
    const changes = Array.from({ length: 2000 }, (_, i) =>
      rc(`module.${'m'.repeat(180)}.aws_s3_bucket.gone[${i}]`, ['delete']),
    );
    const summary = summarizePlan({ resource_changes: changes }, 2);
    expect(summary.changes).toHaveLength(MAX_CHANGES_IN_RESULT);
    expect(Buffer.byteLength(JSON.stringify(summary))).toBeLessThan(200 * 1024);
  });

  it('treats an output-only change (exit 2) as changes, and exit 0 with no-ops as none', () => {
    expect(summarizePlan({ resource_changes: [] }, 2).hasChanges).toBe(true);
    expect(summarizePlan({ resource_changes: [rc('a.b', ['no-op'])] }, 0)).toEqual({
      hasChanges: false,
      counts: { add: 0, change: 0, destroy: 0, replace: 0 },
      changes: [],
      changesOmitted: 0,
    });
    expect(summarizePlan('{"format_version":"1.2"}', 0).hasChanges).toBe(false);
  });

  it('refuses what is not a plan', () => {
    expect(() => summarizePlan('not json', 0)).toThrow(PlanJsonError);
    expect(() => summarizePlan({ resource_changes: [{ address: 1 }] }, 0)).toThrow(PlanJsonError);
  });

  it('never carries an attribute value into the summary', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), fc.jsonValue(), (secret, other) => {
        const value = `SECRET-${secret}`;
        const summary = summarizePlan(
          {
            resource_changes: [
              rc('aws_db.main', ['update'], { password: value, other }),
              rc('aws_db.replica', ['delete', 'create'], { password: value }),
            ],
            planned_values: { root_module: { resources: [{ values: { password: value } }] } },
          },
          2,
        );
        return !JSON.stringify(summary).includes('SECRET-');
      }),
    );
  });
});
