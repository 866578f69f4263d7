import { execFile, execFileSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { inject, it } from 'vitest';
import type { RunnerBundle } from '../../containers/runner/bundle';
import { LineSplitter } from '../../containers/runner/src/mask';
import { type Spawn, spawnProcess } from '../../containers/runner/src/process';
import { runRunner } from '../../containers/runner/src/runner';
import type { PlanResult } from '../../lib/contracts';
import { runSim } from '../../tools/terraform-sim/sim';

/** Helpers for tests that run the bundled runner against real git repositories and the simulator. */

/** The runner and simulator bundles test/global-setup.ts built once for the whole run. */
export function getBundle(): Promise<RunnerBundle> {
  return Promise.resolve(inject('runnerBundle'));
}

const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    env: { ...process.env, ...GIT_IDENTITY, GIT_CONFIG_GLOBAL: '/dev/null' },
    encoding: 'utf8',
  }).trim();
}

/**
 * A bare repository (the "remote") with a work tree of its own: commits land in the remote
 * directly (git --git-dir=<bare> --work-tree=<work>), with no push and its receive-pack, pack and
 * unpack processes. The runner sees the remote's branches and tags as before.
 */
export class TestRepo {
  readonly bare: string;
  readonly work: string;
  readonly url: string;
  /** The work tree's branch, tracked here: asking git costs two processes per commit. */
  private current = 'main';

  /**
   * A new repository in `root`, or a copy of `template` (a TestRepo's root): copying the files
   * costs no process, where init and a first commit cost several. Neither repository holds an
   * absolute path (the work tree is named on each git command line), so a copy is complete.
   */
  constructor(root: string, template?: string) {
    this.bare = join(root, 'remote.git');
    this.work = join(root, 'work');
    this.url = `file://${this.bare}`;
    if (template) {
      cpSync(template, root, { recursive: true });
      return;
    }
    mkdirSync(this.work, { recursive: true });
    git(root, 'init', '--quiet', '--bare', '--initial-branch=main', this.bare);
  }

  /** A repository whose main branch holds `files`, to copy for each test (the constructor's template). */
  static template(files: Record<string, string>): string {
    const root = mkdtempSync(join(tmpdir(), 'runner-test-template-'));
    new TestRepo(root).commit(files);
    return root;
  }

  /** Writes files (null deletes), commits on `branch`; returns the commit SHA. */
  commit(files: Record<string, string | null>, branch = 'main', message = 'change'): string {
    this.switchTo(branch);
    for (const [path, content] of Object.entries(files)) {
      const file = join(this.work, path);
      if (content === null) rmSync(file, { force: true, recursive: true });
      else {
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, content);
      }
    }
    this.git('add', '--all');
    this.git('commit', '--quiet', '--allow-empty', '-m', message);
    return this.sha(branch);
  }

  /** Commits a symlink at `path` pointing at `target`. */
  symlink(path: string, target: string, branch = 'main'): string {
    this.switchTo(branch);
    const file = join(this.work, path);
    mkdirSync(dirname(file), { recursive: true });
    symlinkSync(target, file);
    return this.commit({}, branch, `symlink ${path}`);
  }

  tag(name: string, ref = 'main'): void {
    this.git('tag', name, ref);
  }

  sha(ref: string): string {
    return this.git('rev-parse', ref);
  }

  private git(...args: string[]): string {
    return git(this.work, `--git-dir=${this.bare}`, `--work-tree=${this.work}`, ...args);
  }

  private switchTo(branch: string): void {
    if (this.current === branch) return;
    const branches = this.git('branch', '--list', branch);
    if (branches) this.git('checkout', '--quiet', branch);
    else this.git('checkout', '--quiet', '-b', branch);
    this.current = branch;
  }
}

/** A simulator module: one resource per entry of `attributes`. */
export function simModule(
  resources: Record<string, Record<string, unknown>>,
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    resources: Object.entries(resources).map(([address, attributes]) => {
      const [type, name] = address.split('.');
      return {
        type,
        name,
        attributes,
        ...(attributes.$forceNew ? { forceNew: attributes.$forceNew } : {}),
      };
    }),
    ...extra,
  });
}

