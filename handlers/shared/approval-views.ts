import { MAX_CHANGES_IN_RESULT } from '../../lib/contracts';
import { MAX_PLAN_TEXT_READ_BYTES } from './artifacts';
import { html, page, type SafeHtml, safeHref } from './html';
import {
  countsLine,
  formatTime,
  isDestructive,
  type ListedChange,
  orderedChanges,
  shortSha,
} from './messages';
import { type PlanCheck, unlistedDestructive } from './plan-check';
import {
  type ActionGroupKey,
  groupResources,
  type ParsedPlanText,
  type PlanTextAction,
  type PlanTextOutput,
  type PlanTextResource,
} from './plan-text';
import type { ApprovalRun, ApproverRef, DecisionRecord } from './store';
import { visibleHtml, visibleText } from './visible';

/**
 * The approval page's views. Every page is a full document built with `html\`\`` (escaped by
 * construction) and carries no script. The decision page is a list of sections so the plan
 * view (issue 9) can slot in between the changes and the forms.
 */

/** Most changes the page lists per group; the rest is counted. */
export const MAX_PAGE_CHANGES = 200;

export interface DecisionView {
  readonly run: ApprovalRun;
  readonly approver: ApproverRef;
  readonly nonce: string;
  readonly consoleUrl: string;
  /** The approver requested this run: they may reject it but not approve it. */
  readonly selfApproval: boolean;
  /** A problem with the last submission, shown above the forms. */
  readonly error?: string;
  /** What the approver typed last time, so a rejected form keeps it. */
  readonly values?: {
    /** Which form was sent, so its comment or reason goes back into that form. */
    readonly decision?: 'approve' | 'reject';
    readonly reason?: string;
    readonly confirm?: string;
  };
  /** The plan text, or why it cannot be shown. @default - no plan text section */
  readonly planText?: PlanTextView;
  /** Extra sections after the changes. @default none */
  readonly extraSections?: readonly SafeHtml[];
  /**
   * Approvals need sign-in (approvals.signIn): without `signedInAs` the forms give way to a
   * sign-in link. @default - no sign-in; the link decides
   */
  readonly signIn?: { readonly signedInAs?: string };
}

/** Why the plan text cannot be shown; each one blocks approval. */
export type PlanTextProblem = 'checksum-mismatch' | 'not-found' | 'unreadable' | 'too-large';

/** What the page knows about the run's plan text. */
export type PlanTextView =
  /** Read at its recorded version and verified against its recorded SHA-256. */
  | {
      readonly status: 'verified';
      readonly plan: ParsedPlanText;
      readonly text: string;
      /** The text against the JSON plan; any disagreement blocks approval. */
      readonly check: PlanCheck;
    }
  /** This page has no artifact store (a deployment without the plan text view). */
  | { readonly status: 'unavailable' }
  | { readonly status: 'blocked'; readonly problem: PlanTextProblem };

/** What the facts, the changes and the plan sections read of a run (a drift check's view too). */
type PlanOfRun = Pick<ApprovalRun, 'request' | 'plan'>;

function facts(
  run: PlanOfRun,
  last: [string, SafeHtml],
  savedPlanHint = 'applied exactly as approved',
): SafeHtml {
  const { request, plan } = run;
  const rows: [string, SafeHtml | string][] = [
    ['Repository', html`<code>${request.repo}</code>`],
    ['Path', html`<code>${request.path}</code>`],
    ['Ref', html`<code>${request.ref}</code>`],
    ['Commit', html`<code>${plan.commit}</code>`],
    ['Requested by', request.requestedBy ?? 'unknown (CI did not say)'],
    [
      'CI run',
      request.ciRunUrl
        ? html`<a href="${safeHref(request.ciRunUrl)}" rel="noreferrer">${request.ciRunUrl}</a>`
        : 'not given',
    ],
    ['Tool', `${plan.tool} ${plan.toolVersion}`],
    [
      // The one checksum the page shows: of the saved plan file, the thing Apply runs.
      'Saved plan',
      html`<code title="${plan.planSha256}">sha256:${shortSha(plan.planSha256)}…</code> <span class="hint">${savedPlanHint}</span>`,
    ],
    last,
  ];
  return html`<section aria-labelledby="facts-h">
<h2 id="facts-h">What runs</h2>
<dl class="facts">${rows.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>
</section>`;
}

