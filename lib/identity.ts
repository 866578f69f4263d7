/**
 * Who is who: one rule, shared by the config check, the approval page and `Verify approval`, for
 * deciding whether an approver is the person who requested a run.
 */

/**
 * An identity as compared: NFKC-normalized, case-folded and trimmed, so a fullwidth or
 * differently cased login is the same login.
 */
export function foldIdentity(identity: string): string {
  // Upper then lower folds more than lower alone (ß and SS, ſ and s); NFKC again after it.
  return identity.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC').trim();
}

/** Whether any of an approver's identities (id, name, email, Slack ID, CI logins) is the requester. */
export function isRequesterIdentity(
  requestedBy: string | undefined,
  identities: readonly (string | undefined)[],
): boolean {
  const requester = foldIdentity(requestedBy ?? '');
  if (requester === '') return false;
  return identities.some(
    (identity) => identity !== undefined && foldIdentity(identity) === requester,
  );
}
