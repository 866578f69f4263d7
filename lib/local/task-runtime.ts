import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ArtifactNotFoundError, type ArtifactStore } from '../artifact-store';
import { type LocalTaskRecord, type LockItem, lockItemSchema } from '../contracts';
import {
  diskFullAdvice,
  freeBytes,
  isDiskFull,
  processStartTime,
  writeFileAtomic,
} from './durable';
import type { TaskImplementation, TaskInvocation } from './engine';
import { type LocalLogService, streamFile } from './log-service';

/**
 * The local stand-ins for the AWS services the workflow's Task states call. Each Task state is
 * dispatched on its `Resource`, the way Step Functions dispatches it, so the synthesized
 * definition runs unchanged:
 *
 * - a Lambda ARN or `lambda:invoke[.waitForTaskToken]` → the handler's own code, in process;
 * - `ecs:runTask.sync` → the runner as a child process, its output captured as a log stream;
 * - `dynamodb:putItem` / `getItem` / `deleteItem` on the lock → the local lock table;
 * - `aws-sdk:s3:getObject` → the artifact folder.
 */

/** Lambda handlers by name (`validate-request`, `request-approval`, `notify`, ...). */
export type LocalLambdas = Readonly<Record<string, (event: unknown) => Promise<unknown>>>;

/** The lock item the state machine writes (lib/contracts.ts). */
export type { LockItem };

/** The local lock table: the same conditional semantics as the DynamoDB calls it replaces. */
export interface LocalLockTable {
  /** Puts the item unless one with that `pk` exists; false when it does. */
  acquire(item: LockItem): Promise<boolean>;
  /** The live lock item of `lockKey` (a strongly consistent read), if any. */
  get(lockKey: string): Promise<LockItem | undefined>;
  /** Deletes the lock if `executionArn` holds it; false otherwise. */
  release(lockKey: string, executionArn: string): Promise<boolean>;
}

export interface RunnerProcessOptions {
  /** The bundled runner script (run with this Node binary). */
  readonly script: string;
  /**
   * The container environment of each task definition, by the ARN the definition names it with
   * (lib/definition.ts `environmentsFromTemplate`, with local mode's stand-ins).
   */
  readonly taskDefinitions: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /**
   * The host's part (PATH, HOME, the tool), beneath the task definition's: what the image has
   * built in. A task definition variable of the same name wins.
   */
  readonly env: Readonly<Record<string, string>>;
  /** Folder under which each task gets a work directory. */
  readonly workDir: string;
  /** Log group the runner's lines go to. */
  readonly logGroup: string;
  /** Called with every output line (console echo). */
  readonly onLine?: (taskId: string, line: string) => void;
  /** Keep work directories after the task (debugging). @default false */
  readonly keepWorkDirs?: boolean;
  /**
   * Folder of task records (`<taskId>.json`, `localTaskRecordSchema`), one per running runner, so
   * a server that restarts after a crash finds runners that outlived it. With it, runners are
   * started under lib/local/runner-watchdog.cjs and stop (plan) or finish (apply) on their own
   * when the server dies. @default - no records, no watchdog
   */
  readonly tasksDir?: string;
  /** Folder of the log files, where an orphaned runner goes on writing. @default - none */
  readonly logDir?: string;
  /** The data folder, named when the disk holding it is full. @default - the work folder */
  readonly dataDir?: string;
}

/** Below this many free bytes, a failed runner is taken to have failed of a full disk. */
const NEARLY_FULL_BYTES = 256 * 1024;
const NO_SPACE = /No space left on device|ENOSPC|disk quota exceeded|EDQUOT/i;
const WATCHDOG = join(__dirname, 'runner-watchdog.cjs');

export interface TaskRuntimeOptions {
  readonly lambdas: LocalLambdas;
  readonly locks: LocalLockTable;
  readonly artifacts: ArtifactStore;
  readonly logs: LocalLogService;
  readonly runner: RunnerProcessOptions;
}

const failure = (name: string, message: string) => Object.assign(new Error(message), { name });

