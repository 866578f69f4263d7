import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { RunnerBundle } from '../containers/runner/bundle';
import { createInspectPlanHandler } from '../handlers/inspect-plan';
import { type DeployRunnerConfig, parseConfig } from '../lib/config';
import { allowlistOf } from '../lib/contracts';
import { startLocalServer } from '../lib/local/local-server';
import { type Harness, InfraRepo, resources, startRun } from '../test/e2e/harness';
import { now } from './stats';

/**
 * Local mode as the bench drives it: the e2e harness's pieces (a real git repo, the synthesized
 * definition, the real handlers, the bundled runner), plus what a benchmark needs on top: an
 * approver that reacts to the outbox as soon as a message is written (no polling delay in the
 * figures), timed approval page requests, a tool that can be made slow, and the runner run
 * directly with the environment the server gives it (the baseline).
 */

/** Paths look like `envs/<name>`; five resources each, so every plan has changes once. */
export const MODULE_RESOURCES = resources('network', 'bucket', 'queue', 'role', 'topic');

/**
 * The infra repo every bench server clones: one commit with a root module per path, made before
 * any run, so `main` never moves and servers sharing it synthesize the same definition once.
 */
export function createBenchRepo(
  dir: string,
  paths: readonly string[],
  /** Modules with their own resources (bench/plan-scale.ts), in the same commit. */
  extra: Readonly<Record<string, { resources: ReturnType<typeof resources> }>> = {},
): InfraRepo {
  const repo = new InfraRepo(dir);
  repo.commit(
    {
      ...Object.fromEntries(paths.map((path) => [path, { resources: MODULE_RESOURCES }])),
      ...extra,
    },
    'bench modules',
  );
  return repo;
}

export interface BenchServerOptions {
  readonly bundle: RunnerBundle;
  /** The repo from createBenchRepo. */
  readonly repo: InfraRepo;
  /** Milliseconds the tool sleeps before `plan` and `apply` (a slow terraform). @default 0 */
  readonly toolDelayMs?: number;
}

/** Timings of one approval through the page, as a browser makes it. */
export interface Decision {
  readonly status: number;
  /** GET of the page (approval-page invocation 1). */
  readonly getMs: number;
  /** POST of the form with the nonce (approval-page invocation 2, SendTaskSuccess inside). */
  readonly postMs: number;
}

/** What one direct run of the runner (plan, then apply) took. */
export interface DirectRun {
  readonly planMs: number;
  readonly applyMs: number;
  readonly totalMs: number;
}

export class BenchServer implements Harness {
  /** Console lines of the server, with the Date.now() they were printed at. */
  readonly console: Array<{ at: number; line: string }> = [];
  private readonly links = new Map<string, string[]>();
  private readonly waiters = new Map<string, (links: string[]) => void>();

  private constructor(
    readonly server: Harness['server'],
    readonly sfn: SFNClient,
    readonly repo: InfraRepo,
    readonly config: DeployRunnerConfig,
    readonly root: string,
    /** The environment every runner task gets (the task definition's part). */
    readonly runnerEnv: Readonly<Record<string, string>>,
    /** The bundled runner script the server runs for Plan and Apply. */
    readonly runnerScript: string,
  ) {}