/** A list of changes; `cap` limits how many are named (destroys and replaces are never capped). */
function changeItems(changes: readonly ListedChange[], cap = MAX_PAGE_CHANGES): SafeHtml {
  const shown = changes.slice(0, cap);
  return html`<ul class="changes">${shown.map(
    (c) =>
      html`<li><code>${visibleHtml(c.address)}</code><span class="tag ${c.kind}">${c.kind}</span></li>`,
  )}${
    changes.length > shown.length ? html`<li>… and ${changes.length - shown.length} more</li>` : ''
  }</ul>`;
}

/**
 * What the plan does, in one sentence in the counts' own words ("to add", "to change", ...):
 * the top box says it plainly; the plan section below lists every resource once.
 */
export function changeSentence(counts: ApprovalRun['plan']['counts']): string {
  const parts = [
    counts.destroy > 0 ? `destroys ${counts.destroy}` : '',
    counts.replace > 0 ? `replaces ${counts.replace}` : '',
    counts.change > 0 ? `changes ${counts.change} in place` : '',
    counts.add > 0 ? `adds ${counts.add}` : '',
  ].filter((p) => p !== '');
  const total = counts.add + counts.change + counts.destroy + counts.replace;
  if (parts.length === 0)
    return 'This plan changes no resources (only outputs or data sources). Nothing is destroyed or replaced.';
  const list =
    parts.length === 1
      ? parts[0]
      : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
  const safe = counts.destroy + counts.replace === 0 ? ' Nothing is destroyed or replaced.' : '';
  return `This plan ${list} ${total === 1 ? 'resource' : 'resources'}.${safe}`;
}

function changes(run: PlanOfRun, fullPlanFollows: boolean): SafeHtml {
  const { plan } = run;
  const { destructive, other } = orderedChanges(plan);
  const unlisted = unlistedDestructive(plan);
  const count = (n: number, label: string, hot: boolean) =>
    html`<li class="${hot && n > 0 ? 'hot' : ''}"><strong>${n}</strong> ${label}</li>`;
  return html`<section aria-labelledby="changes-h">
<h2 id="changes-h">What changes</h2>
<p id="change-sentence">${changeSentence(plan.counts)}</p>
<ul class="counts" aria-label="${countsLine(plan.counts)}">
${count(plan.counts.add, 'to add', false)}${count(plan.counts.change, 'to change', false)}${count(plan.counts.destroy, 'to destroy', true)}${count(plan.counts.replace, 'to replace', true)}
</ul>
${
  destructive.length > 0
    ? html`<div class="danger" role="note" aria-labelledby="destructive-h">
<h3 id="destructive-h">Destroyed or replaced (${destructive.length})</h3>
<p>These resources will be deleted, or deleted and created again. Data they hold may be lost.</p>
${changeItems(destructive, Number.POSITIVE_INFINITY)}
</div>`
    : ''
}
${
  unlisted > 0
    ? html`<p class="error" role="alert" id="destructive-unlisted">${plural(unlisted, 'more destroyed or replaced resource')} ${unlisted === 1 ? 'is' : 'are'} not listed: the plan destroys or replaces more resources than a run can name (${MAX_CHANGES_IN_RESULT} at most). Approval is blocked; split the change into smaller plans.</p>`
    : ''
}
${
  // Without a verified plan text below, this list is the only place the other changes are named.
  !fullPlanFollows && other.length > 0
    ? html`<h3>${destructive.length > 0 ? 'Other changes' : 'Changes'} (${other.length})</h3>${changeItems(other)}`
    : ''
}
${
  !fullPlanFollows && plan.changesOmitted > 0
    ? html`<p class="note">${plan.changesOmitted} more changes are not listed here; the ${logLink(plan.logUrl)} has all of them.</p>`
    : ''
}
</section>`;
}

