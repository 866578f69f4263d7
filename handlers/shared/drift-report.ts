import { createHash } from 'node:crypto';
import {
  changeKind,
  type DriftOutcome,
  type ExecutionInput,
  executionName,
  type PlanResult,
  type RunRequest,
} from '../../lib/contracts';
import { DRIFT_REQUESTER } from '../../lib/drift-input';
import type { DriftRecord, DriftStore } from './drift-store';
import { describeError, errorName } from './errors';
import { escapeHtml } from './html';
import { formatTime } from './messages';
import type { Notifier } from './notifier';

/**
 * The drift phase of the notify function (docs/drift.md): quiet when nothing drifted, one message
 * per new drift (counts, addresses with destroys and replaces first, a read-only link to the plan),
one message
 * when a check starts failing and none while it keeps failing.
 */

export interface DriftReportDeps {
  readonly notifier: Notifier;
  readonly store: DriftStore;
  readonly emails: readonly string[];
  readonly slackChannels: readonly string[];
  readonly consoleUrl: string;
  /**
   * Issues a read-only view of the plan (handlers/shared/plan-view.ts) for the message.
   * @default - the message links the run page (`consoleUrl`)
   */
  readonly viewLink?: (plan: PlanResult) => Promise<{ link: string; validUntil: number }>;
  /** Starts a normal run asking for approval; resolves to its execution ARN. */
  readonly startRun?: (input: ExecutionInput, name: string) => Promise<string>;
  readonly now?: () => Date;
}

const MAX_LISTED = 50;
const ORDER = { replace: 0, destroy: 1, change: 2, add: 3 } as const;

/** Destroys and replaces first, then changes, then adds; within each, by address. */
export function driftedAddresses(plan: PlanResult): { address: string; kind: string }[] {
  return plan.changes
    .flatMap((c) => {
      const kind = changeKind(c.actions);
      return kind ? [{ address: c.address, kind }] : [];
    })
    .sort(
      (a, b) =>
        ORDER[a.kind as keyof typeof ORDER] - ORDER[b.kind as keyof typeof ORDER] ||
        a.address.localeCompare(b.address),
    );
}

function countsLine(plan: PlanResult): string {
  const { add, change, destroy, replace } = plan.counts;
  return `${add} to add, ${change} to change, ${destroy} to destroy, ${replace} to replace`;
}

function fingerprintOf(plan: PlanResult): string {
  const text = driftedAddresses(plan)
    .map((a) => `${a.kind} ${a.address}`)
    .join('\n');
  return createHash('sha256').update(text).digest('hex');
}

async function deliver(deps: DriftReportDeps, subject: string, text: string): Promise<number> {
  const htmlBody = `<pre style="font-family:monospace">${escapeHtml(text)}</pre>`;
  const settled = await Promise.allSettled([
    ...deps.emails.map((to) => deps.notifier.sendEmail({ to, subject, text, html: htmlBody })),
    ...deps.slackChannels.map((channel) =>
      deps.notifier.sendSlack({ channel, text: `*${subject}*\n${text}` }),
    ),
  ]);
  return settled.filter((s) => s.status === 'fulfilled').length;
}

