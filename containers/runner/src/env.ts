import * as z from 'zod';
import {
  ARTIFACT_ENV,
  type ArtifactLocation,
  artifactLocationFromEnv,
  artifactLocationToEnv,
} from '../../../lib/artifacts/location';
import { describeIssues } from '../../../lib/config-errors';
import {
  type Allowlist,
  allowlistSchema,
  jsonText,
  KNOWN_HOSTS_ENV,
  knownHostsSchema,
} from '../../../lib/contracts';
import { InputRefusedError } from './errors';
import type { LogUrlInputs } from './log';

/**
 * The runner's inputs, all from the environment (docs/workflow-contract.md, "Runner"): the task
 * definition sets DR_MODE, DR_ALLOWLIST and storage (`runnerTaskEnv` writes them); each run's
 * container overrides set the rest (`runnerRunEnv`). `parseRunnerEnv` reads both.
 */

const allowlistJson = jsonText('DR_ALLOWLIST is required: the allowlist as JSON');

/** An execution name, usable as a path segment of artifact keys. */
export const RUN_ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,79}$/;

const required = (name: string) => z.string({ error: `${name} is required` }).min(1);
const optional = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

const baseSchema = z.object({
  // `list` (a drift glob's paths) is set by the list state's overrides on the plan task definition.
  DR_MODE: z.enum(['plan', 'apply', 'list'], {
    error: 'DR_MODE must be "plan", "apply" or "list"',
  }),
  DR_ALLOWLIST: allowlistJson.pipe(allowlistSchema),
  DR_REPO: required('DR_REPO'),
  DR_REF: required('DR_REF'),
  DR_PATH: required('DR_PATH'),
  DR_RUN_ID: required('DR_RUN_ID').regex(RUN_ID, {
    error: 'DR_RUN_ID must be an execution name: 1-80 letters, digits, "_", "-" or "."',
  }),
  DR_EXECUTION_ARN: required('DR_EXECUTION_ARN'),
  // Absent in task definitions of older versions: a run that may apply, the stricter reading.
  DR_REQUEST_MODE: z
    .enum(['apply', 'plan-only'], { error: 'DR_REQUEST_MODE must be "apply" or "plan-only"' })
    .default('apply'),
  DR_COMMIT: optional,
  DR_PLAN_KEY: optional,
  DR_PLAN_VERSION_ID: optional,
  DR_PLAN_SHA256: optional,
  DR_TOOL_PATH: optional,
  DR_WORK_DIR: optional,
  DR_LOG_GROUP: optional,
  DR_LOG_URL: optional,
  ECS_CONTAINER_METADATA_URI_V4: optional,
  AWS_REGION: optional,
  GIT_TOKEN: optional,
  GIT_SSH_KEY: optional,
  /** KNOWN_HOSTS_ENV: the host keys SSH clones trust. */
  DR_GIT_KNOWN_HOSTS: knownHostsSchema.optional(),
});

/** What apply needs beyond plan: the approved plan version, its checksum and the commit. */
export interface ApplyInputs {
  readonly commit: string;
  readonly planKey: string;
  readonly planVersionId: string;
  readonly planSha256: string;
}

export interface RunnerEnv {
  /** `list`: list the directories a drift glob (`path`) matches at the ref (containers/runner/src/list.ts). */
  readonly mode: 'plan' | 'apply' | 'list';
  /** The run's request mode (`$.request.mode`): a plan-only run never applies. */
  readonly requestMode: 'apply' | 'plan-only';
  readonly allowlist: Allowlist;
  readonly repo: string;
  readonly ref: string;
  readonly path: string;
  readonly runId: string;
  readonly executionArn: string;
  /** Set when mode is apply. */
  readonly apply?: ApplyInputs;
  readonly artifacts: ArtifactLocation;
  /** Overrides the binary (local mode, tests: the simulator). */
  readonly toolPath?: string;
  /** Where to check out and keep the plan file; default a fresh temporary folder. */
  readonly workDir?: string;
  readonly log: LogUrlInputs;
  readonly gitToken?: string;
  readonly gitSshKey?: string;
  /** known_hosts lines that SSH clones verify the server against (config `git.knownHosts`). */
  readonly gitKnownHosts?: string;
}

