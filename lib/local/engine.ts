import './polyfills';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { StateMachine } from 'aws-local-stepfunctions';
import { AwsApiError, apiErrors } from './aws-errors';
import { appendLine, privateDir, readJsonLines, writeFileAtomic } from './durable';
import { validatedStateMachine } from './validated-machine';

/**
 * A Step Functions execution engine for local mode. It runs an ASL definition with
 * aws-local-stepfunctions and adds what that library leaves out and deploy-runner relies on:
 * execution names and ARNs, idempotent starts, an AWS-shaped execution history, task tokens
 * (`.waitForTaskToken`), StopExecution, persistence across restarts, and an end-of-run hook
 * standing in for the EventBridge rule.
 */

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** One history event, in the shape GetExecutionHistory returns. */
export interface HistoryEvent {
  readonly timestamp: number;
  readonly type: string;
  readonly id: number;
  readonly previousEventId: number;
  readonly [details: string]: unknown;
}

export interface ExecutionRecord {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  status: ExecutionStatus;
  readonly startDate: number;
  stopDate?: number;
  readonly input: string;
  output?: string;
  error?: string;
  cause?: string;
  readonly events: HistoryEvent[];
}

/** An execution as ListExecutions shows it (epoch seconds); DescribeExecution adds to it. */
function executionListItem(r: ExecutionRecord) {
  return {
    executionArn: r.executionArn,
    stateMachineArn: r.stateMachineArn,
    name: r.name,
    status: r.status,
    startDate: r.startDate / 1000,
    ...(r.stopDate !== undefined && { stopDate: r.stopDate / 1000 }),
  };
}

/** What a Task state's local implementation receives. */
export interface TaskInvocation {
  readonly execution: ExecutionRecord;
  readonly stateName: string;
  /** The state's `Resource`. */
  readonly resource: string;
  /** The effective input (after InputPath and Parameters). */
  readonly input: unknown;
  /** Aborted when the execution is stopped or times out: kill child processes, stop waiting. */
  readonly signal: AbortSignal;
  /** Records a history event (for example TaskSubmitted) in this state. */
  readonly emit: (type: string, details?: Record<string, unknown>) => void;
  /** Waits for SendTaskSuccess/Failure on `token`; resolves with the parsed task output. */
  readonly waitForTaskToken: (token: string) => Promise<unknown>;
}

export type TaskImplementation = (invocation: TaskInvocation) => Promise<unknown>;

export interface LocalEngineOptions {
  readonly definition: Record<string, unknown>;
  readonly stateMachineName: string;
  readonly region?: string;
  readonly accountId?: string;
  /** Finds the local implementation of a Task state. */
  readonly taskImplementation: (stateName: string, resource: string) => TaskImplementation;
  /** Folder for execution records; without it, executions live in memory only. */
  readonly dataDir?: string;
  /** Called once when an execution ends (the EventBridge rule's stand-in). */
  readonly onExecutionEnded?: (execution: ExecutionRecord) => Promise<void> | void;
  /** Called for every history event (console output). */
  readonly onEvent?: (execution: ExecutionRecord, event: HistoryEvent) => void;
  /** Overrides every Retry interval, in milliseconds (tests). */
  readonly retryIntervalMs?: number;
  /**
   * Leave the runs that were in flight at the last shutdown RUNNING in `interrupted`, for the
   * caller to end with `endInterrupted` once it knows what became of them. @default false - they
   * are failed at once as `DeployRunner.LocalServerRestarted`
   */
  readonly deferInterrupted?: boolean;
  /** Receives problems with the data folder (a damaged record, a full disk). @default - ignored */
  readonly onWarning?: (line: string) => void;
}

interface ActiveExecution {
  readonly record: ExecutionRecord;
  readonly abort: AbortController;
  readonly stop: () => void;
  readonly context: { Task: { Token: string } };
  /** Task-state events the engine produced before the library's StateEntered was consumed. */
  readonly pending: Map<string, Array<[string, Record<string, unknown>, number]>>;
  currentState?: string;
  stopRequest?: { error?: string; cause?: string };
  readonly done: Promise<void>;
  readonly resolveDone: () => void;
}

interface TokenWaiter {
  readonly executionArn: string;
  readonly stateName: string;
  readonly resolve: (output: unknown) => void;
  readonly reject: (error: Error) => void;
}