export interface RunOutcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node runner.js` with exactly `env` (nothing inherited). */
export function runBundled(runner: string, env: NodeJS.ProcessEnv): Promise<RunOutcome> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [runner],
      { env, encoding: 'utf8', timeout: 30_000, maxBuffer: 32 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : Number.NaN;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let realGit: string | undefined;

/**
 * A Spawn that runs the simulator's command line (tools/terraform-sim/terraform-sim.ts: runSim
 * with the child's argv, env and cwd) in this process and starts everything else (git) as
 * spawnProcess does, delivering output lines the same way. For runInProcess, where the runner's
 * logic is under test: the runner makes the same calls with the same argv and env (the
 * simulator records both), without a node process start (~0.15 s of CPU) per call.
 */
export function simulatorInProcess(simulator: string): Spawn {
  return async (file, args, options) => {
    if (resolve(file) !== resolve(simulator)) return spawnProcess(file, args, options);
    const stdout: string[] = [];
    const stderr: string[] = [];
    let code: number;
    try {
      code = runSim({
        argv: args,
        env: options.env,
        cwd: options.cwd ?? process.cwd(),
        stdout: (t) => void stdout.push(t),
        stderr: (t) => void stderr.push(t),
      });
    } catch (error) {
      // As node reports an uncaught error: exit code 1, the stack on stderr.
      stderr.push(`${error instanceof Error ? error.stack : String(error)}\n`);
      code = 1;
    }
    const out = stdout.join('');
    const err = stderr.join('');
    if (options.streamStdout !== false) {
      const lines = new LineSplitter((l) => options.onLine?.(l, 'stdout'));
      lines.push(out);
      lines.flush();
    }
    const errLines = new LineSplitter((l) => options.onLine?.(l, 'stderr'));
    errLines.push(err);
    errLines.flush();
    return { code, stdout: out, stderr: err };
  };
}

/** A `git` in front of the real one that records every argv (one JSON array per line). */
export function gitShim(dir: string): { binDir: string; calls(): string[][] } {
  const binDir = join(dir, 'shim-bin');
  const log = join(dir, 'git-calls.log');
  mkdirSync(binDir, { recursive: true });
  realGit ??= execFileSync('which', ['git'], { encoding: 'utf8' }).trim();
  // A test fixture, not product code: the runner itself never runs a shell.
  // Each call is its arguments, NUL-terminated, then a record separator (0x1e).
  writeFileSync(
    join(binDir, 'git'),
    `#!/bin/sh\nprintf '%s\\000' "$@" >> '${log}'\nprintf '\\036' >> '${log}'\nexec '${realGit}' "$@"\n`,
    { mode: 0o755 },
  );
  writeFileSync(log, '');
  return {
    binDir,
    calls: () =>
      readFileSync(log, 'utf8')
        .split('\x1e')
        .filter(Boolean)
        .map((record) => record.split('\0').slice(0, -1)),
  };
}

/** Everything a runner test needs: a repo, an artifact folder, a state folder and an env. */
export class Sandbox {
  readonly root = mkdtempSync(join(tmpdir(), 'runner-test-'));
  readonly repo: TestRepo;
  readonly artifacts = join(this.root, 'artifacts');
  readonly state = join(this.root, 'state');
  readonly record = join(this.root, 'tool-calls.jsonl');
  readonly shim = gitShim(this.root);

  /** `template`: a TestRepo.template to copy instead of an empty repository. */
  constructor(
    readonly bundle: RunnerBundle,
    template?: string,
  ) {
    this.repo = new TestRepo(join(this.root, 'repo'), template);
  }

  allowlist(overrides: Record<string, unknown> = {}): string {
    return JSON.stringify({
      infra: {
        url: this.repo.url,
        allowedRefs: ['main', 'release/*'],
        allowedPaths: ['envs/*'],
        allowCommits: true,
        tool: 'terraform',
        terragrunt: false,
        ...overrides,
      },
    });
  }

