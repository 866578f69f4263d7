import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SESv2Client } from '@aws-sdk/client-sesv2';
import {
  type DescribeExecutionCommandOutput,
  SFNClient,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsNotifier, type Notifier } from '../../handlers/shared/notifier';
import type { ArtifactStore } from '../../lib/artifact-store';
import { lockKeyFor } from '../../lib/contracts';
import { startLocalServer } from '../../lib/local/local-server';
import {
  decide,
  type Harness,
  type HarnessOptions,
  history,
  lockHeld,
  type ModuleFixture,
  outbox,
  resources,
  runnerBundle,
  startHarness,
  startRun,
  statesEntered,
  waitForEnd,
} from '../e2e/harness';

/**
 * Fault injection through local mode: the synthesized workflow, the real handlers and the
 * bundled runner, with a terraform stand-in that crashes or stalls on cue
 * (tools/faulty-terraform.cjs), notifiers that fail like SES and Slack do, an artifact store that
 * cannot be written or read, server restarts and StopExecution at each long-running state.
 *
 * Every fault ends in the same checks (expectSafeEnd): the run ended, no lock is left behind,
 * nothing was applied without a recorded approval bound to the plan's checksum, and a failed
 * run says why in a readable cause. The checksum-mismatch fault (a tampered plan artifact) is
 * covered by test/e2e/workflow-paths.test.ts, "a tampered plan artifact is refused by apply".
 */

const FAULTY_TOOL = join(__dirname, 'tools', 'faulty-terraform.cjs');
const STALL_MS = 30_000;

type Fault = {
  on: 'init' | 'plan' | 'show' | 'apply';
  action: 'kill-runner' | 'kill-self' | 'sleep';
  ms?: number;
};

interface FaultHarness extends Harness {
  readonly toolLog: string;
}

/** A harness whose runner starts the faulty tool; the tool logs what it does to `toolLog`. */
async function startFaultHarness(options: HarnessOptions = {}): Promise<FaultHarness> {
  const { simulator } = await runnerBundle();
  const logDir = mkdtempSync(join(tmpdir(), 'dr-faults-'));
  const toolLog = join(logDir, 'tool.log');
  const h = await startHarness({
    ...options,
    toolPath: FAULTY_TOOL,
    runnerEnv: { SECTEST_SIM: simulator, SECTEST_TOOL_LOG: toolLog },
  });
  return {
    ...h,
    toolLog,
    close: async () => {
      await h.close();
      rmSync(logDir, { recursive: true, force: true });
    },
  };
}

/** Commits modules, each with an optional fault.json the faulty tool reads. */
function commitModules(h: Harness, modules: Record<string, ModuleFixture & { fault?: Fault }>) {
  const plain: Record<string, ModuleFixture> = {};
  for (const [path, { fault, ...module }] of Object.entries(modules)) {
    plain[path] = module;
    mkdirSync(join(h.repo.dir, path), { recursive: true });
    if (fault) writeFileSync(join(h.repo.dir, path, 'fault.json'), JSON.stringify(fault));
  }
  return h.repo.commit(plain);
}

interface ToolEvent {
  key: string;
  command: string;
  event: string;
}

function toolEvents(logFile: string, key: string): ToolEvent[] {
  if (!existsSync(logFile)) return [];
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as ToolEvent)
    .filter((e) => e.key === key);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const runIdOf = (arn: string) => arn.split(':').at(-1) as string;