const NAME_PATTERN = /^[A-Za-z0-9_-]{1,80}$/;
const MAX_INPUT_BYTES = 256 * 1024;

const taskError = (name: string, message: string) => Object.assign(new Error(message), { name });

export class LocalEngine {
  readonly stateMachineArn: string;
  readonly executionArnPrefix: string;
  readonly roleArn: string;
  readonly createdAt = Date.now() / 1000;
  private readonly machine: StateMachine;
  private readonly records = new Map<string, ExecutionRecord>();
  private readonly active = new Map<string, ActiveExecution>();
  private readonly tokens = new Map<string, TokenWaiter>();
  /** Tokens whose state timed out, so late answers get TaskTimedOut rather than TaskDoesNotExist. */
  private readonly expiredTokens = new Set<string>();
  private readonly taskStates: Array<[string, { Resource: string; TimeoutSeconds?: number }]>;
  private readonly retryStates: string[];
  /** Runs whose last write to the data folder failed (a full disk); memory is ahead of the disk. */
  private readonly unsaved = new Set<ExecutionRecord>();
  /** Of those, the ones whose write failed (rather than being rewritten on purpose at load). */
  private readonly failing = new Set<ExecutionRecord>();
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: LocalEngineOptions) {
    const region = options.region ?? 'us-east-1';
    const account = options.accountId ?? '123456789012';
    this.stateMachineArn = `arn:aws:states:${region}:${account}:stateMachine:${options.stateMachineName}`;
    this.executionArnPrefix = `arn:aws:states:${region}:${account}:execution:${options.stateMachineName}:`;
    this.roleArn = `arn:aws:iam::${account}:role/${options.stateMachineName}-local`;
    this.machine = validatedStateMachine(options.definition);
    const states = Object.entries(
      (options.definition.States ?? {}) as Record<string, Record<string, unknown>>,
    );
    this.taskStates = states.filter(([, s]) => s.Type === 'Task') as never;
    this.retryStates = states.filter(([, s]) => Array.isArray(s.Retry)).map(([name]) => name);
    if (options.dataDir) this.load(options.dataDir);
  }

  get definition(): Record<string, unknown> {
    return this.options.definition;
  }

  // ---- Step Functions API -------------------------------------------------------------

  /** StartExecution: idempotent for a running execution with the same name and input, as in AWS. */
  startExecution(req: { stateMachineArn?: unknown; name?: unknown; input?: unknown }) {
    this.requireStateMachine(req.stateMachineArn);
    const name = req.name === undefined ? randomUUID() : String(req.name);
    if (!NAME_PATTERN.test(name)) throw apiErrors.invalidName(name);
    const input = req.input === undefined ? '{}' : String(req.input);
    if (Buffer.byteLength(input) > MAX_INPUT_BYTES)
      throw apiErrors.invalidExecutionInput('input is larger than 256 KiB');
    let parsed: unknown;
    try {
      parsed = JSON.parse(input);
    } catch (error) {
      throw apiErrors.invalidExecutionInput((error as Error).message);
    }
    const executionArn = `${this.executionArnPrefix}${name}`;
    const existing = this.records.get(executionArn);
    if (existing) {
      if (existing.status === 'RUNNING' && existing.input === input)
        return { executionArn, startDate: existing.startDate / 1000 };
      throw apiErrors.executionAlreadyExists(executionArn);
    }
    const record: ExecutionRecord = {
      executionArn,
      stateMachineArn: this.stateMachineArn,
      name,
      status: 'RUNNING',
      startDate: Date.now(),
      input,
      events: [],
    };
    this.records.set(executionArn, record);
    this.run(record, parsed);
    return { executionArn, startDate: record.startDate / 1000 };
  }

  describeExecution(req: { executionArn?: unknown }) {
    const r = this.record(req.executionArn);
    return {
      ...executionListItem(r),
      input: r.input,
      inputDetails: { included: true },
      ...(r.output !== undefined && { output: r.output, outputDetails: { included: true } }),
      ...(r.error !== undefined && { error: r.error }),
      ...(r.cause !== undefined && { cause: r.cause }),
      redriveCount: 0,
      redriveStatus: 'NOT_REDRIVABLE',
    };
  }

  listExecutions(req: {
    stateMachineArn?: unknown;
    statusFilter?: unknown;
    maxResults?: unknown;
    nextToken?: unknown;
  }) {
    this.requireStateMachine(req.stateMachineArn);
    const all = [...this.records.values()]
      .filter((r) => req.statusFilter === undefined || r.status === req.statusFilter)
      .sort((a, b) => b.startDate - a.startDate);
    const { page, nextToken } = paginate(all, req.maxResults, req.nextToken, 100);
    return {
      executions: page.map(executionListItem),
      ...(nextToken && { nextToken }),
    };
  }

  getExecutionHistory(req: {
    executionArn?: unknown;
    maxResults?: unknown;
    nextToken?: unknown;
    reverseOrder?: unknown;
  }) {
    const r = this.record(req.executionArn);
    const events = req.reverseOrder === true ? [...r.events].reverse() : r.events;
    const { page, nextToken } = paginate(events, req.maxResults, req.nextToken, 1000);
    return { events: page, ...(nextToken && { nextToken }) };
  }

  /** StopExecution: aborts the run; Catch does not run, the end hook (cleanup) does. */
  stopExecution(req: { executionArn?: unknown; error?: unknown; cause?: unknown }) {
    const r = this.record(req.executionArn);
    const active = this.active.get(r.executionArn);
    if (active && r.status === 'RUNNING') {
      active.stopRequest = {
        ...(typeof req.error === 'string' && { error: req.error }),
        ...(typeof req.cause === 'string' && { cause: req.cause }),
      };
      active.stop();
    }
    return { stopDate: (r.stopDate ?? Date.now()) / 1000 };
  }

  sendTaskSuccess(req: { taskToken?: unknown; output?: unknown }) {
    const waiter = this.waiter(req.taskToken);
    let output: unknown;
    try {
      output = JSON.parse(String(req.output));
    } catch (error) {
      throw apiErrors.invalidOutput((error as Error).message);
    }
    this.tokens.delete(String(req.taskToken));
    waiter.resolve(output);
    return {};
  }

  sendTaskFailure(req: { taskToken?: unknown; error?: unknown; cause?: unknown }) {
    const waiter = this.waiter(req.taskToken);
    this.tokens.delete(String(req.taskToken));
    waiter.reject(
      taskError(
        typeof req.error === 'string' ? req.error : 'States.TaskFailed',
        typeof req.cause === 'string' ? req.cause : '',
      ),
    );
    return {};
  }

  sendTaskHeartbeat(req: { taskToken?: unknown }) {
    this.waiter(req.taskToken);
    return {};
  }

  // ---- introspection for local mode and tests -----------------------------------------

  get(executionArn: string): ExecutionRecord | undefined {
    return this.records.get(executionArn);
  }

  executions(): ExecutionRecord[] {
    return [...this.records.values()];
  }

  /** Resolves when the execution has ended and its end hook has run. */
  async settled(executionArn: string): Promise<ExecutionRecord> {
    await this.active.get(executionArn)?.done;
    const record = this.records.get(executionArn);
    if (!record) throw apiErrors.executionDoesNotExist(executionArn);
    return record;
  }

  /** Stops every running execution and waits for them (server shutdown). */
  async close(): Promise<void> {
    const running = [...this.active.values()];
    for (const a of running) {
      a.stopRequest = {
        error: 'DeployRunner.LocalServerStopped',
        cause: 'The local server stopped.',
      };
      a.stop();
    }
    await Promise.all(running.map((a) => a.done));
    this.flushUnsaved();
    if (this.flushTimer) clearTimeout(this.flushTimer);
  }

  /** Ends a run left in flight by the last shutdown (`deferInterrupted`). */
  endInterrupted(
    record: ExecutionRecord,
    outcome: { error: string; cause: string },
  ): ExecutionRecord {
    if (record.status !== 'RUNNING') return record;
    Object.assign(record, { status: 'FAILED', stopDate: Date.now(), ...outcome });
    this.emit(record, 'ExecutionFailed', { executionFailedEventDetails: outcome });
    this.persist(record);
    return record;
  }

  // ---- internals ----------------------------------------------------------------------

  private requireStateMachine(arn: unknown): void {
    if (typeof arn !== 'string' || !arn.startsWith('arn:')) throw apiErrors.invalidArn(arn);
    if (arn !== this.stateMachineArn) throw apiErrors.stateMachineDoesNotExist(arn);
  }

  private record(arn: unknown): ExecutionRecord {
    if (typeof arn !== 'string' || !arn.startsWith('arn:')) throw apiErrors.invalidArn(arn);
    const r = this.records.get(arn);
    if (!r) throw apiErrors.executionDoesNotExist(arn);
    return r;
  }

  private waiter(token: unknown): TokenWaiter {
    if (typeof token !== 'string' || token.length === 0 || token.length > 1024)
      throw apiErrors.invalidToken();
    const waiter = this.tokens.get(token);
    if (waiter) return waiter;
    if (this.expiredTokens.has(token)) throw apiErrors.taskTimedOut();
    throw apiErrors.taskDoesNotExist();
  }

  private newToken(): string {
    return randomBytes(96).toString('base64');
  }

  private run(record: ExecutionRecord, input: unknown): void {
    const abort = new AbortController();
    const context = {
      Execution: {
        Id: record.executionArn,
        Name: record.name,
        RoleArn: this.roleArn,
        StartTime: new Date(record.startDate).toISOString(),
      },
      StateMachine: { Id: this.stateMachineArn, Name: this.options.stateMachineName },
      Task: { Token: this.newToken() },
    };
    const overrides = Object.fromEntries(
      this.taskStates.map(([stateName, state]) => [
        stateName,
        (effectiveInput: unknown) => this.invokeTask(record, stateName, state, effectiveInput),
      ]),
    );
    const retryIntervalOverrides =
      this.options.retryIntervalMs === undefined
        ? undefined
        : Object.fromEntries(
            this.retryStates.map((s) => [s, this.options.retryIntervalMs as number]),
          );
    this.persist(record);
    this.emit(record, 'ExecutionStarted', {
      executionStartedEventDetails: {
        input: record.input,
        inputDetails: { truncated: false },
        roleArn: this.roleArn,
      },
    });
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    let abortLibrary = () => {};
    const active: ActiveExecution = {
      record,
      abort,
      context,
      pending: new Map(),
      done,
      resolveDone,
      stop: () => {
        // Settle the execution as aborted first, then tell running tasks to stop.
        abortLibrary();
        abort.abort();
      },
    };
    // Registered before run(): the library calls the first Task synchronously.
    this.active.set(record.executionArn, active);
    const execution = this.machine.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: overrides as never,
        ...(retryIntervalOverrides && { retryIntervalOverrides }),
      },
      context: context as never,
    });
    abortLibrary = execution.abort;
    const history = this.consume(active, execution.eventLogs as AsyncGenerator<LibraryEvent>);
    execution.result.then(
      (output) => this.finish(active, history, 'SUCCEEDED', { output: JSON.stringify(output) }),
      (error: Error) => this.finish(active, history, ...this.classify(active, error)),
    );
  }

  private classify(
    active: ActiveExecution,
    error: Error,
  ): [ExecutionStatus, { error?: string; cause?: string }] {
    if (error.name === 'ExecutionAbortedError') {
      return ['ABORTED', active.stopRequest ?? {}];
    }
    if (error.name === 'ExecutionTimeoutError') {
      return [
        'TIMED_OUT',
        { error: 'States.Timeout', cause: 'The execution exceeded its TimeoutSeconds.' },
      ];
    }
    const inner = (error.cause ?? error) as Error;
    return ['FAILED', { error: inner.name, cause: inner.message }];
  }

  private async finish(
    active: ActiveExecution,
    history: Promise<void>,
    status: ExecutionStatus,
    outcome: { output?: string; error?: string; cause?: string },
  ): Promise<void> {
    const { record } = active;
    // Let the library's last events land in the history before the closing event.
    await Promise.race([history, new Promise((r) => setTimeout(r, 50))]);
    active.abort.abort();
    for (const [token, waiter] of this.tokens) {
      if (waiter.executionArn === record.executionArn) {
        this.tokens.delete(token);
        waiter.reject(taskError('States.Runtime', 'execution ended'));
      }
    }
    Object.assign(record, outcome, { status, stopDate: Date.now() });
    const closing: Record<ExecutionStatus, [string, string]> = {
      SUCCEEDED: ['ExecutionSucceeded', 'executionSucceededEventDetails'],
      FAILED: ['ExecutionFailed', 'executionFailedEventDetails'],
      TIMED_OUT: ['ExecutionTimedOut', 'executionTimedOutEventDetails'],
      ABORTED: ['ExecutionAborted', 'executionAbortedEventDetails'],
      RUNNING: ['', ''],
    };
    const [type, key] = closing[status];
    this.emit(record, type, {
      [key]:
        status === 'SUCCEEDED'
          ? { output: outcome.output, outputDetails: { truncated: false } }
          : {
              ...(outcome.error !== undefined && { error: outcome.error }),
              ...(outcome.cause !== undefined && { cause: outcome.cause }),
            },
    });
    this.persist(record);
    try {
      await this.options.onExecutionEnded?.(record);
    } catch (error) {
      process.emitWarning(`end-of-run hook failed for ${record.name}: ${(error as Error).message}`);
    } finally {
      this.active.delete(record.executionArn);
      active.resolveDone();
    }
  }

  private async consume(active: ActiveExecution, events: AsyncGenerator<LibraryEvent>) {
    const { record } = active;
    for await (const event of events) {
      if (event.type === 'StateEntered' && event.state && event.index === undefined) {
        this.emit(record, `${event.state.type}StateEntered`, {
          stateEnteredEventDetails: {
            name: event.state.name,
            input: JSON.stringify(event.state.input ?? null),
            inputDetails: { truncated: false },
          },
        });
        active.currentState = event.state.name;
        for (const [type, details] of active.pending.get(event.state.name) ?? [])
          this.emit(record, type, details);
        active.pending.delete(event.state.name);
      } else if (event.type === 'StateExited' && event.state && event.index === undefined) {
        this.expireTokens(record.executionArn, event.state.name, false);
        this.emit(record, `${event.state.type}StateExited`, {
          stateExitedEventDetails: {
            name: event.state.name,
            output: JSON.stringify(event.output ?? event.state.output ?? null),
            outputDetails: { truncated: false },
          },
        });
        active.currentState = undefined;
      } else if (event.type === 'StateFailed' && event.state && event.Error === 'States.Timeout') {
        this.expireTokens(record.executionArn, event.state.name, true);
        const resource = this.resourceOf(event.state.name);
        const lambda = resource.startsWith('arn:aws:lambda:');
        this.emit(record, lambda ? 'LambdaFunctionTimedOut' : 'TaskTimedOut', {
          [lambda ? 'lambdaFunctionTimedOutEventDetails' : 'taskTimedOutEventDetails']: {
            ...(!lambda && describeResource(resource)),
            error: 'States.Timeout',
            cause: 'The task did not finish within its TimeoutSeconds.',
          },
        });
      }
    }
  }

  private expireTokens(executionArn: string, stateName: string, timedOut: boolean): void {
    for (const [token, waiter] of this.tokens) {
      if (waiter.executionArn === executionArn && waiter.stateName === stateName) {
        this.tokens.delete(token);
        if (timedOut) this.expiredTokens.add(token);
      }
    }
  }

  private resourceOf(stateName: string): string {
    return this.taskStates.find(([name]) => name === stateName)?.[1].Resource ?? '';
  }

  private async invokeTask(
    record: ExecutionRecord,
    stateName: string,
    state: { Resource: string; TimeoutSeconds?: number },
    input: unknown,
  ): Promise<unknown> {
    const active = this.active.get(record.executionArn);
    if (!active) throw taskError('States.Runtime', 'execution is not running');
    const emit = (type: string, details: Record<string, unknown> = {}) => {
      if (active.currentState === stateName) this.emit(record, type, details);
      else {
        const list = active.pending.get(stateName) ?? [];
        list.push([type, details, Date.now()]);
        active.pending.set(stateName, list);
      }
    };
    const resource = state.Resource;
    const lambda = resource.startsWith('arn:aws:lambda:');
    const described = describeResource(resource);
    const timeoutInSeconds = state.TimeoutSeconds ?? 60;
    if (lambda) {
      emit('LambdaFunctionScheduled', {
        lambdaFunctionScheduledEventDetails: {
          resource,
          input: JSON.stringify(input),
          inputDetails: { truncated: false },
          timeoutInSeconds,
        },
      });
      emit('LambdaFunctionStarted');
    } else {
      emit('TaskScheduled', {
        taskScheduledEventDetails: {
          ...described,
          region: this.options.region ?? 'us-east-1',
          parameters: JSON.stringify(input),
          timeoutInSeconds,
        },
      });
      emit('TaskStarted', { taskStartedEventDetails: described });
    }
    const implementation = this.options.taskImplementation(stateName, resource);
    try {
      const output = await implementation({
        execution: record,
        stateName,
        resource,
        input,
        signal: active.abort.signal,
        emit,
        waitForTaskToken: (token) => this.waitForToken(record, stateName, token),
      });
      // A token state's token is single use: the next visit gets a fresh one.
      active.context.Task.Token = this.newToken();
      emit(
        lambda ? 'LambdaFunctionSucceeded' : 'TaskSucceeded',
        lambda
          ? {
              lambdaFunctionSucceededEventDetails: {
                output: JSON.stringify(output ?? null),
                outputDetails: { truncated: false },
              },
            }
          : {
              taskSucceededEventDetails: {
                ...described,
                output: JSON.stringify(output ?? null),
                outputDetails: { truncated: false },
              },
            },
      );
      return (output ?? null) as never;
    } catch (caught) {
      active.context.Task.Token = this.newToken();
      const error = caught instanceof Error ? caught : new Error(String(caught));
      const name = error.name === 'Error' ? 'States.TaskFailed' : error.name;
      if (!active.abort.signal.aborted) {
        emit(
          lambda ? 'LambdaFunctionFailed' : 'TaskFailed',
          lambda
            ? { lambdaFunctionFailedEventDetails: { error: name, cause: error.message } }
            : { taskFailedEventDetails: { ...described, error: name, cause: error.message } },
        );
      }
      throw taskError(name, error.message);
    }
  }

  private waitForToken(record: ExecutionRecord, stateName: string, token: string) {
    return new Promise<unknown>((resolve, reject) => {
      this.tokens.set(token, { executionArn: record.executionArn, stateName, resolve, reject });
    });
  }

  private emit(record: ExecutionRecord, type: string, details: Record<string, unknown> = {}) {
    const id = record.events.length + 1;
    const event: HistoryEvent = {
      timestamp: Date.now() / 1000,
      type,
      id,
      previousEventId: id - 1,
      ...details,
    };
    record.events.push(event);
    // Each event is saved as it happens, so a crash never hides how far a run got.
    if (this.options.dataDir && !this.unsaved.has(record)) {
      try {
        appendLine(this.files(record.name).events, JSON.stringify(event));
      } catch (error) {
        this.unsavable(record, error);
      }
    }
    this.options.onEvent?.(record, event);
  }

  private files(name: string) {
    const dir = join(this.options.dataDir as string, 'executions');
    return {
      dir,
      record: join(dir, `${name}.json`),
      events: join(dir, `${name}.events.jsonl`),
    };
  }

  /** Saves the record's fields (its events are in the events file). */
  private persist(record: ExecutionRecord): void {
    if (!this.options.dataDir) return;
    if (this.unsaved.has(record)) {
      this.flushUnsaved();
      return;
    }
    try {
      const { events: _events, ...fields } = record;
      writeFileAtomic(this.files(record.name).record, JSON.stringify(fields));
    } catch (error) {
      this.unsavable(record, error);
    }
  }

  /**
   * A write failed (typically a full disk): the run goes on in memory, and the whole record is
   * written again, atomically, once the disk takes it. The server must not die of it.
   */
  private unsavable(record: ExecutionRecord, error: unknown): void {
    if (!this.failing.has(record)) {
      this.unsaved.add(record);
      this.failing.add(record);
      this.options.onWarning?.(
        `could not save run ${record.name} to ${this.files(record.name).dir} (${(error as Error).message}); it is kept in memory and saved again once the disk takes it`,
      );
    }
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      this.flushUnsaved();
    }, 2000).unref();
  }

  private flushUnsaved(): void {
    for (const record of [...this.unsaved]) {
      const files = this.files(record.name);
      try {
        writeFileAtomic(files.events, record.events.map((e) => `${JSON.stringify(e)}\n`).join(''));
        const { events: _events, ...fields } = record;
        writeFileAtomic(files.record, JSON.stringify(fields));
        this.unsaved.delete(record);
        if (this.failing.delete(record))
          this.options.onWarning?.(`run ${record.name} is saved again`);
      } catch {
        this.flushTimer ??= setTimeout(() => {
          this.flushTimer = undefined;
          this.flushUnsaved();
        }, 2000).unref();
        return;
      }
    }
  }

  /**
   * Loads the runs of the data folder. A record that cannot be read is reported, kept aside as
   * `<name>.json.damaged` and rebuilt from its events file where possible; its name stays taken
   * either way, as a name is in AWS. Runs that were in flight when the server stopped go to
   * `interrupted`.
   */
  private load(dataDir: string): void {
    const dir = privateDir(join(dataDir, 'executions'));
    const names = new Set<string>();
    for (const file of readdirSync(dir)) {
      const match = /^(.+?)(\.json|\.json\.damaged(-[0-9]+)?|\.events\.jsonl)$/.exec(file);
      if (match?.[1] && NAME_PATTERN.test(match[1])) names.add(match[1]);
    }
    for (const name of [...names].sort()) {
      const record = this.loadRecord(name);
      if (!record || record.stateMachineArn !== this.stateMachineArn) continue;
      this.records.set(record.executionArn, record);
      if (record.status === 'RUNNING') this.interrupted.push(record);
    }
    if (this.options.deferInterrupted) return;
    for (const record of this.interrupted)
      this.endInterrupted(record, {
        error: 'DeployRunner.LocalServerRestarted',
        cause:
          'The local server stopped while this run was in flight, so its progress was lost. Start a new run.',
      });
  }

  private loadRecord(name: string): ExecutionRecord | undefined {
    const files = this.files(name);
    const shown = (file: string) => `executions/${file.slice(files.dir.length + 1)}`;
    const events: HistoryEvent[] = [];
    let tornEvents = 0;
    if (existsSync(files.events)) {
      const read = readJsonLines<HistoryEvent>(files.events);
      // Only an unbroken run of events is history; anything after a gap is not trusted.
      for (const event of read.values) {
        if (event?.id !== events.length + 1) break;
        events.push(event);
      }
      tornEvents = read.values.length - events.length + read.damaged;
    }
    let problem: string | undefined;
    let keptAs: string | undefined;
    if (existsSync(files.record)) {
      try {
        const fields = JSON.parse(readFileSync(files.record, 'utf8')) as ExecutionRecord;
        if (typeof fields?.executionArn !== 'string' || typeof fields.status !== 'string')
          throw new Error('it is not an execution record');
        const record = {
          ...fields,
          // Records written before events had their own file carry them inline.
          events: events.length > 0 ? events : (fields.events ?? []),
        } as ExecutionRecord;
        if (!existsSync(files.events) && record.events.length > 0) {
          // Moved to their own file, so events appended from now on follow them.
          this.unsaved.add(record);
          this.flushUnsaved();
        }
        if (tornEvents > 0) {
          this.options.onWarning?.(
            `${shown(files.events)}: ${tornEvents} damaged line(s) after event ${events.length} were dropped (a crash or a full disk cut the file)`,
          );
          this.unsaved.add(record);
          this.flushUnsaved();
        }
        return record;
      } catch (error) {
        problem = `${(error as Error).name}: ${(error as Error).message}`;
        keptAs = this.keepAside(files.record);
      }
    } else {
      const damaged = readdirSync(files.dir).find((f) => f.startsWith(`${name}.json.damaged`));
      if (damaged) {
        keptAs = join(files.dir, damaged);
        problem = 'it was found damaged at an earlier start';
      } else problem = 'the file is missing';
    }
    const started = events.find((e) => e.type === 'ExecutionStarted');
    const details = started?.executionStartedEventDetails as { input?: string } | undefined;
    const closing = events.find((e) => CLOSING_EVENTS[e.type] !== undefined);
    const aside = keptAs ? `it was kept as ${shown(keptAs)}` : 'nothing was kept';
    if (started && typeof details?.input === 'string') {
      const failure = closing
        ? (Object.values(closing).find((v) => typeof v === 'object' && v !== null) as
            | { error?: string; cause?: string; output?: string }
            | undefined)
        : undefined;
      const record: ExecutionRecord = {
        executionArn: `${this.executionArnPrefix}${name}`,
        stateMachineArn: this.stateMachineArn,
        name,
        status: closing ? (CLOSING_EVENTS[closing.type] as ExecutionStatus) : 'RUNNING',
        startDate: Math.round(started.timestamp * 1000),
        ...(closing && { stopDate: Math.round(closing.timestamp * 1000) }),
        input: details.input,
        ...(failure?.output !== undefined && { output: failure.output }),
        ...(failure?.error !== undefined && { error: failure.error }),
        ...(failure?.cause !== undefined && { cause: failure.cause }),
        events,
      };
      this.options.onWarning?.(
        `${shown(files.record)} could not be read (${problem}); ${aside}, and the run was rebuilt from ${shown(files.events)} (${events.length} events).`,
      );
      this.persist(record);
      return record;
    }
    // Nothing to rebuild from: the name stays taken by a failed placeholder that says why.
    const startDate = keptAs ? statSync(keptAs).mtimeMs : Date.now();
    const cause = `The record of this run, ${shown(files.record)}, could not be read (${problem}) and ${aside}; its history is lost. The name stays taken. Look at the kept file, then delete it to free the name.`;
    this.options.onWarning?.(
      `${shown(files.record)} could not be read (${problem}); ${aside}. ${name} is listed as FAILED (DeployRunner.LocalRecordDamaged); delete the kept file to free the name.`,
    );
    return {
      executionArn: `${this.executionArnPrefix}${name}`,
      stateMachineArn: this.stateMachineArn,
      name,
      status: 'FAILED',
      startDate,
      stopDate: startDate,
      input: '{}',
      error: 'DeployRunner.LocalRecordDamaged',
      cause,
      events: [
        {
          timestamp: startDate / 1000,
          type: 'ExecutionFailed',
          id: 1,
          previousEventId: 0,
          executionFailedEventDetails: { error: 'DeployRunner.LocalRecordDamaged', cause },
        },
      ],
    };
  }

  /** Renames a damaged file out of the way, never over an earlier damaged copy. */
  private keepAside(file: string): string | undefined {
    const target = existsSync(`${file}.damaged`)
      ? `${file}.damaged-${Date.now()}`
      : `${file}.damaged`;
    try {
      renameSync(file, target);
      return target;
    } catch {
      return undefined;
    }
  }

  /** Runs that were in flight at the last shutdown; local mode cleans up after them. */
  readonly interrupted: ExecutionRecord[] = [];
}

