import type { ExecutionRecord, HistoryEvent, LocalEngine } from './engine';
import { LOCAL_LOG_GROUP, type LocalLogService } from './log-service';

/**
 * Read-only pages that stand in for the Step Functions console in local mode: a list of runs and,
 * per run, the states it went through with each state's output, and the runner's log lines.
 */

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #d0d7de;vertical-align:top}
.SUCCEEDED{color:#1a7f37}.FAILED,.TIMED_OUT,.ABORTED{color:#cf222e}.RUNNING{color:#9a6700}
pre{background:#f6f8fa;padding:.5rem;overflow:auto;max-height:24rem;font-size:13px}`;

const page = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;

const time = (seconds: number) =>
  new Date(seconds * 1000).toISOString().replace('T', ' ').slice(0, 19);

export function renderIndexPage(engine: LocalEngine): string {
  const rows = engine
    .executions()
    .sort((a, b) => b.startDate - a.startDate)
    .map(
      (r) =>
        `<tr><td><a href="/executions/${encodeURIComponent(r.executionArn)}">${escapeHtml(r.name)}</a></td><td class="${r.status}">${r.status}</td><td>${time(r.startDate / 1000)}</td></tr>`,
    )
    .join('');
  return page(
    'deploy-runner (local)',
    `<h1>deploy-runner runs (local)</h1><p>State machine <code>${escapeHtml(engine.stateMachineArn)}</code></p>` +
      (rows
        ? `<table><tr><th>Run</th><th>Status</th><th>Started (UTC)</th></tr>${rows}</table>`
        : '<p>No runs yet.</p>'),
  );
}

function stateRows(events: readonly HistoryEvent[]): string {
  return events
    .filter((e) => e.type.endsWith('StateExited') || e.type.startsWith('Execution'))
    .map((e) => {
      const details = (e.stateExitedEventDetails ??
        e.executionFailedEventDetails ??
        e.executionAbortedEventDetails ??
        e.executionTimedOutEventDetails ??
        e.executionSucceededEventDetails ??
        {}) as Record<string, string>;
      const label = details.name ?? e.type;
      let body = details.output ?? [details.error, details.cause].filter(Boolean).join(': ');
      try {
        body = JSON.stringify(JSON.parse(body), null, 2);
      } catch {
        // not JSON: shown as it is
      }
      return `<tr><td>${time(e.timestamp)}</td><td>${escapeHtml(label)}</td><td><details><summary>output</summary><pre>${escapeHtml(body ?? '')}</pre></details></td></tr>`;
    })
    .join('');
}

export function renderExecutionPage(
  arn: string,
  record: ExecutionRecord | undefined,
  logs: LocalLogService,
): string {
  if (!record) return page('Run not found', `<h1>Run not found</h1><p>${escapeHtml(arn)}</p>`);
  const streams = record.events
    .filter((e) => e.type === 'TaskSubmitted')
    .map((e) => {
      const output =
        (e.taskSubmittedEventDetails as { output?: string } | undefined)?.output ?? '{}';
      const taskArn = (JSON.parse(output) as { Tasks?: Array<{ TaskArn?: string }> }).Tasks?.[0]
        ?.TaskArn;
      return taskArn ? `runner/runner/${taskArn.split('/').at(-1)}` : undefined;
    })
    .filter((s): s is string => s !== undefined);
  const logBlocks = streams
    .map(
      (s) =>
        `<h3>${escapeHtml(s)}</h3><pre>${escapeHtml(logs.lines(LOCAL_LOG_GROUP, s).join('\n'))}</pre>`,
    )
    .join('');
  return page(
    `${record.name} — deploy-runner`,
    `<p><a href="/">All runs</a></p><h1>${escapeHtml(record.name)}</h1>` +
      `<p>Status: <strong class="${record.status}">${record.status}</strong>${record.error ? ` — ${escapeHtml(record.error)}: ${escapeHtml(record.cause ?? '')}` : ''}</p>` +
      `<h2>States</h2><table><tr><th>Time (UTC)</th><th>State</th><th>Output</th></tr>${stateRows(record.events)}</table>` +
      (logBlocks ? `<h2>Runner logs</h2>${logBlocks}` : ''),
  );
}
