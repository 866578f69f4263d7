import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DescribeExecutionCommand, ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_LOG_GROUP } from '../../lib/local/log-service';
import { ciBundle, decideAs, removeTempDirs, tempDir } from '../e2e/cli-helpers';
import { type Harness, resources, startHarness } from '../e2e/harness';
import {
  circleJobs,
  fakeSts,
  gitlabJobs,
  jenkinsPipeline,
  jobSandbox,
  releaseServer,
  runShell,
  runSteps,
  type ShellResult,
  type Vars,
} from './ci-sim';

/**
 * The GitLab CI, Jenkins and CircleCI examples, run as written (test/examples/ci-sim.ts reads
 * them and runs their shell lines the way each CI would) against a local-mode server: the CLI is
 * downloaded from a release server and checked against its SHA-256, takes the CI's OIDC token to
 * (a simulated) STS, starts the run and follows it. What a team fills in stays outside the
 * files, as in a real project: the release URL and checksum of their build, the stack outputs,
 * and, for local mode, DEPLOY_RUNNER_ENDPOINT and AWS_ENDPOINT_URL_STS.
 */

const ROOT = join(__dirname, '..', '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const ROLE = 'arn:aws:iam::123456789012:role/deploy-runner-ci';
const OIDC_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzaW11bGF0ZWQifQ.c2ln';

let release: Awaited<ReturnType<typeof releaseServer>>;
let sts: Awaited<ReturnType<typeof fakeSts>>;
let bundle: Promise<string>;
let jobs: string;

beforeAll(async () => {
  bundle = ciBundle();
  [release, sts] = await Promise.all([bundle.then(releaseServer), fakeSts()]);
  jobs = tempDir('dr-ci-jobs-');
});
afterAll(async () => {
  await Promise.all([release?.close(), sts?.close()]);
  removeTempDirs();
});

/** Eagerly started work whose result a test awaits later (no unhandled rejection meanwhile). */
function eager<T>(work: () => Promise<T>): Promise<T> {
  const promise = work();
  promise.catch(() => {});
  return promise;
}

/**
 * One local-mode server per CI, so each CI's merge request plan and default-branch apply run
 * at the same time on the same commit, as a team's pipelines would, without another CI's apply
 * holding the lock of envs/prod. Returns the harness and the commit.
 */
async function ciHarness(): Promise<{ h: Harness; sha: string }> {
  const h = await startHarness();
  const sha = h.repo.commit({
    'envs/staging': { resources: resources('queue') },
    'envs/prod': { resources: resources('bucket', 'topic') },
  });
  return { h, sha };
}

/** What every job's machine has. */
const machine = (dir: string): Vars => ({
  PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
  HOME: dir,
  // The examples' images run Node 24; this machine's Node makes the SDK warn.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
});
/** The project's settings (CI/CD variables, global environment), pointed at local mode. */
const project = (h: Harness, over: Vars = {}): Vars => ({
  DEPLOY_RUNNER_STATE_MACHINE_ARN: h.server.stateMachineArn,
  DEPLOY_RUNNER_LOG_GROUP: LOCAL_LOG_GROUP,
  AWS_REGION: 'us-east-1',
  DEPLOY_RUNNER_CLI_URL: release.url,
  DEPLOY_RUNNER_CLI_SHA256: release.sha256,
  // Local mode instead of AWS: Step Functions and STS.
  DEPLOY_RUNNER_ENDPOINT: h.server.url,
  AWS_ENDPOINT_URL_STS: sts.url,
  // Its server has no API quota: the jobs see a decision within a second, not 20-30 s later.
  DEPLOY_RUNNER_APPROVAL_POLL: '1',
  ...over,
});

/** The executions whose name contains `fragment`, with their input. */
async function executions(h: Harness, fragment: string) {
  const list = await h.sfn.send(
    new ListExecutionsCommand({ stateMachineArn: h.server.stateMachineArn }),
  );
  return Promise.all(
    (list.executions ?? [])
      .filter((e) => e.name?.includes(fragment))
      .map(async (e) => {
        const out = await h.sfn.send(
          new DescribeExecutionCommand({ executionArn: e.executionArn }),
        );
        return { name: e.name as string, status: out.status, input: JSON.parse(out.input ?? '{}') };
      }),
  );
}

/** Approves the run whose execution name contains `fragment` once its approval emails are out. */
const approve = (h: Harness, fragment: string) =>
  decideAs(h, fragment, 'ada@example.com', 'approve');

const expectOk = (result: ShellResult) => {
  if (result.code !== 0) throw new Error(`exit ${result.code}\n${result.stdout}\n${result.stderr}`);
};

describe('GitLab CI example (examples/gitlab-ci/.gitlab-ci.yml) against local mode', {
  timeout: 90_000,
}, () => {
  let h: Harness;
  let sha: string;
  const gitlab = (pipeline: Vars, over: Vars = {}) =>
    gitlabJobs(
      read('examples/gitlab-ci/.gitlab-ci.yml'),
      {
        CI: 'true',
        GITLAB_CI: 'true',
        CI_DEFAULT_BRANCH: 'main',
        CI_PROJECT_PATH: 'acme/infra',
        CI_SERVER_URL: 'https://gitlab.example',
        CI_PIPELINE_URL: `https://gitlab.example/acme/infra/-/pipelines/${pipeline.CI_PIPELINE_ID}`,
        CI_COMMIT_SHA: sha,
        GITLAB_USER_EMAIL: 'dora@example.com',
        GITLAB_USER_LOGIN: 'dora',
        ...pipeline,
      },
      { DEPLOY_RUNNER_ROLE_ARN: ROLE, ...project(h, over) },
    );
  type Job = ReturnType<typeof gitlab>[number];
  /** Runs a job as the GitLab runner's bash shell does: `set -eo pipefail`, its own /tmp. */
  const run = async (job: Job) => {
    const box = jobSandbox(jobs, `gitlab-${job.variables.CI_PIPELINE_ID}-${job.name}`);
    const tokens = Object.fromEntries(job.idTokens.map((t) => [t, OIDC_TOKEN]));
    const env = { ...machine(box.dir), ...box.remap({ ...job.variables, ...tokens }) };
    const result = await runShell(
      ['bash', '-eo', 'pipefail', '-c'],
      job.script.join('\n'),
      env,
      box.dir,
    );
    const report = join(box.dir, 'tfplan-report.json');
    return {
      name: job.name,
      result,
      report: existsSync(report) ? JSON.parse(readFileSync(report, 'utf8')) : undefined,
    };
  };
  let scenarios: ReturnType<typeof startScenarios>;
  function startScenarios() {
    const mr = gitlab({
      CI_PIPELINE_ID: '4101',
      CI_PIPELINE_SOURCE: 'merge_request_event',
      CI_MERGE_REQUEST_IID: '7',
      CI_COMMIT_REF_NAME: 'add-topic',
    });
    const main = gitlab({
      CI_PIPELINE_ID: '4102',
      CI_PIPELINE_SOURCE: 'push',
      CI_COMMIT_BRANCH: 'main',
      CI_COMMIT_REF_NAME: 'main',
    });
    const [tampered] = gitlab(
      {
        CI_PIPELINE_ID: '4103',
        CI_PIPELINE_SOURCE: 'merge_request_event',
        CI_MERGE_REQUEST_IID: '8',
      },
      { DEPLOY_RUNNER_CLI_SHA256: createHash('sha256').update('another file').digest('hex') },
    );
    return {
      mrJobs: mr.map((j) => j.name),
      mainJobs: main.map((j) => j.name),
      mr: eager(() => Promise.all(mr.map(run))),
      main: eager(async () => {
        const runs = Promise.all(main.map(run));
        await Promise.all(
          ['envs-staging', 'envs-prod'].map((p) => approve(h, `${p}-${sha.slice(0, 7)}-4102`)),
        );
        return runs;
      }),
      tampered: eager(() => run(tampered as Job)),
    };
  }
  beforeAll(async () => {
    ({ h, sha } = await ciHarness());
    await bundle;
    scenarios = startScenarios();
  });
  afterAll(() => h?.close());

  it('a merge request pipeline plans each root module: sections, the Terraform report, the ID token', async () => {
    expect(scenarios.mrJobs).toEqual(['plan: [envs/staging]', 'plan: [envs/prod]']);
    const jobsRun = await scenarios.mr;
    for (const { result } of jobsRun) {
      expectOk(result);
      expect(result.stdout).toContain('deploy-runner-ci.cjs: OK');
      // The runner's output folds into a collapsible section.
      expect(result.stdout).toMatch(/\x1b\[0Ksection_start:\d+:\w+\r\x1b\[0K/);
      expect(result.stdout).toMatch(/\x1b\[0Ksection_end:\d+:\w+\r\x1b\[0K/);
      expect(result.stdout).toMatch(/^OK .*\(exit 0\)$/m);
    }
    // The merge request widget's counts (artifacts:reports:terraform).
    expect(jobsRun.map((j) => j.report)).toEqual([
      { create: 1, update: 0, delete: 0 },
      { create: 2, update: 0, delete: 0 },
    ]);
    // The job's ID token went to STS for the CI role, under the pipeline's session name.
    expect(sts.calls).toContainEqual(
      expect.objectContaining({
        Action: 'AssumeRoleWithWebIdentity',
        RoleArn: ROLE,
        RoleSessionName: 'deploy-runner-4101',
        WebIdentityToken: OIDC_TOKEN,
      }),
    );
    const started = await executions(h, `-${sha.slice(0, 7)}-4101`);
    expect(started.map((e) => [e.input.path, e.input.mode, e.input.ref]).sort()).toEqual([
      ['envs/prod', 'plan-only', sha],
      ['envs/staging', 'plan-only', sha],
    ]);
    expect(started.every((e) => e.input.requestedBy === 'dora@example.com')).toBe(true);
  });

  it('a default-branch pipeline plans, waits for approval and applies each root module', async () => {
    expect(scenarios.mainJobs).toEqual(['apply: [envs/staging]', 'apply: [envs/prod]']);
    const jobsRun = await scenarios.main;
    for (const { result } of jobsRun) {
      expectOk(result);
      expect(result.stdout).toMatch(/Apply complete!/);
    }
    expect(jobsRun.map((j) => j.report)).toEqual([
      { create: 1, update: 0, delete: 0 },
      { create: 2, update: 0, delete: 0 },
    ]);
  });

  it('a download that does not match the pinned checksum stops the job before the CLI runs', async () => {
    const { result } = await scenarios.tampered;
    expect(result.code).not.toBe(0);
    expect(`${result.stdout}${result.stderr}`).toMatch(/deploy-runner-ci\.cjs: FAILED/);
    expect(await executions(h, '-4103')).toEqual([]);
  });
});

describe('Jenkins example (examples/jenkins/Jenkinsfile) against local mode', {
  timeout: 90_000,
}, () => {
  let h: Harness;
  let sha: string;
  /** A multibranch build: the stages whose `when` holds, each `sh` step as `sh -xe` runs it. */
  const build = async (branch: string, vars: Vars) => {
    const pipeline = jenkinsPipeline(read('examples/jenkins/Jenkinsfile'));
    const box = jobSandbox(jobs, `jenkins-${vars.BUILD_NUMBER}`);
    const stages = pipeline.stages.filter((s) =>
      s.when === undefined
        ? true
        : 'branch' in s.when
          ? s.when.branch === branch
          : vars.CHANGE_ID !== undefined,
    );
    let all: ShellResult = { code: 0, stdout: '', stderr: '' };
    for (const stage of stages) {
      const credentials: Vars = stage.awsCredentials.length
        ? { AWS_ACCESS_KEY_ID: 'AKIASIMULATEDJENKINS', AWS_SECRET_ACCESS_KEY: 'simulated' }
        : {};
      // The Jenkinsfile's environment block names the release; a team sets its own build's.
      const env = {
        ...machine(box.dir),
        ...pipeline.environment,
        ...vars,
        ...project(h),
        ...credentials,
      };
      const result = await runSteps(['sh', '-xe', '-c'], stage.sh, env, box.dir);
      all = {
        code: result.code,
        stdout: all.stdout + result.stdout,
        stderr: all.stderr + result.stderr,
      };
      if (result.code !== 0) break;
    }
    return { stages: stages.map((s) => s.name), result: all };
  };
  const jenkinsVars = (number: string, job: string, extra: Vars): Vars => ({
    JENKINS_URL: 'https://jenkins.example/',
    BUILD_NUMBER: number,
    JOB_NAME: job,
    BUILD_URL: `https://jenkins.example/job/${job}/${number}/`,
    GIT_COMMIT: sha,
    ...extra,
  });
  const runIdOf = (number: string, job: string) =>
    `${number}-${createHash('sha256').update(job).digest('hex').slice(0, 6)}`;
  let pr: ReturnType<typeof build>;
  let main: ReturnType<typeof build>;
  beforeAll(async () => {
    ({ h, sha } = await ciHarness());
    await bundle;
    pr = eager(() =>
      build('PR-9', jenkinsVars('31', 'infra/PR-9', { CHANGE_ID: '9', BRANCH_NAME: 'PR-9' })),
    );
    main = eager(async () => {
      const done = build('main', jenkinsVars('32', 'infra/main', { BRANCH_NAME: 'main' }));
      await approve(h, `envs-prod-${sha.slice(0, 7)}-${runIdOf('32', 'infra/main')}`);
      return done;
    });
  });
  afterAll(() => h?.close());

  it('a pull request build downloads the CLI and plans only', async () => {
    const { stages, result } = await pr;
    expect(stages).toEqual(['Download the CLI', 'Plan (pull request)']);
    expectOk(result);
    expect(result.stdout).toMatch(/^OK .*\(exit 0\)$/m);
    const [run] = await executions(h, runIdOf('31', 'infra/PR-9'));
    expect(run?.input).toMatchObject({
      path: 'envs/prod',
      mode: 'plan-only',
      ref: sha,
      ciRunUrl: 'https://jenkins.example/job/infra/PR-9/31/',
    });
  });

  it('a main build plans, waits for approval and applies', async () => {
    const { stages, result } = await main;
    expect(stages).toEqual(['Download the CLI', 'Plan, approve and apply (main)']);
    expectOk(result);
    expect(result.stdout).toMatch(/Apply complete!/);
  });
});

describe('CircleCI example (examples/circleci/config.yml) against local mode', {
  timeout: 90_000,
}, () => {
  let h: Harness;
  let sha: string;
  /** A pipeline on `branch`: each job's run steps with CircleCI's `/bin/bash -eo pipefail`. */
  const pipeline = (branch: string, workflowId: string) => {
    const selected = circleJobs(read('examples/circleci/config.yml'), branch, {
      // Trigger parameters: the team's own release and its checksum.
      'cli-url': release.url,
      'cli-sha256': release.sha256,
    });
    return selected.map((job) => {
      const box = jobSandbox(jobs, `circleci-${workflowId}-${job.job}`);
      const env: Vars = {
        ...machine(box.dir),
        CI: 'true',
        CIRCLECI: 'true',
        CIRCLE_BRANCH: branch,
        CIRCLE_SHA1: sha,
        CIRCLE_BUILD_NUM: workflowId.slice(0, 2),
        CIRCLE_WORKFLOW_ID: workflowId,
        CIRCLE_USERNAME: 'dora',
        CIRCLE_OIDC_TOKEN_V2: OIDC_TOKEN,
        DEPLOY_RUNNER_ROLE_ARN: ROLE,
        ...project(h),
        ...box.remap(job.environment),
      };
      return {
        workflow: job.workflow,
        tokenFile: env.AWS_WEB_IDENTITY_TOKEN_FILE,
        result: eager(() =>
          runSteps(['bash', '-eo', 'pipefail', '-c'], job.commands, env, box.dir),
        ),
      };
    });
  };
  let branchRun: ReturnType<typeof pipeline>;
  let mainRun: ReturnType<typeof pipeline>;
  let approved: Promise<void>;
  beforeAll(async () => {
    ({ h, sha } = await ciHarness());
    await bundle;
    branchRun = pipeline('add-circleci', '11c1c1c1-0000-4000-8000-000000000001');
    mainRun = pipeline('main', '22c2c2c2-0000-4000-8000-000000000002');
    approved = eager(() => approve(h, `envs-prod-${sha.slice(0, 7)}-22c2c2c2`));
  });
  afterAll(() => h?.close());

  it('a branch pipeline plans only, with the OIDC token exchanged for the role', async () => {
    expect(branchRun.map((j) => j.workflow)).toEqual(['plan']);
    const result = await (branchRun[0]?.result as Promise<ShellResult>);
    expectOk(result);
    expect(result.stdout).toMatch(/^OK .*\(exit 0\)$/m);
    const [run] = await executions(h, '11c1c1c1');
    expect(run?.input).toMatchObject({ path: 'envs/prod', mode: 'plan-only', ref: sha });
    expect(readFileSync(branchRun[0]?.tokenFile as string, 'utf8')).toBe(OIDC_TOKEN);
    expect(sts.calls).toContainEqual(
      expect.objectContaining({
        RoleArn: ROLE,
        RoleSessionName: 'deploy-runner-11',
        WebIdentityToken: OIDC_TOKEN,
      }),
    );
  });

  it('a main pipeline plans, waits for approval and applies', async () => {
    expect(mainRun.map((j) => j.workflow)).toEqual(['deploy']);
    await approved;
    const result = await (mainRun[0]?.result as Promise<ShellResult>);
    expectOk(result);
    expect(result.stdout).toMatch(/Apply complete!/);
  });
});
