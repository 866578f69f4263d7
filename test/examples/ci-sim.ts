import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse } from 'yaml';

/**
 * Just enough of GitLab CI, Jenkins and CircleCI to run the examples as written: each reads the
 * example file, picks the jobs (stages) its CI would run for a pipeline, gives them the variables
 * that CI would, and runs their shell lines with that CI's shell. What the examples need from the
 * outside is simulated too: the release download (an HTTP server on an ephemeral port) and AWS
 * STS, which takes the CI's OIDC token (a fake STS that records what it was sent).
 */

// biome-ignore lint/suspicious/noExplicitAny: CI files are free-form YAML.
type Yaml = any;
export type Vars = Record<string, string>;

export interface ShellResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `script` with `shell` (argv before the script) in `cwd`, with exactly `env`. */
export function runShell(
  shell: readonly string[],
  script: string,
  env: Vars,
  cwd: string,
  timeoutMs = 90_000,
): Promise<ShellResult> {
  return new Promise((resolve, reject) => {
    const [command, ...args] = shell as [string, ...string[]];
    const child = spawn(command, [...args, script], { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs several shell steps in order, stopping at the first that fails (as every CI does). */
export async function runSteps(
  shell: readonly string[],
  scripts: readonly string[],
  env: Vars,
  cwd: string,
): Promise<ShellResult> {
  let stdout = '';
  let stderr = '';
  for (const script of scripts) {
    const step = await runShell(shell, script, env, cwd);
    stdout += step.stdout;
    stderr += step.stderr;
    if (step.code !== 0) return { code: step.code, stdout, stderr };
  }
  return { code: 0, stdout, stderr };
}

/**
 * A job's own filesystem: CI runs each job in a fresh container, so the examples write to fixed
 * paths such as /tmp/aws-web-identity-token. Here each job gets its own directory, and a
 * variable pointing into /tmp points into the job's tmp instead.
 */
export function jobSandbox(root: string, name: string): { dir: string; remap: (v: Vars) => Vars } {
  const dir = join(root, name.replace(/[^A-Za-z0-9_-]+/g, '-'));
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const remap = (vars: Vars) =>
    Object.fromEntries(
      Object.entries(vars).map(([k, v]) => [
        k,
        v.startsWith('/tmp/') ? join(dir, 'tmp', v.slice(5)) : v,
      ]),
    );
  return { dir, remap };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const closeServer = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

/** Serves `file` at a GitHub-release-like path, as the examples' DEPLOY_RUNNER_CLI_URL. */
export async function releaseServer(file: string) {
  const body = readFileSync(file);
  let downloads = 0;
  const server = createServer((req, res) => {
    if (req.url === '/acme/deploy-runner/releases/download/v1.0.0/deploy-runner-ci.cjs') {
      downloads++;
      res.setHeader('content-type', 'application/octet-stream');
      res.end(body);
    } else {
      res.statusCode = 404;
      res.end('not found');
    }
  });
  const origin = await listen(server);
  return {
    url: `${origin}/acme/deploy-runner/releases/download/v1.0.0/deploy-runner-ci.cjs`,
    sha256: createHash('sha256').update(body).digest('hex'),
    downloads: () => downloads,
    close: () => closeServer(server),
  };
}

/**
 * AWS STS's AssumeRoleWithWebIdentity, as the SDK inside the CLI calls it when a job gives it
 * AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (the SDK honours AWS_ENDPOINT_URL_STS). It
 * records each call and answers with short-lived-looking credentials.
 */
export async function fakeSts() {
  const calls: Vars[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      calls.push(form);
      if (form.Action !== 'AssumeRoleWithWebIdentity') {
        res.statusCode = 400;
        res.end();
        return;
      }
      res.setHeader('content-type', 'text/xml');
      res.end(
        `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIASIMULATEDCI0001</AccessKeyId><SecretAccessKey>simulated</SecretAccessKey><SessionToken>simulated</SessionToken><Expiration>${new Date(Date.now() + 3600_000).toISOString()}</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/ci/${form.RoleSessionName}</Arn><AssumedRoleId>AROASIMULATED:${form.RoleSessionName}</AssumedRoleId></AssumedRoleUser></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`,
      );
    });
  });
  const url = await listen(server);
  return { url, calls, close: () => closeServer(server) };
}

/** Expands `$VAR` and `${VAR}` as GitLab and shells do (unknown variables become empty). */
export function expand(value: string, vars: Vars): string {
  return value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string, b: string) => vars[a ?? b] ?? '');
}

// ---------------------------------------------------------------- GitLab CI

const GITLAB_GLOBAL_KEYWORDS = new Set([
  'stages',
  'variables',
  'default',
  'include',
  'workflow',
  'image',
  'services',
  'cache',
  'before_script',
  'after_script',
]);

function deepMerge(base: Yaml, over: Yaml): Yaml {
  if (
    base === null ||
    over === null ||
    typeof base !== 'object' ||
    typeof over !== 'object' ||
    Array.isArray(base) ||
    Array.isArray(over)
  )
    return over;
  const out: Yaml = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? deepMerge(base[k], v) : v;
  return out;
}

/** A `rules:if` expression: `$A == "x"`, `$A != $B`, joined by `&&`. Anything else throws. */
export function gitlabIf(expression: string, vars: Vars): boolean {
  return expression.split('&&').every((clause) => {
    const m = /^\s*\$(\w+)\s*(==|!=)\s*(?:"([^"]*)"|\$(\w+))\s*$/.exec(clause);
    if (!m) throw new Error(`the GitLab simulation cannot evaluate rules:if ${clause}`);
    const left = vars[m[1] as string];
    const right = m[3] !== undefined ? m[3] : vars[m[4] as string];
    return m[2] === '==' ? left === right : left !== right;
  });
}

