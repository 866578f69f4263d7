import { MAX_PLAN_RESULT_BYTES, type PlanResult } from '../../../lib/contracts';

/** Size of a value as the compact JSON that Step Functions holds in the execution state. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

/**
 * Keeps the plan result within `budgetBytes` by dropping changes from the end of the list (the
 * list is ordered most important first: destroys and replaces lead) and counting them in
 * `changesOmitted`. Counts are never touched, so the approver still sees the totals, and the
 * approval page reads every resource from the plan text. Applied after any cap by count, so it
 * holds whatever that cap keeps.
 */
export function fitPlanResult(
  result: PlanResult,
  budgetBytes: number = MAX_PLAN_RESULT_BYTES,
): PlanResult {
  if (jsonBytes(result) <= budgetBytes) return result;
  const { changes } = result;
  const withFirst = (n: number): PlanResult => ({
    ...result,
    changes: changes.slice(0, n),
    changesOmitted: result.changesOmitted + (changes.length - n),
  });
  // The largest prefix that fits: the size grows with n, so bisect.
  let low = 0;
  let high = changes.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (jsonBytes(withFirst(mid)) <= budgetBytes) low = mid;
    else high = mid - 1;
  }
  return withFirst(low);
}