/** Parses the environment; throws InputRefusedError listing every problem. */
export function parseRunnerEnv(env: NodeJS.ProcessEnv): RunnerEnv {
  const parsed = baseSchema.safeParse(env);
  const problems = parsed.success ? [] : describeIssues(parsed.error, redacted(env));
  const artifacts = artifactLocationFromEnv(env);
  if (!artifacts)
    problems.push(
      'DR_ARTIFACT_BUCKET (in AWS) or DR_ARTIFACT_DIR (local mode) must say where artifacts go',
    );
  let apply: ApplyInputs | undefined;
  if (parsed.success && parsed.data.DR_MODE === 'apply') {
    const d = parsed.data;
    const missing = (
      ['DR_COMMIT', 'DR_PLAN_KEY', 'DR_PLAN_VERSION_ID', 'DR_PLAN_SHA256'] as const
    ).filter((k) => d[k] === undefined);
    for (const k of missing) problems.push(`${k}: missing: apply needs it`);
    if (missing.length === 0)
      apply = {
        commit: d.DR_COMMIT as string,
        planKey: d.DR_PLAN_KEY as string,
        planVersionId: d.DR_PLAN_VERSION_ID as string,
        planSha256: d.DR_PLAN_SHA256 as string,
      };
  }
  if (!parsed.success || !artifacts || problems.length > 0) {
    throw new InputRefusedError(
      'validate',
      `the runner's environment is invalid:\n${problems.map((p) => `      - ${p}`).join('\n')}`,
      'fix the task definition or the container overrides (see docs/workflow-contract.md, "Runner")',
    );
  }
  const d = parsed.data;
  return {
    mode: d.DR_MODE,
    requestMode: d.DR_REQUEST_MODE,
    allowlist: d.DR_ALLOWLIST as Allowlist,
    repo: d.DR_REPO,
    ref: d.DR_REF,
    path: d.DR_PATH,
    runId: d.DR_RUN_ID,
    executionArn: d.DR_EXECUTION_ARN,
    apply,
    artifacts,
    toolPath: d.DR_TOOL_PATH,
    workDir: d.DR_WORK_DIR,
    log: {
      logGroup: d.DR_LOG_GROUP,
      region: d.AWS_REGION,
      metadataUri: d.ECS_CONTAINER_METADATA_URI_V4,
      localLogUrl: d.DR_LOG_URL,
    },
    gitToken: d.GIT_TOKEN,
    gitSshKey: d.GIT_SSH_KEY,
    gitKnownHosts: d.DR_GIT_KNOWN_HOSTS || undefined,
  };
}

/** Problems quote values; secrets never reach a message. */
function redacted(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { GIT_TOKEN: _t, GIT_SSH_KEY: _k, ...rest } = env;
  return rest;
}

/**
 * The task definition's part of the environment (lib/constructs/runner-tasks.ts): not secret,
 * what may run and where artifacts and logs go. Git credentials arrive as ECS secrets only.
 */
export interface RunnerTaskSettings {
  readonly mode: 'plan' | 'apply';
  readonly allowlist: Allowlist;
  /** known_hosts lines (config `git.knownHosts`). @default - none */
  readonly gitKnownHosts?: readonly string[];
  readonly artifacts: ArtifactLocation;
  readonly logGroup: string;
}

/** Writes the task definition's environment as `parseRunnerEnv` reads it. */
export function runnerTaskEnv(settings: RunnerTaskSettings): Record<string, string> {
  const hosts = settings.gitKnownHosts ?? [];
  return {
    DR_MODE: settings.mode,
    DR_ALLOWLIST: JSON.stringify(settings.allowlist),
    ...(hosts.length > 0 ? { [KNOWN_HOSTS_ENV]: hosts.join('\n') } : {}),
    ...artifactLocationToEnv(settings.artifacts),
    DR_LOG_GROUP: settings.logGroup,
  };
}

/**
 * One run's inputs, as a `Plan` or `Apply` state's container overrides set them
 * (lib/constructs/workflow.ts). Values are JSONPath references to the state there.
 */
export interface RunnerRunSettings {
  /** List a drift glob's paths instead of planning (only on the plan task definition). */
  readonly list?: boolean;
  readonly requestMode: string;
  readonly repo: string;
  readonly ref: string;
  readonly path: string;
  readonly runId: string;
  readonly executionArn: string;
  /** Apply only: the approved plan's commit, key, version and SHA-256. */
  readonly apply?: { readonly [K in keyof ApplyInputs]: string };
}

/** Writes a run's container overrides as `parseRunnerEnv` reads them. */
export function runnerRunEnv(settings: RunnerRunSettings): Record<string, string> {
  return {
    ...(settings.list && { DR_MODE: 'list' }),
    DR_REQUEST_MODE: settings.requestMode,
    DR_REPO: settings.repo,
    DR_REF: settings.ref,
    DR_PATH: settings.path,
    DR_RUN_ID: settings.runId,
    DR_EXECUTION_ARN: settings.executionArn,
    ...(settings.apply && {
      DR_COMMIT: settings.apply.commit,
      DR_PLAN_KEY: settings.apply.planKey,
      DR_PLAN_VERSION_ID: settings.apply.planVersionId,
      DR_PLAN_SHA256: settings.apply.planSha256,
    }),
  };
}

/** Local mode's own variables (lib/local/task-runtime.ts, lib/local/runner-watchdog.cjs). */
const LOCAL_ONLY_ENV = ['DR_LOCAL_TASK_FILE', 'DR_LOCAL_LOG_FILE'];

/** `DR_*` variables of an environment that the runner does not read: a name written on one side only. */
export function unknownRunnerEnv(env: Readonly<Record<string, string | undefined>>): string[] {
  const known = new Set<string>([
    ...Object.keys(baseSchema.shape),
    ...Object.values(ARTIFACT_ENV),
    ...LOCAL_ONLY_ENV,
  ]);
  return Object.keys(env).filter((name) => name.startsWith('DR_') && !known.has(name));
}
