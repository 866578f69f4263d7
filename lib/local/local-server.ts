import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SFNClient } from '@aws-sdk/client-sfn';
import { createApprovalPageHandler } from '../../handlers/approval-page';
import { createCleanupHandler } from '../../handlers/cleanup';
import { createInspectPlanHandler } from '../../handlers/inspect-plan';
import { createNotifyHandler } from '../../handlers/notify';
import { createRequestApprovalHandler } from '../../handlers/request-approval';
import { LocalDecisionKey } from '../../handlers/shared/decision-signing';
import { startRunWith } from '../../handlers/shared/drift-notify';
import { MemoryDriftStore } from '../../handlers/shared/drift-store';
import { toFunctionUrlEvent, writeFunctionUrlResult } from '../../handlers/shared/http-adapter';
import { type Notifier, OutboxNotifier } from '../../handlers/shared/notifier';
import type { Settings } from '../../handlers/shared/settings';
import { MemoryApprovalStore } from '../../handlers/shared/store';
import { createValidateRequestHandler } from '../../handlers/validate-request';
import { createVerifyApprovalHandler } from '../../handlers/verify-approval';
import type { ArtifactStore } from '../artifact-store';
import { FolderArtifactStore } from '../artifacts/folder-store';
import { type DeployRunnerConfig, durationSeconds } from '../config';
import { allowlistOf, knownHostsEnv } from '../contracts';
import { synthesizeDefinition } from '../definition';
import { lockDataDir } from './data-dir-lock';
import { type DriftScheduler, startDriftScheduler } from './drift-schedules';
import { privateDir, writeFileAtomic } from './durable';
import { type ExecutionRecord, type HistoryEvent, LocalEngine } from './engine';
import { startHttpServer } from './http-server';
import { LOCAL_LOG_GROUP, LocalLogService } from './log-service';
import { prepareDataDir } from './preflight';
import { recoverInterrupted } from './recovery';
import { createTaskRuntime, type LockItem } from './task-runtime';

/**
 * Local mode, assembled: the state machine synthesized from the CDK stack, run by the local
 * engine, with every Task state backed by the real handler code (in process) or the real runner
 * (a child process), behind one HTTP server on 127.0.0.1.
 */

export interface LocalServerOptions {
  readonly config: DeployRunnerConfig;
  /** Where runs, artifacts, the store, logs and the outbox live. */
  readonly dataDir: string;
  /** @default 8787; 0 picks a free port */
  readonly port?: number;
  /** The bundled runner script (see containers/runner/bundle.ts). */
  readonly runnerScript: string;
  /** terraform, tofu or the simulator. */
  readonly toolPath: string;
  /** Extra environment for runner tasks (for example TF_SIM_STATE_DIR). */
  readonly runnerEnv?: Readonly<Record<string, string>>;
  /** Receives console lines (state changes, outbox messages, runner output). @default - silent */
  readonly echo?: (line: string) => void;
  /** Echo runner output lines too. @default false */
  readonly echoRunnerOutput?: boolean;
  /** Overrides every Retry interval (tests). */
  readonly retryIntervalMs?: number;
  /** Wraps the outbox notifier the handlers use (fault-injection tests). @default - the outbox as is */
  readonly wrapNotifier?: (outbox: Notifier) => Notifier;
  /**
   * Wraps the artifact store the handlers and the task runtime read (fault-injection tests);
   * the runner child processes still use the folder. @default - the folder store as is
   */
  readonly wrapArtifacts?: (folder: ArtifactStore) => ArtifactStore;
  /** Whether the config's drift schedules fire by themselves (docs/drift.md). @default true */
  readonly driftSchedules?: boolean;
}

export interface LocalServer {
  readonly url: string;
  readonly port: number;
  readonly stateMachineArn: string;
  readonly engine: LocalEngine;
  readonly store: MemoryApprovalStore;
  readonly artifacts: FolderArtifactStore;
  readonly logs: LocalLogService;
  readonly outboxDir: string;
  readonly artifactDir: string;
  /** The drift schedules; `drift.trigger(i)` runs entry i's checks now. */
  readonly drift: DriftScheduler;
  /** Console link of a run (the local run page). */
  consoleUrl(executionArn: string): string;
  close(): Promise<void>;
}