/** A link to the plan log, or plain words when the run has none: never an empty link. */
function logLink(logUrl: string | undefined): SafeHtml {
  return usableUrl(logUrl)
    ? html`<a href="${safeHref(logUrl as string)}" rel="noreferrer">plan log</a>`
    : html`plan log`;
}

/** Whether a URL leads somewhere (not empty, not a bare fragment). */
export function usableUrl(url: string | undefined): boolean {
  return url !== undefined && /^https?:\/\/\S/.test(url);
}

function decisionLine(d: DecisionRecord): SafeHtml {
  return html`<li><strong>${d.approverName}</strong> ${d.decision === 'approve' ? 'approved' : 'rejected'} at ${formatTime(new Date(d.decidedAt))}${d.reason ? html`: “${d.reason}”` : ''}</li>`;
}

function decisions(run: ApprovalRun, you: ApproverRef): SafeHtml {
  const all = Object.values(run.decisions).sort((a, b) => a.decidedAt.localeCompare(b.decidedAt));
  const approvals = all.filter((d) => d.decision === 'approve').length;
  const others = run.approvers.filter((a) => a.id !== you.id).map((a) => a.name);
  return html`<section aria-labelledby="decisions-h">
<h2 id="decisions-h">Decisions so far</h2>
<p>${approvals} of ${run.approvalsRequired} required ${run.approvalsRequired === 1 ? 'approval' : 'approvals'}.${
    run.approvalsRequired > 1 ? ' One rejection rejects the run.' : ''
  }${others.length > 0 ? ` Other approvers: ${others.join(', ')}.` : ''}</p>
${all.length > 0 ? html`<ul>${all.map(decisionLine)}</ul>` : html`<p>Nobody has decided yet.</p>`}
</section>`;
}

function forms(view: DecisionView): SafeHtml {
  if (view.signIn && view.signIn.signedInAs === undefined)
    // A plain link (GET, no form): the sign-in redirect leaves for the identity provider, which
    // the page's CSP form-action would refuse. "?signin" keeps the capability out of the page.
    return html`<section aria-labelledby="decide-h">
<h2 id="decide-h">Sign in to decide, ${view.approver.name}</h2>
<p>Deciding on this run needs you to sign in with your organisation's identity provider, as the approver this link was sent to. Opening and reading this page changes nothing.</p>
<p><a class="button" id="sign-in" href="?signin">Sign in to decide</a></p>
</section>`;
  const { run, nonce, values } = view;
  const destructive = isDestructive(run.plan);
  const blocked = blockedReason(view);
  const approve = blocked
    ? html`<div class="error" role="note" id="approval-blocked"><p>Approval is blocked: ${blocked}. You can still reject the run.</p></div>`
    : view.selfApproval
      ? html`<div class="note" role="note"><p>You requested this run, so you cannot approve it. Another approver must; you can still reject it.</p></div>`
      : html`<form method="post" class="decide" aria-labelledby="approve-h">
<h3 id="approve-h">Approve</h3>
<input type="hidden" name="nonce" value="${nonce}">
<input type="hidden" name="decision" value="approve">
${
  destructive
    ? html`<label for="confirm">Type the path <code>${run.request.path}</code> to confirm</label>
<p class="hint" id="confirm-hint">This plan destroys or replaces resources.</p>
<input type="text" id="confirm" name="confirm" required autocomplete="off" autocapitalize="off" spellcheck="false" aria-describedby="confirm-hint" value="${values?.confirm ?? ''}">`
    : ''
}
<label for="approve-reason">Comment (optional)</label>
<input type="text" id="approve-reason" name="reason" maxlength="1000" autocomplete="off" value="${values?.decision === 'approve' ? (values.reason ?? '') : ''}">
<button type="submit" class="approve">Approve and apply</button>
</form>`;
  return html`<section aria-labelledby="decide-h">
<h2 id="decide-h">Your decision, ${view.approver.name}</h2>
${view.signIn?.signedInAs !== undefined ? html`<p class="note" id="signed-in">Signed in as ${view.signIn.signedInAs}.</p>` : ''}
${approve}
<form method="post" class="decide" aria-labelledby="reject-h">
<h3 id="reject-h">Reject</h3>
<input type="hidden" name="nonce" value="${nonce}">
<input type="hidden" name="decision" value="reject">
<label for="reject-reason">Why do you reject it?</label>
<p class="hint" id="reject-hint">The requester sees this reason.</p>
<textarea id="reject-reason" name="reason" required maxlength="1000" aria-describedby="reject-hint">${values?.decision === 'approve' ? '' : (values?.reason ?? '')}</textarea>
<button type="submit" class="reject">Reject</button>
</form>
<p class="hint">Your link works once: after you decide, it cannot be used again.</p>
</section>`;
}

