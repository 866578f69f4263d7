import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { Agent } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, describe, expect, it } from 'vitest';
import { localTaskRecordSchema } from '../../lib/contracts';
import { processAlive } from '../../lib/local/durable';
import { decide, InfraRepo, resources } from '../e2e/repo';
import { userTmpdir } from '../user-tmpdir';

/**
 * Local mode after a crash, end to end: `deploy-runner local serve` runs as a child process and
 * is killed with SIGKILL mid-run, its files are damaged, its disk is filled (a small tmpfs), and
 * the next server must tell the truth about every run: an apply that outlived the server keeps
 * its lock until it ends, an expired deadline expires, a damaged record is reported and keeps
 * its name, a lost run's lock is released, and a full disk fails runs with a cause that says so.
 */

const ROOT = resolve(__dirname, '..', '..');
/**
 * What `npx deploy-runner` runs: the launcher loads the TypeScript with tsx's require hook, a
 * few hundred ms of CPU less per process than `node --import tsx` and its loader thread.
 */
const CLI = join(ROOT, 'bin', 'deploy-runner.js');
const STATE_MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:DeployRunner';
const ARN = (name: string) =>
  `arn:aws:states:us-east-1:123456789012:execution:DeployRunner:${name}`;
/** Without /usr/local/bin (real terraform): the server uses the simulator. */
const ENV = { ...process.env, PATH: '/usr/bin:/bin', NO_COLOR: '1', ...userTmpdir() };

/** The servers' console, shown when a wait times out. */
const consoles: Array<() => string> = [];
const debug = () => consoles.map((c) => `\n--- server console ---\n${c().slice(-3000)}`).join('');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const temps: string[] = [];
const children: ChildProcess[] = [];

