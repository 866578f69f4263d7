import { createHash } from 'node:crypto';

/** The CI systems whose variables `deploy-runner start` reads. */
export type CiSystem = 'github-actions' | 'gitlab-ci' | 'jenkins' | 'circleci';

/**
 * What the CI environment says about the job that runs the CLI. Every field is the same on a
 * retry of the job (no attempt numbers, no job IDs), so a retried job sends the same execution
 * input under the same execution name and attaches to the run it already started.
 */
export interface CiContext {
  /** Which CI system, or undefined outside the four known ones. */
  readonly system?: CiSystem;
  /** Who triggered the pipeline (an email where the CI system exposes one). */
  readonly requestedBy?: string;
  /** Link back to the pipeline/workflow run. */
  readonly ciRunUrl?: string;
  /** Identifies the pipeline run, independent of the attempt. */
  readonly ciRunId?: string;
  /** The commit the CI job checked out. */
  readonly sha?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

const nonEmpty = (value: string | undefined) =>
  value !== undefined && value.trim() !== '' ? value.trim() : undefined;

/** A short, stable stand-in for a long name (Jenkins job names may be paths). */
const shortHash = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 6);

/** Reads the CI variables of GitHub Actions, GitLab CI, Jenkins and CircleCI. */
export function detectCi(env: Env): CiContext {
  if (env.GITHUB_ACTIONS === 'true') {
    const server = nonEmpty(env.GITHUB_SERVER_URL) ?? 'https://github.com';
    const repository = nonEmpty(env.GITHUB_REPOSITORY);
    const runId = nonEmpty(env.GITHUB_RUN_ID);
    return {
      system: 'github-actions',
      // GITHUB_ACTOR stays the same on a re-run (GITHUB_TRIGGERING_ACTOR does not).
      requestedBy: nonEmpty(env.GITHUB_ACTOR),
      ciRunUrl: repository && runId ? `${server}/${repository}/actions/runs/${runId}` : undefined,
      ciRunId: runId,
      sha: nonEmpty(env.GITHUB_SHA),
    };
  }
  if (env.GITLAB_CI === 'true') {
    return {
      system: 'gitlab-ci',
      requestedBy: nonEmpty(env.GITLAB_USER_EMAIL) ?? nonEmpty(env.GITLAB_USER_LOGIN),
      // The pipeline, not the job: a retried job gets a new job ID in the same pipeline.
      ciRunUrl: nonEmpty(env.CI_PIPELINE_URL),
      ciRunId: nonEmpty(env.CI_PIPELINE_ID),
      sha: nonEmpty(env.CI_COMMIT_SHA),
    };
  }
  if (nonEmpty(env.JENKINS_URL) && nonEmpty(env.BUILD_NUMBER)) {
    const job = nonEmpty(env.JOB_NAME);
    const build = nonEmpty(env.BUILD_NUMBER);
    return {
      system: 'jenkins',
      // Set by the build-user-vars plugin; Jenkins itself does not say who started a build.
      requestedBy: nonEmpty(env.BUILD_USER_EMAIL) ?? nonEmpty(env.BUILD_USER_ID),
      ciRunUrl: nonEmpty(env.BUILD_URL),
      // Build numbers are per job; the job's hash keeps two jobs' build 7 apart.
      ciRunId: build && job ? `${build}-${shortHash(job)}` : build,
      sha: nonEmpty(env.GIT_COMMIT),
    };
  }
  if (env.CIRCLECI === 'true') {
    const workflow = nonEmpty(env.CIRCLE_WORKFLOW_ID);
    return {
      system: 'circleci',
      requestedBy: nonEmpty(env.CIRCLE_USERNAME),
      ciRunUrl: workflow ? `https://app.circleci.com/pipelines/workflows/${workflow}` : undefined,
      // Dashes dropped: the execution name keeps 24 characters of the run ID.
      ciRunId: workflow?.replace(/-/g, ''),
      sha: nonEmpty(env.CIRCLE_SHA1),
    };
  }
  return {};
}

/** Whether the process runs in any CI system (the conventional `CI` variable, or a known one). */
export function isCi(env: Env): boolean {
  const ci = nonEmpty(env.CI)?.toLowerCase();
  return (ci !== undefined && ci !== 'false' && ci !== '0') || detectCi(env).system !== undefined;
}

/** The run ID used outside CI: a timestamp, so each manual start is a new run. */
export function manualRunId(now: Date): string {
  return `manual-${now
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '')}`;
}