  env(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      PATH: [
        this.shim.binDir,
        dirname(process.execPath),
        '/usr/local/bin',
        '/usr/bin',
        '/bin',
      ].join(':'),
      HOME: this.root,
      DR_MODE: 'plan',
      DR_ALLOWLIST: this.allowlist(),
      DR_REPO: 'infra',
      DR_REF: 'main',
      DR_PATH: 'envs/dev',
      DR_RUN_ID: 'run-1',
      DR_EXECUTION_ARN: 'arn:aws:states:us-east-1:123456789012:execution:deploy-runner:run-1',
      DR_ARTIFACT_DIR: this.artifacts,
      DR_TOOL_PATH: this.bundle.simulator,
      TF_SIM_STATE_DIR: this.state,
      TF_SIM_RECORD: this.record,
      ...overrides,
    };
  }

  run(overrides: NodeJS.ProcessEnv = {}): Promise<RunOutcome> {
    return runBundled(this.bundle.runner, this.env(overrides));
  }

  /**
   * The same runner code in this process (`runRunner`, what main.ts calls), with the real git
   * processes and the simulator run in this process (simulatorInProcess): for the runner's logic
   * (refusals, summaries, write-once), where a process start per run or tool call would only
   * cost time. What the process boundary does is proven by the tests that use `run`.
   */
  async runInProcess(overrides: NodeJS.ProcessEnv = {}): Promise<RunOutcome> {
    let stdout = '';
    let stderr = '';
    const code = await runRunner({
      spawn: simulatorInProcess(this.bundle.simulator),
      env: this.env(overrides),
      stdout: (t) => {
        stdout += t;
      },
      stderr: (t) => {
        stderr += t;
      },
    });
    return { code, stdout, stderr };
  }

  /**
   * Plans run `runId` and returns the plan result the runner stored: by the bundled runner, or
   * `inProcess` (runInProcess) where the plan only sets up what a test checks.
   */
  async plan(
    runId: string,
    overrides: NodeJS.ProcessEnv = {},
    how: { readonly inProcess?: boolean } = {},
  ): Promise<PlanResult & RunOutcome> {
    const env = { DR_RUN_ID: runId, ...overrides };
    const outcome = await (how.inProcess ? this.runInProcess(env) : this.run(env));
    if (outcome.code !== 0)
      throw new Error(`plan failed (${outcome.code}):\n${outcome.stdout}\n${outcome.stderr}`);
    return { ...(this.artifact(`runs/${runId}/plan-result.json`) as PlanResult), ...outcome };
  }

  /** The env of an apply of `plan`. */
  applyEnv(runId: string, plan: PlanResult, overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      DR_MODE: 'apply',
      DR_RUN_ID: runId,
      DR_COMMIT: plan.commit,
      DR_PLAN_KEY: plan.planKey,
      DR_PLAN_VERSION_ID: plan.planVersionId,
      DR_PLAN_SHA256: plan.planSha256,
      ...overrides,
    };
  }

  /** The latest version of an artifact: parsed JSON, or text. */
  artifact(key: string): unknown {
    const text = this.artifactText(key);
    return key.endsWith('.json') ? JSON.parse(text) : text;
  }

  artifactText(key: string, versionId?: string): string {
    const dir = join(this.artifacts, key);
    const version = versionId ?? readFileSync(join(dir, '.latest'), 'utf8').trim();
    return readFileSync(join(dir, version), 'utf8');
  }

  artifactPath(key: string, versionId: string): string {
    return join(this.artifacts, key, versionId);
  }

  /** Every tool invocation the simulator recorded. */
  toolCalls(): { argv: string[]; cwd: string; env: Record<string, string> }[] {
    try {
      return readFileSync(this.record, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
    } catch {
      return [];
    }
  }

  /** The simulator's state of `envs/dev` (or another module path). */
  stateOf(modulePath = 'envs/dev'): { serial: number; instances: Record<string, unknown> } {
    const files = execFileSync('ls', [this.state], { encoding: 'utf8' }).split('\n');
    const slug = modulePath.replace(/[^A-Za-z0-9_-]+/g, '_');
    const file = files.find((f) => f.startsWith(`${slug}-`));
    if (!file) throw new Error(`no state for ${modulePath}`);
    return JSON.parse(readFileSync(join(this.state, file), 'utf8'));
  }
}

/**
 * `it` with a fresh `sandbox` fixture whose main branch holds `files`: tests that use it can run
 * concurrently (each has its own repository, artifact folder and state).
 */
export function itWithSandbox(files: () => Record<string, string>) {
  // One repository per file, copied for each test.
  let template: string | undefined;
  return it.extend<{ sandbox: Sandbox }>({
    // biome-ignore lint/correctness/noEmptyPattern: vitest reads a fixture's dependencies from this pattern
    sandbox: async ({}, use) => {
      template ??= TestRepo.template(files());
      await use(new Sandbox(await getBundle(), template));
    },
  });
}
