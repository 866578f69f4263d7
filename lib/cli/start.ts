import { execFileSync } from 'node:child_process';
import {
  DescribeExecutionCommand,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { describeIssues } from '../config-errors';
import {
  type ExecutionInput,
  executionInputSchema,
  executionName,
  startedInputSchema,
} from '../contracts';
import { type CiContext, manualRunId } from './ci-env';
import { executionArnFor } from './console-url';
import { CliError, ExitCode, errorFields } from './exit-codes';
import { parseJson } from './history';
import type { ApiPacer } from './pacer';

/** What `deploy-runner start` was asked to run. */
export interface StartRequest {
  readonly repo: string;
  readonly ref: string;
  readonly path: string;
  readonly planOnly?: boolean;
  /** Overrides the CI run ID (e.g. to start a fresh run from a re-run job). @default - from CI */
  readonly runId?: string;
}

/** Where the facts of a start come from besides the flags; injectable for tests. */
export interface StartEnvironment {
  readonly ci: CiContext;
  /** Who runs the CLI outside CI (git's user.email or the OS user). */
  readonly localUser: () => string | undefined;
  readonly now: () => Date;
}

const COMMIT = /^[0-9a-f]{40}$/i;

/**
 * The commit the execution name shows: the ref itself when it is a commit (exactly what runs),
 * else the CI job's commit, else the ref (a branch name). Never the working directory's HEAD:
 * on a laptop that is whatever is checked out, not the commit the runner will plan.
 */
export function resolveSha(ref: string, environment: Pick<StartEnvironment, 'ci'>) {
  if (COMMIT.test(ref)) return ref.toLowerCase();
  return environment.ci.sha ?? ref;
}

/**
 * Builds the execution input and the deterministic execution name. The same CI run, repo,
 * path and commit always give the same name and input, which is what lets a retried job
 * attach to the run it already started.
 */
export function planStart(
  request: StartRequest,
  environment: StartEnvironment,
): { input: ExecutionInput; name: string } {
  const { ci } = environment;
  const requestedBy = ci.requestedBy ?? (ci.system ? undefined : environment.localUser());
  const candidate: Record<string, unknown> = {
    repo: request.repo,
    ref: request.ref,
    path: request.path,
    mode: request.planOnly ? 'plan-only' : 'apply',
  };
  if (requestedBy) candidate.requestedBy = requestedBy.slice(0, 256);
  if (ci.ciRunUrl && /^https?:\/\//.test(ci.ciRunUrl)) candidate.ciRunUrl = ci.ciRunUrl;
  const parsed = executionInputSchema.safeParse(candidate);
  if (!parsed.success) {
    throw new CliError(
      `The run request is invalid:\n${describeIssues(parsed.error, candidate)
        .map((line) => `  - ${line}`)
        .join('\n')}`,
      ExitCode.Usage,
    );
  }
  const input: ExecutionInput = parsed.data;
  const ciRunId = request.runId ?? ci.ciRunId ?? manualRunId(environment.now());
  const name = executionName({
    repo: request.repo,
    path: request.path,
    sha: resolveSha(request.ref, environment),
    ciRunId,
  });
  return { input, name };
}

/** The result of a start. */
export interface Started {
  readonly executionArn: string;
  readonly name: string;
  readonly startDate?: Date;
  /** True when the run already existed (a retried CI job) and the CLI attached to it. */
  readonly attached: boolean;
  /** Set when attaching: fields the existing run was started with that differ from ours. */
  readonly differences?: readonly string[];
}

/** What starting (or attaching to) a run needs. */
export interface StartOptions {
  readonly sfn: SFNClient;
  readonly pacer: ApiPacer;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: ExecutionInput;
}

/**
 * Starts the execution. StartExecution is idempotent for a running execution with the same name
 * and input; for a finished one, or one whose requestedBy/ciRunUrl differ (a retry by someone
 * else), it fails with ExecutionAlreadyExists, and the CLI attaches if the run is for the same
 * repo, ref, path and mode.
 */
export async function startExecution(options: StartOptions): Promise<Started> {
  const { sfn, pacer, stateMachineArn, name, input } = options;
  try {
    const response = await pacer.call('StartExecution', () =>
      sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) })),
    );
    if (!response.executionArn) throw new Error('StartExecution returned no executionArn');
    return {
      executionArn: response.executionArn,
      name,
      startDate: response.startDate,
      attached: false,
    };
  } catch (error) {
    const errorName = errorFields(error).name;
    if (errorName === 'ExecutionAlreadyExists') {
      return attach({ sfn, pacer, stateMachineArn, name, input });
    }
    if (errorName === 'StateMachineDoesNotExist' || errorName === 'InvalidArn') {
      throw new CliError(
        `State machine ${stateMachineArn} does not exist (${errorName}): check --state-machine-arn or DEPLOY_RUNNER_STATE_MACHINE_ARN (stack output StateMachineArn) and --region.`,
        ExitCode.Usage,
        { cause: error },
      );
    }
    if (errorName === 'ExecutionLimitExceeded') {
      throw new CliError(
        'Step Functions refused the run: too many open executions in this account (ExecutionLimitExceeded). Try again later.',
        ExitCode.RunFailed,
        { cause: error },
      );
    }
    throw error;
  }
}

const CORE_FIELDS = ['repo', 'ref', 'path', 'mode'] as const;

async function attach(options: StartOptions): Promise<Started> {
  const { sfn, pacer, stateMachineArn, name, input } = options;
  const executionArn = executionArnFor(stateMachineArn, name);
  const existing = await pacer.call('DescribeExecution', () =>
    sfn.send(new DescribeExecutionCommand({ executionArn })),
  );
  // Another version may have started it: compare field by field whatever the rest holds.
  const started = startedInputSchema.safeParse(parseJson(existing.input));
  const theirs = started.success ? started.data : {};
  const ours: Record<string, unknown> = { mode: 'apply', ...input };
  const withMode: Record<string, unknown> = { mode: 'apply', ...theirs };
  const conflicts = CORE_FIELDS.filter((field) => withMode[field] !== ours[field]);
  if (conflicts.length > 0) {
    const detail = conflicts
      .map(
        (f) =>
          `${f}: existing run has ${JSON.stringify(withMode[f])}, this start asks for ${JSON.stringify(ours[f])}`,
      )
      .join('; ');
    throw new CliError(
      `An execution named ${name} already exists for a different request (${detail}). The name comes from repo, path, commit and CI run ID: start a new CI run, or pass --run-id to name a new run.`,
      ExitCode.Usage,
    );
  }
  const differences = (['requestedBy', 'ciRunUrl'] as const).filter(
    (field) => theirs[field] !== ours[field],
  );
  return {
    executionArn: existing.executionArn ?? executionArn,
    name,
    startDate: existing.startDate,
    attached: true,
    differences,
  };
}

/** git's user.email, else the OS user: who started a run from a laptop. */
export function localUser(env: Readonly<Record<string, string | undefined>>): string | undefined {
  return git(['config', 'user.email']) ?? env.USER ?? env.USERNAME ?? undefined;
}

function git(args: string[], cwd = process.cwd()): string | undefined {
  try {
    const out = execFileSync('git', args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    }).trim();
    return out || undefined;
  } catch {
    return undefined;
  }
}
