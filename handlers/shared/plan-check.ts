import { changeKind, type PlanResult } from '../../lib/contracts';
import type { ParsedPlanText, PlanTextAction } from './plan-text';

/**
 * Checks the plan text the approver reads against the JSON plan the runner summarized (`show
 * -json`, containers/runner/src/summary.ts). Both come from the same plan file, so any
 * difference means the text was made to say something the plan does not do: approval is
 * blocked (docs/architecture.md, property 10). Small pure functions; the page renders their findings.
 */

/** The actions both sides can name; reads, moves, imports and drift are not decided on. */
export type CheckedAction = 'destroy' | 'replace' | 'update' | 'create' | 'forget';

export interface CheckedChange {
  readonly address: string;
  readonly action: CheckedAction;
}

/** One way the text and the JSON plan disagree, in words for the approver. */
export interface PlanDisagreement {
  readonly address?: string;
  readonly message: string;
}

export interface PlanCheck {
  /** Empty when the text agrees with the JSON plan. */
  readonly disagreements: readonly PlanDisagreement[];
  /**
   * The JSON list of changes was capped (`changesOmitted` > 0): only the counts, every
   * destroy and replace, and the changes it lists could be checked.
   */
  readonly partial: boolean;
}

type Plan = Pick<PlanResult, 'changes' | 'counts' | 'changesOmitted'>;

const CHECKED = new Set<PlanTextAction>(['destroy', 'replace', 'update', 'create', 'forget']);
const DESTRUCTIVE = new Set<CheckedAction>(['destroy', 'replace']);
/** `aws_x.y (deposed object 1a2b3c4d)`: the JSON plan names the same object `aws_x.y`. */
const DEPOSED = / \(deposed object [0-9A-Za-z]+\)$/;

/** The action the text would show for a JSON change, or undefined for no-ops and reads. */
export function jsonAction(actions: readonly string[]): CheckedAction | undefined {
  if (actions.includes('create') && (actions.includes('delete') || actions.includes('forget')))
    return 'replace';
  const kind = changeKind(actions);
  if (kind === 'add') return 'create';
  if (kind === 'change') return 'update';
  if (kind === 'destroy' || kind === 'replace') return kind;
  return actions.includes('forget') ? 'forget' : undefined;
}

/** The changes the text shows as planned (not drift, not deferred), by address and action. */
export function textChanges(plan: ParsedPlanText): {
  changes: CheckedChange[];
  unrecognized: string[];
} {
  const changes: CheckedChange[] = [];
  const unrecognized: string[] = [];
  for (const r of plan.resources) {
    if (r.section !== 'changes') continue;
    const address = r.address.replace(DEPOSED, '');
    if (CHECKED.has(r.action)) changes.push({ address, action: r.action as CheckedAction });
    else if (r.action === 'unknown') unrecognized.push(r.address);
  }
  return { changes, unrecognized };
}

/** The changes the JSON plan lists, as the text would show them. */
export function jsonChanges(plan: Pick<PlanResult, 'changes'>): CheckedChange[] {
  const out: CheckedChange[] = [];
  for (const c of plan.changes) {
    const action = jsonAction(c.actions);
    if (action) out.push({ address: c.address, action });
  }
  return out;
}

/**
 * How many destroys and replaces the counts hold that `changes` does not list. The runner lists
 * them first, so this is more than zero only when they alone exceed the list's cap.
 */
export function unlistedDestructive(plan: Pick<PlanResult, 'changes' | 'counts'>): number {
  const listed = jsonChanges(plan).filter((c) => DESTRUCTIVE.has(c.action)).length;
  return Math.max(0, plan.counts.destroy + plan.counts.replace - listed);
}

const byAddress = (changes: readonly CheckedChange[]) => {
  const map = new Map<string, CheckedAction[]>();
  for (const c of changes) map.set(c.address, [...(map.get(c.address) ?? []), c.action]);
  for (const actions of map.values()) actions.sort();
  return map;
};

const words = (actions: readonly string[]) => (actions.length ? actions.join(' and ') : 'nothing');

