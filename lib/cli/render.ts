import { formatDeadline } from '../deadline';
import { isCi } from './ci-env';
import type { Outcome } from './exit-codes';
import type { FollowEvent, PlanSummary } from './history';
import { taskIdOf } from './logs';
import { neutraliseLine } from './neutralise';

/** Where output goes: process.stdout, or a fake in tests. */
export interface OutputStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

/** tty: spinner and redrawn status line; plain: one line per fact; json: one JSON object per line. */
export type RenderMode = 'tty' | 'plain' | 'json';

/**
 * Picks the output style. A terminal gets the spinner unless `CI` is set (some CI systems
 * allocate a pseudo-terminal whose log cannot redraw lines) or `TERM=dumb`. Colour follows the
 * mode, except that NO_COLOR (any non-empty value) always wins, FORCE_COLOR=0 or false turns it
 * off, and any other FORCE_COLOR colours plain output.
 */
export function renderSettings(options: { stream: OutputStream; env: Env; json?: boolean }): {
  mode: RenderMode;
  color: boolean;
} {
  const { stream, env } = options;
  if (options.json) return { mode: 'json', color: false };
  // TERM=dumb: a terminal that cannot move the cursor or show colour (Emacs shells, some CIs).
  const dumb = env.TERM === 'dumb';
  const mode: RenderMode = stream.isTTY && !isCi(env) && !dumb ? 'tty' : 'plain';
  if (env.NO_COLOR) return { mode, color: false };
  const force = env.FORCE_COLOR;
  if (force === '0' || force === 'false') return { mode, color: false };
  if (force !== undefined && force !== '') return { mode, color: true };
  return { mode, color: mode === 'tty' };
}

const ANSI = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
} as const;
type Style = keyof typeof ANSI;

