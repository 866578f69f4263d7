import * as z from 'zod';
import {
  changeKind,
  MAX_CHANGES_IN_RESULT,
  type PlanResult,
  planActionSchema,
  toolVersionSchema,
} from '../../../lib/contracts';

/**
 * Turns `show -json` output into the summary part of the plan result: counts, and addresses with
 * actions. Attribute values are never read out of the JSON: they hold secrets in clear text.
 */

export type PlanSummary = Pick<PlanResult, 'hasChanges' | 'counts' | 'changes' | 'changesOmitted'>;
type Change = PlanResult['changes'][number];

// Only the fields the summary needs; everything else (before/after values) is dropped by zod.
const showJsonSchema = z.object({
  format_version: z.string().optional(),
  resource_changes: z
    .array(
      z.object({
        address: z.string(),
        change: z.object({ actions: z.array(z.string()) }),
      }),
    )
    .optional()
    .default([]),
});

/** Not Terraform's JSON plan format. */
export class PlanJsonError extends Error {
  override readonly name = 'PlanJsonError';
}

/** `show -json` output, parsed once for the summary and the tool version. */
export function parsePlanJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new PlanJsonError(`show -json printed invalid JSON: ${(error as Error).message}`);
  }
}

const planVersionSchema = z.object({ terraform_version: toolVersionSchema });

/**
 * The version of the tool that made the plan, as `show -json` records it (Terraform and OpenTofu
 * both write `terraform_version`): the plan needs no `version` process of its own. A value that is
 * not a version token is not taken (the plan then asks the tool's `version`).
 */
export function planToolVersion(raw: unknown): string | undefined {
  const parsed = planVersionSchema.safeParse(raw);
  return parsed.success ? parsed.data.terraform_version : undefined;
}

/**
 * Destroys, then replaces, first: the cap cuts the list from the end, so every destroy and
 * replace is kept unless they alone exceed it. Then the approval page blocks approval (it
 * cannot name them all) rather than the list growing past the 256 KiB Step Functions state.
 */
const ORDER = { destroy: 0, replace: 1, forget: 2, change: 3, add: 4 } as const;

function rank(actions: readonly string[]): number {
  const kind = changeKind(actions);
  if (kind) return ORDER[kind];
  return actions.includes('forget') ? ORDER.forget : 5;
}

/**
 * Summarizes a plan. `exitCode` is the plan's `-detailed-exitcode` (2 = changes); it decides
 * `hasChanges` together with the resource changes (output-only changes count as changes too).
 */
export function summarizePlan(
  showJson: string | unknown,
  exitCode: number,
  max: number = MAX_CHANGES_IN_RESULT,
): PlanSummary {
  const raw = typeof showJson === 'string' ? parsePlanJson(showJson) : showJson;
  const parsed = showJsonSchema.safeParse(raw);
  if (!parsed.success)
    throw new PlanJsonError(
      `show -json output is not a Terraform plan: ${parsed.error.issues[0]?.message ?? 'unknown'}`,
    );
  const counts = { add: 0, change: 0, destroy: 0, replace: 0 };
  const changes: Change[] = [];
  for (const rc of parsed.data.resource_changes) {
    const actions = rc.change.actions.filter(
      (a): a is Change['actions'][number] => planActionSchema.safeParse(a).success,
    );
    // no-op and data source reads are not changes an approver decides on.
    if (actions.every((a) => a === 'no-op' || a === 'read')) continue;
    const kind = changeKind(actions);
    if (kind) counts[kind]++;
    changes.push({ address: rc.address, actions });
  }
  changes.sort(
    (a, b) =>
      rank(a.actions) - rank(b.actions) ||
      (a.address < b.address ? -1 : a.address > b.address ? 1 : 0),
  );
  const kept = changes.slice(0, Math.max(0, max));
  return {
    hasChanges: exitCode === 2 || changes.length > 0,
    counts,
    changes: kept,
    changesOmitted: changes.length - kept.length,
  };
}
