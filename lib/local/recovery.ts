import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type LocalTaskExit,
  type LocalTaskRecord,
  localTaskExitSchema,
  localTaskRecordSchema,
  RunErrors,
  StateNames,
} from '../contracts';
import { processAlive } from './durable';
import { currentStateOf, type ExecutionRecord, type LocalEngine } from './engine';
import type { LocalLogService } from './log-service';
import type { MemoryApprovalStore } from './memory-store';

/**
 * What a local server does at start about the runs the last one left in flight (it crashed, or
 * was killed). It must tell the truth about each: a run waiting for approval whose deadline
 * passed while the server was down expired; a plan was stopped; an apply may have completed, and
 * its lock stays held while its runner (which outlives the server on purpose, see
 * lib/local/runner-watchdog.cjs) still runs. Locks whose run no longer exists are released.
 */

export interface RecoveryOptions {
  readonly engine: LocalEngine;
  readonly store: MemoryApprovalStore;
  readonly logs: LocalLogService;
  readonly logGroup: string;
  /** Task records of runners (`localTaskRecordSchema`). */
  readonly tasksDir: string;
  /** The `Notify failure` handler: tells approvers and the channel how the run ended. */
  readonly notify: (payload: unknown) => Promise<unknown>;
  /** The end-of-run hook (the EventBridge rule's stand-in: releases the lock, voids links). */
  readonly ended: (execution: ExecutionRecord) => Promise<void>;
  readonly echo: (line: string) => void;
  /** How often a runner left applying is checked on. @default 1000 */
  readonly pollMs?: number;
  /** How long a plan runner gets to stop after SIGTERM before SIGKILL. @default 10000 */
  readonly stopGraceMs?: number;
}

export interface Recovery {
  /** Runs whose apply runner outlived the last server and still runs (their locks stay). */
  readonly applying: ReadonlySet<string>;
  close(): void;
}