function footer(consoleUrl: string, logUrl?: string): SafeHtml {
  return html`<footer><p><a href="${safeHref(consoleUrl)}" rel="noreferrer">Execution in the Step Functions console</a>${
    usableUrl(logUrl) ? html` · <a href="${safeHref(logUrl)}" rel="noreferrer">Plan log</a>` : ''
  }</p></footer>`;
}

/**
 * A refused submission's error, first on the page: the response to a POST opens at the top, so
 * an error beside the form, far below the plan, would go unseen. It links to the field to fix.
 */
function errorFirst(view: DecisionView): SafeHtml | '' {
  if (!view.error) return '';
  const field =
    view.values?.decision === 'approve' && isDestructive(view.run.plan)
      ? html` <a href="#confirm">Type the path again</a>`
      : view.values?.decision === 'reject'
        ? html` <a href="#reject-reason">Back to the reason</a>`
        : html` <a href="#decide-h">Back to your decision</a>`;
  return html`<div class="error" role="alert" id="form-error"><p>${view.error}${field}</p></div>`;
}

/** The confirmation page: what runs, what changes, who decided, and the two forms. */
export function decisionPage(view: DecisionView): string {
  const { run } = view;
  const title = `Approve ${run.request.repo} ${run.request.path}?`;
  return page(
    title,
    html`${errorFirst(view)}<h1>Deploy <code>${run.request.repo}</code> <code>${run.request.path}</code>?</h1>
<p>${run.request.requestedBy ?? 'CI'} asks to apply commit <code>${shortSha(run.plan.commit)}</code>. Nothing changes until you press a button below.</p>
${facts(run, ['Decide before', html`<strong>${formatTime(new Date(run.validUntil * 1000))}</strong>`])}
${changes(run, view.planText?.status === 'verified')}
${view.planText ? planTextSection(view.planText, run) : ''}
${view.extraSections ?? []}
${decisions(run, view.approver)}
${forms(view)}
${footer(view.consoleUrl, run.plan.logUrl)}`,
  );
}

/** A read-only view of a drift check's plan (handlers/shared/plan-view.ts). */
export interface PlanView extends PlanOfRun {
  readonly planText: PlanTextView;
  readonly consoleUrl: string;
  /** Epoch seconds until which the link works. */
  readonly validUntil: number;
}

/**
 * The plan of a drift check, rendered as the decision page renders a plan (facts, changes, the
 * verified plan text) with no decision controls: no form, no button, nothing to post.
 */