export interface GitlabJob {
  readonly name: string;
  /** The job's variables as the runner exports them (before id_tokens and /tmp remapping). */
  readonly variables: Vars;
  /** id_tokens the job asks GitLab to sign. */
  readonly idTokens: readonly string[];
  readonly script: readonly string[];
  readonly definition: Yaml;
}

/**
 * The jobs GitLab creates for a pipeline from `.gitlab-ci.yml`: `extends` merged, `rules`
 * evaluated (`changes:` counts as changed), `parallel:matrix` expanded. Variables follow GitLab's
 * precedence: project variables over job variables over global variables over predefined ones.
 */
export function gitlabJobs(text: string, predefined: Vars, project: Vars): GitlabJob[] {
  const doc = parse(text) as Yaml;
  const resolve = (name: string): Yaml => {
    const job = doc[name];
    const bases: string[] = job.extends === undefined ? [] : [job.extends].flat();
    const { extends: _, ...own } = job;
    return deepMerge(
      bases.reduce((acc: Yaml, base) => deepMerge(acc, resolve(base)), {}),
      own,
    );
  };
  const global: Vars = doc.variables ?? {};
  const jobs: GitlabJob[] = [];
  for (const name of Object.keys(doc)) {
    if (name.startsWith('.') || GITLAB_GLOBAL_KEYWORDS.has(name)) continue;
    const job = resolve(name);
    const ruleVars = { ...predefined, ...global, ...project };
    if (job.rules && !job.rules.some((r: Yaml) => r.if === undefined || gitlabIf(r.if, ruleVars)))
      continue;
    const matrix: Vars[] = (job.parallel?.matrix ?? [{}]).flatMap((entry: Yaml) =>
      Object.entries(entry).reduce<Vars[]>(
        (rows, [k, v]) =>
          rows.flatMap((row) => [v].flat().map((x) => ({ ...row, [k]: String(x) }))),
        [{}],
      ),
    );
    for (const cell of matrix) {
      const base = { ...predefined, ...global, ...cell };
      const visible = { ...base, ...project };
      const own = Object.fromEntries(
        Object.entries((job.variables ?? {}) as Vars).map(([k, v]) => [
          k,
          expand(String(v), visible),
        ]),
      );
      const values = Object.values(cell);
      jobs.push({
        name: values.length > 0 ? `${name}: [${values.join(', ')}]` : name,
        variables: { ...base, ...own, ...project },
        idTokens: Object.keys(job.id_tokens ?? {}),
        script: [...(job.before_script ?? []), ...(job.script ?? [])],
        definition: job,
      });
    }
  }
  return jobs;
}

// ---------------------------------------------------------------- Jenkins

export interface JenkinsStage {
  readonly name: string;
  readonly when?: { readonly changeRequest: true } | { readonly branch: string };
  /** credentialsId of each AWS credentials binding around the steps. */
  readonly awsCredentials: readonly string[];
  /** Each `sh` step's script, as Groovy passes it to the shell. */
  readonly sh: readonly string[];
}

/**
 * The parts of a declarative Jenkinsfile the example uses: the `environment` block, and per
 * stage its `when` (changeRequest() or branch '...'), AWS credentials bindings and `sh` steps in
 * single-quoted Groovy strings (no interpolation). A construct it does not know throws.
 */
