import {
  changeKind,
  MAX_CHANGES_IN_RESULT,
  type PlanResult,
  type RunRequest,
} from '../../lib/contracts';
import { formatDeadline } from '../../lib/deadline';
import { html, type SafeHtml, safeHref } from './html';
import type { EmailMessage, SlackBlock } from './notifier';
import { visibleText } from './visible';

/**
 * The words of every email and Slack message. Each message says what runs where (repo, path,
 * commit, requester, CI run), what it changes (counts, destroys and replaces first), until when
 * a decision is possible, and where to look (console). Never a task token, never attribute
 * values: plans only contribute addresses and actions.
 */

type Counts = PlanResult['counts'];
type ChangeKind = 'add' | 'change' | 'destroy' | 'replace';

export interface ListedChange {
  readonly address: string;
  readonly kind: ChangeKind;
}

/** Most changes other than destroys and replaces a message lists; the rest is counted. */
export const MAX_LISTED_CHANGES = 20;

export function countsLine(counts: Counts): string {
  return `${counts.add} to add, ${counts.change} to change, ${counts.destroy} to destroy, ${counts.replace} to replace`;
}

export function isDestructive(plan: Pick<PlanResult, 'counts'>): boolean {
  return plan.counts.destroy + plan.counts.replace > 0;
}

/**
 * Changes grouped: destroys, then replaces, then the rest, each in plan order. Lists of
 * destroys and replaces are never capped anywhere: every one is named.
 */
export function orderedChanges(plan: Pick<PlanResult, 'changes'>): {
  destructive: ListedChange[];
  other: ListedChange[];
} {
  const destructive: ListedChange[] = [];
  const other: ListedChange[] = [];
  for (const change of plan.changes) {
    const kind = changeKind(change.actions);
    if (kind === undefined) continue;
    (kind === 'destroy' || kind === 'replace' ? destructive : other).push({
      address: change.address,
      kind,
    });
  }
  // Stable: destroys before replaces, each kept in plan order.
  destructive.sort((a, b) => Number(a.kind === 'replace') - Number(b.kind === 'replace'));
  return { destructive, other };
}

/**
 * The sentence for destroys and replaces the plan result could not name (they alone exceed its
 * cap), or undefined when every one is named. Approval of such a run is blocked.
 */
export function unnamedDestructiveLine(
  plan: Pick<PlanResult, 'changes' | 'counts'>,
): string | undefined {
  const listed = orderedChanges(plan).destructive.length;
  const unnamed = plan.counts.destroy + plan.counts.replace - listed;
  if (unnamed <= 0) return undefined;
  return `${unnamed} more destroyed or replaced ${unnamed === 1 ? 'resource is' : 'resources are'} not named: the plan destroys or replaces more than a run can list (${MAX_CHANGES_IN_RESULT}). Approval is blocked; split the change.`;
}

/** "2025-11-25 18:00 UTC", by the one rule the CLI uses too (lib/deadline.ts). */
export const formatTime: (date: Date) => string = formatDeadline;

/** Whether the run's log is known: the runner leaves `logUrl` empty when it could not find it. */
export function hasLog(plan: Pick<PlanResult, 'logUrl'>): boolean {
  return /^https?:\/\/\S/.test(plan.logUrl);
}

export const shortSha = (sha: string) => sha.slice(0, 12);

/** The facts every message about a run repeats. */
export interface RunContext {
  readonly request: RunRequest;
  readonly plan?: PlanResult;
  readonly consoleUrl: string;
}

function factLines(ctx: RunContext): [string, string][] {
  const { request, plan } = ctx;
  const lines: [string, string][] = [
    ['Repository', request.repo],
    ['Path', request.path],
    ['Ref', request.ref],
  ];
  if (plan) lines.push(['Commit', plan.commit]);
  lines.push(['Requested by', request.requestedBy ?? 'unknown (CI did not say)']);
  if (request.ciRunUrl) lines.push(['CI run', request.ciRunUrl]);
  lines.push(['Run', request.runId]);
  return lines;
}

function textFacts(ctx: RunContext): string {
  const lines = factLines(ctx);
  const width = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join('\n');
}

function textChanges(plan: PlanResult): string {
  const { destructive, other } = orderedChanges(plan);
  const out = [`Changes: ${countsLine(plan.counts)}`];
  if (destructive.length > 0) {
    out.push('', '!! DESTROYED OR REPLACED:');
    for (const c of destructive) out.push(`  - ${c.kind.toUpperCase()} ${visibleText(c.address)}`);
  }
  const unnamed = unnamedDestructiveLine(plan);
  if (unnamed) out.push(`  !! ${unnamed}`);
  const room = MAX_LISTED_CHANGES;
  if (other.length > 0) {
    out.push('', 'Other changes:');
    for (const c of other.slice(0, room)) out.push(`  - ${c.kind} ${visibleText(c.address)}`);
  }
  const unlisted = Math.max(0, other.length - room) + (plan.changesOmitted ?? 0);
  if (unlisted > 0) out.push(`  ... and ${unlisted} more (see the approval page or the plan log)`);
  return out.join('\n');
}

