import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SFNClient } from '@aws-sdk/client-sfn';
import { type ApprovalPageHandler, createApprovalPageHandler } from '../../handlers/approval-page';
import { createCleanupHandler } from '../../handlers/cleanup';
import { createInspectPlanHandler } from '../../handlers/inspect-plan';
import { createNotifyHandler } from '../../handlers/notify';
import { createRequestApprovalHandler } from '../../handlers/request-approval';
import { startRunWith } from '../../handlers/shared/drift-notify';
import type { Notifier } from '../../handlers/shared/notifier';
import {
  type FunctionName,
  REQUIRED_SETTINGS,
  SETTINGS_ENV,
  settingsFromEnv,
  unknownSettingsEnv,
} from '../../handlers/shared/settings';
import { createValidateRequestHandler } from '../../handlers/validate-request';
import { createVerifyApprovalHandler } from '../../handlers/verify-approval';
import type { ArtifactStore } from '../artifact-store';
import { FolderArtifactStore } from '../artifacts/folder-store';
import { ARTIFACT_ENV, artifactLocationToEnv } from '../artifacts/location';
import type { DeployRunnerConfig } from '../config';
import {
  environmentsFromTemplate,
  type LocalEquivalents,
  synthesizeDefinition,
} from '../definition';
import { lockDataDir } from './data-dir-lock';
import { LocalDecisionKey } from './decision-key';
import { type DriftScheduler, startDriftScheduler } from './drift-schedules';
import { MemoryDriftStore } from './drift-store';
import { privateDir, writeFileAtomic } from './durable';
import { type ExecutionRecord, type HistoryEvent, LocalEngine } from './engine';
import { toFunctionUrlEvent, writeFunctionUrlResult } from './http-adapter';
import { startHttpServer } from './http-server';
import { LOCAL_LOG_GROUP, LocalLogService } from './log-service';
import { MemoryApprovalStore } from './memory-store';
import { OutboxNotifier } from './outbox-notifier';
import { MemoryPlanViewStore } from './plan-view-store';
import { LocalSetupError, prepareDataDir } from './preflight';
import { recoverInterrupted } from './recovery';
import { createTaskRuntime } from './task-runtime';

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
  /**
   * Secrets Manager's stand-in: secret values by name, for the secrets the page reads by name
   * (the sign-in client secret, lib/local/sign-in.ts). @default - none
   */
  readonly secrets?: Readonly<Record<string, string>>;
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
  const signInClientSecret = localSignInSecret(options);
  const dataDir = resolve(options.dataDir);
  prepareDataDir(dataDir);
  // One server per data folder; a crashed server's lock is taken over (lib/local/data-dir-lock.ts).
  const dataDirLock = lockDataDir(dataDir);
  const echo = options.echo ?? (() => {});
  const warn = (line: string) => echo(`! ${line}`);
  for (const dir of [dataDir, 'artifacts', 'outbox', 'logs', 'executions', 'tasks', 'work'])
    privateDir(resolve(dataDir, dir));
  const { definition, stateMachineName, template } = synthesizeDefinition(options.config);
  const logs = new LocalLogService(join(dataDir, 'logs'), warn);
  const artifactDir = join(dataDir, 'artifacts');
  const artifacts = new FolderArtifactStore(artifactDir);
  const outboxDir = join(dataDir, 'outbox');
  const store = new MemoryApprovalStore({ file: join(dataDir, 'store.json'), onWarning: warn });
  const driftStore = new MemoryDriftStore(join(dataDir, 'drift.json'));
  const views = new MemoryPlanViewStore(join(dataDir, 'plan-views.json'));
  const outbox = new OutboxNotifier({
    dir: outboxDir,
    onMessage: (line, file) => echo(`✉  ${line}  (${file})`),
  });
  const notifier = options.wrapNotifier ? options.wrapNotifier(outbox) : outbox;
  const readArtifacts = options.wrapArtifacts ? options.wrapArtifacts(artifacts) : artifacts;

  // The server's URL is known once it listens; the handlers boot on first use, after that.
  let baseUrl = '';
  // KMS's stand-in: the page gets only the signing half, `Verify approval` only the public half.
  const decisionKey = LocalDecisionKey.inDataDir(dataDir);
  let sfn: SFNClient | undefined;
  let booted: LocalHandlers | undefined;
  const handlers = (): LocalHandlers => {
    if (booted) return booted;
    if (!baseUrl) throw new Error('local mode boots its handlers once the server listens');
    sfn = new SFNClient({ endpoint: baseUrl, region: 'us-east-1', credentials: DUMMY_CREDENTIALS });
    const functions = environmentsFromTemplate(template, localEquivalents(baseUrl)).functions;
    const env = (name: FunctionName) => settingsOf(name, functions[name], baseUrl);
    const stores = { store, notifier, artifacts: readArtifacts };
    booted = {
      'validate-request': createValidateRequestHandler({ settings: env('validate-request') }),
      'request-approval': createRequestApprovalHandler({
        ...stores,
        settings: env('request-approval'),
      }),
      notify: createNotifyHandler({
        ...stores,
        settings: env('notify'),
        drift: { store: driftStore, startRun: startRunWith(sfn), views },
      }),
      cleanup: createCleanupHandler({ store: stores.store }),
      'verify-approval': createVerifyApprovalHandler({
        settings: env('verify-approval'),
        verifier: decisionKey.verifier(),
      }),
      'inspect-plan': createInspectPlanHandler({ artifacts: readArtifacts }),
      'approval-page': createApprovalPageHandler({
        ...stores,
        sfn,
        signer: decisionKey.signer(),
        views,
        // Secrets Manager's stand-in: the page secret in the data folder, not DR_PAGE_SECRET_ARN.
        settings: {
          ...env('approval-page'),
          pageSecret: pageSecret(dataDir),
          ...(signInClientSecret !== undefined && { signInClientSecret }),
        },
      }),
    };
    return booted;
  };
  // Built for every function of the template, so a function without a local handler fails here.
  const lambdas: Record<string, (event: unknown) => Promise<unknown>> = Object.fromEntries(
    Object.keys(REQUIRED_SETTINGS)
      .filter((name) => name !== 'approval-page')
      .map((name) => [name, (event: unknown) => handlers()[name as FunctionName](event as never)]),
  );

  const taskImplementation = createTaskRuntime({
    lambdas,
    locks: {
      acquire: (item) => store.acquireLock(item),
      get: (lockKey) => store.getLock(lockKey),
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
      taskDefinitions: localTaskEnvironments(
        environmentsFromTemplate(template, localEquivalents('')).tasks,
        artifactDir,
      ),
      // The host's part, beneath the task definition's: what a container image has built in.
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? dataDir,
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
      const result = await handlers()['approval-page'](event);
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

/**
 * The sign-in client secret the page would read from Secrets Manager by the config's name; a
 * missing one stops the start, as a missing secret would stop every sign-in in AWS.
 */
function localSignInSecret(options: LocalServerOptions): string | undefined {
  const name = options.config.approvals.signIn?.clientSecretName;
  if (name === undefined) return undefined;
  const value = options.secrets?.[name];
  if (value === undefined)
    throw new LocalSetupError(
      `approvals.signIn names the client secret "${name}", which local mode does not have: start with --sign-in, which runs a local OpenID provider and keeps its client secret`,
    );
  return value;
}

/** The handlers of local mode, by function, each built once as Lambda builds it per instance. */
type LocalHandlers = {
  readonly [F in FunctionName]: (event: never) => Promise<unknown>;
} & { readonly 'approval-page': ApprovalPageHandler };

/** What stands in locally for the resources the environments refer to. */
function localEquivalents(baseUrl: string): LocalEquivalents {
  return { functionUrl: `${baseUrl}/`, logGroup: LOCAL_LOG_GROUP };
}

/**
 * Local mode's changes to a function's synthesized environment, both for want of TLS and of a
 * console: the Step Functions console link becomes the local run page, and the approval base URL
 * (the Function URL's host behind a literal "https://") keeps the local server's http scheme.
 * Everything else is what the function reads in AWS, parsed by the same reader; a variable no
 * setting reads fails the boot.
 */
function settingsOf(
  name: FunctionName,
  env: Readonly<Record<string, string>> | undefined,
  baseUrl: string,
) {
  if (!env) throw new Error(`the synthesized template has no ${name} function`);
  const unknown = unknownSettingsEnv(env);
  if (unknown.length > 0)
    throw new Error(
      `the ${name} function's environment sets ${unknown.join(', ')}, which no setting reads`,
    );
  const local = { ...env };
  const consoleName = SETTINGS_ENV.consoleUrlTemplate as string;
  if (local[consoleName] !== undefined) local[consoleName] = `${baseUrl}/executions/{executionArn}`;
  const approvalName = SETTINGS_ENV.approvalBaseUrl as string;
  if (local[approvalName] === baseUrl.replace(/^http:/, 'https:')) local[approvalName] = baseUrl;
  return settingsFromEnv(local, REQUIRED_SETTINGS[name]);
}

/**
 * The runner tasks' environments as local mode runs them: the task definition's, with its
 * artifact bucket (and key) replaced by the local artifact folder, the bucket's stand-in.
 */
function localTaskEnvironments(
  tasks: Readonly<Record<string, Readonly<Record<string, string>>>>,
  artifactDir: string,
): Record<string, Record<string, string>> {
  return Object.fromEntries(
    Object.entries(tasks).map(([arn, env]) => {
      const { [ARTIFACT_ENV.bucket]: _bucket, [ARTIFACT_ENV.kmsKeyArn]: _key, ...rest } = env;
      return [arn, { ...rest, ...artifactLocationToEnv({ kind: 'folder', dir: artifactDir }) }];
    }),
  );
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