/** The page nonce key survives restarts, so a page opened before a restart still works. */
function pageSecret(dataDir: string): string {
  const file = join(dataDir, 'page-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const secret = randomBytes(32).toString('base64url');
  writeFileAtomic(file, secret);
  return secret;
}

const DUMMY_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const dataDir = resolve(options.dataDir);
  prepareDataDir(dataDir);
  // One server per data folder; a crashed server's lock is taken over (lib/local/data-dir-lock.ts).
  const dataDirLock = lockDataDir(dataDir);
  const echo = options.echo ?? (() => {});
  const warn = (line: string) => echo(`! ${line}`);
  for (const dir of [dataDir, 'artifacts', 'outbox', 'logs', 'executions', 'tasks', 'work'])
    privateDir(resolve(dataDir, dir));
  const { definition, stateMachineName } = synthesizeDefinition(options.config);
  const logs = new LocalLogService(join(dataDir, 'logs'), warn);
  const artifactDir = join(dataDir, 'artifacts');
  const artifacts = new FolderArtifactStore(artifactDir);
  const outboxDir = join(dataDir, 'outbox');
  const store = new MemoryApprovalStore({ file: join(dataDir, 'store.json'), onWarning: warn });
  const driftStore = new MemoryDriftStore(join(dataDir, 'drift.json'));
  const outbox = new OutboxNotifier({
    dir: outboxDir,
    onMessage: (line, file) => echo(`✉  ${line}  (${file})`),
  });
  const notifier = options.wrapNotifier ? options.wrapNotifier(outbox) : outbox;
  const readArtifacts = options.wrapArtifacts ? options.wrapArtifacts(artifacts) : artifacts;

  // The server's URL is known once it listens; handlers read it through settings at call time.
  let baseUrl = '';
  const settings = (): Settings => ({
    tableName: 'deploy-runner-table',
    allowlist: allowlistOf(options.config),
    lockTtlSeconds:
      durationSeconds(options.config.runner.planTimeout) +
      durationSeconds(options.config.approvals.timeout) +
      durationSeconds(options.config.runner.applyTimeout) +
      2 * 3600,
    approvalBaseUrl: baseUrl,
    fromEmail: options.config.notifications.fromEmail,
    ...(options.config.notifications.slack?.channel && {
      slackChannel: options.config.notifications.slack.channel,
    }),
    pageSecret: pageSecret(dataDir),
    consoleUrlTemplate: `${baseUrl}/executions/{executionArn}`,
    sfnEndpoint: baseUrl,
    approvers: options.config.approvals.approvers,
    approvalsRequired: options.config.approvals.approvalsRequired,
  });
  // KMS's stand-in: the page gets only the signing half, `Verify approval` only the public half.
  const decisionKey = LocalDecisionKey.inDataDir(dataDir);
  let sfn: SFNClient | undefined;
  const deps = () => {
    sfn ??= new SFNClient({
      endpoint: baseUrl,
      region: 'us-east-1',
      credentials: DUMMY_CREDENTIALS,
    });
    const drift = { store: driftStore, startRun: startRunWith(sfn) };
    return { settings: settings(), store, notifier, sfn, artifacts: readArtifacts, drift };
  };
  const lambdas = {
    'validate-request': (event: unknown) => createValidateRequestHandler(deps())(event as never),
    'request-approval': (event: unknown) => createRequestApprovalHandler(deps())(event as never),
    notify: (event: unknown) => createNotifyHandler(deps())(event as never),
    cleanup: (event: unknown) => createCleanupHandler(deps())(event as never),
    'verify-approval': (event: unknown) =>
      createVerifyApprovalHandler({ settings: settings(), verifier: decisionKey.verifier() })(
        event,
      ),
    'inspect-plan': (event: unknown) =>
      createInspectPlanHandler({ artifacts: readArtifacts })(event as never),
  };

  const taskImplementation = createTaskRuntime({
    lambdas,
    locks: {
      acquire: (item) => store.acquireLock(item as never),
      get: async (lockKey) => (await store.getLock(lockKey)) as LockItem | undefined,
      release: (lockKey, executionArn) => store.releaseLock(lockKey, executionArn),
    },
    artifacts: readArtifacts,
    logs,
    runner: {
      script: options.runnerScript,
      workDir: join(dataDir, 'work'),
      logGroup: LOCAL_LOG_GROUP,
      tasksDir: join(dataDir, 'tasks'),
      logDir: join(dataDir, 'logs'),
      dataDir,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? dataDir,
        DR_ALLOWLIST: JSON.stringify(allowlistOf(options.config)),
        ...knownHostsEnv(options.config),
        DR_ARTIFACT_DIR: artifactDir,
        DR_TOOL_PATH: options.toolPath,
        ...options.runnerEnv,
      },
      ...(options.echoRunnerOutput && {
        onLine: (taskId: string, line: string) => echo(`   │ ${taskId.slice(0, 8)} ${line}`),
      }),
    },
  });

  // The EventBridge rule's stand-in: runs that did not succeed get the cleanup function.
  const onExecutionEnded = async (execution: ExecutionRecord) => {
    if (execution.status === 'SUCCEEDED') return;
    await lambdas.cleanup(eventBridgeEvent(execution, engine.stateMachineArn));
  };

  const engine = new LocalEngine({
    definition,
    stateMachineName,
    dataDir,
    taskImplementation,
    onExecutionEnded,
    deferInterrupted: true,
    onWarning: warn,
    onEvent: (execution, event) => {
      const line = describeEvent(event);
      if (line) echo(`${execution.name}: ${line}`);
    },
    ...(options.retryIntervalMs !== undefined && { retryIntervalMs: options.retryIntervalMs }),
  });

  const http = await startHttpServer({
    engine,
    logs,
    port: options.port ?? 8787,
    approvalPage: async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const event = toFunctionUrlEvent(req, Buffer.concat(chunks));
      const result = await createApprovalPageHandler({ ...deps(), signer: decisionKey.signer() })(
        event,
      );
      writeFunctionUrlResult(res, result);
    },
  }).catch((error: unknown) => {
    dataDirLock.release();
    throw error;
  });
  baseUrl = http.url;
  dataDirLock.setUrl(http.url);

  // Runs that were in flight when the server last stopped: say what became of them, release
  // what they held (an apply that outlived the server keeps its lock until it ends).
  const recovery = await recoverInterrupted({
    engine,
    store,
    logs,
    logGroup: LOCAL_LOG_GROUP,
    tasksDir: join(dataDir, 'tasks'),
    notify: lambdas.notify,
    ended: onExecutionEnded,
    echo,
  });

  const drift = startDriftScheduler(options, engine, echo);

  return {
    drift,
    url: http.url,
    port: http.port,
    stateMachineArn: engine.stateMachineArn,
    engine,
    store,
    artifacts,
    logs,
    outboxDir,
    artifactDir,
    consoleUrl: (executionArn) => `${http.url}/executions/${encodeURIComponent(executionArn)}`,
    close: async () => {
      drift.close();
      recovery.close();
      await engine.close();
      await http.close();
      sfn?.destroy();
      store.flush();
      dataDirLock.release();
    },
  };
}

