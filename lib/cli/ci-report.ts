import { appendFileSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { Outcome } from './exit-codes';
import type { FollowEvent, PlanSummary } from './history';
import { neutraliseLine } from './neutralise';
import {
  commentMarker,
  type PrCommentTarget,
  prCommentTarget,
  upsertPrComment,
} from './pr-comment';

type Env = Readonly<Record<string, string | undefined>>;

/** The part of @actions/core the report uses; loaded only inside GitHub Actions. */
type ActionsCore = Pick<typeof import('@actions/core'), 'setOutput' | 'error'>;

/**
 * @actions/core is an ES module; a dynamic import loads it from this CommonJS code (and the CI
 * bundle inlines it). Only GitHub Actions jobs pay for it.
 */
const loadActionsCore = (): Promise<ActionsCore> => import('@actions/core');

export interface CiReportOptions {
  readonly env: Env;
  /** JSON lines go to stdout: no annotations there (files are still written). */
  readonly json?: boolean;
  /** The root module (`--path`), so diagnostics point at files from the repository root. */
  readonly path?: string;
  /** Where to write GitLab's `artifacts:reports:terraform` JSON (`--terraform-report`). */
  readonly terraformReport?: string;
  /** @default loadActionsCore */
  readonly core?: () => Promise<ActionsCore>;
  /** For the sticky pull request comment. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

/** A Terraform diagnostic from the runner's log: `Error: ...` and its `on <file> line <n>`. */
export interface Diagnostic {
  readonly summary: string;
  readonly file?: string;
  readonly line?: number;
}

/**
 * Reports a run where the CI looks, besides the log: in GitHub Actions the step outputs
 * (`$GITHUB_OUTPUT`, through @actions/core), the job summary (`$GITHUB_STEP_SUMMARY`) and
 * `::error` annotations (through @actions/core, which escapes them); for GitLab (or any CI) the Terraform report file the merge request
 * widget reads. Every text it takes from the run is untrusted: annotations are escaped by
 * @actions/core, the summary escapes HTML, and nothing here writes to the log itself.
 */
export class CiReport {
  private readonly github: boolean;
  private started?: { executionArn: string; consoleUrl: string; name?: string };
  private plan?: PlanSummary;
  private approvers: readonly string[] = [];
  private decision?: Extract<FollowEvent, { type: 'approval-decided' }>;
  private result?: Extract<FollowEvent, { type: 'result' }>;
  private readonly diagnostics: Diagnostic[] = [];
  private pending?: { summary: string };
  private core?: Promise<ActionsCore>;
  /** The sticky pull request comment (lib/cli/pr-comment.ts), when DEPLOY_RUNNER_PR_COMMENT asks. */
  private readonly pr: PrCommentTarget | { problem: string } | undefined;
  private prUpdates: Promise<void> = Promise.resolve();
  private prError?: unknown;

  constructor(private readonly options: CiReportOptions) {
    this.github = options.env.GITHUB_ACTIONS === 'true';
    this.pr = prCommentTarget(options.env);
  }

  /** The run was started (or attached to). */
  async start(run: { executionArn: string; consoleUrl: string; name?: string }): Promise<void> {
    this.started = run;
    if (!this.github || !this.options.env.GITHUB_OUTPUT) return;
    const core = await this.actionsCore();
    core.setOutput('execution-arn', run.executionArn);
    core.setOutput('console-url', run.consoleUrl);
  }

  /** Every follow event passes through here as well as through the renderer. */
  event(event: FollowEvent): void {
    switch (event.type) {
      case 'plan':
        this.plan = event.summary;
        if (this.options.terraformReport) {
          writeFileSync(
            this.options.terraformReport,
            `${JSON.stringify(terraformReport(event.summary))}\n`,
          );
        }
        return;
      case 'approval-requested':
        this.approvers = event.approvers;
        if (this.started)
          this.comment(this.started.consoleUrl, {
            status: 'RUNNING',
            result: 'running',
            exitCode: 0,
            message: 'Waiting for approval',
          });
        return;
      case 'approval-decided':
        this.decision = event;
        return;
      case 'log':
        this.readDiagnostic(event.message);
        return;
      case 'result':
        this.result = event;
        return;
    }
  }

  /** Writes the outputs, the summary and the annotations once the run ended or follow stopped. */
  async finish(consoleUrl: string, outcome?: Outcome): Promise<void> {
    const result = this.result ?? outcome;
    if (!result) return;
    if (this.github) await this.finishGithub(consoleUrl, result);
    if (this.pr === undefined) return;
    if ('problem' in this.pr) throw new Error(`no pull request comment: ${this.pr.problem}`);
    this.comment(consoleUrl, result);
    await this.prUpdates;
    if (this.prError !== undefined)
      throw new Error(
        `could not write the pull request comment: ${this.prError instanceof Error ? this.prError.message : String(this.prError)}`,
      );
  }

  /** Creates or edits the sticky comment, one update after another. */
  private comment(consoleUrl: string, result: Outcome): void {
    const target = this.pr;
    if (target === undefined || 'problem' in target) return;
    // The summary is escaped for Markdown and HTML already; "@" would still notify people.
    const body = this.summaryMarkdown(consoleUrl, result).replace(/@/g, '&#64;');
    const marker = commentMarker(this.options.path ?? this.started?.name ?? 'run');
    this.prUpdates = this.prUpdates.then(() =>
      upsertPrComment(target, marker, body, this.options.fetch).then(
        () => {
          this.prError = undefined;
        },
        (error: unknown) => {
          this.prError = error;
        },
      ),
    );
  }

  private async finishGithub(consoleUrl: string, result: Outcome): Promise<void> {
    const { env } = this.options;
    const core = await this.actionsCore();
    if (env.GITHUB_OUTPUT) {
      core.setOutput('status', result.status);
      core.setOutput('result', result.result);
      core.setOutput('exit-code', String(result.exitCode));
      if (this.plan) {
        core.setOutput('has-changes', String(this.plan.hasChanges));
        for (const [name, count] of Object.entries(this.plan.counts)) {
          core.setOutput(name, String(count));
        }
      }
    }
    if (env.GITHUB_STEP_SUMMARY) {
      // The summary protocol is appending Markdown to the file; @actions/core's summary caches
      // the first path it saw, which the injected environment may not be.
      appendFileSync(env.GITHUB_STEP_SUMMARY, this.summaryMarkdown(consoleUrl, result));
    }
    if (!this.options.json && result.exitCode !== 0) {
      for (const d of this.diagnostics) {
        core.error(d.summary, {
          title: 'Terraform',
          ...(d.file ? { file: d.file, startLine: d.line } : {}),
        });
      }
      core.error(result.message, { title: `deploy-runner: ${result.result}` });
    }
  }

  /** A failure before or outside a run (usage, validation, AWS unreachable). */
  async fail(message: string): Promise<void> {
    if (!this.github || this.options.json) return;
    (await this.actionsCore()).error(message, { title: 'deploy-runner' });
  }

  /** The job summary, Markdown with every untrusted text HTML-escaped. */
  summaryMarkdown(consoleUrl: string, result: Outcome): string {
    const e = (text: string) => escapeHtml(neutraliseLine(text));
    const name = this.started?.name ?? this.result?.executionArn ?? '';
    const lines = [
      `### deploy-runner: ${e(this.options.path ?? name)} — ${result.result === 'running' ? '⏳' : result.exitCode === 0 ? '✅' : '❌'} ${e(result.message)}`,
      '',
    ];
    const plan = this.plan;
    if (plan) {
      const { add, change, destroy, replace } = plan.counts;
      lines.push(
        plan.hasChanges
          ? `**Plan:** ${add} to add, ${change} to change, ${destroy} to destroy, ${replace} to replace`
          : '**Plan:** no changes',
      );
      if (plan.commit) lines.push('', `Commit \`${e(plan.commit)}\``);
      const destructive = plan.changes.filter((c) => c.actions.includes('delete'));
      if (destructive.length > 0) {
        lines.push('', '| | Destroyed or replaced |', '| --- | --- |');
        for (const c of destructive) {
          const kind = c.actions.includes('create') ? 'replace' : 'destroy';
          lines.push(`| ${kind} | <code>${e(c.address)}</code> |`);
        }
      }
    }
    lines.push('');
    if (this.decision) {
      const who = e(this.decision.approver ?? 'an approver');
      lines.push(
        this.decision.approved
          ? `**Approval:** approved by ${who}`
          : `**Approval:** rejected by ${who}${this.decision.reason ? `: ${e(this.decision.reason)}` : ''}`,
      );
    } else if (this.approvers.length > 0) {
      lines.push(
        `**Approval:** ${result.result === 'running' ? 'waiting for' : 'asked'} ${this.approvers.map(e).join(', ')}`,
      );
    } else if (result.result === 'plan-only') {
      lines.push('**Approval:** none (plan-only run)');
    }
    // The link is the CLI's own (console-url.ts); parentheses would end the Markdown link early.
    const link = consoleUrl.replace(/\(/g, '%28').replace(/\)/g, '%29');
    lines.push('', `[Open the run](${link})`, '');
    return lines.join('\n');
  }

  private readDiagnostic(message: string) {
    // Terraform's human output: "Error: <summary>", then "  on <file> line <n>, in ...", both
    // possibly behind the "│ " box it draws in a terminal.
    const text = message.replace(/\x1b\[[0-9;]*m/g, '').replace(/^[│╷╵]\s?/, '');
    const error = /^Error: (.+)$/.exec(text.trim());
    if (error) {
      this.pending = { summary: error[1] };
      this.diagnostics.push(this.pending);
      return;
    }
    const at = /^on (\S+) line (\d+)/.exec(text.trim());
    if (at && this.pending) {
      const index = this.diagnostics.indexOf(this.pending);
      const file = this.options.path ? posix.join(this.options.path, at[1]) : at[1];
      this.diagnostics[index] = { ...this.pending, file, line: Number(at[2]) };
      this.pending = undefined;
    }
  }

  private actionsCore(): Promise<ActionsCore> {
    this.core ??= (this.options.core ?? loadActionsCore)();
    return this.core;
  }
}

/**
 * GitLab's `artifacts:reports:terraform` format. A replace deletes and creates, so it counts in
 * both, as GitLab's own `jq` recipe over `terraform show -json` counts it.
 */
export function terraformReport(plan: PlanSummary): {
  create: number;
  update: number;
  delete: number;
} {
  const { add, change, destroy, replace } = plan.counts;
  return { create: add + replace, update: change, delete: destroy + replace };
}

/** For text inside the Markdown/HTML job summary. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`|[\]*_\\]/g, (c) => `&#${c.charCodeAt(0)};`);
}
