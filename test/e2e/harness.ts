import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { bundleRunner, type RunnerBundle } from '../../containers/runner/bundle';
import { type DeployRunnerConfig, parseConfig } from '../../lib/config';
import { type ExecutionInput, lockKeyFor } from '../../lib/contracts';
import {
  type LocalServer,
  type LocalServerOptions,
  startLocalServer,
} from '../../lib/local/local-server';
import { InfraRepo } from './repo';

export { decide, InfraRepo, type ModuleFixture, resources, type SimResource } from './repo';

/**
 * End-to-end harness: a real git repo, the synthesized state machine in a local server, the real
 * handlers and the bundled runner with the terraform simulator. Tests talk to it only through
 * `@aws-sdk/client-sfn` and HTTP, as CI and approvers do.
 */

let bundle: Promise<RunnerBundle> | undefined;
/**
 * The runner and simulator bundles: built once per run by test/global-setup.ts, or once per use
 * without that setup (vitest.load.config.ts, and the bench, which runs outside vitest and so may
 * not load it: vitest refuses `require`).
 */
export function runnerBundle(): Promise<RunnerBundle> {
  bundle ??= (
    process.env.VITEST ? import('vitest').then((v) => v.inject('runnerBundle')) : Promise.resolve()
  ).then((built) => built ?? bundleRunner(mkdtempSync(join(tmpdir(), 'dr-bundle-'))));
  return bundle;
}

export interface Harness {
  readonly server: LocalServer;
  readonly sfn: SFNClient;
  readonly repo: InfraRepo;
  readonly config: DeployRunnerConfig;
  readonly root: string;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Patch the config object before validation. */
  readonly config?: (config: Record<string, unknown>) => void;
  /** Keep a console transcript (for debugging). */
  readonly echo?: (line: string) => void;
  /** The terraform stand-in the runner starts. @default - the bundled simulator */
  readonly toolPath?: string;
  /** Extra environment for runner tasks (added to TF_SIM_STATE_DIR). */
  readonly runnerEnv?: Readonly<Record<string, string>>;
  /** Fault injection: wraps the notifier the handlers use. */
  readonly wrapNotifier?: LocalServerOptions['wrapNotifier'];
  /** Fault injection: wraps the artifact store the handlers and task runtime read. */
  readonly wrapArtifacts?: LocalServerOptions['wrapArtifacts'];
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const root = mkdtempSync(join(tmpdir(), 'dr-e2e-'));
  const repo = new InfraRepo(join(root, 'infra'));
  const raw: Record<string, unknown> = {
    repos: {
      infra: {
        url: repo.url,
        allowedRefs: ['main', 'release/*'],
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
      timeout: '10m',
    },
    notifications: { fromEmail: 'deploy-runner@example.com' },
  };
  options.config?.(raw);
  const config = parseConfig(raw);
  const { runner, simulator } = await runnerBundle();
  const server = await startLocalServer({
    config,
    dataDir: join(root, 'data'),
    port: 0,
    runnerScript: runner,
    toolPath: options.toolPath ?? simulator,
    runnerEnv: { TF_SIM_STATE_DIR: join(root, 'tfstate'), ...options.runnerEnv },
    retryIntervalMs: 0,
    ...(options.echo && { echo: options.echo }),
    ...(options.wrapNotifier && { wrapNotifier: options.wrapNotifier }),
    ...(options.wrapArtifacts && { wrapArtifacts: options.wrapArtifacts }),
  });
  const sfn = new SFNClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return {
    server,
    sfn,
    repo,
    config,
    root,
    close: async () => {
      sfn.destroy();
      await server.close();
      // A runner outlives its server by design (lib/local/runner-watchdog.cjs): one still ending
      // may write into the folder while it is removed, for seconds on a busy machine.
      await removeWhenSettled(root);
    },
  };
}

/** Removes `dir`, retrying while processes that outlive the server still write into it. */
async function removeWhenSettled(dir: string, forMs = 30_000): Promise<void> {
  const until = Date.now() + forMs;
  for (;;) {
    try {
      rmSync(dir, { recursive: true, force: true });
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EBUSY') || Date.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

export async function startRun(h: Harness, input: ExecutionInput, name?: string): Promise<string> {
  const out = await h.sfn.send(
    new StartExecutionCommand({
      stateMachineArn: h.server.stateMachineArn,
      input: JSON.stringify(input),
      ...(name && { name }),
    }),
  );
  return out.executionArn as string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the run has left RUNNING and its end-of-run hook (cleanup) has run, then reads how
 * it ended through DescribeExecution, as CI does. The engine says when: polling the API every
 * 50 ms cost ~2 ms of CPU per call, for as long as each waited-on run lasted.
 */
export async function waitForEnd(
  h: Harness,
  executionArn: string,
  timeoutMs = 60_000,
): Promise<DescribeExecutionCommandOutput> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`run still RUNNING after ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([h.server.engine.settled(executionArn), timeout]);
  } finally {
    clearTimeout(timer);
  }
  const out = await h.sfn.send(new DescribeExecutionCommand({ executionArn }));
  if (out.status === 'RUNNING')
    throw new Error(`the engine ended ${executionArn}, but DescribeExecution says RUNNING`);
  return out;
}

export async function history(h: Harness, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await h.sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

/** The names of the states the run entered, in order. */
export async function statesEntered(h: Harness, executionArn: string): Promise<string[]> {
  return (await history(h, executionArn))
    .filter((e) => e.type?.endsWith('StateEntered'))
    .map((e) => e.stateEnteredEventDetails?.name as string);
}

export interface OutboxMessage {
  kind: 'email' | 'slack';
  to?: string;
  channel?: string;
  subject?: string;
  text: string;
  html?: string;
}

/**
 * Messages already read, by file. A message file appears whole, by rename (lib/local/durable.ts),
 * and is never changed: the tests poll the outbox every 50 ms while a run plans, and re-reading
 * every earlier message on each poll was most of that polling's CPU.
 */
const readMessages = new Map<string, OutboxMessage>();

export function outbox(h: Harness): OutboxMessage[] {
  let files: string[];
  try {
    files = readdirSync(h.server.outboxDir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files.sort().map((f) => {
    const file = join(h.server.outboxDir, f);
    let message = readMessages.get(file);
    if (!message) {
      message = JSON.parse(readFileSync(file, 'utf8')) as OutboxMessage;
      readMessages.set(file, message);
    }
    return message;
  });
}

/** Waits for the approval emails of a run and returns each approver's link. */
export async function approvalLinks(h: Harness, count = 1, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const links = outbox(h)
      .filter((m) => m.kind === 'email')
      .flatMap((m) => {
        const link = /(https?:\/\/[^\s"<>]+\/a\/[A-Za-z0-9_-]+)/.exec(m.text)?.[1];
        return link ? [{ to: m.to as string, link }] : [];
      });
    if (links.length >= count) return links;
    if (Date.now() > deadline) throw new Error(`no approval email after ${timeoutMs} ms`);
    await sleep(50);
  }
}

export async function lockHeld(h: Harness, path: string, repo = 'infra') {
  return h.server.store.getLock(lockKeyFor(repo, path));
}
