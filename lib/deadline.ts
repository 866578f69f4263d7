/**
 * The approval deadline, computed and written one way everywhere: the approval page and the
 * links (handlers/request-approval.ts), the email and Slack messages, and the CLI. A deadline
 * shown a minute apart in two places makes an approver doubt both.
 */

/**
 * Links close a little before the workflow stops waiting (a tenth of the timeout, at most a
 * minute), so a decision sent at the last moment still reaches a waiting task.
 */
export function approvalMarginSeconds(timeoutSeconds: number): number {
  return Math.min(60, Math.floor(timeoutSeconds / 10));
}

/**
 * When decisions stop being possible, in Unix seconds: the wait's start plus its timeout, less
 * the margin, and never after the run's lock expires.
 */
export function decisionDeadline(
  requestedAtSeconds: number,
  timeoutSeconds: number,
  lockExpiresAt?: number,
): number {
  const end = requestedAtSeconds + timeoutSeconds - approvalMarginSeconds(timeoutSeconds);
  return lockExpiresAt !== undefined && Number.isFinite(lockExpiresAt)
    ? Math.min(end, lockExpiresAt)
    : end;
}

/**
 * "2025-11-25 18:00 UTC": unambiguous in every time zone. Seconds are dropped (rounded down), so
 * a deadline is never shown later than it is.
 */
export function formatDeadline(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