const cell = 'padding:4px 12px 4px 0;vertical-align:top;';

function htmlFacts(ctx: RunContext): SafeHtml {
  return html`<table role="presentation" style="border-collapse:collapse;font-size:14px">${factLines(
    ctx,
  ).map(
    ([k, v]) =>
      html`<tr><td style="${cell}color:#4a4a4a">${k}</td><td style="${cell}font-family:Menlo,Consolas,monospace">${
        k === 'CI run' ? html`<a href="${safeHref(v)}">${v}</a>` : v
      }</td></tr>`,
  )}</table>`;
}

function htmlChanges(plan: PlanResult): SafeHtml {
  const { destructive, other } = orderedChanges(plan);
  const room = MAX_LISTED_CHANGES;
  const unnamed = unnamedDestructiveLine(plan);
  const unlisted = Math.max(0, other.length - room) + (plan.changesOmitted ?? 0);
  return html`<p style="font-size:15px"><strong>Changes:</strong> ${countsLine(plan.counts)}</p>
${
  destructive.length > 0
    ? html`<div style="border:2px solid #a4000f;background:#fdecee;border-radius:6px;padding:8px 12px;margin:8px 0">
<p style="margin:0 0 4px;color:#a4000f;font-weight:bold">Destroyed or replaced</p>
<ul style="margin:0;padding-left:20px;font-family:Menlo,Consolas,monospace;font-size:13px">${destructive.map(
        (c) =>
          html`<li><strong style="color:#a4000f">${c.kind.toUpperCase()}</strong> ${visibleText(c.address)}</li>`,
      )}</ul></div>`
    : ''
}
${unnamed ? html`<p style="color:#a4000f;font-weight:bold">${unnamed}</p>` : ''}
${
  other.length > 0
    ? html`<ul style="margin:4px 0;padding-left:20px;font-family:Menlo,Consolas,monospace;font-size:13px">${other
        .slice(0, room)
        .map((c) => html`<li>${c.kind} ${visibleText(c.address)}</li>`)}</ul>`
    : ''
}
${unlisted > 0 ? html`<p style="font-size:13px;color:#4a4a4a">... and ${unlisted} more changes.</p>` : ''}`;
}

function emailDocument(title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title></head>
<body style="margin:0;padding:16px;font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;color:#1a1a1a;background:#ffffff">
<div style="max-width:640px">${body}
<p style="font-size:12px;color:#4a4a4a;margin-top:24px">Sent by deploy-runner.</p></div></body></html>`
    .value;
}

function button(href: string, label: string): SafeHtml {
  return html`<p style="margin:16px 0"><a href="${safeHref(href)}" style="display:inline-block;background:#0b57d0;color:#ffffff;text-decoration:none;font-weight:bold;padding:10px 18px;border-radius:6px">${label}</a></p>`;
}

const where = (r: RunRequest) => `${r.repo} ${r.path}`;

/** Slack mrkdwn: only &, < and > are special. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function slackLink(url: string, label: string): string {
  return `<${url.replace(/[<>|]/g, encodeURIComponent)}|${slackEscape(label)}>`;
}

function slackFacts(ctx: RunContext): string {
  return factLines(ctx)
    .map(([k, v]) =>
      k === 'CI run' ? `*${k}:* ${slackLink(v, 'open')}` : `*${k}:* \`${slackEscape(v)}\``,
    )
    .join('\n');
}

/** Most Slack sections the list of destroys and replaces may take (Slack allows 50 blocks). */
export const MAX_SLACK_CHANGE_SECTIONS = 40;
const SLACK_SECTION_CHARS = 2900;

/**
 * The changes as Slack sections: every destroy and replace by name, split over as many sections
 * as they need (a section holds 3000 characters). Only if even 40 sections cannot hold them does
 * the last one say how many are named on the approval page instead.
 */