  static async start(options: BenchServerOptions): Promise<BenchServer> {
    const root = mkdtempSync(join(tmpdir(), 'dr-bench-'));
    const { repo } = options;
    const config = parseConfig({
      repos: {
        infra: {
          url: repo.url,
          allowedRefs: ['main'],
          allowedPaths: ['envs/*'],
          tool: 'terraform',
        },
      },
      approvals: {
        approvers: [
          { name: 'Ada', email: 'ada@example.com' },
          { name: 'Grace', email: 'grace@example.com' },
        ],
        approvalsRequired: 1,
        timeout: '1h',
      },
      notifications: { fromEmail: 'deploy-runner@example.com' },
    });
    const toolPath = options.toolDelayMs
      ? slowTool(root, options.bundle.simulator, options.toolDelayMs)
      : options.bundle.simulator;
    const extraEnv = { TF_SIM_STATE_DIR: join(root, 'tfstate') };
    let bench: BenchServer | undefined;
    const server = await startLocalServer({
      config,
      dataDir: join(root, 'data'),
      port: 0,
      runnerScript: options.bundle.runner,
      toolPath,
      runnerEnv: extraEnv,
      echo: (line) => bench?.onConsoleLine(line),
    });
    const sfn = new SFNClient({
      endpoint: server.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    // What local-server.ts gives every runner task, so direct runs are like-for-like.
    const runnerEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? root,
      DR_ALLOWLIST: JSON.stringify(allowlistOf(config)),
      DR_ARTIFACT_DIR: server.artifactDir,
      DR_TOOL_PATH: toolPath,
      ...extraEnv,
    };
    bench = new BenchServer(server, sfn, repo, config, root, runnerEnv, options.bundle.runner);
    return bench;
  }

  /** Starts a run of `envs/...` on main; resolves to the execution ARN. */
  start(path: string, name?: string): Promise<string> {
    return startRun(this, { repo: 'infra', ref: 'main', path }, name);
  }

  /** Starts a drift check of `envs/...` on main, as a schedule does (docs/drift.md). */
  startDrift(path: string, name: string): Promise<string> {
    return startRun(this, { repo: 'infra', ref: 'main', path, drift: 'notify' }, name);
  }

  /** Resolves when the run has ended and its end-of-run hook ran (no polling). */
  async settled(executionArn: string) {
    return this.server.engine.settled(executionArn);
  }

  /** The approval links of a run (one per approver), as soon as the emails are written. */
  approvalLinks(executionArn: string, timeoutMs = 600_000): Promise<string[]> {
    const known = this.links.get(executionArn);
    if (known) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(executionArn);
        reject(new Error(`no approval email for ${executionArn} after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(executionArn, (links) => {
        clearTimeout(timer);
        resolve(links);
      });
    });
  }

  /** Opens the page like a browser, then posts the decision with the page's nonce. */
  async decide(link: string, decision: 'approve' | 'reject', reason = ''): Promise<Decision> {
    const t0 = now();
    const page = await fetchOnce(link);
    const html = await page.text();
    const getMs = now() - t0;
    const nonce = /name="nonce" value="([^"]+)"/.exec(html)?.[1];
    if (!nonce) throw new Error(`no nonce on the approval page (HTTP ${page.status})`);
    const t1 = now();
    const res = await fetchOnce(link, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ nonce, decision, reason }),
      redirect: 'manual',
    });
    await res.text();
    if (res.status >= 400) throw new Error(`the approval page answered HTTP ${res.status}`);
    return { status: res.status, getMs, postMs: now() - t1 };
  }

  /** Runs the bundled runner's plan and then apply directly, as the Plan and Apply states do. */
  async runDirect(path: string, runId: string): Promise<DirectRun> {
    const executionArn = `${this.server.stateMachineArn.replace(':stateMachine:', ':execution:')}:${runId}`;
    const request = {
      DR_REPO: 'infra',
      DR_REF: 'main',
      DR_PATH: path,
      DR_RUN_ID: runId,
      DR_EXECUTION_ARN: executionArn,
    };
    const t0 = now();
    await this.runRunner({ ...request, DR_MODE: 'plan' });
    const t1 = now();
    // The Inspect plan state's function, run here in process as local mode runs it.
    const { summary: plan } = await createInspectPlanHandler({ artifacts: this.server.artifacts })({
      runId,
      executionArn,
    });
    if (!plan.hasChanges) throw new Error(`direct run ${runId}: the plan has no changes`);
    const t2 = now();
    await this.runRunner({
      ...request,
      DR_MODE: 'apply',
      DR_COMMIT: plan.commit,
      DR_PLAN_KEY: plan.planKey,
      DR_PLAN_VERSION_ID: plan.planVersionId,
      DR_PLAN_SHA256: plan.planSha256,
    });
    const t3 = now();
    return { planMs: t1 - t0, applyMs: t3 - t2, totalMs: t3 - t0 };
  }

  async close(): Promise<void> {
    this.sfn.destroy();
    await this.server.close();
    rmSync(this.root, { recursive: true, force: true });
  }

  /** `node runner.js` in a fresh work directory, exactly like the local ECS stand-in. */
  private runRunner(overrides: Record<string, string>): Promise<void> {
    const workDir = join(this.root, 'data', 'work', randomUUID().replace(/-/g, ''));
    mkdirSync(workDir, { recursive: true });
    const child = spawn(process.execPath, [this.runnerScript], {
      cwd: workDir,
      env: { ...this.runnerEnv, ...overrides, DR_WORK_DIR: workDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    return new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => {
        rmSync(workDir, { recursive: true, force: true });
        if (code === 0) resolve();
        else
          reject(
            new Error(
              `runner ${overrides.DR_MODE} exited ${code}: ${output.join('').slice(-2000)}`,
            ),
          );
      });
    });
  }

  private onConsoleLine(line: string): void {
    this.console.push({ at: Date.now(), line });
    // `✉  email to <to>: [deploy-runner] Approval needed: <repo> <path>  (<file>.json)`
    const match = /^✉ {2}email to \S+: \[deploy-runner\] Approval needed: .*\((\/.+\.json)\)$/.exec(
      line,
    );
    if (!match) return;
    const message = JSON.parse(readFileSync(match[1] as string, 'utf8')) as { text: string };
    const link = /(https?:\/\/[^\s"<>]+\/a\/[A-Za-z0-9_-]+)/.exec(message.text)?.[1];
    const executionArn = /\/executions\/(arn:aws:states:[^\s"<>]+)/.exec(message.text)?.[1];
    if (!link || !executionArn) return;
    const links = this.links.get(executionArn) ?? [];
    links.push(link);
    this.links.set(executionArn, links);
    const waiter = this.waiters.get(executionArn);
    if (waiter) {
      this.waiters.delete(executionArn);
      waiter(links);
    }
  }
}

/**
 * fetch, tried again once when a kept-alive connection was closed under it (the server closes
 * idle sockets after 5 s; a request can race that close). No response was received, so nothing
 * was decided yet.
 */
async function fetchOnce(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    if (!code || !['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(code)) throw error;
    return fetch(url, init);
  }
}

/**
 * A terraform that takes `delayMs` before plan and apply: the simulator behind a pause, so a
 * run stays in Plan and Apply long enough to watch the CLI poll.
 */
function slowTool(root: string, simulator: string, delayMs: number): string {
  const file = join(root, 'slow-terraform.js');
  writeFileSync(
    file,
    [
      '#!/usr/bin/env node',
      `const delayMs = ['plan', 'apply'].includes(process.argv[2]) ? ${delayMs} : 0;`,
      `setTimeout(() => require(${JSON.stringify(simulator)}), delayMs);`,
      '',
    ].join('\n'),
  );
  chmodSync(file, 0o755);
  return file;
}