export function planViewPage(view: PlanView): string {
  const { request, plan } = view;
  return page(
    `Plan of ${request.repo} ${request.path} (read-only)`,
    html`<h1>Plan of <code>${request.repo}</code> <code>${request.path}</code></h1>
<p class="note" id="read-only">Read-only: what a drift check planned at commit <code>${shortSha(plan.commit)}</code>, to bring reality back to the code. Nothing can be decided or changed from this page; a deploy of this path asks for approval as usual.</p>
${facts(
  view,
  ['Link works until', html`<strong>${formatTime(new Date(view.validUntil * 1000))}</strong>`],
  'planned only; never applied from here',
)}
${changes(view, view.planText.status === 'verified')}
${planTextSection(view.planText, view, true)}
${footer(view.consoleUrl, plan.logUrl)}`,
  );
}

/** Most resources the plan section renders; the rest is counted. */
export const MAX_PLAN_RESOURCES = 500;
/**
 * Most plan text the plan section renders, in bytes of the page (after escaping), so that even
 * text made of characters that escape long keeps the page far below Lambda's 6 MB response limit.
 */
export const MAX_PLAN_TEXT_BYTES = 1024 * 1024;

/**
 * Why the approve form must not be offered, or undefined when it may: the plan text failed to
 * load or verify, it disagrees with the JSON plan, or destroys or replaces go unnamed.
 */
export function blockedReason(
  view: Pick<DecisionView, 'planText'> & { readonly run?: Pick<ApprovalRun, 'plan'> },
): string | undefined {
  const text = view.planText;
  if (text?.status === 'blocked')
    return 'the plan text could not be verified, and nobody should approve a plan they cannot see';
  if (text?.status === 'verified' && text.check.disagreements.length > 0)
    return 'the plan text does not agree with the JSON plan it was printed from (see why under “The plan”)';
  if (view.run && unlistedDestructive(view.run.plan) > 0)
    return 'the plan destroys or replaces more resources than a run can name, so not every one can be shown to you';
  return undefined;
}

/** Whether the approve form must not be offered (see {@link blockedReason}). */
export function approvalBlocked(
  view: Pick<DecisionView, 'planText'> & { readonly run?: Pick<ApprovalRun, 'plan'> },
): boolean {
  return blockedReason(view) !== undefined;
}

// The counts' own words ("to add", "to change"), so the page speaks one vocabulary.
const GROUP_HEADINGS: Readonly<Record<ActionGroupKey, string>> = {
  destroy: 'To destroy',
  replace: 'To replace',
  update: 'To change in place',
  create: 'To add',
  other: 'Other',
};

const ACTION_LABELS: Readonly<Record<PlanTextAction, string>> = {
  destroy: 'destroy',
  replace: 'replace',
  update: 'change',
  create: 'add',
  read: 'read',
  move: 'move',
  import: 'import',
  forget: 'forget',
  drift: 'changed outside',
  deferred: 'deferred',
  unknown: 'other',
};

const tagClass = (action: PlanTextAction): string =>
  action === 'destroy' || action === 'replace' || action === 'update' || action === 'create'
    ? action
    : 'other';

const PROBLEMS: Readonly<Record<PlanTextProblem, { heading: string; text: string }>> = {
  'checksum-mismatch': {
    heading: 'The plan text failed its integrity check',
    text: 'The stored plan text does not match the SHA-256 recorded when the plan was made, so it is not shown and this run cannot be approved. Reject the run and start a new one, and tell the team that runs deploy-runner: the stored plan text was changed.',
  },
  'not-found': {
    heading: 'The plan text is missing',
    text: 'The plan text recorded with this plan is not in the artifact store (it may have been deleted), so it cannot be shown and this run cannot be approved. Reject the run and start a new one.',
  },
  'too-large': {
    heading: 'The plan text is too large to show',
    text: `The plan text is larger than the ${MAX_PLAN_TEXT_READ_BYTES / (1024 * 1024)} MiB this page reads, so it was not read to the end and this run cannot be approved here. Reject the run and split the change into smaller plans.`,
  },
  unreadable: {
    heading: 'The plan text could not be read',
    text: 'The plan text could not be read from the artifact store, so it cannot be shown and this run cannot be approved. Reload this page in a minute; if it still fails, reject the run and start a new one.',
  },
};