function slackChanges(plan: PlanResult): SlackBlock[] {
  const { destructive } = orderedChanges(plan);
  const lines = [`*Changes:* ${countsLine(plan.counts)}`];
  if (destructive.length > 0) lines.push(':warning: *Destroyed or replaced:*');
  const items = destructive.map(
    (c) => `• *${c.kind.toUpperCase()}* \`${slackEscape(visibleText(c.address))}\``,
  );
  const unnamed = unnamedDestructiveLine(plan);
  const sections: string[] = [];
  let current = lines.join('\n');
  let named = 0;
  for (const item of items) {
    if (current.length + 1 + item.length > SLACK_SECTION_CHARS) {
      if (sections.length + 1 >= MAX_SLACK_CHANGE_SECTIONS) break;
      sections.push(current);
      current = item;
    } else current += `\n${item}`;
    named++;
  }
  const tail: string[] = [];
  if (named < items.length)
    tail.push(
      `• ... and ${items.length - named} more destroyed or replaced: they do not fit in Slack; the approval page and the email name every one`,
    );
  if (unnamed) tail.push(`:no_entry: *${slackEscape(unnamed)}*`);
  if (tail.length > 0) {
    const end = tail.join('\n');
    if (current.length + 1 + end.length > SLACK_SECTION_CHARS) {
      sections.push(current);
      current = end;
    } else current += `\n${end}`;
  }
  sections.push(current);
  return sections.map(section);
}

const section = (text: string): SlackBlock => ({
  type: 'section',
  text: { type: 'mrkdwn', text: text.slice(0, 2900) },
});

export interface ApprovalRequestInput extends RunContext {
  readonly plan: PlanResult;
  readonly approverName: string;
  readonly validUntil: Date;
  readonly approvalsRequired: number;
}

function approvalHeadline(input: ApprovalRequestInput): string {
  const destructive = isDestructive(input.plan)
    ? ` (${input.plan.counts.destroy} to destroy, ${input.plan.counts.replace} to replace)`
    : '';
  return `Approval needed: ${where(input.request)}${destructive}`;
}

function quorumLine(required: number): string {
  return required > 1 ? `${required} approvers must approve; one rejection rejects the run.` : '';
}

/** The personal email an approver receives, with their own link. */
export function approvalRequestEmail(
  input: ApprovalRequestInput & { readonly link: string },
): Omit<EmailMessage, 'to'> {
  const subject = `[deploy-runner] ${approvalHeadline(input)}`;
  const expires = formatTime(input.validUntil);
  const text = [
    `Hello ${input.approverName},`,
    '',
    `${input.request.requestedBy ?? 'CI'} asks you to approve a deploy of ${where(input.request)}.`,
    '',
    textFacts(input),
    '',
    textChanges(input.plan),
    '',
    `Review and decide (this link is yours alone, works once, and expires ${expires}):`,
    input.link,
    '',
    quorumLine(input.approvalsRequired),
    `Execution: ${input.consoleUrl}`,
    ...(hasLog(input.plan) ? [`Plan log: ${input.plan.logUrl}`] : []),
  ]
    .filter((line, i, all) => !(line === '' && all[i - 1] === ''))
    .join('\n');
  const body = html`<h1 style="font-size:20px;margin:0 0 8px">${approvalHeadline(input)}</h1>
<p>Hello ${input.approverName}, ${input.request.requestedBy ?? 'CI'} asks you to approve a deploy of <strong>${where(input.request)}</strong>.</p>
${htmlFacts(input)}
${htmlChanges(input.plan)}
${button(input.link, 'Review and decide')}
<p style="font-size:13px;color:#4a4a4a">This link is yours alone, works once, and expires <strong>${expires}</strong>. ${quorumLine(input.approvalsRequired)}</p>
<p style="font-size:13px"><a href="${safeHref(input.consoleUrl)}">Execution in the Step Functions console</a>${hasLog(input.plan) ? html` · <a href="${safeHref(input.plan.logUrl)}">Plan log</a>` : ''}</p>`;
  return { subject, text, html: emailDocument(subject, body) };
}

/** The personal Slack direct message an approver receives, with their own link. */
export function approvalRequestSlack(input: ApprovalRequestInput & { readonly link: string }): {
  text: string;
  blocks: SlackBlock[];
} {
  const expires = formatTime(input.validUntil);
  const text = `${approvalHeadline(input)}: review and decide before ${expires}`;
  return {
    text,
    blocks: [
      section(`*${slackEscape(approvalHeadline(input))}*`),
      section(slackFacts(input)),
      ...slackChanges(input.plan),
      section(
        `${slackLink(input.link, 'Review and decide')} (your personal link; works once; expires ${expires}). ${quorumLine(input.approvalsRequired)}`,
      ),
      section(
        `${slackLink(input.consoleUrl, 'Execution')}${hasLog(input.plan) ? ` · ${slackLink(input.plan.logUrl, 'Plan log')}` : ''}`,
      ),
    ],
  };
}