const ANSI_PATTERN = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** Removes ANSI escapes (the runner's tool output may carry colour codes). */
export function stripAnsi(text: string): string {
  return text.replace(ANSI_PATTERN, '');
}

export interface RendererOptions {
  readonly stream: OutputStream;
  readonly env: Env;
  readonly json?: boolean;
  /** Animate a spinner on a terminal. @default true */
  readonly spinner?: boolean;
  /** @default Date.now */
  readonly now?: () => number;
}

const SPINNER_FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** Prints what the CLI learns, in the style renderSettings chose. */
export class Renderer {
  readonly mode: RenderMode;
  readonly color: boolean;
  private readonly stream: OutputStream;
  private readonly now: () => number;
  private readonly animate: boolean;
  private timer?: NodeJS.Timeout;
  private frame = 0;
  private status?: { text: string; since: number; until?: number };
  private statusShown = false;
  /**
   * GitHub Actions folds a task's output between `::group::` and `::endgroup::`, GitLab CI
   * between `section_start` and `section_end` markers.
   */
  private readonly foldTaskOutput?: 'github' | 'gitlab';
  /** The open fold: GitLab's end marker repeats the section's name. */
  private groupOpen?: string;

  constructor(options: RendererOptions) {
    const settings = renderSettings(options);
    this.mode = settings.mode;
    this.color = settings.color;
    this.stream = options.stream;
    this.now = options.now ?? Date.now;
    this.animate = this.mode === 'tty' && options.spinner !== false;
    this.foldTaskOutput =
      this.mode === 'plain'
        ? options.env.GITHUB_ACTIONS === 'true'
          ? 'github'
          : options.env.GITLAB_CI === 'true'
            ? 'gitlab'
            : undefined
        : undefined;
  }

  /** Writes a machine-readable record (json mode only). */
  json(record: Record<string, unknown>): void {
    if (this.mode === 'json') this.stream.write(`${JSON.stringify(record)}\n`);
  }

  /** Writes a line for people (not in json mode). */
  line(text = ''): void {
    if (this.mode === 'json') return;
    this.clearStatus();
    // The one way text reaches the log: see neutralise.ts for what untrusted text could do.
    this.stream.write(`${neutraliseLine(text, { keepColour: this.color })}\n`);
    this.drawStatus();
  }

  /** Reports one follow event. */
  event(event: FollowEvent): void {
    if (this.mode === 'json') {
      this.json({ ...event });
      return;
    }
    if (this.foldTaskOutput) this.fold(event);
    for (const text of this.describe(event)) this.line(text);
  }

  /** Stops the spinner and clears its line; call before exiting. */
  close(): void {
    this.endFold();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clearStatus();
    this.status = undefined;
  }

  /** A task's lines all come before the next state (follow.ts drains them), so one group fits. */
  private fold(event: FollowEvent) {
    if (event.type === 'log' || event.type === 'retry') return;
    this.endFold();
    if (event.type !== 'task-started') return;
    const taskId = taskIdOf(event.taskArn);
    const title = neutraliseLine(`${event.state} output (task ${taskId})`);
    if (this.foldTaskOutput === 'github') {
      this.stream.write(`::group::${title}\n`);
      this.groupOpen = 'group';
      return;
    }
    // GitLab section names allow [A-Za-z0-9_.-] only.
    const name = `${event.state}_${taskId}`.toLowerCase().replace(/[^a-z0-9_.-]/g, '_');
    this.stream.write(`\x1b[0Ksection_start:${this.unixTime()}:${name}\r\x1b[0K${title}\n`);
    this.groupOpen = name;
  }

  private endFold() {
    if (!this.groupOpen) return;
    this.stream.write(
      this.foldTaskOutput === 'github'
        ? '::endgroup::\n'
        : `\x1b[0Ksection_end:${this.unixTime()}:${this.groupOpen}\r\x1b[0K\n`,
    );
    this.groupOpen = undefined;
  }

  private unixTime() {
    return Math.floor(this.now() / 1000);
  }

  paint(style: Style, text: string): string {
    if (!this.color) return text;
    const [on, off] = ANSI[style];
    return `\x1b[${on}m${text}\x1b[${off}m`;
  }

  private describe(event: FollowEvent): string[] {
    const c = (style: Style, text: string) => this.paint(style, text);
    switch (event.type) {
      case 'execution':
        return [
          `Following ${c('bold', event.name ?? event.executionArn)}${event.status ? ` (${event.status})` : ''}`,
        ];
      case 'state': {
        this.setStatus(event.name, event.at);
        const time = event.at ? `${c('dim', clockTime(event.at))} ` : '';
        return [`${time}${this.mode === 'tty' ? c('cyan', '▸') : '->'} ${c('bold', event.name)}`];
      }
      case 'plan':
        return formatPlanSummary(event.summary, this);
      case 'approval-requested': {
        if (event.expiresAt) this.setStatus('Waiting for approval', undefined, event.expiresAt);
        return [c('yellow', formatApprovalRequest(event, this.now()))];
      }
      case 'approval-decided':
        return [
          event.approved
            ? c(
                'green',
                `   Approved by ${event.approver ?? 'an approver'}${event.reason ? `: ${event.reason}` : ''}`,
              )
            : c(
                'red',
                `   Rejected by ${event.approver ?? 'an approver'}${event.reason ? `: ${event.reason}` : ''}`,
              ),
        ];
      case 'task-started':
        return [c('dim', `   ${event.state} runs as ECS task ${event.taskArn}`)];
      case 'log': {
        const gutter =
          this.mode === 'tty' ? c('dim', '   │ ') : `   ${event.state.toLowerCase()} | `;
        return [`${gutter}${event.message}`];
      }
      case 'retry':
        return [
          c(
            'dim',
            `   (${event.error}; retrying ${event.operation} in ${(event.delayMs / 1000).toFixed(1)} s)`,
          ),
        ];
      case 'result':
        this.close();
        return [formatOutcome(event, this)];
    }
  }

  private setStatus(text: string, at: Date | undefined, until?: Date) {
    this.status = { text, since: at?.getTime() ?? this.now(), until: until?.getTime() };
    if (this.animate && !this.timer) {
      this.timer = setInterval(() => {
        this.frame = (this.frame + 1) % SPINNER_FRAMES.length;
        this.clearStatus();
        this.drawStatus();
      }, 100);
      this.timer.unref();
    }
  }

  private drawStatus() {
    if (!this.animate || !this.status) return;
    const { text, since, until } = this.status;
    const detail =
      until !== undefined
        ? `expires in ${formatDuration(until - this.now())}`
        : formatDuration(this.now() - since);
    this.stream.write(
      `${this.paint('cyan', SPINNER_FRAMES[this.frame])} ${text} ${this.paint('dim', `(${detail})`)}`,
    );
    this.statusShown = true;
  }

  private clearStatus() {
    if (!this.statusShown) return;
    this.stream.write('\r\x1b[K');
    this.statusShown = false;
  }
}

const SYMBOLS: Record<string, string> = {
  replace: '-/+',
  destroy: '-',
  add: '+',
  change: '~',
  read: '<=',
  other: ' ',
};

function kindOf(actions: readonly string[]): keyof typeof SYMBOLS {
  if (actions.includes('create') && actions.includes('delete')) return 'replace';
  if (actions.includes('delete')) return 'destroy';
  if (actions.includes('create')) return 'add';
  if (actions.includes('update')) return 'change';
  if (actions.includes('read')) return 'read';
  return 'other';
}

/** Non-destructive changes listed before "... and N more". Destroys and replaces are all listed. */
const MAX_OTHER_CHANGES = 20;

/** The plan counts, then destructive addresses, then the rest (capped). */
export function formatPlanSummary(
  summary: PlanSummary,
  painter: { paint(style: Style, text: string): string } = { paint: (_s, t) => t },
): string[] {
  const c = painter.paint.bind(painter);
  const facts = [
    summary.tool && `${summary.tool}${summary.toolVersion ? ` ${summary.toolVersion}` : ''}`,
    summary.commit && `commit ${summary.commit.slice(0, 7)}`,
  ].filter(Boolean);
  const suffix = facts.length > 0 ? ` (${facts.join(', ')})` : '';
  if (!summary.hasChanges) return [`   Plan: no changes${suffix}`];
  const { add, change, destroy, replace } = summary.counts;
  const destructive = destroy + replace > 0;
  const counts = [
    `${add} to add`,
    `${change} to change`,
    c(destroy > 0 ? 'red' : 'dim', `${destroy} to destroy`),
    c(replace > 0 ? 'red' : 'dim', `${replace} to replace`),
  ].join(', ');
  const lines = [`   Plan: ${counts}${suffix}`];
  const ordered = summary.changes
    .map((change) => ({ ...change, kind: kindOf(change.actions) }))
    .filter((change) => change.kind !== 'other');
  const first = ordered.filter((ch) => ch.kind === 'destroy' || ch.kind === 'replace');
  const rest = ordered.filter((ch) => ch.kind !== 'destroy' && ch.kind !== 'replace');
  if (destructive && first.length > 0) {
    lines.push(c('red', '   Destroys or replaces:'));
    for (const ch of first) lines.push(c('red', `     ${SYMBOLS[ch.kind]} ${ch.address}`));
  }
  const shown = rest.slice(0, MAX_OTHER_CHANGES);
  // Under their own heading: after "Destroys or replaces:" they would read as destroyed.
  if (first.length > 0 && shown.length > 0) lines.push('   Other changes:');
  for (const ch of shown) {
    const style: Style = ch.kind === 'add' ? 'green' : ch.kind === 'change' ? 'yellow' : 'dim';
    lines.push(c(style, `     ${SYMBOLS[ch.kind]} ${ch.address}`));
  }
  const more = rest.length - shown.length + summary.changesOmitted;
  if (more > 0) lines.push(c('dim', `     ... and ${more} more`));
  return lines;
}

/** "Waiting for approval from A, B (2 approvals needed); expires ... (in 23h 59m)". */
export function formatApprovalRequest(
  event: Extract<FollowEvent, { type: 'approval-requested' }>,
  now: number,
): string {
  const who = event.approvers.length > 0 ? ` from ${event.approvers.join(', ')}` : '';
  const needed =
    event.approvalsRequired && event.approvalsRequired > 1
      ? ` (${event.approvalsRequired} approvals needed)`
      : '';
  const expires = event.expiresAt
    ? `; expires ${formatDeadline(event.expiresAt)} (in ${formatDuration(event.expiresAt.getTime() - now)})`
    : '';
  return `   Waiting for approval${who}${needed}${expires}`;
}

/** The last line: what happened and the exit code. */
export function formatOutcome(
  outcome: Outcome,
  painter: { paint(style: Style, text: string): string; mode?: RenderMode } = {
    paint: (_s, t) => t,
  },
): string {
  const ok = outcome.exitCode === 0;
  const mark = painter.mode === 'tty' ? (ok ? '✔' : '✖') : ok ? 'OK' : 'FAILED';
  return `${painter.paint(ok ? 'green' : 'red', `${mark} ${outcome.message}`)} ${painter.paint('dim', `(exit ${outcome.exitCode})`)}`;
}

/** `1h 05m`, `3m 07s`, `42s`; negative durations read as `0s`. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(total / 86_400);
  const h = Math.floor((total % 86_400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${pad(m)}m`;
  if (m > 0) return `${m}m ${pad(s)}s`;
  return `${s}s`;
}

function clockTime(date: Date): string {
  return date.toISOString().slice(11, 19);
}
