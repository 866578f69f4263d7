import { html, page, type SafeHtml, safeHref } from './html';
import {
  countsLine,
  formatTime,
  isDestructive,
  type ListedChange,
  orderedChanges,
  shortSha,
} from './messages';
import type { ApprovalRun, ApproverRef, DecisionRecord } from './store';

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
  readonly values?: { readonly reason?: string; readonly confirm?: string };
  /** Extra sections after the changes (for example the plan text). @default none */
  readonly extraSections?: readonly SafeHtml[];
}

function facts(run: ApprovalRun): SafeHtml {
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
      'Plan checksum',
      html`<code title="${plan.planSha256}">sha256:${shortSha(plan.planSha256)}…</code>`,
    ],
    ['Decide before', html`<strong>${formatTime(new Date(run.validUntil * 1000))}</strong>`],
  ];
  return html`<section aria-labelledby="facts-h">
<h2 id="facts-h">What runs</h2>
<dl class="facts">${rows.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>
</section>`;
}

function changeItems(changes: readonly ListedChange[]): SafeHtml {
  const shown = changes.slice(0, MAX_PAGE_CHANGES);
  return html`<ul class="changes">${shown.map(
    (c) => html`<li><code>${c.address}</code><span class="tag ${c.kind}">${c.kind}</span></li>`,
  )}${
    changes.length > shown.length ? html`<li>… and ${changes.length - shown.length} more</li>` : ''
  }</ul>`;
}

function changes(run: ApprovalRun): SafeHtml {
  const { plan } = run;
  const { destructive, other } = orderedChanges(plan);
  const count = (n: number, label: string, hot: boolean) =>
    html`<li class="${hot && n > 0 ? 'hot' : ''}"><strong>${n}</strong> ${label}</li>`;
  return html`<section aria-labelledby="changes-h">
<h2 id="changes-h">What changes</h2>
<ul class="counts" aria-label="${countsLine(plan.counts)}">
${count(plan.counts.add, 'to add', false)}${count(plan.counts.change, 'to change', false)}${count(plan.counts.destroy, 'to destroy', true)}${count(plan.counts.replace, 'to replace', true)}
</ul>
${
  destructive.length > 0
    ? html`<div class="danger" role="note" aria-labelledby="destructive-h">
<h3 id="destructive-h">Destroyed or replaced (${destructive.length})</h3>
<p>These resources will be deleted, or deleted and created again. Data they hold may be lost.</p>
${changeItems(destructive)}
</div>`
    : ''
}
${other.length > 0 ? html`<h3>Other changes (${other.length})</h3>${changeItems(other)}` : ''}
${
  plan.changesOmitted > 0
    ? html`<p class="note">${plan.changesOmitted} more changes are not listed here; the <a href="${safeHref(plan.logUrl)}" rel="noreferrer">plan log</a> has all of them.</p>`
    : ''
}
</section>`;
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
  const { run, nonce, values } = view;
  const destructive = isDestructive(run.plan);
  const approve = view.selfApproval
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
<input type="text" id="approve-reason" name="reason" maxlength="1000" autocomplete="off">
<button type="submit" class="approve">Approve and apply</button>
</form>`;
  return html`<section aria-labelledby="decide-h">
<h2 id="decide-h">Your decision, ${view.approver.name}</h2>
${view.error ? html`<p class="error" role="alert" id="form-error">${view.error}</p>` : ''}
${approve}
<form method="post" class="decide" aria-labelledby="reject-h">
<h3 id="reject-h">Reject</h3>
<input type="hidden" name="nonce" value="${nonce}">
<input type="hidden" name="decision" value="reject">
<label for="reject-reason">Why do you reject it?</label>
<p class="hint" id="reject-hint">The requester sees this reason.</p>
<textarea id="reject-reason" name="reason" required maxlength="1000" aria-describedby="reject-hint">${values?.reason ?? ''}</textarea>
<button type="submit" class="reject">Reject</button>
</form>
<p class="hint">Your link works once: after you decide, it cannot be used again.</p>
</section>`;
}

function footer(consoleUrl: string, logUrl?: string): SafeHtml {
  return html`<footer><p><a href="${safeHref(consoleUrl)}" rel="noreferrer">Execution in the Step Functions console</a>${
    logUrl ? html` · <a href="${safeHref(logUrl)}" rel="noreferrer">Plan log</a>` : ''
  }</p></footer>`;
}

/** The confirmation page: what runs, what changes, who decided, and the two forms. */
export function decisionPage(view: DecisionView): string {
  const { run } = view;
  const title = `Approve ${run.request.repo} ${run.request.path}?`;
  return page(
    title,
    html`<h1>Deploy <code>${run.request.repo}</code> <code>${run.request.path}</code>?</h1>
<p>${run.request.requestedBy ?? 'CI'} asks to apply commit <code>${shortSha(run.plan.commit)}</code>. Nothing changes until you press a button below.</p>
${facts(run)}
${changes(run)}
${view.extraSections ?? []}
${decisions(run, view.approver)}
${forms(view)}
${footer(view.consoleUrl, run.plan.logUrl)}`,
  );
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
