import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildCiBundle, buildCli } from '../../lib/cli/build';
import { LOCAL_LOG_GROUP } from '../../lib/local/log-service';
import { decide, type Harness, outbox } from './harness';

/**
 * Runs `deploy-runner` as a subprocess against a harness's local server, the way a CI job runs
 * it: a CI-like environment (GitHub Actions), a working directory that is no git repo, an empty
 * HOME and no AWS credentials anywhere (the CLI signs with dummy ones when given an endpoint).
 */

export const CLI = join(__dirname, '..', '..', 'bin', 'deploy-runner.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout split into lines (without the trailing empty one). */
  readonly lines: string[];
}

export interface CliOptions {
  /** GITHUB_RUN_ID of the job. */
  readonly runId?: string;
  /** GITHUB_SHA of the job (the commit the execution name carries). */
  readonly sha?: string;
  /** More environment (overrides the CI defaults; `undefined` removes a variable). */
  readonly env?: Record<string, string | undefined>;
  /** Add `--endpoint <server url>`. @default true */
  readonly endpoint?: boolean;
  /** Add `--state-machine-arn <arn>` (start and list only). @default true */
  readonly stateMachineArn?: boolean;
  /** Add `--log-group <local group>` (start, wait, logs). @default true */
  readonly logGroup?: boolean;
  /** The script to run instead of bin/deploy-runner.js (a built bundle). */
  readonly script?: string;
  /** Kill the process after this long. @default 120_000 */
  readonly timeoutMs?: number;
}

const WITH_LOG_GROUP = new Set(['start', 'wait', 'logs']);
const WITH_STATE_MACHINE = new Set(['start', 'list']);

const tempDirs: string[] = [];
/** A new temp directory, removed by removeTempDirs. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
/** Removes the temp directories of this file's CLI runs (bundle, HOME, action outputs). */
export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

let home: string | undefined;
/**
 * An empty directory that is no git repo: the CLI's cwd and HOME. Made again after
 * removeTempDirs, for the next test file that runs in this process (vitest.config.ts).
 */
function sandbox(): string {
  if (home === undefined || !existsSync(home)) home = tempDir('dr-cli-home-');
  return home;
}

/** The environment a GitHub Actions job gives the CLI; nothing inherited but PATH. */
export function ciEnv(options: CliOptions = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
    TMPDIR: process.env.TMPDIR,
    // Only a bundle needs it: it resolves its dependencies as an installed package does.
    NODE_PATH: options.script ? join(__dirname, '..', '..', 'node_modules') : undefined,
    HOME: sandbox(),
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_RUN_ID: options.runId ?? '1',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SHA: options.sha,
    GITHUB_REPOSITORY: 'acme/infra',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_ACTOR: 'octocat',
    NO_COLOR: '1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    // The local server has no API quota: see a decision within a second, as a team would set
    // it for local mode, instead of idling up to 30 s per approval. Pacing has its own tests
    // (test/cli/follow.test.ts, approval-poll.test.ts), in virtual time.
    DEPLOY_RUNNER_APPROVAL_POLL: '1',
    ...options.env,
  };
  return Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined),
  );
}

/** A running CLI subprocess: its output so far, and a promise of the result. */
export class CliProcess {
  stdout = '';
  stderr = '';
  readonly done: Promise<CliResult>;
  private readonly child: ChildProcess;
  private readonly watchers = new Set<() => void>();

  constructor(
    command: string,
    readonly args: readonly string[],
    env: Record<string, string>,
    timeoutMs = 120_000,
  ) {
    this.child = spawn(command, args, { cwd: sandbox(), env });
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      for (const w of this.watchers) w();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
    });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    this.done = new Promise((resolve, reject) => {
      this.child.on('error', reject);
      this.child.on('close', (code) => {
        clearTimeout(timer);
        for (const w of this.watchers) w();
        resolve({
          code,
          stdout: this.stdout,
          stderr: this.stderr,
          lines: this.stdout.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1),
        });
      });
    });
  }

  /** Resolves once stdout matches `pattern`; rejects if the process ends first. */
  waitFor(pattern: RegExp | string): Promise<void> {
    const matches = () =>
      typeof pattern === 'string' ? this.stdout.includes(pattern) : pattern.test(this.stdout);
    return new Promise((resolve, reject) => {
      const check = () => {
        if (matches()) {
          this.watchers.delete(check);
          resolve();
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          this.watchers.delete(check);
          reject(
            new Error(
              `${this.args.join(' ')} ended before printing ${pattern}:\n${this.stdout}\n${this.stderr}`,
            ),
          );
        }
      };
      this.watchers.add(check);
      check();
    });
  }
}

/** Starts `deploy-runner <args>` against the harness's server. */
export function cli(h: Harness, args: readonly string[], options: CliOptions = {}): CliProcess {
  const command = args[0] ?? '';
  const full = [...args];
  if (options.endpoint ?? true) full.push('--endpoint', h.server.url);
  if ((options.stateMachineArn ?? true) && WITH_STATE_MACHINE.has(command)) {
    full.push('--state-machine-arn', h.server.stateMachineArn);
  }
  if ((options.logGroup ?? true) && WITH_LOG_GROUP.has(command)) {
    full.push('--log-group', LOCAL_LOG_GROUP);
  }
  return new CliProcess(
    process.execPath,
    [options.script ?? CLI, ...full],
    ciEnv(options),
    options.timeoutMs,
  );
}