/**
 * Per address, the text's actions against the JSON plan's. With a complete JSON list, both
 * ways; with a capped one, every listed change must be in the text, and (when every destroy and
 * replace is listed) every destroy or replace of the text must be listed.
 */
export function compareChanges(
  text: readonly CheckedChange[],
  json: readonly CheckedChange[],
  scope: { complete: boolean; destructiveComplete: boolean },
): PlanDisagreement[] {
  const t = byAddress(text);
  const j = byAddress(json);
  const out: PlanDisagreement[] = [];
  const addresses = [...new Set([...j.keys(), ...t.keys()])];
  for (const address of addresses) {
    const ta = t.get(address) ?? [];
    const ja = j.get(address) ?? [];
    if (ta.join() === ja.join()) continue;
    if (!scope.complete && ja.length === 0) {
      // Not listed in a capped JSON list: only a destroy or replace can still be judged.
      const destructive = ta.filter((a) => DESTRUCTIVE.has(a as CheckedAction));
      if (!scope.destructiveComplete || destructive.length === 0) continue;
      out.push({
        address,
        message: `the plan text shows ${words(destructive)}, but the JSON plan does not destroy or replace it`,
      });
      continue;
    }
    out.push({
      address,
      message:
        ja.length === 0
          ? `the plan text shows ${words(ta)}, but the JSON plan does not change it`
          : ta.length === 0
            ? `the JSON plan will ${words(ja)} it, but the plan text does not show it as a change`
            : `the plan text shows ${words(ta)}, but the JSON plan will ${words(ja)} it`,
    });
  }
  return out;
}

/** The text's `Plan:` totals and its blocks, counted, against the JSON plan's counts. */
export function compareCounts(text: ParsedPlanText, plan: Plan): PlanDisagreement[] {
  const { counts } = plan;
  const out: PlanDisagreement[] = [];
  const total = counts.add + counts.change + counts.destroy + counts.replace;
  // Terraform counts a replacement as one add and one destroy.
  const expected = {
    add: counts.add + counts.replace,
    change: counts.change,
    destroy: counts.destroy + counts.replace,
  };
  if (text.summaryLine === undefined) {
    if (total > 0)
      out.push({
        message: `the plan text has no "Plan:" totals, but the JSON plan has ${expected.add} to add, ${expected.change} to change, ${expected.destroy} to destroy`,
      });
  } else {
    for (const key of ['add', 'change', 'destroy'] as const) {
      const shown = text.summary[key];
      if (shown !== expected[key])
        out.push({
          message: `the plan text's totals say ${shown ?? 'nothing'} to ${key}, the JSON plan ${expected[key]}`,
        });
    }
  }
  const shown = textChanges(text).changes;
  const n = (action: CheckedAction) => shown.filter((c) => c.action === action).length;
  const blocks: [CheckedAction, number][] = [
    ['destroy', counts.destroy],
    ['replace', counts.replace],
    ['update', counts.change],
    ['create', counts.add],
  ];
  for (const [action, want] of blocks)
    if (n(action) !== want)
      out.push({
        message: `the plan text shows ${n(action)} ${action} ${n(action) === 1 ? 'block' : 'blocks'}, the JSON plan counts ${want}`,
      });
  return out;
}

/** Checks the plan text against the JSON plan: addresses, actions and totals. */
export function checkPlanText(text: ParsedPlanText, plan: Plan): PlanCheck {
  const partial = plan.changesOmitted > 0;
  const unlisted = unlistedDestructive(plan);
  const { changes, unrecognized } = textChanges(text);
  const disagreements: PlanDisagreement[] = [];
  if (unlisted > 0)
    disagreements.push({
      message: `${unlisted} destroyed or replaced ${unlisted === 1 ? 'resource is' : 'resources are'} not listed in the JSON plan result (it lists at most ${plan.changes.length} changes), so they cannot be checked by name`,
    });
  for (const address of unrecognized)
    disagreements.push({
      address,
      message: 'the plan text shows a change this page does not recognize',
    });
  disagreements.push(
    ...compareChanges(changes, jsonChanges(plan), {
      complete: !partial,
      destructiveComplete: unlisted === 0,
    }),
    ...compareCounts(text, plan),
  );
  return { disagreements, partial };
}