/** The channel summary: the same facts, and no decision link. */
export function approvalChannelSummary(
  input: Omit<ApprovalRequestInput, 'approverName'> & { readonly approverNames: readonly string[] },
): { text: string; blocks: SlackBlock[] } {
  const expires = formatTime(input.validUntil);
  const headline = approvalHeadline({ ...input, approverName: '' });
  const text = `${headline}: waiting for ${input.approverNames.join(', ')} until ${expires}`;
  return {
    text,
    blocks: [
      section(`*${slackEscape(headline)}*`),
      section(slackFacts(input)),
      ...slackChanges(input.plan),
      section(
        `Waiting for ${slackEscape(input.approverNames.join(', '))} until ${expires}. ${quorumLine(input.approvalsRequired)} ${slackLink(input.consoleUrl, 'Execution')}`,
      ),
    ],
  };
}

/** How a run ended, as the notify function tells it. */
export type ResultKind =
  | 'applied'
  | 'no-changes'
  | 'plan-ready'
  | 'rejected'
  | 'expired'
  | 'failed';

export interface ResultInput extends RunContext {
  readonly kind: ResultKind;
  /** Who approved (applied runs). */
  readonly approver?: string;
  /** What the approvers wrote with their approval, echoed to the requester. */
  readonly comment?: string;
  /** Error name and readable cause (failed, rejected, expired). */
  readonly error?: { readonly Error: string; readonly Cause: string };
  /** Last lines of the runner's output, when the runner failed. */
  readonly tail?: string;
}

const HEADLINES: Record<ResultKind, string> = {
  applied: 'Applied',
  'no-changes': 'No changes',
  'plan-ready': 'Plan ready (plan-only run)',
  rejected: 'Rejected',
  expired: 'Approval expired',
  failed: 'Failed',
};

function resultHeadline(input: ResultInput): string {
  return `${HEADLINES[input.kind]}: ${where(input.request)}`;
}

function resultSentence(input: ResultInput): string {
  switch (input.kind) {
    case 'applied':
      return `The approved plan was applied${input.approver ? ` (approved by ${input.approver}${input.comment ? `: “${input.comment}”` : ''})` : ''}.`;
    case 'no-changes':
      return 'The plan found nothing to change; no approval was needed and nothing was applied.';
    case 'plan-ready':
      return 'The plan is ready. This was a plan-only run: nothing will be applied.';
    default:
      return input.error?.Cause ?? 'The run failed.';
  }
}

export function resultEmail(input: ResultInput): Omit<EmailMessage, 'to'> {
  const subject = `[deploy-runner] ${resultHeadline(input)}`;
  const text = [
    resultHeadline(input),
    '',
    resultSentence(input),
    ...(input.error ? [`Error: ${input.error.Error}`] : []),
    '',
    textFacts(input),
    ...(input.plan ? ['', `Changes: ${countsLine(input.plan.counts)}`] : []),
    ...(input.tail ? ['', 'Last lines of the runner output:', input.tail] : []),
    '',
    `Execution: ${input.consoleUrl}`,
  ].join('\n');
  const bad = input.kind === 'failed' || input.kind === 'rejected' || input.kind === 'expired';
  const body = html`<h1 style="font-size:20px;margin:0 0 8px;color:${bad ? '#a4000f' : '#0b6b2a'}">${resultHeadline(input)}</h1>
<p style="font-size:15px">${resultSentence(input)}</p>
${input.error ? html`<p style="font-size:13px;color:#4a4a4a">Error: <code>${input.error.Error}</code></p>` : ''}
${htmlFacts(input)}
${input.plan ? html`<p style="font-size:14px"><strong>Changes:</strong> ${countsLine(input.plan.counts)}</p>` : ''}
${input.tail ? html`<p style="font-size:14px;margin-bottom:4px"><strong>Last lines of the runner output</strong></p><pre style="background:#f4f5f7;padding:8px;border-radius:6px;font-size:12px;white-space:pre-wrap">${input.tail}</pre>` : ''}
${button(input.consoleUrl, 'Open the execution')}`;
  return { subject, text, html: emailDocument(subject, body) };
}

export function resultSlack(input: ResultInput): { text: string; blocks: SlackBlock[] } {
  const icon =
    input.kind === 'applied' || input.kind === 'no-changes' || input.kind === 'plan-ready'
      ? ':white_check_mark:'
      : ':x:';
  const text = `${resultHeadline(input)}: ${resultSentence(input)}`.slice(0, 3000);
  const blocks = [
    section(
      `${icon} *${slackEscape(resultHeadline(input))}*\n${slackEscape(resultSentence(input))}`,
    ),
    section(slackFacts(input)),
  ];
  if (input.plan) blocks.push(section(`*Changes:* ${countsLine(input.plan.counts)}`));
  if (input.tail) blocks.push(section(`\`\`\`${slackEscape(input.tail.slice(-2500))}\`\`\``));
  blocks.push(section(slackLink(input.consoleUrl, 'Open the execution')));
  return { text, blocks };
}