/** Lambda errors carry a JSON Cause in AWS; local mode keeps that shape (without a stack trace). */
function lambdaError(error: unknown): Error {
  const e = error instanceof Error ? error : new Error(String(error));
  const name = e.name && e.name !== 'Error' ? e.name : 'Error';
  return failure(name, JSON.stringify({ errorType: name, errorMessage: e.message }));
}

const LAMBDA_ARN = /^arn:aws:lambda:[a-z0-9-]+:[0-9]{12}:function:([A-Za-z0-9_-]+)/;

/** `deploy-runner-notify` or a full ARN → `notify`. */
export function handlerName(functionNameOrArn: string): string {
  const name = LAMBDA_ARN.exec(functionNameOrArn)?.[1] ?? functionNameOrArn;
  return name.replace(/^deploy-runner-/, '');
}

export function createTaskRuntime(options: TaskRuntimeOptions) {
  const lambda = (functionName: string) => {
    const name = handlerName(functionName);
    const fn = options.lambdas[name];
    if (!fn) throw failure('Lambda.ResourceNotFoundException', `no local handler named ${name}`);
    return async (event: unknown) => {
      try {
        return await fn(event);
      } catch (error) {
        throw lambdaError(error);
      }
    };
  };

  const implementations: Record<string, TaskImplementation> = {
    'lambda:invoke.waitForTaskToken': async ({ input, waitForTaskToken }) => {
      const { FunctionName, Payload } = input as { FunctionName: string; Payload: unknown };
      const token = findTaskToken(Payload);
      if (!token) throw failure('States.Runtime', 'waitForTaskToken Payload carries no task token');
      // The answer may come before the handler returns (a fast approver): wait on it first.
      const answer = waitForTaskToken(token);
      await lambda(FunctionName)(Payload);
      return answer;
    },
    'lambda:invoke': async ({ input }) => {
      const { FunctionName, Payload } = input as { FunctionName: string; Payload: unknown };
      return {
        StatusCode: 200,
        ExecutedVersion: '$LATEST',
        Payload: await lambda(FunctionName)(Payload),
      };
    },
    'ecs:runTask.sync': (invocation) => runRunnerTask(options, invocation),
    'dynamodb:putItem': async ({ input }) => {
      const { Item, ConditionExpression } = input as {
        Item: Record<string, AttributeValue>;
        ConditionExpression?: string;
      };
      expectCondition(ConditionExpression, 'attribute_not_exists(pk)');
      const item = lockItemSchema.parse(fromAttributeMap(Item));
      if (!(await options.locks.acquire(item)))
        throw failure(
          'DynamoDB.ConditionalCheckFailedException',
          'The conditional request failed (the lock is held by another execution)',
        );
      return {};
    },
    'dynamodb:getItem': async ({ input }) => {
      const { Key } = input as { Key: Record<string, AttributeValue> };
      const item = await options.locks.get(String(fromAttributeMap(Key).pk));
      // As DynamoDB: no `Item` key at all when nothing is stored under the key.
      return item ? { Item: toAttributeMap(item) } : {};
    },
    'dynamodb:deleteItem': async ({ input }) => {
      const { Key, ConditionExpression, ExpressionAttributeValues } = input as {
        Key: Record<string, AttributeValue>;
        ConditionExpression?: string;
        ExpressionAttributeValues?: Record<string, AttributeValue>;
      };
      expectCondition(ConditionExpression, 'executionArn = :arn');
      const key = fromAttributeMap(Key).pk;
      const arn = fromAttributeMap(ExpressionAttributeValues ?? {})[':arn'];
      if (!(await options.locks.release(String(key), String(arn))))
        throw failure(
          'DynamoDB.ConditionalCheckFailedException',
          'The conditional request failed (this execution does not hold the lock)',
        );
      return {};
    },
    'aws-sdk:s3:getObject': async ({ input }) => {
      const { Key, VersionId } = input as { Key: string; VersionId?: string };
      try {
        const object = await options.artifacts.get(Key, VersionId);
        return {
          Body: object.body.toString('utf8'),
          VersionId: object.versionId,
          ContentLength: object.body.length,
          ChecksumSHA256: Buffer.from(object.sha256, 'hex').toString('base64'),
        };
      } catch (error) {
        if (error instanceof ArtifactNotFoundError)
          throw failure('S3.NoSuchKeyException', `The specified key does not exist: ${Key}`);
        // As in AWS, an SDK integration's errors are named after the service.
        const name = error instanceof Error && error.name !== 'Error' ? error.name : 'S3Exception';
        throw failure(`S3.${name}`, error instanceof Error ? error.message : String(error));
      }
    },
  };

  return (stateName: string, resource: string): TaskImplementation => {
    if (LAMBDA_ARN.test(resource)) {
      const invoke = lambda(resource);
      return ({ input }) => invoke(input);
    }
    const integration = /^arn:aws:states:::(.+)$/.exec(resource)?.[1];
    const implementation = integration ? implementations[integration] : undefined;
    if (!implementation)
      return async () => {
        throw failure(
          'States.Runtime',
          `local mode has no stand-in for ${resource} (state "${stateName}")`,
        );
      };
    return implementation;
  };
}

