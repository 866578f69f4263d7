import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateAction, validateWorkflow } from '@action-validator/core';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = join(__dirname, '..', '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

const GITHUB_WORKFLOWS = [
  'examples/github-actions/deploy.yml',
  'examples/github-actions/deploy-with-action.yml',
  '.github/workflows/release-cli.yml',
];
const EXAMPLES = [
  'examples/github-actions/deploy.yml',
  'examples/github-actions/deploy-with-action.yml',
  'examples/gitlab-ci/.gitlab-ci.yml',
  'examples/jenkins/Jenkinsfile',
  'examples/circleci/config.yml',
];

/** Every `uses:` of a workflow's steps. */
function usesOf(workflow: { jobs: Record<string, { steps?: { uses?: string }[] }> }): string[] {
  return Object.values(workflow.jobs).flatMap((job) =>
    (job.steps ?? []).flatMap((step) => (step.uses ? [step.uses] : [])),
  );
}

describe('CI examples', () => {
  it.each(GITHUB_WORKFLOWS)('%s is a valid GitHub workflow (action-validator)', (file) => {
    expect(validateWorkflow(read(file)).errors).toEqual([]);
  });

  it('action.yml is a valid action, and a node24 JavaScript action', () => {
    const action = parse(read('action.yml'));
    expect(action.runs).toEqual({ using: 'node24', main: 'action/main.js' });
    // action-validator 0.6.0's schema lists runtimes up to node20; the rest it checks as is.
    const asNode20 = read('action.yml').replace('using: node24', 'using: node20');
    expect(validateAction(asNode20).errors).toEqual([]);
    // A schema error is caught: the validator is not a no-op.
    expect(validateAction(asNode20.replace('main:', 'mian:')).errors).not.toEqual([]);
  });

  it.each(GITHUB_WORKFLOWS)('%s pins every action by a full commit SHA', (file) => {
    const uses = usesOf(parse(read(file)));
    expect(uses.length).toBeGreaterThan(0);
    for (const ref of uses) expect(ref).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
    // ...with the version it stands for beside it.
    for (const line of read(file)
      .split('\n')
      .filter((l) => /\buses:/.test(l))) {
      expect(line).toMatch(/@[0-9a-f]{40} # (v|cli-v)\d+\.\d+\.\d+$/);
    }
  });

  it.each(GITHUB_WORKFLOWS.slice(0, 2))(
    '%s plans the PR head commit in a per-PR concurrency group',
    (file) => {
      const workflow = parse(read(file));
      const job = workflow.jobs.deploy;
      expect(job.concurrency.group).toContain('github.event.pull_request.number');
      expect(job.concurrency['cancel-in-progress']).toBe(
        `\${{ github.event_name == 'pull_request' }}`,
      );
      expect(read(file)).toContain('github.event.pull_request.head.sha || github.sha');
      expect(read(file)).not.toMatch(/head_ref|github\.ref_name/);
    },
  );

  it.each(EXAMPLES)('%s runs a pinned, checksum-verified CLI, never npx', (file) => {
    // Comments may warn against npx; what runs may not use it.
    const text = read(file)
      .split('\n')
      .filter((l) => !/^\s*(#|\/\/)/.test(l))
      .join('\n');
    expect(text).not.toMatch(/\bnpx\b|npm (i|install|ci)\b/);
    if (file.endsWith('deploy-with-action.yml')) return; // the action checks its own bundle
    expect(text).toMatch(/releases\/download\/v\d+\.\d+\.\d+\/deploy-runner-ci\.cjs/);
    expect(text).toMatch(/[0-9a-f]{64}/);
    expect(text).toMatch(/sha256sum (--check|-c) --strict/);
    // The checksum is checked before the CLI first runs.
    expect(text.search(/sha256sum/)).toBeLessThan(text.search(/node deploy-runner-ci\.cjs/));
  });

  it('GitLab: resource groups, an environment, time limits and the Terraform report artifact', () => {
    const ci = parse(read('examples/gitlab-ci/.gitlab-ci.yml'));
    const base = ci['.deploy-runner'];
    expect(base.artifacts.reports.terraform).toBe('tfplan-report.json');
    for (const job of [ci.plan, ci.apply]) {
      expect(job.extends).toBe('.deploy-runner');
      expect(job.resource_group).toMatch(/\$ROOT_MODULE/);
      expect(job.timeout).toMatch(/^\d+h$/);
      expect(job.script.join('\n')).toContain('--terraform-report tfplan-report.json');
      expect(job.script.join('\n')).toContain('--ref "$CI_COMMIT_SHA"');
    }
    expect(ci.plan.resource_group).toContain('$CI_MERGE_REQUEST_IID');
    expect(ci.apply.environment.name).toBe('$ROOT_MODULE');
    expect(ci.plan.script.join('\n')).toContain('--plan-only');
    expect(ci.apply.script.join('\n')).not.toContain('--plan-only');
    // Keywords GitLab knows for a job; anything else would be read as a hidden key or rejected.
    const known = new Set([
      'stage',
      'image',
      'id_tokens',
      'variables',
      'before_script',
      'parallel',
      'artifacts',
      'extends',
      'timeout',
      'rules',
      'resource_group',
      'script',
      'environment',
    ]);
    for (const job of [base, ci.plan, ci.apply]) {
      for (const key of Object.keys(job)) expect(known).toContain(key);
    }
  });

  it('CircleCI: version 2.1, workflows run defined jobs with declared parameters', () => {
    const config = parse(read('examples/circleci/config.yml'));
    expect(config.version).toBe(2.1);
    const text = read('examples/circleci/config.yml');
    for (const [name, workflow] of Object.entries<{ jobs: Record<string, unknown>[] }>(
      config.workflows,
    )) {
      for (const entry of workflow.jobs) {
        const [job, params] = Object.entries(entry)[0] as [string, Record<string, unknown>];
        expect(config.jobs, name).toHaveProperty(job);
        for (const p of Object.keys(params)) expect(config.jobs[job].parameters).toHaveProperty(p);
      }
    }
    for (const [, p] of text.matchAll(/<< pipeline\.parameters\.([\w-]+) >>/g)) {
      expect(config.parameters).toHaveProperty(p);
    }
    expect(text).toContain('--ref "$CIRCLE_SHA1"');
  });

  it('Jenkins: a declarative pipeline with balanced blocks, plan-only for change requests', () => {
    const text = read('examples/jenkins/Jenkinsfile');
    const code = text.replace(/\/\/.*$/gm, '').replace(/'''[\s\S]*?'''|'[^'\n]*'|"[^"\n]*"/g, "''");
    let depth = 0;
    for (const c of code) {
      if (c === '{') depth++;
      if (c === '}') depth--;
      expect(depth).toBeGreaterThanOrEqual(0);
    }
    expect(depth).toBe(0);
    expect(code.trim()).toMatch(/^pipeline \{[\s\S]*\}$/);
    for (const section of ['agent any', 'options {', 'environment {', 'stages {']) {
      expect(code).toContain(section);
    }
    const planStage = text.slice(text.indexOf("stage('Plan (pull request)')"));
    expect(planStage).toMatch(/when \{ changeRequest\(\) \}[\s\S]*--plan-only/);
  });
});