/** This run's approval link for `to`, once the email is in the outbox. */
async function linkFor(h: Harness, arn: string, to = 'ada@example.com'): Promise<string> {
  return until(`the approval email of ${runIdOf(arn)}`, () => {
    const mine = outbox(h).find(
      (m) => m.kind === 'email' && m.to === to && m.text.includes(runIdOf(arn)),
    );
    return /(https?:\/\/[^\s"<>]+\/a\/[A-Za-z0-9_-]+)/.exec(mine?.text ?? '')?.[1];
  });
}

const STACK_TRACE = /\n\s+at |\bat .+\.[cm]?[jt]s:\d+:\d+/;

/**
 * The invariants every fault must keep: the run ended; no lock is left; Apply ran only with a
 * recorded approval of exactly the plan's checksum (and an apply result exists only then); a
 * failed run has a readable cause.
 */
async function expectSafeEnd(
  h: Harness,
  arn: string,
  path: string,
  end: DescribeExecutionCommandOutput,
): Promise<{ applyEntered: boolean; applied: boolean }> {
  expect(end.status).not.toBe('RUNNING');
  expect(await lockHeld(h, path)).toBeUndefined();
  const events = await history(h, arn);
  const apply = events.find(
    (e) => e.type === 'TaskStateEntered' && e.stateEnteredEventDetails?.name === 'Apply',
  );
  const applied = existsSync(join(h.server.artifactDir, 'runs', runIdOf(arn), 'apply-result.json'));
  if (apply || applied) {
    expect(apply, 'an apply result without the Apply state').toBeDefined();
    const state = JSON.parse(apply?.stateEnteredEventDetails?.input as string);
    expect(state.approval?.approved).toBe(true);
    expect(state.approval?.planSha256).toBe(state.plan?.summary?.planSha256);
    const approvalRun = await h.server.store.getRun(arn);
    expect(approvalRun?.status).toBe('approved');
    expect(approvalRun?.outcome?.planSha256).toBe(state.plan?.summary?.planSha256);
  }
  if (end.status === 'FAILED') {
    expect(end.error).toMatch(/^(DeployRunner|States)\.[A-Za-z]+$/);
    expect(end.cause?.trim().length ?? 0).toBeGreaterThan(10);
    expect(end.cause).not.toMatch(STACK_TRACE);
  }
  return { applyEntered: apply !== undefined, applied };
}

const FAILURE_TAIL = [
  'Notify failure',
  'Holds the lock after failure?',
  'Release lock after failure',
  'Run failed',
];

/** The harnesses the faults run in: their notifiers and stores differ, their runs do not mix. */
interface Harnesses {
  /** The faulty tool, and an artifact store whose reads fail for runs named `unreadable-*`. */
  readonly main: FaultHarness;
  /** SES throttles 3 times then delivers; Slack always answers 503. */
  readonly throttled: Harness;
  readonly throttledCalls: { throttled: number; delivered: number };
  readonly throttledSlack: { attempts: number };
  /** SES throttles forever; Slack always answers 503. */
  readonly undeliverable: Harness;
}

interface FaultCase {
  readonly name: string;
  readonly run: (x: Harnesses) => Promise<void>;
}

const start = (h: Harness, path: string, name?: string) =>
  startRun(h, { repo: 'infra', ref: 'main', path }, name);

const FAULTS: FaultCase[] = [
  {
    name: 'runner crash mid-plan (SIGKILL of the runner): fails with a readable cause, never asks',
    run: async ({ main: h }) => {
      const path = 'envs/crash-plan-runner';
      const arn = await start(h, path);
      const end = await waitForEnd(h, arn);
      expect(end.status).toBe('FAILED');
      expect(end.error).toBe('DeployRunner.PlanFailed');
      const states = await statesEntered(h, arn);
      expect(states).not.toContain('Request approval');
      expect(states.slice(-FAILURE_TAIL.length)).toEqual(FAILURE_TAIL);
      expect(toolEvents(h.toolLog, path).map((e) => e.event)).toContain('killing the runner');
      await expectSafeEnd(h, arn, path, end);
    },
  },
  {
    name: 'tool crash mid-plan (terraform killed): fails as PlanFailed, never asks',
    run: async ({ main: h }) => {
      const path = 'envs/crash-plan-tool';
      const arn = await start(h, path);
      const end = await waitForEnd(h, arn);
      expect(end.status).toBe('FAILED');
      expect(end.error).toBe('DeployRunner.PlanFailed');
      expect(await statesEntered(h, arn)).not.toContain('Request approval');
      await expectSafeEnd(h, arn, path, end);
    },
  },
  {
    name: 'runner crash mid-apply: fails as ApplyFailed after a recorded approval, no apply result',
    run: async ({ main: h }) => {
      const path = 'envs/crash-apply-runner';
      const arn = await start(h, path);
      expect((await decide(await linkFor(h, arn), 'approve')).status).toBe(200);
      const end = await waitForEnd(h, arn);
      expect(end.status).toBe('FAILED');
      expect(end.error).toBe('DeployRunner.ApplyFailed');
      const { applyEntered, applied } = await expectSafeEnd(h, arn, path, end);
      expect([applyEntered, applied]).toEqual([true, false]);
    },
  },
  {
    name: 'tool crash mid-apply: fails as ApplyFailed, no apply result',
    run: async ({ main: h }) => {
      const path = 'envs/crash-apply-tool';
      const arn = await start(h, path);
      await decide(await linkFor(h, arn), 'approve');
      const end = await waitForEnd(h, arn);
      expect(end.status).toBe('FAILED');
      expect(end.error).toBe('DeployRunner.ApplyFailed');
      const { applied } = await expectSafeEnd(h, arn, path, end);
      expect(applied).toBe(false);
    },
  },
  {
    name: 'artifact store write failure during plan: fails as PlanFailed, never asks',
    run: async ({ main: h }) => {
      const path = 'envs/unwritable';
      const name = 'unwritable-1';
      // The run's artifact folder is a file, so every write of the run fails (modes would not
      // stop root).
      mkdirSync(join(h.server.artifactDir, 'runs'), { recursive: true });
      writeFileSync(join(h.server.artifactDir, 'runs', name), 'in the way');
      const arn = await start(h, path, name);
      const end = await waitForEnd(h, arn);
      expect(end.status).toBe('FAILED');
      expect(end.error).toBe('DeployRunner.PlanFailed');
      expect(await statesEntered(h, arn)).not.toContain('Request approval');
      await expectSafeEnd(h, arn, path, end);
    },
  },
  {
    name: 'artifact store write failure after apply (the result cannot be recorded): the run fails, never succeeds',
    run: async ({ main: h }) => {
      const path = 'envs/result-unwritable';
      const arn = await start(h, path);
      const link = await linkFor(h, arn);
      writeFileSync(
        join(h.server.artifactDir, 'runs', runIdOf(arn), 'apply-result.json'),
        'in the way',
      );
      await decide(link, 'approve');
      const end = await waitForEnd(h, arn);
      expect(end.status).toBe('FAILED');
      expect(end.error).toBe('DeployRunner.ApplyFailed');
      expect(end.cause).toMatch(/artifact store/);
      const { applyEntered } = await expectSafeEnd(h, arn, path, end);
      expect(applyEntered).toBe(true);
    },
  },
  {
    name: 'artifact store read failure (Inspect plan, like S3 AccessDenied): fails readably, never asks',
    run: async ({ main: h }) => {
      const path = 'envs/unreadable';
      const arn = await start(h, path, 'unreadable-1');
      const end = await waitForEnd(h, arn);
      expect(end.status).toBe('FAILED');
      expect(end.error).toBe('DeployRunner.PlanFailed');
      // The inspect-plan function's read fails as S3 answers it: AccessDenied, in the cause.
      expect(end.cause).toMatch(/Access Denied \(injected\)/);
      const states = await statesEntered(h, arn);
      expect(states).toContain('Inspect plan');
      expect(states).not.toContain('Request approval');
      await expectSafeEnd(h, arn, path, end);
    },
  },
  {
    name: 'StopExecution during Plan: ABORTED, the tool is interrupted, lock released, nothing asked',
    run: async ({ main: h }) => {
      const path = 'envs/stop-plan';
      const arn = await start(h, path);
      await until('the stalled plan', () =>
        toolEvents(h.toolLog, path).some((e) => e.command === 'plan' && e.event === 'sleeping'),
      );
      await h.sfn.send(new StopExecutionCommand({ executionArn: arn, cause: 'stop during plan' }));
      const end = await waitForEnd(h, arn);
      expect(end.status).toBe('ABORTED');
      expect((await statesEntered(h, arn)).at(-1)).toBe('Plan');
      await until('the tool to be interrupted', () =>
        toolEvents(h.toolLog, path).some((e) => e.event.startsWith('interrupted')),
      );
      expect(
        toolEvents(h.toolLog, path).some((e) => e.command === 'plan' && e.event === 'exec'),
      ).toBe(false);
      await expectSafeEnd(h, arn, path, end);
    },
  },
  {
    name: 'StopExecution during Request approval: ABORTED, the open page cannot decide, no apply',
    run: async ({ main: h }) => {
      const path = 'envs/stop-approval';
      const arn = await start(h, path);
      const link = await linkFor(h, arn);
      const nonce = nonceOf(await (await fetch(link)).text());
      await h.sfn.send(
        new StopExecutionCommand({ executionArn: arn, cause: 'stop while waiting' }),
      );
      const end = await waitForEnd(h, arn);
      expect(end.status).toBe('ABORTED');
      expect((await postDecision(link, nonce)).status).toBe(409);
      expect(await statesEntered(h, arn)).not.toContain('Apply');
      await expectSafeEnd(h, arn, path, end);
    },
  },
  {
    name: 'StopExecution during Apply: ABORTED, the apply never runs, lock released',
    run: async ({ main: h }) => {
      const path = 'envs/stop-apply';
      const arn = await start(h, path);
      await decide(await linkFor(h, arn), 'approve');
      await until('the stalled apply', () =>
        toolEvents(h.toolLog, path).some((e) => e.command === 'apply' && e.event === 'sleeping'),
      );
      await h.sfn.send(new StopExecutionCommand({ executionArn: arn, cause: 'stop during apply' }));
      const end = await waitForEnd(h, arn);
      expect(end.status).toBe('ABORTED');
      await until('the tool to be interrupted', () =>
        toolEvents(h.toolLog, path).some((e) => e.event.startsWith('interrupted')),
      );
      expect(
        toolEvents(h.toolLog, path).some((e) => e.command === 'apply' && e.event === 'exec'),
      ).toBe(false);
      const { applied } = await expectSafeEnd(h, arn, path, end);
      expect(applied).toBe(false);
    },
  },
  {
    name: 'server crash during an approval wait: the restarted server fails the run as LocalServerRestarted, releases the lock, refuses the old link',
    run: async ({ main: h }) => {
      const path = 'envs/restart';
      const arn = await start(h, path);
      const link = await linkFor(h, arn);
      const nonce = nonceOf(await (await fetch(link)).text());
      // A crash leaves the data folder as it was at that moment: a copy of it is that state. The
      // other faults' runs share this server, so their runners' work folders (git checkouts) change
      // under the copy; this run's own runner has ended, and a restart makes `work` afresh.
      const crashed = join(h.root, 'data-after-crash');
      const data = join(h.root, 'data');
      cpSync(data, crashed, { recursive: true, filter: (from) => from !== join(data, 'work') });
      const { runner } = await runnerBundle();
      const restarted = await startLocalServer({
        config: h.config,
        dataDir: crashed,
        port: 0,
        runnerScript: runner,
        toolPath: FAULTY_TOOL,
        retryIntervalMs: 0,
      });
      try {
        const record = restarted.engine.get(arn);
        expect(record?.status).toBe('FAILED');
        expect(record?.error).toBe('DeployRunner.LocalServerRestarted');
        expect(record?.cause).toMatch(/Start a new run/);
        expect(await restarted.store.getLock(lockKeyFor('infra', path))).toBeUndefined();
        const moved = link.replace(h.server.url, restarted.url);
        const page = await fetch(moved);
        expect(page.status).toBe(409);
        expect(await page.text()).not.toContain('name="nonce"');
        // The nonce key survives restarts, so this nonce is genuine: the run's end refuses it.
        expect((await postDecision(moved, nonce)).status).toBe(409);
        expect(JSON.stringify(record?.events)).not.toContain('"name":"Apply"');
      } finally {
        await restarted.close();
      }
      // The original server still waits: stop it there too, and check its side.
      await h.sfn.send(new StopExecutionCommand({ executionArn: arn }));
      await expectSafeEnd(h, arn, path, await waitForEnd(h, arn));
    },
  },
  {
    name: 'server restart (graceful close) during an approval wait: the run is aborted, the lock released, the link cannot decide after the restart',
    run: async ({ main: h }) => {
      const dataDir = join(h.root, 'graceful');
      const { runner, simulator } = await runnerBundle();
      const serve = () =>
        startLocalServer({
          config: h.config,
          dataDir,
          port: 0,
          runnerScript: runner,
          toolPath: simulator,
          runnerEnv: { TF_SIM_STATE_DIR: join(h.root, 'tfstate') },
          retryIntervalMs: 0,
        });
      let server = await serve();
      try {
        const on = { ...h, server, sfn: sfnClient(server.url) } as Harness;
        const arn = await start(on, 'envs/graceful');
        const link = await linkFor(on, arn);
        const nonce = nonceOf(await (await fetch(link)).text());
        on.sfn.destroy();
        await server.close();
        server = await serve();
        const record = server.engine.get(arn);
        expect(record?.status).toBe('ABORTED');
        expect(record?.error).toBe('DeployRunner.LocalServerStopped');
        expect(await server.store.getLock(lockKeyFor('infra', 'envs/graceful'))).toBeUndefined();
        expect((await server.store.getRun(arn))?.status).toBe('ended');
        const moved = `${server.url}${new URL(link).pathname}`;
        expect((await postDecision(moved, nonce)).status).toBe(409);
        expect(JSON.stringify(record?.events)).not.toContain('"name":"Apply"');
      } finally {
        await server.close();
      }
    },
  },
  {
    name: 'SES throttles 3 times, then delivers; Slack always fails: the run is approved and applied',
    run: async ({ throttled: h, throttledCalls, throttledSlack }) => {
      const arn = await start(h, 'envs/throttled');
      expect((await decide(await linkFor(h, arn), 'approve')).status).toBe(200);
      const end = await waitForEnd(h, arn);
      expect(end.status).toBe('SUCCEEDED');
      expect(await statesEntered(h, arn)).toContain('Apply');
      expect(throttledCalls.throttled).toBe(3);
      expect(throttledCalls.delivered).toBeGreaterThanOrEqual(2);
      expect(throttledSlack.attempts).toBeGreaterThan(0);
      await expectSafeEnd(h, arn, 'envs/throttled', end);
    },
  },
  {
    name: 'nothing can be delivered (SES throttled throughout, Slack down): the run fails readably, nothing applied, no link left open',
    run: async ({ undeliverable: h }) => {
      const arn = await start(h, 'envs/undeliverable');
      const end = await waitForEnd(h, arn);
      expect(end.status).toBe('FAILED');
      expect(end.error).toBe('DeployRunner.NotificationFailed');
      expect(end.cause).toMatch(/deliver/i);
      const states = await statesEntered(h, arn);
      expect(states).toContain('Request approval');
      expect(states).not.toContain('Apply');
      expect(outbox(h)).toEqual([]);
      expect((await h.server.store.getRun(arn))?.status).toBe('ended');
      await expectSafeEnd(h, arn, 'envs/undeliverable', end);
    },
  },
];

const nonceOf = (page: string) => /name="nonce" value="([^"]+)"/.exec(page)?.[1] ?? '';