/** `Drift: report`: the plan of a drift check is in; decide whether anyone hears about it. */
export async function reportDrift(
  request: RunRequest,
  plan: PlanResult,
  executionArn: string,
  deps: DriftReportDeps,
): Promise<DriftOutcome> {
  const now = (deps.now ?? (() => new Date()))();
  const where = `${request.repo} ${request.path} at ${request.ref} (${plan.commit.slice(0, 7)})`;
  const previous = await deps.store.get(request.repo, request.path);
  const record = (status: DriftRecord['status'], fingerprint: string) =>
    deps.store.put(request.repo, request.path, {
      status,
      at: now.toISOString(),
      executionArn,
      fingerprint,
    });
  if (!plan.hasChanges) {
    await record('clean', '');
    return {
      drifted: false,
      summary: `No drift: ${where} matches its code.`,
      counts: plan.counts,
      notified: 0,
    };
  }
  const fingerprint = fingerprintOf(plan);
  const counts = countsLine(plan);
  if (previous?.status === 'drifted' && previous.fingerprint === fingerprint) {
    // The same drift as last time: people heard about it then (and any approval run started).
    await record('drifted', fingerprint);
    return {
      drifted: true,
      summary: `Drift unchanged since ${previous.at}: ${where}: ${counts}. Reported then; no new message.`,
      counts: plan.counts,
      notified: 0,
    };
  }
  let approvalRun: string | undefined;
  if (request.drift === 'request-approval' && deps.startRun) {
    const name = executionName({
      repo: request.repo,
      path: request.path,
      sha: plan.commit,
      ciRunId: `drift-${createHash('sha256').update(executionArn).digest('hex').slice(0, 12)}`,
    });
    try {
      approvalRun = await deps.startRun(
        {
          repo: request.repo,
          ref: request.ref,
          path: request.path,
          requestedBy: DRIFT_REQUESTER,
          ...(/^https?:\/\//.test(deps.consoleUrl) ? { ciRunUrl: deps.consoleUrl } : {}),
        },
        name,
      );
    } catch (error) {
      // A retried report finds its run already started under the same name.
      if (errorName(error) !== 'ExecutionAlreadyExists') throw error;
      approvalRun = name;
    }
  }
  const listed = driftedAddresses(plan);
  const view = deps.viewLink ? await deps.viewLink(plan) : undefined;
  const lines = [
    `Drift found in ${where}: ${counts}.`,
    'Reality no longer matches the code. Nothing was changed by this check.',
    '',
    ...listed.slice(0, MAX_LISTED).map((a) => `  ${a.kind.padEnd(8)} ${a.address}`),
    ...(listed.length > MAX_LISTED || plan.changesOmitted > 0
      ? [
          `  … and ${listed.length - Math.min(listed.length, MAX_LISTED) + plan.changesOmitted} more`,
        ]
      : []),
    '',
    approvalRun
      ? `A run asking for approval to bring it back to the code was started: ${approvalRun}`
      : 'To bring it back to the code, start a deploy of this path (or change the code to match).',
    view
      ? `Plan (read-only, the link works until ${formatTime(new Date(view.validUntil * 1000))}): ${view.link}`
      : `Run: ${deps.consoleUrl}`,
  ];
  const notified = await deliver(
    deps,
    `Drift: ${request.repo} ${request.path}: ${counts}`,
    lines.join('\n'),
  );
  await record('drifted', fingerprint);
  return {
    drifted: true,
    summary: `Drift found: ${where}: ${counts}.`,
    counts: plan.counts,
    notified,
    ...(approvalRun ? { approvalRun } : {}),
  };
}

/**
 * `Notify failure` of a drift check: tells people once when a path's check starts failing (or
 * fails differently), then stays quiet while it keeps failing the same way.
 */
export async function reportDriftFailure(
  request: RunRequest,
  error: { Error: string; Cause: string },
  executionArn: string,
  deps: DriftReportDeps,
): Promise<{ notified: number; repeated: boolean }> {
  const now = (deps.now ?? (() => new Date()))();
  let previous: DriftRecord | undefined;
  try {
    previous = await deps.store.get(request.repo, request.path);
  } catch (cause) {
    // Without the last state, telling twice beats never telling.
    previous = undefined;
    void describeError(cause);
  }
  const repeated = previous?.status === 'failed' && previous.fingerprint === error.Error;
  let notified = 0;
  if (!repeated)
    notified = await deliver(
      deps,
      `Drift check failing: ${request.repo} ${request.path}`,
      [
        `The drift check of ${request.repo} ${request.path} at ${request.ref} failed: ${error.Error}`,
        error.Cause,
        '',
        'You will not be told again while it keeps failing this way; the next check that works reports as usual.',
        `Run: ${deps.consoleUrl}`,
      ].join('\n'),
    );
  await deps.store.put(request.repo, request.path, {
    status: 'failed',
    at: now.toISOString(),
    executionArn,
    fingerprint: error.Error,
  });
  return { notified, repeated };
}