export function jenkinsPipeline(text: string): { environment: Vars; stages: JenkinsStage[] } {
  const code = text
    .split('\n')
    .filter((l) => !/^\s*\/\//.test(l))
    .join('\n');
  const env = /\n {2}environment \{\n([\s\S]*?)\n {2}\}/.exec(code)?.[1] ?? '';
  const environment: Vars = {};
  for (const line of env.split('\n')) {
    const m = /^\s*(\w+) = '([^'\\]*)'\s*$/.exec(line);
    if (!m) throw new Error(`the Jenkins simulation cannot read environment line ${line}`);
    environment[m[1] as string] = m[2] as string;
  }
  const chunks = code.split(/\bstage\('/).slice(1);
  const stages = chunks.map((chunk): JenkinsStage => {
    const name = chunk.slice(0, chunk.indexOf("'"));
    const whenText = /\bwhen \{([^}]*)\}/.exec(chunk)?.[1]?.trim();
    let when: JenkinsStage['when'];
    if (whenText === 'changeRequest()') when = { changeRequest: true };
    else if (whenText !== undefined) {
      const branch = /^branch '([^']+)'$/.exec(whenText)?.[1];
      if (!branch) throw new Error(`the Jenkins simulation cannot evaluate when { ${whenText} }`);
      when = { branch };
    }
    const awsCredentials = [
      ...chunk.matchAll(
        /\$class: 'AmazonWebServicesCredentialsBinding', credentialsId: '([^']+)'/g,
      ),
    ].map((m) => m[1] as string);
    const sh = [...chunk.matchAll(/\bsh '''([\s\S]*?)'''|\bsh '([^'\n]*)'/g)].map(
      (m) => (m[1] ?? m[2]) as string,
    );
    return { name, ...(when && { when }), awsCredentials, sh };
  });
  return { environment, stages };
}

// ---------------------------------------------------------------- CircleCI

function substitute(value: Yaml, vars: Vars): Yaml {
  if (typeof value === 'string')
    return value.replace(/<<\s*([\w.-]+)\s*>>/g, (_m, key: string) => {
      if (!(key in vars)) throw new Error(`the CircleCI simulation has no value for << ${key} >>`);
      return vars[key] as string;
    });
  if (Array.isArray(value)) return value.map((v) => substitute(v, vars));
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, vars)]));
  return value;
}

function circleWhen(condition: Yaml): boolean {
  if (condition === undefined) return true;
  if (typeof condition !== 'object' || condition === null) return Boolean(condition);
  if ('not' in condition) return !circleWhen(condition.not);
  if ('and' in condition) return condition.and.every(circleWhen);
  if ('or' in condition) return condition.or.some(circleWhen);
  if ('equal' in condition) {
    const [first, ...rest] = condition.equal.map(String);
    return rest.every((v: string) => v === first);
  }
  throw new Error(`the CircleCI simulation cannot evaluate when ${JSON.stringify(condition)}`);
}

export interface CircleJob {
  readonly workflow: string;
  readonly job: string;
  readonly environment: Vars;
  /** Each `run` step's command, parameters substituted. */
  readonly commands: readonly string[];
}

/**
 * The jobs CircleCI runs for a pipeline on `branch`: pipeline parameters (defaults, overridden
 * by the trigger's) and `<< pipeline.git.branch >>` substituted, workflow `when` evaluated, job
 * parameters (defaults, overridden by the workflow's arguments) substituted into the steps.
 */
export function circleJobs(text: string, branch: string, parameters: Vars): CircleJob[] {
  const doc = parse(text) as Yaml;
  const pipeline: Vars = { 'pipeline.git.branch': branch };
  for (const [k, p] of Object.entries(doc.parameters ?? {}) as [string, Yaml][])
    pipeline[`pipeline.parameters.${k}`] = String(parameters[k] ?? p.default);
  const out: CircleJob[] = [];
  for (const [workflow, wf] of Object.entries(doc.workflows ?? {}) as [string, Yaml][]) {
    if (workflow === 'version' || !circleWhen(substitute(wf.when, pipeline))) continue;
    for (const entry of wf.jobs) {
      const [job, args] =
        typeof entry === 'string' ? [entry, {}] : (Object.entries(entry)[0] as [string, Yaml]);
      const definition = doc.jobs[job];
      const params: Vars = { ...pipeline };
      for (const [k, p] of Object.entries(definition.parameters ?? {}) as [string, Yaml][]) {
        const value = args?.[k] ?? p.default;
        if (value === undefined) throw new Error(`job ${job} needs parameter ${k}`);
        params[`parameters.${k}`] = String(value);
      }
      const steps = substitute(definition.steps, params) as Yaml[];
      const commands = steps.map((step) => {
        if (typeof step === 'object' && 'run' in step)
          return typeof step.run === 'string' ? step.run : step.run.command;
        throw new Error(`the CircleCI simulation cannot run step ${JSON.stringify(step)}`);
      });
      out.push({
        workflow,
        job,
        environment: substitute(definition.environment ?? {}, params),
        commands,
      });
    }
  }
  return out;
}
