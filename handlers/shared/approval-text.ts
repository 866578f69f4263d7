import type { Outcome as RunOutcome } from '../../lib/cli/exit-codes';
import type { ApprovalDecision } from '../../lib/contracts';
import type { PageResponse } from './approval-routes';
import { type MessageView, messagePage } from './approval-views';
import { html } from './html';
import { formatTime } from './messages';
import type { ApprovalLink, ApprovalRun, DecisionRecord } from './store';

/**
 * What the approval page says, pure: its sentences and the message pages it answers with.
 * handlers/approval-page.ts picks which one; this module words it.
 */

/** Longest reason or comment. */
export const MAX_REASON_LENGTH = 1000;

export function messageResponse(
  status: number,
  view: MessageView,
  headers?: Record<string, string>,
): PageResponse {
  return { status, body: messagePage(view), ...(headers && { headers }) };
}

/** What Step Functions says of the run, in one sentence. */
export function liveOutcomeSentence(live: Pick<RunOutcome, 'result' | 'message'>): string {
  if (live.result === 'running') return 'The run is still running.';
  const text = live.message.replace(/[.\s]+$/, '');
  return `Outcome of the run: ${text}.`;
}

/** Who decided the run and when, in one sentence; empty while undecided. */
export function outcomeSentence(run: Pick<ApprovalRun, 'outcome'>): string {
  const o = run.outcome;
  if (!o) return '';
  return o.approved
    ? `The run was approved by ${o.approver} at ${formatTime(new Date(o.decidedAt))}.`
    : `The run was rejected by ${o.approver} at ${formatTime(new Date(o.decidedAt))}${o.reason ? `: “${o.reason}”` : ''}.`;
}

/** Free text from the form: no control characters except newlines and tabs, trimmed. */
export function cleanText(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '')
    .trim();
}

/** Whether Step Functions says the run left the approval wait while the store still waits. */
export function leftTheWait(run: Pick<ApprovalRun, 'status'>, live?: RunOutcome): boolean {
  return run.status === 'pending' && live !== undefined && live.result !== 'running';
}

const decided = (record: Pick<DecisionRecord, 'decision'>) =>
  record.decision === 'approve' ? 'approved' : 'rejected';

/** The page for a link that can no longer decide, or undefined when it still can. */
export function closedPage(
  link: ApprovalLink,
  run: ApprovalRun,
  now: Date,
  consoleUrl: string,
  live?: RunOutcome,
): PageResponse | undefined {
  const common = { run, consoleUrl };
  const liveSentence = live ? liveOutcomeSentence(live) : undefined;
  // The execution left the approval wait without this page: nothing is decided here any more.
  if (leftTheWait(run, live))
    return messageResponse(409, {
      heading: 'This run already ended',
      paragraphs: [
        `The workflow no longer waits for a decision. ${liveSentence}`,
        'CI can start a new run.',
      ],
      ...common,
    });
  if (link.status === 'used') {
    const yours = run.decisions[link.approverId];
    return messageResponse(409, {
      heading: 'You already decided',
      paragraphs: [
        yours
          ? `You ${decided(yours)} this run at ${formatTime(new Date(yours.decidedAt))}. A link works once.`
          : 'This link was already used. A link works once.',
        outcomeSentence(run),
        liveSentence ?? '',
      ].filter((p) => p !== ''),
      ...common,
    });
  }
  if (run.status === 'approved' || run.status === 'rejected')
    return messageResponse(409, {
      heading: 'This run was already decided',
      paragraphs: [
        outcomeSentence(run),
        ...(liveSentence ? [liveSentence] : []),
        'Nothing more is needed from you.',
      ],
      ...common,
    });
  if (run.status === 'ended')
    return messageResponse(409, {
      heading: 'This run already ended',
      paragraphs: [
        `The workflow ended before a decision was made${run.endedReason ? ` (${run.endedReason})` : ''}. ${liveSentence ?? 'Nothing was applied.'} CI can start a new run.`,
      ],
      ...common,
    });
  if (now.getTime() >= link.validUntil * 1000)
    return messageResponse(410, {
      heading: 'This link has expired',
      paragraphs: [
        `Decisions were possible until ${formatTime(new Date(link.validUntil * 1000))}. Nothing was applied; CI can start a new run.`,
      ],
      ...common,
    });
  if (link.status === 'void')
    return messageResponse(409, {
      heading: 'This link is no longer valid',
      paragraphs: [
        'The request it belonged to was replaced or closed. Use the most recent message you received.',
      ],
      ...common,
    });
  return undefined;
}

/** The page that offers to send a recorded but undelivered decision again, and nothing else. */
export function resendPage(
  run: ApprovalRun,
  record: DecisionRecord,
  nonce: string,
  consoleUrl: string,
): PageResponse {
  return messageResponse(200, {
    heading: 'Your decision has not reached the workflow yet',
    paragraphs: [
      `You ${decided(record)} this run at ${formatTime(new Date(record.decidedAt))}, but delivering it failed. Send it again; nothing else changes.`,
      html`<form method="post"><input type="hidden" name="nonce" value="${nonce}"><input type="hidden" name="decision" value="${record.decision}"><button type="submit">Send my decision again</button></form>`,
    ],
    run,
    consoleUrl,
  });
}

