import type { ArtifactStore } from '../../../lib/artifact-store';
import { FolderArtifactStore } from '../../../lib/artifacts/folder-store';
import { type ArtifactLocation, artifactLocationFromEnv } from '../../../lib/artifacts/location';
import {
  artifactKeys,
  type RunnerErrorReport,
  runnerErrorReportSchema,
} from '../../../lib/contracts';
import { runApply } from './apply';
import { PhaseTracker, type RunDeps } from './context';
import { parseRunnerEnv, RUN_ID, type RunnerEnv } from './env';
import { asRunnerError, ExitCode, type RunnerError } from './errors';
import { runList } from './list';
import { RunLog, resolveLogUrl } from './log';
import { SecretMasker } from './mask';
import { runPlan } from './plan';
import { type Spawn, spawnProcess } from './process';

/** What the runner needs from the outside world; `main.ts` passes the real ones. */
export interface RunnerIo {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly spawn?: Spawn;
  readonly clock?: () => Date;
  readonly fetch?: typeof fetch;
  /** @default - S3 or folder store, from the environment */
  readonly createStore?: (location: ArtifactLocation) => Promise<ArtifactStore>;
}

/** The S3 client is loaded only when a bucket is used, so local runs start fast. */
export async function createStore(location: ArtifactLocation): Promise<ArtifactStore> {
  if (location.kind === 'folder') return new FolderArtifactStore(location.dir);
  const { S3ArtifactStore } = await import('../../../lib/artifacts/s3-store.js');
  return new S3ArtifactStore({
    bucket: location.bucket,
    kmsKeyArn: location.kmsKeyArn,
    region: location.region,
  });
}

/** Runs plan or apply as the environment says; returns the process exit code. Never throws. */
export async function runRunner(io: RunnerIo): Promise<number> {
  const masker = new SecretMasker().addToken(io.env.GIT_TOKEN).addSshKey(io.env.GIT_SSH_KEY);
  const clock = io.clock ?? (() => new Date());
  const log = new RunLog(masker, io.stdout, io.stderr, clock);
  const fallbackMode = io.env.DR_MODE === 'apply' ? 'apply' : 'plan';
  const phases = new PhaseTracker(log, fallbackMode);
  let env: RunnerEnv | undefined;
  let store: ArtifactStore | undefined;
  let logUrl = '';
  try {
    env = parseRunnerEnv(io.env);
    store = await (io.createStore ?? createStore)(env.artifacts);
    logUrl = await resolveLogUrl(env.log, io.fetch);
    const deps: RunDeps = {
      store,
      spawn: io.spawn ?? spawnProcess,
      clock,
      log,
      masker,
      baseEnv: io.env,
      logUrl,
    };
    log.line(`deploy-runner ${env.mode}: run ${env.runId}${logUrl ? `, log ${logUrl}` : ''}`);
    if (env.mode === 'list') {
      const list = await runList(env, deps, phases);
      log.done('list', `${list.total} path(s) of ${env.path} at ${list.commit.slice(0, 12)}`);
    } else if (env.mode === 'plan') {
      const result = await runPlan(env, deps, phases);
      log.done('plan', result.hasChanges ? 'the plan has changes' : 'no changes');
    } else {
      await runApply(env, deps, phases);
      log.done('apply', 'the approved plan was applied');
    }
    return ExitCode.Ok;
  } catch (thrown) {
    const error = asRunnerError(thrown, phases.current);
    // List mode runs on the plan task definition and reports as a plan would (`plan-error.json`).
    const mode = env?.mode === 'list' ? 'plan' : (env?.mode ?? fallbackMode);
    log.errorBlock(mode, error);
    const runId = env?.runId ?? reportableRunId(io.env.DR_RUN_ID);
    const location = env?.artifacts ?? artifactLocationFromEnv(io.env);
    if (!store && location && runId)
      store = await (io.createStore ?? createStore)(location).catch(() => undefined);
    if (store && runId) await reportError(store, runId, mode, error, log, masker, logUrl);
    return error.exitCode;
  }
}

/** The run ID from a raw environment that failed to parse, when it is still usable as a key. */
function reportableRunId(value: string | undefined): string | undefined {
  return value && RUN_ID.test(value) ? value : undefined;
}

/** Best effort: a failure to write the report must not hide the failure it reports. */
async function reportError(
  store: ArtifactStore,
  runId: string,
  mode: 'plan' | 'apply',
  error: RunnerError,
  log: RunLog,
  masker: SecretMasker,
  logUrl: string,
): Promise<void> {
  const report: RunnerErrorReport = {
    mode,
    code: error.code,
    phase: error.phase,
    message: masker.mask(error.message),
    hint: masker.mask(error.hint),
    tail: log.tail(),
    exitCode: error.exitCode,
    logUrl,
  };
  try {
    await store.put(
      artifactKeys(runId).error(mode),
      // Parsed as notify parses it, so a report notify cannot read is never written.
      JSON.stringify(runnerErrorReportSchema.parse(report), null, 2),
      'application/json',
      { ifNoneMatch: '*' },
    );
  } catch (writeError) {
    log.line(
      `warning: could not write the error report: ${writeError instanceof Error ? writeError.message : String(writeError)}`,
    );
  }
}
