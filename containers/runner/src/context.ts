import { checkExecutionInput, describeRejections } from '../../../lib/allowlist';
import {
  ArtifactExistsError,
  type ArtifactStore,
  type StoredObject,
} from '../../../lib/artifact-store';
import type { Allowlist } from '../../../lib/contracts';
import type { RunnerEnv } from './env';
import { ArtifactExistsRunnerError, InputRefusedError, type Phase } from './errors';
import { type GitContext, gitEnvironment } from './git';
import type { RunLog } from './log';
import type { SecretMasker } from './mask';
import type { Spawn } from './process';
import { resolveTool, type ToolContext, type ToolInvocation, toolEnvironment } from './tool';
import { createWorkspace, resolveModuleDir, type Workspace } from './workspace';

/** The collaborators a run receives, so tests can replace any of them. */
export interface RunDeps {
  readonly store: ArtifactStore;
  readonly spawn: Spawn;
  readonly clock: () => Date;
  readonly log: RunLog;
  readonly masker: SecretMasker;
  /** The runner's own environment (process.env): the base of git's and the tool's. */
  readonly baseEnv: NodeJS.ProcessEnv;
  /** The CloudWatch console URL of this task's log, or "". */
  readonly logUrl: string;
}

/**
 * Writes a run artifact once (`If-None-Match: *`; the plan role may not put any other way). A
 * key that is already taken fails the run, naming the key: someone else wrote this run's
 * artifact, and the runner must neither use nor replace it.
 */
export async function putOnce(
  store: ArtifactStore,
  phase: Phase,
  key: string,
  body: Uint8Array | string,
  contentType: string,
): Promise<StoredObject> {
  try {
    return await store.put(key, body, contentType, { ifNoneMatch: '*' });
  } catch (error) {
    if (!(error instanceof ArtifactExistsError)) throw error;
    throw new ArtifactExistsRunnerError(
      phase,
      `artifact ${key} already exists: another writer stored this run's ${key.split('/').at(-1)} first; it was neither used nor replaced`,
      phase === 'result'
        ? 'the plan was applied, but its result was not recorded: treat the existing object as a security incident (which task wrote into this run?)'
        : 'nothing was applied: treat this as a security incident (which task wrote into this run?) and start a new run',
      { cause: error },
    );
  }
}

/** Which phase a run is in, so an unexpected error is reported where it happened. */
export class PhaseTracker {
  current: Phase = 'validate';
  constructor(
    private readonly log: RunLog,
    private readonly mode: string,
  ) {}

  enter(phase: Phase, what: string): void {
    this.current = phase;
    this.log.phase(this.mode, phase, what);
  }
}

/**
 * Re-validates repo, ref and path against the allowlist baked into the task definition:
 * the execution input was checked by `Validate request`, but the runner trusts no one.
 */
export function checkAgainstAllowlist(env: RunnerEnv): Allowlist[string] {
  // An apply task checks as an apply, whatever its environment says the run is.
  const mode = env.mode === 'apply' ? 'apply' : env.requestMode;
  // List mode's path is a drift glob. Which globs the config has is `Validate request`'s check
  // (the task definition does not carry them); here the repo, the ref and the glob's syntax are
  // checked as for that drift check, and every listed path is checked again on its own.
  const list = env.mode === 'list';
  if (list && (env.requestMode !== 'plan-only' || !env.path.includes('*')))
    throw new InputRefusedError(
      'validate',
      'list mode lists the paths of a drift glob for a plan-only drift check only',
      'list mode is started by the drift states of the workflow; start a plan or apply run instead',
    );
  const verdict = checkExecutionInput(
    { repo: env.repo, ref: env.ref, path: env.path, mode, ...(list && { drift: 'notify' }) },
    env.allowlist,
    list ? [{ repo: env.repo, ref: env.ref, path: env.path }] : [],
  );
  if (env.mode === 'apply' && env.requestMode === 'plan-only')
    throw new InputRefusedError(
      'validate',
      'this run is plan-only (DR_REQUEST_MODE), so it never applies',
      'start a run with mode "apply" on a ref that may be applied',
    );
  if (!verdict.ok)
    throw new InputRefusedError(
      'validate',
      describeRejections(verdict.rejections),
      'the runner refuses what the allowlist does not allow: send an allowed repo, branch and path',
    );
  return env.allowlist[env.repo] as Allowlist[string];
}

/** Everything a run has once it is validated: the workspace, git and tool contexts. */
export interface Prepared {
  readonly repo: Allowlist[string];
  readonly tool: ToolInvocation;
  readonly workspace: Workspace;
  readonly git: GitContext;
  readonly toolContext: (moduleDir: string) => ToolContext;
}

/** Validates the input, finds the tool, creates the workspace and git's environment. */
export async function prepare(
  env: RunnerEnv,
  deps: RunDeps,
  phases: PhaseTracker,
): Promise<Prepared> {
  phases.enter('validate', `repo ${env.repo}, ref ${env.ref}, path ${env.path}`);
  const repo = checkAgainstAllowlist(env);
  const tool = await resolveTool(repo, env.toolPath, deps.baseEnv.PATH);
  deps.log.line(`allowed by the allowlist; tool ${tool.name} at ${tool.binary}`);
  const workspace = await createWorkspace(env.workDir);
  try {
    const gitEnv = await gitEnvironment(
      deps.baseEnv,
      repo.url,
      { token: env.gitToken, sshKey: env.gitSshKey, knownHosts: env.gitKnownHosts },
      workspace.secrets,
    );
    const git: GitContext = {
      dir: workspace.checkout,
      url: repo.url,
      env: gitEnv,
      spawn: deps.spawn,
      log: deps.log,
    };
    const toolEnv = toolEnvironment(deps.baseEnv, deps.masker);
    return {
      repo,
      tool,
      workspace,
      git,
      toolContext: (moduleDir) => ({
        tool,
        cwd: moduleDir,
        env: toolEnv,
        spawn: deps.spawn,
        log: deps.log,
      }),
    };
  } catch (error) {
    await workspace.cleanup();
    throw error;
  }
}

/** The module directory, path-checked against the checkout. */
export async function moduleDir(prepared: Prepared, path: string): Promise<string> {
  return resolveModuleDir(prepared.workspace.checkout, path, prepared.repo);
}