/** `deploy-runner start --repo infra --ref main --path <path> ...`. */
export function start(
  h: Harness,
  path: string,
  flags: readonly string[],
  options: CliOptions,
): CliProcess {
  return cli(h, ['start', '--repo', 'infra', '--ref', 'main', '--path', path, ...flags], options);
}

/** `<repo>-<path>-<sha7>-<run id>`, as the CLI names executions. */
export const executionName = (path: string, sha: string, runId: string, repo = 'infra') =>
  `${repo}-${path.replace(/\//g, '-')}-${sha.slice(0, 7)}-${runId}`;

/** The ARN of the execution `name` of the harness's state machine. */
export const executionArn = (h: Harness, name: string) =>
  `${h.server.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;

/** The executionArn of a `start --json` run. */
export function startedRecord(result: CliResult): { executionArn: string; [k: string]: unknown } {
  const record = result.lines.map((l) => JSON.parse(l)).find((r) => r.type === 'started');
  if (!record) throw new Error(`no "started" record in:\n${result.stdout}\n${result.stderr}`);
  return record;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for the approval emails of one run (by execution name) and returns each link. */
export async function linksOf(h: Harness, name: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const links = outbox(h)
      .filter((m) => m.kind === 'email' && m.text.includes(name))
      .flatMap((m) => {
        const link = /(https?:\/\/[^\s"<>]+\/a\/[A-Za-z0-9_-]+)/.exec(m.text)?.[1];
        return link ? [{ to: m.to as string, link }] : [];
      });
    if (links.length >= h.config.approvals.approvers.length) return links;
    if (Date.now() > deadline) throw new Error(`no approval emails for ${name}`);
    await sleep(100);
  }
}

/** Approves or rejects a run through the approval page, as the approver with `email`. */
export async function decideAs(
  h: Harness,
  name: string,
  email: string,
  decision: 'approve' | 'reject',
  reason?: string,
): Promise<void> {
  const link = (await linksOf(h, name)).find((l) => l.to === email)?.link;
  if (!link) throw new Error(`no approval link for ${email} in run ${name}`);
  const res = await decide(link, decision, reason ? { reason } : {});
  if (res.status >= 400) throw new Error(`the approval page answered ${res.status}: ${res.body}`);
}

/** Asserts that `text` contains every item, in this order (strings literally, or patterns). */
export function inOrder(text: string, items: readonly (string | RegExp)[]): void {
  let from = 0;
  for (const item of items) {
    const rest = text.slice(from);
    let at: number;
    let length: number;
    if (typeof item === 'string') {
      at = rest.indexOf(item);
      length = item.length;
    } else {
      const m = item.exec(rest);
      at = m ? m.index : -1;
      length = m ? m[0].length : 0;
    }
    if (at < 0) {
      throw new Error(
        `expected ${JSON.stringify(String(item))} after offset ${from} of the output:\n${text}`,
      );
    }
    from += at + length;
  }
}

/**
 * What every plain-mode follow prints: no escape codes, state lines, and last the outcome:
 * `OK ... (exit 0)` or `FAILED ... (exit N)` (a cause may span lines: the last one ends it).
 */
export function expectPlainFollow(result: CliResult, exitCode: number): void {
  const problems: string[] = [];
  if (result.stdout.includes('\x1b[')) problems.push('escape codes in plain output');
  if (!result.lines.some((l) => /^\d\d:\d\d:\d\d -> \S/.test(l))) problems.push('no state line');
  const outcome = result.lines.findLast((l) => /^(OK|FAILED) /.test(l)) ?? '';
  // A failed run's ::error annotations for GitHub (lib/cli/ci-report.ts) follow the outcome.
  const last = result.lines.findLast((l) => !l.startsWith('::error ')) ?? '';
  if (!outcome.startsWith(exitCode === 0 ? 'OK ' : 'FAILED ')) {
    problems.push(`outcome line ${JSON.stringify(outcome)} for exit ${exitCode}`);
  }
  if (!last.endsWith(`(exit ${exitCode})`)) {
    problems.push(`last line ${JSON.stringify(last)} does not end with "(exit ${exitCode})"`);
  }
  if (result.code !== exitCode) problems.push(`exit code ${result.code}, expected ${exitCode}`);
  if (problems.length > 0) {
    throw new Error(
      `${problems.join('; ')}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`,
    );
  }
}

/**
 * Builds the CLI bundle (what bin/deploy-runner.js runs as dist/cli.js) into a temp dir. Most
 * scenarios run it: it starts in a third of the time tsx takes to compile the source.
 */
export async function cliBundle(): Promise<string> {
  const dir = tempDir('dr-cli-bundle-');
  const bundle = await buildCli(join(dir, 'cli.js'));
  if (bundle.warnings.length > 0) throw new Error(bundle.warnings.join('\n'));
  return bundle.outfile;
}

/** Builds the CI bundle (lib/cli/build.ts buildCiBundle) that the GitHub action runs. */
export async function ciBundle(): Promise<string> {
  const bundle = await buildCiBundle(join(tempDir('dr-ci-bundle-'), 'deploy-runner-ci.cjs'));
  if (bundle.warnings.length > 0) throw new Error(bundle.warnings.join('\n'));
  return bundle.outfile;
}

/**
 * Runs the GitHub action as the runner does (action.yml: node24, main action/main.js): node on
 * the entry file, inputs as INPUT_<NAME> variables.
 */
export function runAction(env: Record<string, string>): CliProcess {
  return new CliProcess(process.execPath, [join(__dirname, '..', '..', 'action', 'main.js')], env);
}