async function until<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${debug()}`);
    await sleep(100);
  }
}

function freePort(): Promise<number> {
  return new Promise((r) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => r(port));
    });
  });
}

/** `deploy-runner local serve` in a child process, as a person runs it. */
class Server {
  output = '';
  url = '';
  sfn = new SFNClient({});
  private readonly exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
  ) {
    children.push(child);
    child.stdout?.on('data', (c: Buffer) => {
      this.output += c.toString();
    });
    child.stderr?.on('data', (c: Buffer) => {
      this.output += c.toString();
    });
    this.exited = new Promise((r) => child.on('exit', (code) => r(code)));
  }

  static async start(dataDir: string, config: string, port: number): Promise<Server> {
    const child = spawn(
      process.execPath,
      [CLI, 'local', 'serve', '--port', String(port), '--data-dir', dataDir, '--config', config],
      { cwd: ROOT, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const server = new Server(child, dataDir);
    consoles.push(() => server.output);
    server.url = await until(
      'the server to listen',
      () => {
        if (child.exitCode !== null) throw new Error(`server exited: ${server.output}`);
        return /deploy-runner local server: (http:\/\/\S+)/.exec(server.output)?.[1];
      },
      // Starting synthesizes the stack and bundles the runner: slow on a busy machine.
      150_000,
    );
    server.sfn = new SFNClient({
      endpoint: server.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
      // A connection per call: a kept-alive one that sat idle for the server's 5 s keep-alive
      // timeout can be closed by the server just as the next call reuses it (ECONNRESET, which
      // one attempt does not retry); that failed a full run of the disk-full test under load.
      requestHandler: { httpAgent: new Agent({ keepAlive: false }) },
    });
    return server;
  }

  /** A crash: SIGKILL, no chance to clean up. */
  async kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }

  async startRun(path: string, name: string, mode: 'apply' | 'plan-only' = 'apply') {
    await this.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: STATE_MACHINE,
        name,
        input: JSON.stringify({ repo: 'infra', ref: 'main', path, mode }),
      }),
    );
    return ARN(name);
  }

  describeRun(name: string): Promise<DescribeExecutionCommandOutput> {
    return this.sfn.send(new DescribeExecutionCommand({ executionArn: ARN(name) }));
  }

  async ended(name: string, timeoutMs = 30_000): Promise<DescribeExecutionCommandOutput> {
    return until(
      `${name} to end`,
      async () => {
        const run = await this.describeRun(name);
        return run.status !== 'RUNNING' && run;
      },
      timeoutMs,
    );
  }

  async statesEntered(name: string): Promise<string[]> {
    const { events = [] } = await this.sfn.send(
      new GetExecutionHistoryCommand({ executionArn: ARN(name), maxResults: 1000 }),
    );
    return events
      .filter((e) => e.type?.endsWith('StateEntered'))
      .map((e) => e.stateEnteredEventDetails?.name as string);
  }
}

function outbox(dataDir: string): Array<{ kind: string; text: string; subject?: string }> {
  const dir = join(dataDir, 'outbox');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
}

function approvalLink(dataDir: string, path: string): Promise<string> {
  return until(`the approval email for ${path}`, () =>
    outbox(dataDir)
      .filter((m) => m.kind === 'email' && m.text.includes(path))
      .map((m) => /(https?:\/\/[^\s"<>]+\/a\/[A-Za-z0-9_-]+)/.exec(m.text)?.[1])
      .find(Boolean),
  );
}

function tasks(dataDir: string) {
  const dir = join(dataDir, 'tasks');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => {
      try {
        return [localTaskRecordSchema.parse(JSON.parse(readFileSync(join(dir, f), 'utf8')))];
      } catch {
        return [];
      }
    });
}

/** `deploy-runner wait --json` in a child process, following a run across a restart. */
function follow(url: string, executionArn: string) {
  const child = spawn(
    process.execPath,
    [CLI, 'wait', executionArn, '--endpoint', url, '--json', '--no-logs'],
    { cwd: ROOT, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const records = () =>
    stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    /** Resolves once the CLI has talked to the server (its first record). */
    contacted: until('`wait` to reach the server', () => records().length > 0, 60_000),
    done: new Promise<{
      code: number | null;
      records: Array<Record<string, unknown>>;
      stderr: string;
    }>((r) => child.on('exit', (code) => r({ code, stderr, records: records() }))),
  };
}

function setUp(approvalTimeout: string, modules: Record<string, object>) {
  const root = mkdtempSync(join(tmpdir(), 'dr-crash-'));
  temps.push(root);
  const repo = new InfraRepo(join(root, 'infra'));
  repo.commit(modules as never);
  const config = join(root, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      repos: {
        infra: {
          url: repo.url,
          allowedRefs: ['main'],
          allowedPaths: ['envs/*'],
          tool: 'terraform',
        },
      },
      approvals: {
        approvers: [{ name: 'Ada', email: 'ada@example.com' }],
        timeout: approvalTimeout,
      },
      notifications: { fromEmail: 'deploy-runner@example.com' },
    }),
  );
  return { root, config };
}

/** Whether a child process of `pid` has `word` in its command line (Linux /proc). */
function childrenRunning(pid: number, word: string): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(word)) return true;
    } catch {
      // The process ended while we looked.
    }
  }
  return false;
}

/** The data folder, and every file and folder of local mode's own under it, with their permission bits. */
function modes(dataDir: string): Array<[string, number, boolean]> {
  const out: Array<[string, number, boolean]> = [];
  const walk = (path: string, deep: boolean) => {
    let stat: ReturnType<typeof statSync>;
    try {
      stat = statSync(path);
    } catch {
      return; // removed while we looked (a finished task's work folder)
    }
    out.push([path, stat.mode & 0o777, stat.isDirectory()]);
    if (deep && stat.isDirectory())
      for (const entry of readdirSync(path)) walk(join(path, entry), true);
  };
  walk(dataDir, false);
  for (const name of [
    'store.json',
    'page-secret',
    'server.lock',
    'executions',
    'artifacts',
    'outbox',
    'logs',
    'tasks',
  ])
    walk(join(dataDir, name), true);
  return out;
}

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of temps) {
    try {
      execFileSync('umount', ['-l', join(dir, 'disk')], { stdio: 'ignore' });
    } catch {
      // Not mounted.
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

describe.concurrent('local mode after a crash (kill -9 of `deploy-runner local serve`)', () => {
  it('an apply outlives the server: the restart says it may have completed, keeps the lock until it ends, notifies; a plan is stopped; `wait` reattaches; one server per data folder; files are owner-only', async () => {
    const go = join(tmpdir(), `dr-crash-go-${process.pid}-${Date.now()}`);
    temps.push(go);
    const { root, config } = setUp('10m', {
      'envs/slow-apply': { resources: resources('a', 'b'), applyWaitsFor: go },
      'envs/slow-plan': { resources: resources('c'), delayMs: { plan: 30_000 } },
    });
    const data = join(root, 'data');
    const port = await freePort();
    const first = await Server.start(data, config, port);
    await first.startRun('envs/slow-apply', 'slow-apply-1');
    await first.startRun('envs/slow-plan', 'slow-plan-1');
    expect((await decide(await approvalLink(data, 'envs/slow-apply'), 'approve')).status).toBe(200);
    const waited = follow(first.url, ARN('slow-apply-1'));
    await waited.contacted;
    // Terraform is applying once the runner has a child running `apply`.
    const applyTask = await until('the apply to be under way', () =>
      tasks(data).find((t) => t.mode === 'apply' && childrenRunning(t.pid, 'apply')),
    );
    const planTask = tasks(data).find((t) => t.mode === 'plan');
    expect(applyTask && planTask).toBeTruthy();
    if (!applyTask || !planTask) return;

    await first.kill9();
    // The plan runner stops itself; the apply runner goes on.
    await until('the orphaned plan runner to stop', () => !processAlive(planTask.pid), 10_000);
    expect(processAlive(applyTask.pid, applyTask.startTime)).toBe(true);

    const second = await Server.start(data, config, port);
    try {
      expect(processAlive(applyTask.pid, applyTask.startTime)).toBe(true);
      const interrupted = await second.describeRun('slow-apply-1');
      expect(interrupted.status).toBe('FAILED');
      expect(interrupted.error).toBe('DeployRunner.ApplyInterrupted');
      expect(interrupted.cause).toMatch(/the apply may have completed/);
      expect(interrupted.cause).toMatch(/the state is the truth/);
      expect(interrupted.cause).toMatch(
        /lock on infra envs\/slow-apply stays held until that process ends/,
      );
      // History was saved as the run went: the restart still shows it was approved and applying.
      expect(await second.statesEntered('slow-apply-1')).toEqual(
        expect.arrayContaining(['Request approval', 'Approved?', 'Apply']),
      );
      const plan = await second.describeRun('slow-plan-1');
      expect(plan.error).toBe('DeployRunner.LocalServerRestarted');
      expect(plan.cause).toMatch(/nothing was applied/);
      expect(
        outbox(data).some(
          (m) => m.text.includes('may have completed') && m.text.includes('envs/slow-apply'),
        ),
      ).toBe(true);

      // While the old apply runs, its lock holds: a new run on the path is refused.
      await second.startRun('envs/slow-apply', 'slow-apply-2');
      expect((await second.ended('slow-apply-2')).error).toBe('DeployRunner.LockHeld');
      expect(processAlive(applyTask.pid, applyTask.startTime)).toBe(true);

      // A second server on the same folder is refused while this one runs.
      const other = await new Promise<{ code: number | null; stderr: string }>((r) =>
        execFileSyncAsync(
          ['local', 'serve', '--port', '0', '--data-dir', data, '--config', config],
          r,
        ),
      );
      expect(other.code).toBe(2);
      expect(other.stderr).toMatch(
        new RegExp(
          `another local server \\(pid ${second.child.pid} at ${second.url.replace(/[.]/g, '\\.')}\\) is using the data folder ${data.replace(/[.]/g, '\\.')}: stop it first`,
        ),
      );

      // The apply completes on its own; then the lock is released, with a line saying so.
      writeFileSync(go, '');
      await until(
        'the orphaned apply to end',
        () => !processAlive(applyTask.pid, applyTask.startTime),
        20_000,
      );
      const state = readdirSync(join(data, 'tfstate')).find((f) => f.startsWith('envs_slow-apply'));
      const { instances } = JSON.parse(
        readFileSync(join(data, 'tfstate', state as string), 'utf8'),
      );
      expect(Object.keys(instances)).toEqual(['sim_thing.a', 'sim_thing.b']);
      await until('the lock to be released', () =>
        /slow-apply-1: the apply runner \(pid \d+\) left by the last server ended with exit code 0; the lock on infra envs\/slow-apply is released/.test(
          second.output,
        ),
      );
      await second.startRun('envs/slow-apply', 'slow-apply-3');
      await until('the new run to take the lock', async () =>
        (await second.statesEntered('slow-apply-3')).includes('Plan'),
      );
      await second.sfn.send(new StopExecutionCommand({ executionArn: ARN('slow-apply-3') }));

      // `wait` kept trying while the server was down and reattached to report the end.
      const followed = await waited.done;
      expect(
        followed.records.some((r) => r.type === 'retry' && /ECONNREFUSED/.test(String(r.error))),
      ).toBe(true);
      const result = followed.records.find((r) => r.type === 'result');
      expect(result).toMatchObject({ status: 'FAILED', error: 'DeployRunner.ApplyInterrupted' });
      expect(followed.code).toBe(result?.exitCode);
      expect(followed.code).not.toBe(0);

      const files = modes(data);
      expect(files.length).toBeGreaterThan(20);
      for (const [path, mode, isDir] of files)
        expect([path, mode.toString(8)]).toEqual([path, isDir ? '700' : '600']);
    } finally {
      await second.stop();
    }
  }, 420_000);

  it('while the server was down: an approval deadline passes (ApprovalExpired, exit 4), records are damaged (reported, kept aside, names stay taken), a run is lost (its lock is released), the store is torn (recovered)', async () => {
    const { root, config } = setUp('10s', {
      'envs/expire': { resources: resources('e') },
      'envs/lost': { resources: resources('l') },
      'envs/fine': { resources: resources('f') },
    });
    const data = join(root, 'data');
    const port = await freePort();
    const first = await Server.start(data, config, port);
    await first.startRun('envs/fine', 'fine-1', 'plan-only');
    expect((await first.ended('fine-1')).status).toBe('SUCCEEDED');
    await first.startRun('envs/fine', 'fine-2', 'plan-only');
    expect((await first.ended('fine-2')).status).toBe('SUCCEEDED');
    await first.startRun('envs/lost', 'lost-1');
    await first.startRun('envs/expire', 'expire-1');
    await approvalLink(data, 'envs/lost');
    await approvalLink(data, 'envs/expire');
    const expiring = Date.now() + 10_000;
    const waited = follow(first.url, ARN('expire-1'));
    await waited.contacted;
    await first.kill9();

    const executions = join(data, 'executions');
    // fine-1: its record is torn, its events are whole. fine-2: both torn. lost-1: gone.
    truncateSync(join(executions, 'fine-1.json'), 40);
    truncateSync(join(executions, 'fine-2.json'), 40);
    truncateSync(join(executions, 'fine-2.events.jsonl'), 30);
    rmSync(join(executions, 'lost-1.json'));
    rmSync(join(executions, 'lost-1.events.jsonl'));
    // The store loses its tail in the middle of its last item.
    const store = join(data, 'store.json');
    const text = readFileSync(store, 'utf8');
    const lines = text.split('\n').filter((l) => l.startsWith('{"pk"'));
    truncateSync(store, text.lastIndexOf('{"pk"') + 20);
    await sleep(Math.max(0, expiring - Date.now()));

    const second = await Server.start(data, config, port);
    try {
      const expired = await second.describeRun('expire-1');
      expect(expired.error).toBe('DeployRunner.ApprovalExpired');
      expect(expired.cause).toMatch(/No approver decided within 10s; nothing was applied/);
      const followed = await waited.done;
      expect({ code: followed.code, stderr: followed.stderr }).toMatchObject({ code: 4 });

      expect(second.output).toMatch(
        /executions\/fine-1\.json could not be read \(SyntaxError: [^)]*\); it was kept as executions\/fine-1\.json\.damaged, and the run was rebuilt from executions\/fine-1\.events\.jsonl/,
      );
      expect((await second.describeRun('fine-1')).status).toBe('SUCCEEDED');
      expect(second.output).toMatch(
        /executions\/fine-2\.json could not be read \(SyntaxError: [^)]*\); it was kept as executions\/fine-2\.json\.damaged\. fine-2 is listed as FAILED \(DeployRunner\.LocalRecordDamaged\); delete the kept file to free the name/,
      );
      expect(existsSync(join(executions, 'fine-2.json.damaged'))).toBe(true);
      const damaged = await second.describeRun('fine-2');
      expect(damaged).toMatchObject({ status: 'FAILED', error: 'DeployRunner.LocalRecordDamaged' });
      const { executions: listed = [] } = await second.sfn.send(
        new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE }),
      );
      expect(listed.map((e) => e.name)).toContain('fine-2');
      // A retried CI job with that name does not start a new run, as in AWS.
      await expect(second.startRun('envs/fine', 'fine-2', 'plan-only')).rejects.toMatchObject({
        name: 'ExecutionAlreadyExists',
      });

      expect(second.output).toMatch(
        new RegExp(
          `store\\.json could not be read \\(SyntaxError: [^)]*\\): it was kept as store\\.json\\.damaged-\\d+ and ${lines.length - 1} whole item\\(s\\) were recovered from it`,
        ),
      );
      expect(second.output).toContain(
        `released the lock lock#infra#envs/lost: its run ${ARN('lost-1')} no longer exists`,
      );
      await second.startRun('envs/lost', 'lost-2', 'plan-only');
      expect((await second.ended('lost-2')).status).toBe('SUCCEEDED');
    } finally {
      await second.stop();
    }
  }, 420_000);

  it('a full disk: the server stays up, runs fail with a cause that says the disk is full, and it starts again once space is freed', async (ctx) => {
    const { root, config } = setUp('10m', {
      'envs/full': { resources: resources('x') },
      'envs/other': { resources: resources('y') },
      'envs/after': { resources: resources('z') },
    });
    const data = join(root, 'disk');
    mkdirSync(data);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=12m,mode=0700', 'tmpfs', data], {
        stdio: 'ignore',
      });
    } catch {
      ctx.skip('mounting a tmpfs needs root: the disk-full test did not run');
      return;
    }
    const servers: Server[] = [];
    try {
      const port = await freePort();
      const first = await Server.start(data, config, port);
      servers.push(first);
      await first.startRun('envs/full', 'full-1');
      const link = await approvalLink(data, 'envs/full');
      // Fill the disk to the last byte.
      const filler = openSync(join(data, 'filler'), 'w');
      for (const size of [1 << 20, 1 << 12, 1]) {
        const chunk = Buffer.alloc(size, 1);
        try {
          for (;;) writeSync(filler, chunk);
        } catch {
          // ENOSPC: next, smaller chunks.
        }
      }
      closeSync(filler);
      expect((await decide(link, 'approve')).status).toBe(200);
      const applied = await first.ended('full-1');
      expect(applied.status).toBe('FAILED');
      expect(applied.cause).toMatch(
        /^Apply did not start: .*the disk holding the local data folder .* is full.*Nothing was applied\.$/,
      );
      await first.startRun('envs/other', 'full-2');
      const planned = await first.ended('full-2');
      expect(planned.status).toBe('FAILED');
      expect(planned.cause).toMatch(/the disk holding the local data folder .* is full/);
      expect(first.child.exitCode).toBeNull();
      expect(first.output).toMatch(/could not save .*no space left on device/i);

      rmSync(join(data, 'filler'));
      await first.startRun('envs/after', 'after-1');
      await approvalLink(data, 'envs/after');
      await until('the server to save what it kept in memory', () =>
        /run full-1 is saved again/.test(first.output),
      );
      await first.kill9();

      const second = await Server.start(data, config, port);
      servers.push(second);
      try {
        const saved = await second.describeRun('full-1');
        expect(saved.cause).toMatch(/the disk holding the local data folder .* is full/);
        expect((await second.describeRun('after-1')).error).toBe(
          'DeployRunner.LocalServerRestarted',
        );
      } finally {
        await second.stop();
      }
    } finally {
      for (const server of servers) await server.kill9();
      execFileSync('umount', ['-l', data], { stdio: 'ignore' });
    }
  }, 420_000);
});

function execFileSyncAsync(
  args: string[],
  done: (result: { code: number | null; stderr: string }) => void,
): void {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  child.on('exit', (code) => done({ code, stderr }));
}
