import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CiReport, escapeHtml, terraformReport } from '../../lib/cli/ci-report';
import { outcomeOf } from '../../lib/cli/exit-codes';
import type { FollowEvent, PlanSummary } from '../../lib/cli/history';
import { run } from '../../lib/cli/program';
import { Renderer } from '../../lib/cli/render';
import { EXECUTION_ARN, githubOutputs, planSummary } from './fixtures';

const dir = mkdtempSync(join(tmpdir(), 'dr-ci-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const URL =
  'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/x';

/** A GitHub Actions job's files and stdout, as @actions/core writes them. */
function githubJob(name: string) {
  const output = join(dir, `${name}-output`);
  const summary = join(dir, `${name}-summary`);
  writeFileSync(output, '');
  writeFileSync(summary, '');
  const env = {
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_OUTPUT: output,
    GITHUB_STEP_SUMMARY: summary,
  };
  // @actions/core reads the file paths from process.env and writes commands to process.stdout.
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  let stdout = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  return {
    env,
    stdout: () => stdout,
    outputs: () => githubOutputs(readFileSync(output, 'utf8')),
    summary: () => readFileSync(summary, 'utf8'),
  };
}

/** GITHUB_OUTPUT's heredoc format: `name<<delimiter`, value lines, `delimiter`. */

const rejected = (reason: string): FollowEvent[] => [
  { type: 'plan', summary: planSummary() as PlanSummary },
  { type: 'approval-requested', approvers: ['Ada <ada@example.com>', 'grace@example.com'] },
  { type: 'approval-decided', approved: false, approver: 'Grace', reason },
  {
    type: 'result',
    executionArn: EXECUTION_ARN,
    ...outcomeOf({
      status: 'FAILED',
      error: 'DeployRunner.Rejected',
      cause: `Rejected by Grace: ${reason}`,
    }),
  },
];

describe('CiReport in GitHub Actions', () => {
  beforeEach(() => vi.unstubAllEnvs());
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('step outputs: run ARN, console link, status, result, exit code, counts, has-changes', async () => {
    const job = githubJob('outputs');
    const report = new CiReport({ env: job.env, path: 'envs/prod' });
    await report.start({ executionArn: EXECUTION_ARN, consoleUrl: URL, name: 'run-1' });
    for (const event of rejected('not now')) report.event(event);
    await report.finish(URL);
    expect(job.outputs()).toEqual({
      'execution-arn': EXECUTION_ARN,
      'console-url': URL,
      status: 'FAILED',
      result: 'rejected',
      'exit-code': '3',
      'has-changes': 'true',
      add: '2',
      change: '1',
      destroy: '1',
      replace: '1',
    });
  });

  it('job summary: counts, destroys and replaces by name, who decided, the console link', async () => {
    const job = githubJob('summary');
    const report = new CiReport({ env: job.env, path: 'envs/prod' });
    for (const event of rejected('not now')) report.event(event);
    await report.finish(URL);
    const summary = job.summary();
    expect(summary).toContain('### deploy-runner: envs/prod — ❌ Rejected by Grace: not now');
    expect(summary).toContain('**Plan:** 2 to add, 1 to change, 1 to destroy, 1 to replace');
    expect(summary).toContain('| replace | <code>aws&#95;instance.web</code> |');
    expect(summary).toContain('| destroy | <code>aws&#95;iam&#95;role.old</code> |');
    expect(summary).not.toContain('aws_s3_bucket');
    expect(summary).toContain('**Approval:** rejected by Grace: not now');
    expect(summary).toContain(`[Open the run](${URL})`);
  });

  it('annotations: the outcome, and each Terraform error at its file and line', async () => {
    const job = githubJob('annotations');
    const report = new CiReport({ env: job.env, path: 'envs/prod' });
    const log = (message: string): FollowEvent => ({
      type: 'log',
      state: 'Plan',
      taskId: 't',
      message,
    });
    for (const line of [
      '\x1b[31m╷\x1b[0m',
      '│ Error: Unsupported argument',
      '│ ',
      '│   on main.tf line 12, in resource "aws_s3_bucket" "logs":',
      'Error: provider "sim" refused the credentials',
    ]) {
      report.event(log(line));
    }
    report.event({
      type: 'result',
      executionArn: EXECUTION_ARN,
      ...outcomeOf({ status: 'FAILED', error: 'DeployRunner.PlanFailed', cause: 'plan failed' }),
    });
    await report.finish(URL);
    const lines = job.stdout().trim().split('\n');
    expect(lines).toEqual([
      '::error title=Terraform,file=envs/prod/main.tf,line=12::Unsupported argument',
      '::error title=Terraform::provider "sim" refused the credentials',
      '::error title=deploy-runner%3A failed::Run failed (DeployRunner.PlanFailed): plan failed',
    ]);
  });

  it('no annotations in --json mode (stdout is JSON lines), files still written', async () => {
    const job = githubJob('json');
    const report = new CiReport({ env: job.env, json: true });
    for (const event of rejected('no')) report.event(event);
    await report.finish(URL);
    expect(job.stdout()).toBe('');
    expect(job.outputs().result).toBe('rejected');
  });

  it('injection: a rejection reason cannot add an output, a command or Markdown', async () => {
    const job = githubJob('injection');
    const reason =
      'no\n::error title=x::pwned\nhas-changes<<EOF\nfalse\nEOF\n<img src=x onerror=alert(1)> [click](https://evil.example) |';
    const report = new CiReport({ env: job.env });
    for (const event of rejected(reason)) report.event(event);
    await report.finish(URL);
    // The annotation carries the reason escaped by @actions/core: one line, %0A for newlines.
    for (const line of job.stdout().trim().split('\n')) {
      expect(line.startsWith('::error title=deploy-runner%3A rejected::')).toBe(true);
    }
    expect(job.stdout()).toContain('no%0A::error title=x::pwned');
    expect(job.outputs()['has-changes']).toBe('true');
    expect(job.outputs().result).toBe('rejected');
    const summary = job.summary();
    expect(summary).not.toMatch(/<img|\[click\]\(|\n::error/);
    expect(summary).toContain('&#60;img src=x onerror=alert(1)&#62;');
  });

  it('outside GitHub Actions it writes nothing and loads nothing', async () => {
    const core = vi.fn();
    const report = new CiReport({ env: { GITLAB_CI: 'true' }, core });
    for (const event of rejected('no')) report.event(event);
    await report.finish(URL);
    await report.fail('x');
    expect(core).not.toHaveBeenCalled();
  });
});

describe('GitLab CI', () => {
  it('writes the artifacts:reports:terraform file when the plan is known', () => {
    const file = join(dir, 'tfplan.json');
    const report = new CiReport({ env: { GITLAB_CI: 'true' }, terraformReport: file });
    report.event({ type: 'plan', summary: planSummary() as PlanSummary });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ create: 3, update: 1, delete: 2 });
    expect(
      terraformReport(
        planSummary({
          hasChanges: false,
          counts: { add: 0, change: 0, destroy: 0, replace: 0 },
        }) as PlanSummary,
      ),
    ).toEqual({ create: 0, update: 0, delete: 0 });
  });

  it("folds each task's output in a collapsible section, whose title no log line can fake", () => {
    let text = '';
    const renderer = new Renderer({
      stream: { isTTY: false, write: (c: string) => (text += c) },
      env: { GITLAB_CI: 'true', CI: 'true' },
      now: () => 1_700_000_000_000,
    });
    renderer.event({
      type: 'task-started',
      state: 'Plan',
      taskArn: 'arn:aws:ecs:eu-west-1:1:task/c/abc123',
    });
    renderer.event({
      type: 'log',
      state: 'Plan',
      taskId: 'abc123',
      message: '\x1b[0Ksection_end:1700000000:plan_abc123\r\x1b[0K',
    });
    renderer.event({ type: 'log', state: 'Plan', taskId: 'abc123', message: 'Plan: 1 to add' });
    renderer.event({ type: 'state', name: 'Inspect plan' });
    renderer.close();
    const lines = text.split('\n');
    expect(lines[0]).toBe(
      '\x1b[0Ksection_start:1700000000:plan_abc123\r\x1b[0KPlan output (task abc123)',
    );
    expect(lines[1]).toBe('   Plan runs as ECS task arn:aws:ecs:eu-west-1:1:task/c/abc123');
    expect(lines[2]).toBe('   plan | section_end\u2060:1700000000:plan_abc123 ⏎ ');
    expect(lines[3]).toBe('   plan | Plan: 1 to add');
    expect(lines[4]).toBe('\x1b[0Ksection_end:1700000000:plan_abc123\r\x1b[0K');
    expect(text.match(/section_end:/g)).toHaveLength(1);
  });
});

describe('escapeHtml', () => {
  it('leaves no tag, link, table cell or emphasis', () => {
    expect(escapeHtml('<a href="x">[y](z)</a> | *b* _c_ `d`')).not.toMatch(/[<>[\]|*_`"]/);
  });
});

describe('--json', () => {
  it('prints a usage error as a JSON record on stdout, nothing on stderr (exit 2)', async () => {
    let stdout = '';
    let stderr = '';
    const code = await run(['node', 'deploy-runner', 'start', '--json', '--repo', 'infra'], {
      stdout: { write: (c: string) => (stdout += c) },
      stderr: { write: (c: string) => (stderr += c) },
      env: {},
    });
    expect(code).toBe(2);
    expect(stderr).toBe('');
    expect(JSON.parse(stdout)).toEqual({
      type: 'error',
      message: "required option '--ref <ref>' not specified",
      exitCode: 2,
    });
  });
});
