import type { ApproverContract, ResultRouting } from '../../lib/contracts';
import { foldIdentity, isRequesterIdentity } from '../../lib/identity';

/**
 * Who hears how a run ended (config `notifications.results`, README "Who hears how a run
 * ended"). Pure, so the rule is tested on its own; handlers/notify.ts only delivers.
 *
 * - An applied (or no-changes) apply run: everyone, as before: every approver's email, the
 *   requester's allowed email, the Slack channel (or each approver's DM without a channel).
 * - A plan-only run, whatever its outcome: `planOnly` ("requester" by default).
 * - A failed, rejected or expired apply run: `failures` ("requester" by default); when the
 *   requester's channel is empty it goes to everyone, so a failure is never silent.
 *
 * The requester's channel: the Slack channel when one is configured, else the requester's own
 * Slack DM when the requester is a listed approver; plus one email, the requester's own address
 * when its domain is allowed, else the email of the listed approver the requester is.
 */

export type Audience = 'everyone' | 'requester' | 'none';

export interface RouteInput {
  readonly routing?: ResultRouting | undefined;
  readonly mode: 'apply' | 'plan-only';
  readonly phase: 'finished' | 'failed';
  readonly requestedBy?: string | undefined;
  readonly approvers: readonly ApproverContract[];
  readonly slackChannel?: string | undefined;
  /** The sender; its domain may receive requester emails unless domains are configured. */
  readonly fromEmail?: string | undefined;
}

export interface Route {
  readonly audience: Audience;
  /** Which setting decided, for the log. */
  readonly rule: 'result' | 'planOnly' | 'failures';
  /** True when `requester` was asked for but the requester's channel was empty. */
  readonly fellBack: boolean;
  readonly emails: readonly string[];
  /** Slack channel or user IDs. */
  readonly slack: readonly string[];
}

const EMAIL = /^[^\s@<>()[\]\\,;:"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

const domainOf = (email: string) => email.slice(email.lastIndexOf('@') + 1).toLowerCase();

/** Domains a requester's own address may be in (configured, else the approvers' and sender's). */
export function requesterEmailDomains(
  input: Pick<RouteInput, 'routing' | 'approvers' | 'fromEmail'>,
): ReadonlySet<string> {
  const configured = input.routing?.requesterEmailDomains;
  if (configured) return new Set(configured.map((d) => d.toLowerCase()));
  const known = [...input.approvers.map((a) => a.email), input.fromEmail];
  return new Set(known.flatMap((e) => (e && EMAIL.test(e) ? [domainOf(e)] : [])));
}

/** The requester's channel: where a result goes when it goes to the requester only. */
export function requesterChannel(input: RouteInput): { emails: string[]; slack: string[] } {
  const requester = input.requestedBy?.trim() ?? '';
  const asApprover = input.approvers.find((a) =>
    isRequesterIdentity(requester, [a.name, a.email, a.slackUserId, ...(a.ciLogins ?? [])]),
  );
  let email: string | undefined;
  if (EMAIL.test(requester) && requesterEmailDomains(input).has(domainOf(requester)))
    email = requester;
  else if (asApprover?.email) email = asApprover.email;
  const slack = input.slackChannel ?? asApprover?.slackUserId;
  return { emails: email ? [email] : [], slack: slack ? [slack] : [] };
}

function everyone(input: RouteInput, own: { emails: string[]; slack: string[] }) {
  const emails = new Map<string, string>();
  for (const a of input.approvers) if (a.email) emails.set(foldIdentity(a.email), a.email);
  for (const e of own.emails) emails.set(foldIdentity(e), e);
  const slack = input.slackChannel
    ? [input.slackChannel]
    : [...new Set(input.approvers.flatMap((a) => (a.slackUserId ? [a.slackUserId] : [])))];
  return { emails: [...emails.values()], slack };
}

export function routeResult(input: RouteInput): Route {
  const routing = {
    planOnly: input.routing?.planOnly ?? 'requester',
    failures: input.routing?.failures ?? 'requester',
  };
  const rule: Route['rule'] =
    input.mode === 'plan-only' ? 'planOnly' : input.phase === 'failed' ? 'failures' : 'result';
  const wanted = rule === 'result' ? 'approvers' : routing[rule];
  if (wanted === 'none') return { audience: 'none', rule, fellBack: false, emails: [], slack: [] };
  const own = requesterChannel(input);
  if (wanted === 'approvers')
    return { audience: 'everyone', rule, fellBack: false, ...everyone(input, own) };
  const empty = own.emails.length === 0 && own.slack.length === 0;
  if (empty && rule === 'failures')
    return { audience: 'everyone', rule, fellBack: true, ...everyone(input, own) };
  return { audience: 'requester', rule, fellBack: false, ...own };
}
