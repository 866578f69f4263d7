import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { HistoryEvent } from '../lib/local/engine';
import { LOCAL_LOG_GROUP } from '../lib/local/log-service';
import { startCountingProxy } from './counting-proxy';
import type { BenchServer } from './local-mode';
import { stateName } from './overhead';
import { median, round, type Summary, sleep, summarize } from './stats';

/**
 * The CI client against local mode: `deploy-runner start` starts a run, then `deploy-runner wait`
 * follows it as a subprocess through a counting proxy, its stdout lines timestamped as they
 * arrive. Lag = when a state's line arrived minus the state's history timestamp; calls per
 * minute = requests at the proxy while the run works and while it waits for approval.
 */

const ROOT = resolve(__dirname, '..');
const LAUNCHER = join(ROOT, 'bin', 'deploy-runner.js');

export interface CliOptions {
  /** Runs followed with the runner's log lines streamed (`--log-group`, as the CI examples do). */
  readonly withLogs: number;
  /** Runs followed without logs (no log group): states and outcome only. */
  readonly withoutLogs: number;
  /** How long each run waits at Request approval before the bench approves it. */
  readonly approvalWaitMs: number;
  /**
   * Runs followed with logs and `--approval-poll <seconds>`: how soon a decision is seen, and
   * what it costs, at a pace a user chose instead of the default's 20-30 s.
   */
  readonly shortPoll?: { readonly runs: number; readonly seconds: number };
}

/** The root modules the CLI runs plan, one per followed run: the bench repo must have them. */
export function cliPaths(options: CliOptions): string[] {
  const runs = options.withLogs + options.withoutLogs + (options.shortPoll?.runs ?? 0);
  return Array.from({ length: runs }, (_, i) => `envs/cli-${String(i).padStart(3, '0')}`);
}

/** Figures of the runs followed one way. */
export interface CliVariant {
  readonly runs: number;
  readonly lagMs: Summary;
  /** Median lag per state. */
  readonly lagByStateMs: Record<string, number>;
  readonly callsPerMinuteRunning: number;
  readonly callsPerMinuteWaiting: number;
  readonly runningSeconds: number;
  readonly waitingSeconds: number;
  readonly callsByOperation: Record<string, number>;
}

export interface CliResult {
  readonly command: string;
  /** The headline figures are those of the runs followed with logs. */
  readonly lagMsMedian: number;
  readonly callsPerMinuteRunning: number;
  readonly callsPerMinuteWaiting: number;
  readonly withLogs: CliVariant;
  readonly withoutLogs?: CliVariant;
  /** Runs followed with logs and `--approval-poll <seconds>` (not in the headline). */
  readonly shortPoll?: CliVariant & { readonly approvalPollSeconds: number };
  readonly note: string;
}

interface Line {
  readonly at: number;
  readonly text: string;
}

/** Runs the CLI launcher (bin/deploy-runner.js, as `npx deploy-runner` does). */
function runCli(
  args: string[],
  onLine: (line: Line) => void,
): Promise<{ code: number; stderr: string }> {
  const child = spawn(process.execPath, [LAUNCHER, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (text) => onLine({ at: Date.now(), text }));
  return new Promise((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === null) reject(new Error(`deploy-runner ${args[0]} was killed`));
      else if (code !== 0 && args[0] === 'start')
        reject(new Error(`deploy-runner start exited ${code}: ${stderr.join('')}`));
      else resolvePromise({ code, stderr: stderr.join('') });
    });
  });
}

interface Followed {
  readonly lines: Line[];
  readonly events: readonly HistoryEvent[];
  readonly requests: Array<{ at: number; operation: string }>;
  /** Date.now() when the wait process exited. */
  readonly exitedAt: number;
}

async function follow(
  bench: BenchServer,
  index: number,
  approvalWaitMs: number,
  logs: boolean,
  approvalPollSeconds?: number,
) {
  const path = `envs/cli-${String(index).padStart(3, '0')}`;
  let executionArn = '';
  await runCli(
    [
      'start',
      '--endpoint',
      bench.server.url,
      '--repo',
      'infra',
      '--ref',
      'main',
      '--path',
      path,
      '--run-id',
      `bench-cli-${index}-${Date.now()}`,
      '--json',
    ],
    ({ text }) => {
      const record = JSON.parse(text) as { type?: string; executionArn?: string };
      if (record.type === 'started' && record.executionArn) executionArn = record.executionArn;
    },
  );
  if (!executionArn) throw new Error('deploy-runner start printed no executionArn');

  const proxy = await startCountingProxy(bench.server.url);
  const lines: Line[] = [];
  let exitedAt = 0;
  const approver = (async () => {
    const [link] = await bench.approvalLinks(executionArn, 300_000);
    const entered = bench.server.engine
      .get(executionArn)
      ?.events.find((e) => e.type.endsWith('StateEntered') && stateName(e) === 'Request approval');
    const enteredAt = entered ? entered.timestamp * 1000 : Date.now();
    await sleep(Math.max(0, enteredAt + approvalWaitMs - Date.now()));
    await bench.decide(link as string, 'approve');
  })();
  try {
    const { code, stderr } = await runCli(
      [
        'wait',
        executionArn,
        '--endpoint',
        proxy.url,
        ...(logs ? ['--log-group', LOCAL_LOG_GROUP] : ['--no-logs']),
        ...(approvalPollSeconds ? ['--approval-poll', String(approvalPollSeconds)] : []),
      ],
      (line) => lines.push(line),
    );
    exitedAt = Date.now();
    await approver;
    if (code !== 0)
      throw new Error(
        `deploy-runner wait exited ${code}: ${lines.map((l) => l.text).join('\n')}\n${stderr}`,
      );
  } finally {
    await proxy.close();
  }
  const record = await bench.settled(executionArn);
  return {
    lines,
    events: [...record.events],
    requests: [...proxy.requests],
    exitedAt,
  } satisfies Followed;
}