type AttributeValue = { S?: string; N?: string; BOOL?: boolean };

function fromAttributeMap(map: Record<string, AttributeValue>): Record<string, string | number> {
  return Object.fromEntries(
    Object.entries(map).map(([k, v]) => [
      k,
      v.S ?? (v.N !== undefined ? Number(v.N) : String(v.BOOL)),
    ]),
  );
}

function toAttributeMap(
  item: Readonly<Record<string, string | number | undefined>>,
): Record<string, AttributeValue> {
  return Object.fromEntries(
    Object.entries(item).flatMap(([k, v]) =>
      v === undefined ? [] : [[k, typeof v === 'number' ? { N: String(v) } : { S: v }]],
    ),
  );
}

function expectCondition(actual: string | undefined, expected: string): void {
  if (actual?.replace(/\s+/g, ' ').trim() !== expected)
    throw failure(
      'States.Runtime',
      `local mode emulates the lock condition "${expected}" only, got "${actual ?? '(none)'}"`,
    );
}

function findTaskToken(payload: unknown): string | undefined {
  if (payload && typeof payload === 'object') {
    const token = (payload as Record<string, unknown>).taskToken;
    if (typeof token === 'string') return token;
  }
  return undefined;
}

/** Runs the runner for a `Plan` or `Apply` state, as Fargate would run the task definition. */
async function runRunnerTask(options: TaskRuntimeOptions, invocation: TaskInvocation) {
  const { runner, logs } = options;
  const input = invocation.input as {
    TaskDefinition?: string;
    Overrides?: {
      ContainerOverrides?: Array<{ Environment?: Array<{ Name: string; Value: string }> }>;
    };
  };
  const taskEnv = runner.taskDefinitions[input.TaskDefinition ?? ''];
  if (!taskEnv)
    throw failure(
      'ECS.InvalidParameterException',
      `TaskDefinition not found: ${input.TaskDefinition ?? '(none)'} (state "${invocation.stateName}")`,
    );
  const overrides = Object.fromEntries(
    (input.Overrides?.ContainerOverrides ?? [])
      .flatMap((o) => o.Environment ?? [])
      .map((e) => [e.Name, String(e.Value)]),
  );
  const mode = taskEnv.DR_MODE === 'apply' ? 'apply' : 'plan';
  const taskId = randomUUID().replace(/-/g, '');
  const taskArn = `arn:aws:ecs:us-east-1:123456789012:task/deploy-runner-local/${taskId}`;
  const stream = `runner/runner/${taskId}`;
  const workDir = join(runner.workDir, taskId);
  mkdirSync(workDir, { recursive: true });
  invocation.emit('TaskSubmitted', {
    taskSubmittedEventDetails: {
      resourceType: 'ecs',
      resource: 'runTask.sync',
      output: JSON.stringify({
        Tasks: [{ TaskArn: taskArn, LastStatus: 'PROVISIONING' }],
        Failures: [],
      }),
      outputDetails: { truncated: false },
    },
  });
  const taskFile = runner.tasksDir ? join(runner.tasksDir, `${taskId}.json`) : undefined;
  const child = spawn(
    process.execPath,
    [...(taskFile ? ['--require', WATCHDOG] : []), runner.script],
    {
      cwd: workDir,
      // As Fargate: the task definition's environment, then the state's container overrides.
      // Local mode adds only where the task works and, under the watchdog, its record and log.
      env: {
        ...runner.env,
        ...taskEnv,
        ...overrides,
        DR_WORK_DIR: workDir,
        ...(taskFile && { DR_LOCAL_TASK_FILE: taskFile }),
        ...(taskFile &&
          runner.logDir && {
            DR_LOCAL_LOG_FILE: join(runner.logDir, streamFile(runner.logGroup, stream)),
          }),
      },
      // With a watchdog, stdin is the pipe whose end tells the runner that the server died.
      stdio: [taskFile ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    },
  );
  const diskDir = runner.dataDir ?? runner.workDir;
  if (taskFile && child.pid !== undefined) {
    // One read of /proc/<pid>/stat, not two: the child is still starting, and the value is fixed.
    const startTime = processStartTime(child.pid);
    const record: LocalTaskRecord = {
      taskId,
      taskArn,
      executionArn: invocation.execution.executionArn,
      stateName: invocation.stateName,
      mode,
      pid: child.pid,
      ...(startTime !== undefined && { startTime }),
      startedAt: new Date().toISOString(),
    };
    try {
      writeFileAtomic(taskFile, JSON.stringify(record));
    } catch (error) {
      // Unrecorded, a runner that outlived a crash could not be found: it must not run. It has
      // only just started, so nothing was applied yet.
      child.kill('SIGKILL');
      const reason = isDiskFull(error)
        ? diskFullAdvice(diskDir)
        : `local mode could not record the task (${(error as Error).message})`;
      throw failure(
        'States.TaskFailed',
        JSON.stringify({
          TaskArn: taskArn,
          LastStatus: 'STOPPED',
          StopCode: 'TaskFailedToStart',
          StoppedReason: `Task failed to start: ${reason}`,
          Containers: [{ Name: 'runner', LastStatus: 'STOPPED', Reason: reason }],
        }),
      );
    }
  }
  const onAbort = () => {
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  };
  invocation.signal.addEventListener('abort', onAbort, { once: true });
  let sawNoSpace = false;
  const capture = (readable: NodeJS.ReadableStream) =>
    new Promise<void>((resolve) => {
      const lines = createInterface({ input: readable });
      lines.on('line', (line) => {
        if (NO_SPACE.test(line)) sawNoSpace = true;
        logs.append(runner.logGroup, stream, line);
        runner.onLine?.(taskId, line);
      });
      lines.on('close', resolve);
    });
  const { stdout, stderr } = child;
  const captured = Promise.all([stdout && capture(stdout), stderr && capture(stderr)]);
  const exitCode = await new Promise<number>((resolve) => {
    child.on('error', (error) => {
      logs.append(runner.logGroup, stream, `failed to start the runner: ${error.message}`);
      resolve(127);
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 137 : 1)));
  });
  await captured;
  invocation.signal.removeEventListener('abort', onAbort);
  if (taskFile) {
    rmSync(taskFile, { force: true });
    rmSync(`${taskFile}.exit`, { force: true });
  }
  if (!runner.keepWorkDirs) rmSync(workDir, { recursive: true, force: true });
  // A runner that fails because the disk is full says "exit code 5" (git could not write): the
  // cause must say what to do about it.
  const diskFull =
    exitCode !== 0 &&
    (sawNoSpace || (freeBytes(diskDir) ?? Number.POSITIVE_INFINITY) < NEARLY_FULL_BYTES);
  const task = {
    TaskArn: taskArn,
    LastStatus: 'STOPPED',
    StopCode: 'EssentialContainerExited',
    StoppedReason: 'Essential container in task exited',
    Containers: [
      {
        Name: 'runner',
        ExitCode: exitCode,
        LastStatus: 'STOPPED',
        ...(diskFull && { Reason: diskFullAdvice(diskDir) }),
      },
    ],
  };
  if (exitCode !== 0) throw failure('States.TaskFailed', JSON.stringify(task));
  return task;
}