interface FoundTask {
  readonly file: string;
  readonly record: LocalTaskRecord;
  readonly exit?: LocalTaskExit;
  alive: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function readTasks(dir: string, echo: (line: string) => void): FoundTask[] {
  if (!existsSync(dir)) return [];
  const found: FoundTask[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json')) continue;
    const file = join(dir, name);
    let record: LocalTaskRecord;
    try {
      record = localTaskRecordSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    } catch (error) {
      echo(
        `! tasks/${name} could not be read (${(error as Error).message.split('\n')[0]}): ignored; if a runner still runs, stop it by hand`,
      );
      continue;
    }
    let exit: LocalTaskExit | undefined;
    try {
      exit = localTaskExitSchema.parse(JSON.parse(readFileSync(`${file}.exit`, 'utf8')));
    } catch {
      exit = undefined;
    }
    found.push({ file, record, exit, alive: processAlive(record.pid, record.startTime) });
  }
  return found;
}

async function stopProcess(task: FoundTask, graceMs: number): Promise<void> {
  const { pid, startTime } = task.record;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      // Gone already.
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (processAlive(pid, startTime)) {
    if (Date.now() > deadline) {
      signal('SIGKILL');
      await sleep(200);
      break;
    }
    await sleep(100);
  }
  task.alive = processAlive(pid, startTime);
}

/** The workflow state the run last entered or left a state with (the notify payload's state). */
function lastStateOf(record: ExecutionRecord): Record<string, unknown> | undefined {
  for (let i = record.events.length - 1; i >= 0; i--) {
    const event = record.events[i] as Record<string, unknown>;
    const details = (event.stateEnteredEventDetails ?? event.stateExitedEventDetails) as
      | { input?: string; output?: string }
      | undefined;
    const text = details?.input ?? details?.output;
    if (typeof text !== 'string') continue;
    try {
      const state = JSON.parse(text) as unknown;
      if (state && typeof state === 'object' && 'request' in state)
        return state as Record<string, unknown>;
    } catch {
      // Not the workflow state.
    }
  }
  return undefined;
}

function lockOf(state: Record<string, unknown> | undefined): string {
  const request = state?.request as { repo?: string; path?: string } | undefined;
  return request?.repo ? `the lock on ${request.repo} ${request.path}` : 'its lock';
}

export async function recoverInterrupted(options: RecoveryOptions): Promise<Recovery> {
  const { engine, store, echo } = options;
  const pollMs = options.pollMs ?? 1000;
  const graceMs = options.stopGraceMs ?? 10_000;
  const tasks = readTasks(options.tasksDir, echo);
  const applying = new Set<string>();
  const timers: NodeJS.Timeout[] = [];
  const definitionStates = (engine.definition.States ?? {}) as Record<
    string,
    { TimeoutSeconds?: number; Result?: { Error?: string; Cause?: string } }
  >;

  const forget = (task: FoundTask) => {
    rmSync(task.file, { force: true });
    rmSync(`${task.file}.exit`, { force: true });
  };
  const notify = async (record: ExecutionRecord, state: Record<string, unknown> | undefined) => {
    if (!state || !record.error) return;
    try {
      await options.notify({
        phase: 'failed',
        executionArn: record.executionArn,
        state: { ...state, error: { Error: record.error, Cause: record.cause ?? '' } },
      });
    } catch (error) {
      echo(`! could not notify about ${record.name}: ${(error as Error).message}`);
    }
  };
  /** Releases what the run held once its apply runner has ended, and says so. */
  const watch = (record: ExecutionRecord, task: FoundTask) => {
    applying.add(record.executionArn);
    const timer = setInterval(() => {
      if (processAlive(task.record.pid, task.record.startTime)) return;
      clearInterval(timer);
      const exit = readTasks(options.tasksDir, () => {}).find(
        (t) => t.record.taskId === task.record.taskId,
      )?.exit;
      options.logs.reload(options.logGroup, `runner/runner/${task.record.taskId}`);
      forget(task);
      applying.delete(record.executionArn);
      const how = exit ? `ended with exit code ${exit.exitCode}` : 'ended without an exit code';
      options.ended(record).then(
        () =>
          echo(
            `${record.name}: the apply runner (pid ${task.record.pid}) left by the last server ${how}; ${lockOf(lastStateOf(record))} is released. The state is the truth: check it before the next run.`,
          ),
        (error: Error) => echo(`! ${record.name}: releasing its lock failed: ${error.message}`),
      );
    }, pollMs);
    timer.unref();
    timers.push(timer);
  };

  for (const record of [...engine.interrupted]) {
    const current = currentStateOf(record);
    const state = lastStateOf(record);
    const own = tasks.filter((t) => t.record.executionArn === record.executionArn);
    const stoppedPlan = own.some((t) => t.record.mode === 'plan' && t.alive);
    for (const task of own.filter((t) => t.record.mode === 'plan')) {
      // A plan changes nothing: stopping it is safe (the watchdog has usually done so already).
      if (task.alive) await stopProcess(task, graceMs);
      forget(task);
    }
    const applyTask = own.find((t) => t.record.mode === 'apply');
    if (applyTask || current?.name === StateNames.Apply) {
      const pid = applyTask ? ` (pid ${applyTask.record.pid})` : '';
      let cause: string;
      if (applyTask?.alive) {
        cause = `The local server stopped while Apply was running. The runner${pid} was left to finish, because stopping terraform mid-apply can leave resources created but missing from the state; so the apply may have completed, and the state is the truth, not this record. ${lockOf(state)} stays held until that process ends. Then read the runner log, check the state (terraform plan), and start a new run.`;
      } else if (applyTask?.exit) {
        const code = applyTask.exit.exitCode;
        cause = `The local server stopped while Apply was running; the runner${pid} went on and ended with exit code ${code}${code === 0 ? ', so the apply completed' : ', so the apply may have completed in part'}. This record cannot tell more: the state is the truth. Read the runner log, check the state (terraform plan), then start a new run.`;
      } else {
        cause = `The local server stopped while Apply was running, and the runner${pid} stopped without saying how it ended, so the apply may have completed, in full or in part: the state is the truth, not this record. Read the runner log, check the state (terraform plan), then start a new run.`;
      }
      engine.endInterrupted(record, { error: 'DeployRunner.ApplyInterrupted', cause });
      await notify(record, state);
      if (applyTask?.alive) {
        echo(
          `${record.name}: Apply outlived the last server; ${lockOf(state)} stays held until its runner${pid} ends`,
        );
        watch(record, applyTask);
        continue;
      }
      if (applyTask) {
        options.logs.reload(options.logGroup, `runner/runner/${applyTask.record.taskId}`);
        forget(applyTask);
      }
      await options.ended(record);
      continue;
    }
    if (current?.name === StateNames.RequestApproval) {
      const run = await store.getRun(record.executionArn);
      const timeout = definitionStates[StateNames.RequestApproval]?.TimeoutSeconds;
      const deadline =
        run?.validUntil !== undefined
          ? run.validUntil * 1000
          : timeout !== undefined
            ? current.enteredAt + timeout * 1000
            : Number.POSITIVE_INFINITY;
      if (Date.now() >= deadline) {
        // The deadline passed while the server was down: the run expired, as it would have.
        const expiry = definitionStates['Record expiry']?.Result;
        engine.endInterrupted(record, {
          error: expiry?.Error ?? RunErrors.ApprovalExpired,
          cause:
            expiry?.Cause ?? 'No approver decided in time; nothing was applied. Start a new run.',
        });
        await notify(record, state);
        await options.ended(record);
        continue;
      }
    }
    engine.endInterrupted(record, {
      error: 'DeployRunner.LocalServerRestarted',
      cause: stoppedPlan
        ? 'The local server stopped while this run was planning; the plan was stopped and nothing was applied. Start a new run.'
        : 'The local server stopped while this run was in flight, so its progress was lost; nothing was applied. Start a new run.',
    });
    await notify(record, state);
    await options.ended(record);
  }

  // Runners whose run is not in flight here (its record was damaged or lost).
  const interrupted = new Set(engine.interrupted.map((r) => r.executionArn));
  for (const task of tasks) {
    if (interrupted.has(task.record.executionArn)) continue;
    if (!task.alive) {
      forget(task);
      continue;
    }
    if (task.record.mode === 'plan') {
      await stopProcess(task, graceMs);
      forget(task);
      continue;
    }
    const record = engine.get(task.record.executionArn);
    if (record) watch(record, task);
    else applying.add(task.record.executionArn);
    echo(
      `! an apply runner (pid ${task.record.pid}) of ${task.record.executionArn} still runs; its lock stays held until it ends`,
    );
  }

  // A lock whose run no longer runs would block its repo and path until its TTL (hours).
  for (const lock of store.locks()) {
    if (applying.has(lock.executionArn)) continue;
    const record = engine.get(lock.executionArn);
    if (record?.status === 'RUNNING') continue;
    if (await store.releaseLock(lock.pk, lock.executionArn))
      echo(
        `released the lock ${lock.pk}: ${record ? `its run ${record.name} ended (${record.status}) without releasing it` : `its run ${lock.executionArn} no longer exists`}`,
      );
  }

  return {
    applying,
    close: () => {
      for (const timer of timers) clearInterval(timer);
    },
  };
}