const postDecision = (link: string, nonce: string) =>
  fetch(link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ nonce, decision: 'approve' }),
  });

const sfnClient = (endpoint: string) =>
  new SFNClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });

/**
 * Every fault starts at once (they are mostly waiting on child processes), each in its own
 * root module so no two share a lock; each test then awaits its own fault's outcome.
 */
describe(`fault injection through local mode: ${FAULTS.length} faults`, () => {
  const outcomes = new Map<string, Promise<unknown>>();
  const harnesses: Harness[] = [];
  beforeAll(async () => {
    const throttledSlack = brokenSlack();
    const undeliverableSlack = brokenSlack();
    let throttledCalls = { throttled: 0, delivered: 0 };
    const notifier = (outbox: Notifier, throttles: number, slack: typeof throttledSlack) => {
      const fake = throttledSes(outbox, throttles);
      if (Number.isFinite(throttles)) throttledCalls = fake.calls;
      return new AwsNotifier({
        ses: fake.ses,
        fromEmail: 'deploy-runner@example.com',
        slackToken: async () => 'xoxb-test',
        fetch: slack.fetch,
        retry: { attempts: 3, sleep: async () => {} },
      });
    };
    const [main, throttled, undeliverable] = await Promise.all([
      startFaultHarness({ wrapArtifacts: (folder) => failingReads(folder, 'unreadable') }),
      startHarness({
        config: withSlackApprover,
        wrapNotifier: (outbox) => notifier(outbox, 3, throttledSlack),
      }),
      startHarness({
        config: withSlackApprover,
        wrapNotifier: (outbox) => notifier(outbox, Number.POSITIVE_INFINITY, undeliverableSlack),
      }),
    ]);
    harnesses.push(main, throttled, undeliverable);
    commitModules(main, {
      'envs/crash-plan-runner': {
        resources: resources('a'),
        fault: { on: 'plan', action: 'kill-runner' },
      },
      'envs/crash-plan-tool': {
        resources: resources('b'),
        fault: { on: 'plan', action: 'kill-self' },
      },
      'envs/crash-apply-runner': {
        resources: resources('c'),
        fault: { on: 'apply', action: 'kill-runner' },
      },
      'envs/crash-apply-tool': {
        resources: resources('d'),
        fault: { on: 'apply', action: 'kill-self' },
      },
      'envs/unwritable': { resources: resources('e') },
      'envs/result-unwritable': { resources: resources('f') },
      'envs/unreadable': { resources: resources('g') },
      'envs/stop-plan': {
        resources: resources('h'),
        fault: { on: 'plan', action: 'sleep', ms: STALL_MS },
      },
      'envs/stop-approval': { resources: resources('i') },
      'envs/stop-apply': {
        resources: resources('j'),
        fault: { on: 'apply', action: 'sleep', ms: STALL_MS },
      },
      'envs/restart': { resources: resources('k') },
      'envs/graceful': { resources: resources('l') },
    });
    throttled.repo.commit({ 'envs/throttled': { resources: resources('m') } });
    undeliverable.repo.commit({ 'envs/undeliverable': { resources: resources('n') } });
    const x: Harnesses = {
      main,
      throttled,
      throttledCalls,
      throttledSlack: throttledSlack.calls,
      undeliverable,
    };
    for (const fault of FAULTS)
      outcomes.set(
        fault.name,
        fault.run(x).then(
          () => undefined,
          (error: unknown) => error ?? new Error('failed'),
        ),
      );
  });
  afterAll(async () => {
    await Promise.allSettled(outcomes.values());
    await Promise.all(harnesses.map((h) => h.close()));
  });

  for (const fault of FAULTS)
    it(fault.name, async () => {
      const error = await outcomes.get(fault.name);
      if (error) throw error;
    }, 120_000);
});