const CLOSING_EVENTS: Record<string, ExecutionStatus | undefined> = {
  ExecutionSucceeded: 'SUCCEEDED',
  ExecutionFailed: 'FAILED',
  ExecutionTimedOut: 'TIMED_OUT',
  ExecutionAborted: 'ABORTED',
};

/**
 * The state a run is in according to its history: the last state entered and not yet exited,
 * with the input it entered with. Undefined between states and after the end.
 */
export function currentStateOf(
  record: ExecutionRecord,
): { name: string; enteredAt: number; input: string } | undefined {
  for (let i = record.events.length - 1; i >= 0; i--) {
    const event = record.events[i] as HistoryEvent;
    if (CLOSING_EVENTS[event.type]) return undefined;
    if (event.type.endsWith('StateExited')) return undefined;
    if (event.type.endsWith('StateEntered')) {
      const details = event.stateEnteredEventDetails as { name: string; input: string };
      return { name: details.name, enteredAt: event.timestamp * 1000, input: details.input };
    }
  }
  return undefined;
}

interface LibraryEvent {
  type: string;
  timestamp: number;
  state?: { name: string; type: string; input?: unknown; output?: unknown };
  output?: unknown;
  index?: number;
  Error?: string;
  Cause?: unknown;
}

/** `arn:aws:states:::ecs:runTask.sync` → { resourceType: 'ecs', resource: 'runTask.sync' }. */
export function describeResource(resource: string): { resourceType: string; resource: string } {
  const match = /^arn:aws:states:::(.+):([^:]+)$/.exec(resource);
  if (!match) return { resourceType: 'lambda', resource };
  return { resourceType: match[1] as string, resource: match[2] as string };
}

function paginate<T>(items: readonly T[], maxResults: unknown, nextToken: unknown, max: number) {
  const size = Math.min(Number(maxResults) > 0 ? Number(maxResults) : max, max);
  const start = typeof nextToken === 'string' && /^[0-9]+$/.test(nextToken) ? Number(nextToken) : 0;
  const page = items.slice(start, start + size);
  const next = start + page.length;
  return { page, nextToken: next < items.length ? String(next) : undefined };
}

export { AwsApiError };