// The same problems on a read-only view, where there is no run to reject.
const READ_ONLY_PROBLEMS: Readonly<Record<PlanTextProblem, string>> = {
  'checksum-mismatch':
    'The stored plan text does not match the SHA-256 recorded when the plan was made, so it is not shown. Tell the team that runs deploy-runner: the stored plan text was changed.',
  'not-found':
    'The plan text recorded with this plan is not in the artifact store (it may have been deleted), so it cannot be shown. The next check makes a new one.',
  'too-large': `The plan text is larger than the ${MAX_PLAN_TEXT_READ_BYTES / (1024 * 1024)} MiB this page reads, so it cannot be shown here; the counts and addresses above come from the JSON plan.`,
  unreadable:
    'The plan text could not be read from the artifact store, so it cannot be shown. Reload this page in a minute.',
};

/** One line of the plan as markup: coloured by its change symbol, escaped by construction. */
function diffLine(line: string): SafeHtml {
  const t = line.trimStart();
  const kind =
    t.startsWith('-/+') || t.startsWith('+/-')
      ? 'r'
      : t.startsWith('+ ') || t === '+'
        ? 'a'
        : t.startsWith('- ') || t === '-'
          ? 'd'
          : t.startsWith('~ ')
            ? 'c'
            : '';
  const cls = `${kind}${line.includes('# forces replacement') ? `${kind ? ' ' : ''}f` : ''}`;
  return cls
    ? html`<span class="${cls}">${visibleHtml(line)}</span>\n`
    : html`${visibleHtml(line)}\n`;
}

/** Lines as markup, cut off where `budget` bytes are spent. */
function diffLines(
  notes: readonly string[],
  lines: readonly string[],
  budget: number,
): { markup: SafeHtml[]; bytes: number; linesLeft: number } {
  const markup: SafeHtml[] = [];
  let bytes = 0;
  const all = [
    ...notes.map((n) => html`<span class="n"># ${visibleHtml(n)}</span>\n`),
    ...lines.map(diffLine),
  ];
  for (const [i, line] of all.entries()) {
    const size = Buffer.byteLength(line.value, 'utf8');
    if (bytes + size > budget) return { markup, bytes, linesLeft: all.length - i };
    markup.push(line);
    bytes += size;
  }
  return { markup, bytes, linesLeft: 0 };
}

const textBytes = (lines: readonly string[]) =>
  lines.reduce((n, l) => n + Buffer.byteLength(l, 'utf8') + 1, 0);

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.ceil(bytes / 1024)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Most disagreements the page names; the rest is counted. */
export const MAX_SHOWN_DISAGREEMENTS = 50;

/** Why the text and the JSON plan disagree (approval is blocked), or what could not be checked. */
function checkMarkup(check: PlanCheck, run: PlanOfRun, readOnly: boolean): SafeHtml | '' {
  const partial = check.partial
    ? html`<p class="note" id="plan-check-partial">The JSON plan lists ${run.plan.changes.length} of ${run.plan.changes.length + run.plan.changesOmitted} changes, so this text was checked against its totals, every destroy and replace, and the changes it lists; the other ${run.plan.changesOmitted} could not be checked by name.</p>`
    : '';
  if (check.disagreements.length === 0) return partial;
  const shown = check.disagreements.slice(0, MAX_SHOWN_DISAGREEMENTS);
  const more = check.disagreements.length - shown.length;
  return html`<div class="error" role="alert" id="plan-mismatch"><p>The plan text does not agree with the plan</p>
<p>Terraform printed this text and the JSON plan from the same plan file, so they must say the same. They do not, so something in the text is not what ${readOnly ? 'the plan would apply:' : 'will be applied: approval is blocked. Reject the run and'} tell the team that runs deploy-runner.</p>
<ul>${shown.map((d) => html`<li>${d.address === undefined ? '' : html`<code>${visibleHtml(d.address)}</code>: `}${visibleHtml(d.message)}</li>`)}${more > 0 ? html`<li>… and ${more} more</li>` : ''}</ul></div>
${partial}`;
}