export async function measureCli(bench: BenchServer, options: CliOptions): Promise<CliResult> {
  const poll = options.shortPoll;
  const kinds = [
    ...Array.from({ length: options.withLogs }, () => 'logs' as const),
    ...Array.from({ length: options.withoutLogs }, () => 'no-logs' as const),
    ...Array.from({ length: poll?.runs ?? 0 }, () => 'short-poll' as const),
  ];
  const followed = await Promise.all(
    kinds.map((kind, i) =>
      follow(
        bench,
        i,
        options.approvalWaitMs,
        kind !== 'no-logs',
        kind === 'short-poll' ? poll?.seconds : undefined,
      ),
    ),
  );
  const of = (kind: (typeof kinds)[number]) => followed.filter((_, i) => kinds[i] === kind);
  const withLogs = variant(of('logs'));
  const withoutLogs = options.withoutLogs > 0 ? variant(of('no-logs')) : undefined;
  const shortPoll =
    poll && poll.runs > 0
      ? { approvalPollSeconds: poll.seconds, ...variant(of('short-poll')) }
      : undefined;
  return {
    command: `deploy-runner wait <arn> --endpoint <counting proxy> [--log-group ${LOCAL_LOG_GROUP} | --no-logs], plain output`,
    lagMsMedian: withLogs.lagMs.median,
    callsPerMinuteRunning: withLogs.callsPerMinuteRunning,
    callsPerMinuteWaiting: withLogs.callsPerMinuteWaiting,
    withLogs,
    ...(withoutLogs && { withoutLogs }),
    ...(shortPoll && { shortPoll }),
    note: `Each run waited ${Math.round(options.approvalWaitMs / 1000)} s for approval; the tool sleeps before plan and apply so the runner works long enough to watch. Poll intervals (lib/cli/follow.ts): 1 s while working; 20 s, then 30 s while waiting (2 min after 15 min); the pacer allows at most one call per second. With logs, a finished task's lines so far are read before the next state is printed; its late lines follow at the next polls.${shortPoll ? ` shortPoll: ${shortPoll.runs} run(s) followed with logs and --approval-poll ${shortPoll.approvalPollSeconds} (not in the headline): its "Approved?" lag is how soon a decision is seen at that pace.` : ''}`,
  };
}

function variant(followed: readonly Followed[]): CliVariant {
  const lags: number[] = [];
  const byState = new Map<string, number[]>();
  let running = { calls: 0, ms: 0 };
  let waiting = { calls: 0, ms: 0 };
  const operations: Record<string, number> = {};
  for (const { lines, events, requests, exitedAt } of followed) {
    const followingAt = lines.find((l) => l.text.startsWith('Following'))?.at ?? 0;
    const entered = events.filter((e) => e.type.endsWith('StateEntered'));
    const used = new Set<HistoryEvent>();
    for (const line of lines) {
      const name = /^\d\d:\d\d:\d\d -> (.+)$/.exec(line.text)?.[1];
      if (!name) continue;
      const event = entered.find((e) => !used.has(e) && stateName(e) === name);
      if (!event) continue;
      used.add(event);
      const eventAt = event.timestamp * 1000;
      // States entered before `wait` was following were printed from its first history read.
      if (eventAt < followingAt) continue;
      lags.push(line.at - eventAt);
      byState.set(name, [...(byState.get(name) ?? []), line.at - eventAt]);
    }

    const approvalEntered = entered.find((e) => stateName(e) === 'Request approval');
    const approvalExited = events.find(
      (e) => e.type.endsWith('StateExited') && stateName(e) === 'Request approval',
    );
    const waitFrom = (approvalEntered?.timestamp ?? 0) * 1000;
    const waitTo = (approvalExited?.timestamp ?? 0) * 1000;
    const first = requests[0]?.at ?? 0;
    const inWait = requests.filter((r) => r.at >= waitFrom && r.at < waitTo).length;
    waiting = { calls: waiting.calls + inWait, ms: waiting.ms + (waitTo - waitFrom) };
    running = {
      calls: running.calls + requests.length - inWait,
      // Following lasts from the first call to the process exit, minus the wait for a person.
      ms: running.ms + (exitedAt - first) - (waitTo - waitFrom),
    };
    for (const r of requests) operations[r.operation] = (operations[r.operation] ?? 0) + 1;
  }
  return {
    runs: followed.length,
    lagMs: summarize(lags),
    lagByStateMs: Object.fromEntries(
      [...byState].map(([name, list]) => [name, round(median(list))]),
    ),
    callsPerMinuteRunning: round((running.calls / running.ms) * 60_000),
    callsPerMinuteWaiting: round((waiting.calls / waiting.ms) * 60_000),
    runningSeconds: round(running.ms / 1000),
    waitingSeconds: round(waiting.ms / 1000),
    callsByOperation: operations,
  };
}