function eventBridgeEvent(execution: ExecutionRecord, stateMachineArn: string) {
  return {
    version: '0',
    id: `local-${execution.name}`,
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: '123456789012',
    time: new Date(execution.stopDate ?? Date.now()).toISOString(),
    region: 'us-east-1',
    resources: [execution.executionArn],
    detail: {
      executionArn: execution.executionArn,
      stateMachineArn,
      name: execution.name,
      status: execution.status,
      startDate: execution.startDate,
      stopDate: execution.stopDate ?? null,
      input: execution.input,
      output: execution.output ?? null,
      error: execution.error ?? null,
      cause: execution.cause ?? null,
    },
  };
}

/** One console line for the events a person watching the run cares about. */
function describeEvent(event: HistoryEvent): string | undefined {
  if (event.type.endsWith('StateEntered')) {
    const name = (event.stateEnteredEventDetails as { name: string }).name;
    return `→ ${name}`;
  }
  const closing = {
    ExecutionSucceeded: 'succeeded',
    ExecutionFailed: 'FAILED',
    ExecutionAborted: 'ABORTED',
    ExecutionTimedOut: 'TIMED OUT',
  }[event.type];
  if (!closing) return undefined;
  const details = Object.values(event).find(
    (v): v is { error?: string; cause?: string } => typeof v === 'object' && v !== null,
  );
  return details?.error ? `■ ${closing}: ${details.error}: ${details.cause ?? ''}` : `■ ${closing}`;
}