/**
 * The plan as Terraform printed it: totals, then one collapsible block per resource, destroys
 * and replaces first, each with its attribute changes. At most {@link MAX_PLAN_RESOURCES}
 * resources and {@link MAX_PLAN_TEXT_BYTES} of text; what is left out is counted.
 */
export function planTextSection(
  view: PlanTextView,
  run: PlanOfRun,
  /** A read-only view (no decision): its problems say what to do without a run to reject. */
  readOnly = false,
): SafeHtml {
  const heading = html`<h2 id="plan-h">The plan</h2>`;
  if (view.status === 'unavailable')
    return html`<section aria-labelledby="plan-h">${heading}
<p class="note">This page cannot show the plan text; the ${logLink(run.plan.logUrl)} has it.</p>
</section>`;
  if (view.status === 'blocked') {
    const problem = PROBLEMS[view.problem];
    const text = readOnly ? READ_ONLY_PROBLEMS[view.problem] : problem.text;
    return html`<section aria-labelledby="plan-h">${heading}
<div class="error" role="alert" id="plan-error"><p>${problem.heading}</p><p>${text}</p></div>
</section>`;
  }

  const { plan } = view;
  let budget = MAX_PLAN_TEXT_BYTES;
  let shownResources = 0;
  let omittedResources = 0;
  let omittedOutputs = 0;
  let omittedBytes = 0;
  let truncated: { address: string; linesLeft: number } | undefined;
  const full = () => shownResources >= MAX_PLAN_RESOURCES || budget <= 0 || truncated;

  const resourceBlock = (r: PlanTextResource): SafeHtml | undefined => {
    if (full()) {
      omittedResources++;
      omittedBytes += textBytes([...r.notes, ...r.lines]);
      return undefined;
    }
    const body = diffLines(r.notes, r.lines, budget);
    budget -= body.bytes;
    shownResources++;
    if (body.linesLeft > 0) {
      truncated = { address: r.address, linesLeft: body.linesLeft };
      omittedBytes += textBytes(r.lines.slice(-body.linesLeft));
    }
    return html`<details class="res ${tagClass(r.action)}"><summary><span class="tag ${tagClass(r.action)}">${ACTION_LABELS[r.action]}</span> <code>${visibleHtml(r.address)}</code>${r.headline ? html` <span class="why">${visibleHtml(r.headline)}</span>` : ''}</summary><pre class="diff">${body.markup}${
      body.linesLeft > 0
        ? html`<span class="n">… ${plural(body.linesLeft, 'more line')} of this resource not shown</span>\n`
        : ''
    }</pre></details>`;
  };

  const groups = groupResources(plan.resources);
  const groupMarkup = groups
    .filter((g) => g.resources.length > 0)
    .map((g) => {
      const blocks = g.resources.map(resourceBlock).filter((b) => b !== undefined);
      return html`<h3>${GROUP_HEADINGS[g.key]} (${g.resources.length})</h3>${blocks}`;
    });

  const outputsBlock = (outputs: readonly PlanTextOutput[]): SafeHtml | '' => {
    if (outputs.length === 0) return '';
    if (full()) {
      omittedOutputs = outputs.length;
      omittedBytes += textBytes(outputs.flatMap((o) => o.lines));
      return '';
    }
    const body = diffLines(
      [],
      outputs.flatMap((o) => o.lines),
      budget,
    );
    budget -= body.bytes;
    return html`<h3>Outputs (${outputs.length})</h3><details class="res other"><summary><span class="tag other">outputs</span> Changes to outputs</summary><pre class="diff">${body.markup}${
      body.linesLeft > 0
        ? html`<span class="n">… ${plural(body.linesLeft, 'more line')} not shown</span>\n`
        : ''
    }</pre></details>`;
  };
  const outputs = outputsBlock(plan.outputs);

  // Text that is not laid out the way this page knows: shown as it is rather than not at all.
  const recognized =
    plan.resources.length > 0 || plan.outputs.length > 0 || plan.summaryLine !== undefined;
  let raw: SafeHtml | '' = '';
  if (!recognized && !plan.noChanges && view.text.trim() !== '') {
    const lines = view.text.split('\n');
    const body = diffLines([], lines, budget);
    if (body.linesLeft > 0) omittedBytes += textBytes(lines.slice(-body.linesLeft));
    raw = html`<p class="note">The plan text is not laid out as this page expects, so it is shown as it is.</p><pre class="diff">${body.markup}</pre>`;
  }
  // A text that disagrees with the plan may hide lines from the blocks above (a header the
  // parser refused): the whole text, every character shown, lets the approver see what it says.
  if (view.check.disagreements.length > 0 && raw === '') {
    const lines = view.text.split('\n');
    const body = diffLines([], lines, MAX_PLAN_TEXT_BYTES);
    raw = html`<details class="res other" id="plan-whole"><summary><span class="tag other">text</span> The whole plan text as stored, every character shown</summary><pre class="diff">${body.markup}${
      body.linesLeft > 0
        ? html`<span class="n">… ${plural(body.linesLeft, 'more line')} not shown</span>\n`
        : ''
    }</pre></details>`;
  }

  const left: string[] = [];
  if (omittedResources > 0) left.push(plural(omittedResources, 'resource'));
  if (truncated) left.push(`the end of ${visibleText(truncated.address)}`);
  if (omittedOutputs > 0) left.push(plural(omittedOutputs, 'output'));

  return html`<section aria-labelledby="plan-h" class="plan">${heading}
<p>${run.plan.tool === 'tofu' ? 'OpenTofu' : 'Terraform'}'s own plan text for the saved plan above, verified unchanged since the plan was made. Open a resource to see its attribute changes.</p>
${plan.summaryLine ? html`<p class="plan-total">${visibleHtml(plan.summaryLine)}</p>` : ''}
${checkMarkup(view.check, run, readOnly)}
${
  left.length > 0
    ? html`<p class="note" id="plan-omitted">Not shown here: ${left.join(', ')} (${formatBytes(omittedBytes)} of plan text). This page shows at most ${MAX_PLAN_RESOURCES} resources and ${formatBytes(MAX_PLAN_TEXT_BYTES)} of plan text; the ${logLink(run.plan.logUrl)} has all of it.</p>`
    : ''
}
${plan.noChanges && !recognized ? html`<p>Terraform reports no changes.</p>` : ''}
${groupMarkup}
${outputs}
${raw}
</section>`;
}