/** An artifact store whose reads fail, like S3 AccessDenied, for keys containing `marker`. */
function failingReads(store: ArtifactStore, marker: string): ArtifactStore {
  return {
    put: (...args) => store.put(...args),
    listVersions: (prefix) => store.listVersions(prefix),
    head: (key, versionId) => store.head(key, versionId),
    get: async (key, versionId) => {
      if (key.includes(marker))
        throw Object.assign(new Error('Access Denied (injected)'), { name: 'AccessDenied' });
      return store.get(key, versionId);
    },
  } as ArtifactStore;
}

/** A fake SES client: throws ThrottlingException `throttles` times, then delivers to the outbox. */
function throttledSes(outbox: Notifier, throttles: number) {
  const calls = { throttled: 0, delivered: 0 };
  const ses = {
    send: async (command: { input: Record<string, unknown> }) => {
      if (calls.throttled < throttles) {
        calls.throttled++;
        throw Object.assign(new Error('Maximum sending rate exceeded.'), {
          name: 'ThrottlingException',
          $metadata: { httpStatusCode: 400 },
        });
      }
      const input = command.input as {
        Destination: { ToAddresses: string[] };
        Content: {
          Simple: {
            Subject: { Data: string };
            Body: { Text: { Data: string }; Html: { Data: string } };
          };
        };
      };
      calls.delivered++;
      await outbox.sendEmail({
        to: input.Destination.ToAddresses[0] as string,
        subject: input.Content.Simple.Subject.Data,
        text: input.Content.Simple.Body.Text.Data,
        html: input.Content.Simple.Body.Html.Data,
      });
      return {};
    },
  };
  return { ses: ses as unknown as SESv2Client, calls };
}

/** Slack's Web API answering 503 to everything. */
function brokenSlack() {
  const calls = { attempts: 0 };
  const fetch = (async () => {
    calls.attempts++;
    return new Response('upstream unavailable', { status: 503 });
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const withSlackApprover = (c: Record<string, unknown>) => {
  (c.approvals as Record<string, unknown>).approvers = [
    { name: 'Ada', email: 'ada@example.com', slackUserId: 'U0ADA1234' },
    { name: 'Grace', email: 'grace@example.com' },
  ];
  (c.notifications as Record<string, unknown>).slack = { botTokenSecretName: 'slack-bot' };
};