/** The page after a decision went to the workflow. */
export function sentPage(
  outcome: ApprovalDecision,
  record: DecisionRecord,
  common: Pick<MessageView, 'run' | 'consoleUrl'>,
): PageResponse {
  return messageResponse(200, {
    heading: outcome.approved
      ? 'Approved: the apply starts now'
      : 'Rejected: nothing will be applied',
    paragraphs: [
      outcome.approved
        ? `Approved by ${outcome.approver}. The workflow applies exactly the plan you saw (saved plan sha256:${outcome.planSha256.slice(0, 12)}…).`
        : `You rejected the run${record.reason ? `: “${record.reason}”` : ''}. The requester is told.`,
      ...(outcome.approved && record.reason
        ? [`Your comment, which the requester sees: “${record.reason}”`]
        : []),
    ],
    ...common,
  });
}

/** The page when the workflow stopped waiting before the decision reached it. */
export function taskGonePage(
  errorName: string,
  common: Pick<MessageView, 'run' | 'consoleUrl'>,
  live?: RunOutcome,
): PageResponse {
  return messageResponse(errorName === 'TaskTimedOut' ? 410 : 409, {
    heading: 'This run already ended',
    paragraphs: [
      errorName === 'TaskTimedOut'
        ? 'The time to decide ran out before your decision arrived. Your decision was not applied; CI can start a new run.'
        : 'The workflow no longer waits for a decision (it was stopped, failed or answered otherwise). Your decision was not applied.',
      ...(live ? [liveOutcomeSentence(live)] : []),
    ],
    ...common,
  });
}

/** The page while an approval waits for more approvers. */
export function waitingPage(
  approvals: number,
  required: number,
  common: Pick<MessageView, 'run' | 'consoleUrl'>,
): PageResponse {
  return messageResponse(200, {
    heading: 'Your approval is recorded',
    paragraphs: [
      `${approvals} of ${required} required approvals so far. The run waits for the others; nothing is applied until then.`,
    ],
    ...common,
  });
}

/** Pages that depend on nothing but the request. */
export const FIXED_PAGES = {
  notFound: () =>
    messageResponse(404, {
      heading: 'Nothing here',
      paragraphs: ['Open the approval link from your email or Slack message.'],
    }),
  methodNotAllowed: (allow: string) =>
    messageResponse(
      405,
      { heading: 'Method not allowed', paragraphs: ['Open the approval link in a browser.'] },
      { allow },
    ),
  unknownLink: () =>
    messageResponse(404, {
      heading: 'Unknown approval link',
      paragraphs: [
        'This link does not exist, or is so old that it was deleted. Check that the whole link was copied.',
      ],
    }),
  crossSite: () =>
    messageResponse(403, {
      heading: 'This form came from another site',
      tone: 'error',
      paragraphs: [
        'Decisions are only accepted from the approval page itself. Nothing was recorded. Open your link again to decide.',
      ],
    }),
  tooLarge: () =>
    messageResponse(413, {
      heading: 'Too much data',
      tone: 'error',
      paragraphs: ['The form sent more than the page ever sends. Open your link again.'],
    }),
  unreadableForm: (hint: string) =>
    messageResponse(400, {
      heading: 'The form could not be read',
      tone: 'error',
      paragraphs: [hint],
    }),
  badNonce: (expired: boolean) =>
    messageResponse(403, {
      heading: 'Please reload the page',
      tone: 'error',
      paragraphs: [
        expired
          ? 'The page was open for too long. Open your link again and decide within 30 minutes.'
          : 'This form did not come from the approval page. Open your link again to decide.',
      ],
    }),
  notRecorded: () =>
    messageResponse(409, {
      heading: 'Your decision was not recorded',
      paragraphs: ['You, or this link, already decided on this run.'],
    }),
  failed: (reference: string) =>
    messageResponse(500, {
      heading: 'Something went wrong',
      tone: 'error',
      paragraphs: [
        'Your request could not be completed. If you were deciding, open your link again to see whether your decision was recorded.',
        html`Quote the reference below to the team that runs deploy-runner.`,
      ],
      reference,
    }),
  misconfigured: (reference: string) =>
    messageResponse(500, {
      heading: 'Something went wrong',
      tone: 'error',
      paragraphs: ['The approval page is not set up correctly. Nothing was decided.'],
      reference,
    }),
} as const;

/** The page refusing a self-approval. */
export function selfApprovalPage(common: Pick<MessageView, 'run' | 'consoleUrl'>): PageResponse {
  return messageResponse(403, {
    heading: 'You cannot approve your own run',
    tone: 'error',
    paragraphs: [
      'You requested this run, so another approver must approve it. You can still reject it from your link.',
    ],
    ...common,
  });
}