export interface MessageView {
  /** Short title and heading. */
  readonly heading: string;
  /** Paragraphs of plain text (escaped) or markup. */
  readonly paragraphs: readonly (string | SafeHtml)[];
  readonly tone?: 'info' | 'error';
  /** The run this is about, for a one-line reminder. */
  readonly run?: ApprovalRun;
  readonly consoleUrl?: string;
  /** Reference id to quote to an operator (server errors). */
  readonly reference?: string;
}

/** Every other page: decided, expired, unknown link, errors. */
export function messagePage(view: MessageView): string {
  const about = view.run
    ? html`<p class="note">Run <code>${view.run.request.repo}</code> <code>${view.run.request.path}</code> at commit <code>${shortSha(view.run.plan.commit)}</code>, requested by ${view.run.request.requestedBy ?? 'CI'}.</p>`
    : '';
  return page(
    view.heading,
    html`<h1>${view.heading}</h1>
${view.paragraphs.map((p, i) =>
  view.tone === 'error' && i === 0 ? html`<p class="error">${p}</p>` : html`<p>${p}</p>`,
)}
${view.reference ? html`<p>Reference: <code>${view.reference}</code></p>` : ''}
${about}
${view.consoleUrl ? footer(view.consoleUrl) : ''}`,
  );
}
