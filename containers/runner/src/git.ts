import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { COMMIT_SHA, matchesAny } from '../../../lib/allowlist';
import { refPatternProblem } from '../../../lib/patterns';
import { GitError, InputRefusedError } from './errors';
import type { RunLog } from './log';
import { basicAuthValue } from './mask';
import type { Spawn, SpawnResult } from './process';

/**
 * Fetching exactly one commit, without a shell and without secrets in argv, URLs or logs.
 *
 * Credentials reach git only through its environment (`GIT_CONFIG_COUNT` / `GIT_CONFIG_KEY_n` /
 * `GIT_CONFIG_VALUE_n`): an HTTPS token as an `http.<url>.extraHeader`, an SSH key as a 0600 file
 * named by `core.sshCommand`. Refs are validated before use and passed as refspecs that start
 * with `refs/` or `+refs/`, after `--`, so none can be read as an option.
 */

export type RepoTransport = 'https' | 'http-loopback' | 'ssh' | 'file';

/** Which transport a repo URL uses; refuses anything else (ext::, git://, credentials in URLs). */
export function repoTransport(url: string): RepoTransport {
  const refuse = (why: string) =>
    new InputRefusedError(
      'validate',
      `the repo URL in the allowlist ${why}`,
      'fix the repo url in deploy-runner.config.json and redeploy',
    );
  if (/^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!\/\/)/.test(url)) return 'ssh';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw refuse('is not a URL');
  }
  if (parsed.protocol === 'ssh:') return 'ssh';
  if (parsed.username || parsed.password) throw refuse('contains credentials');
  if (parsed.protocol === 'https:') return 'https';
  if (parsed.protocol === 'file:') return 'file';
  // Plain HTTP only where the token never crosses a network: a git server on this machine.
  if (parsed.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname))
    return 'http-loopback';
  throw refuse(`uses ${parsed.protocol}// which the runner does not fetch from`);
}

export interface GitSecrets {
  readonly token?: string;
  readonly sshKey?: string;
  /** known_hosts lines (not secret): the only host keys an SSH clone accepts. */
  readonly knownHosts?: string;
}

/**
 * The environment git runs with: the parent's minus any git configuration it carried, plus
 * our own configuration. Writes the SSH key (if any) to `secretsDir` with mode 0600.
 */
export async function gitEnvironment(
  base: NodeJS.ProcessEnv,
  url: string,
  secrets: GitSecrets,
  secretsDir: string,
): Promise<NodeJS.ProcessEnv> {
  const transport = repoTransport(url);
  const config: [string, string][] = [
    ['protocol.allow', 'never'],
    ['core.hooksPath', '/dev/null'],
    ['credential.helper', ''],
    ['advice.detachedHead', 'false'],
    ['fetch.recurseSubmodules', 'false'],
    // A checkout lives for one task: git's housekeeping after each fetch (`git maintenance run
    // --auto`, a process per fetch) would only tidy a folder that is about to be deleted.
    ['gc.auto', '0'],
    ['maintenance.auto', 'false'],
    // `origin` lives in the environment like the rest: no `git remote add` process per checkout,
    // and no default fetch refspec, so a fetch updates only the refs its own refspec names.
    ['remote.origin.url', url],
  ];
  if (transport === 'https') config.push(['protocol.https.allow', 'always']);
  if (transport === 'http-loopback') config.push(['protocol.http.allow', 'always']);
  if (transport === 'ssh') config.push(['protocol.ssh.allow', 'always']);
  if ((transport === 'https' || transport === 'http-loopback') && secrets.token) {
    config.push([
      `http.${url}.extraHeader`,
      `Authorization: Basic ${basicAuthValue(secrets.token)}`,
    ]);
  }
  if (transport === 'ssh') {
    // A host key accepted on first use is whatever the network presents: trust only the
    // configured ones, or refuse to connect.
    const knownHosts = (secrets.knownHosts ?? '').trim();
    if (knownHosts === '')
      throw new InputRefusedError(
        'validate',
        'the repo is cloned over SSH but no host keys are configured (DR_GIT_KNOWN_HOSTS is empty)',
        "add the repo host's known_hosts line to git.knownHosts in deploy-runner.config.json and redeploy",
      );
    await fs.mkdir(secretsDir, { recursive: true, mode: 0o700 });
    const knownHostsFile = join(secretsDir, 'known_hosts');
    await fs.writeFile(knownHostsFile, `${knownHosts}\n`, { mode: 0o600 });
    // git runs core.sshCommand through sh; the paths are ours (mkdtemp), quoted all the same.
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    let identity = '';
    if (secrets.sshKey) {
      const keyFile = join(secretsDir, 'id_git');
      const key = secrets.sshKey.endsWith('\n') ? secrets.sshKey : `${secrets.sshKey}\n`;
      await fs.writeFile(keyFile, key, { mode: 0o600 });
      await fs.chmod(keyFile, 0o600);
      identity = `-i ${quote(keyFile)} -o IdentitiesOnly=yes `;
    }
    config.push([
      'core.sshCommand',
      `ssh ${identity}-o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${quote(knownHostsFile)} -o GlobalKnownHostsFile=/dev/null`,
    ]);
  }
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) {
    if (name.startsWith('GIT_') || name === 'SSH_ASKPASS') continue;
    env[name] = value;
  }
  Object.assign(env, {
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_COUNT: String(config.length),
  });
  config.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  return env;
}

/** What git commands need: where, with what environment, and how to run and log them. */
export interface GitContext {
  readonly dir: string;
  readonly url: string;
  readonly env: NodeJS.ProcessEnv;
  readonly spawn: Spawn;
  readonly log: RunLog;
}

async function git(
  ctx: GitContext,
  args: readonly string[],
  opts: { quiet?: boolean; okCodes?: readonly number[] } = {},
): Promise<SpawnResult> {
  // The file protocol is needed for local repos only, and is enabled for exactly those calls.
  const prefix = repoTransport(ctx.url) === 'file' ? ['-c', 'protocol.file.allow=always'] : [];
  let result: SpawnResult;
  try {
    result = await ctx.spawn('git', [...prefix, ...args], {
      cwd: ctx.dir,
      env: ctx.env,
      onLine: opts.quiet ? undefined : (line) => ctx.log.line(line),
    });
  } catch (error) {
    throw new GitError(
      'clone',
      `could not run git: ${(error as Error).message}`,
      'the runner image must contain git',
      {
        cause: error,
      },
    );
  }
  if (result.code !== 0 && !(opts.okCodes ?? []).includes(result.code)) {
    if (opts.quiet) for (const line of result.stderr.trimEnd().split('\n')) ctx.log.line(line);
    throw new GitError(
      'clone',
      `git ${args[0]} failed with exit code ${result.code}: ${lastLine(result.stderr)}`,
      hintFor(result.stderr),
    );
  }
  return result;
}

const lastLine = (text: string) =>
  text.trim().split('\n').filter(Boolean).pop()?.slice(0, 300) ?? '(no output)';

function hintFor(stderr: string): string {
  if (/couldn't find remote ref|not our ref|no such remote ref/i.test(stderr))
    return 'the branch or commit does not exist in the repository: check the ref CI sent';
  if (/authentication|\b40[13]\b|permission denied|could not read username/i.test(stderr))
    return 'the runner could not authenticate: check the git credentials secret (token or SSH key) and its access to the repository';
  if (/could not resolve host|timed out|connection refused|unable to access/i.test(stderr))
    return 'the repository could not be reached: check the task network (NAT or public IP) and the repo URL';
  return 'check the repository URL, the credentials and the ref, then start a new run';
}

/**
 * Creates an empty repository in `ctx.dir`; `origin` is the repo URL through the environment's
 * configuration (gitEnvironment).
 */
export async function initRepository(ctx: GitContext): Promise<void> {
  await fs.mkdir(ctx.dir, { recursive: true });
  await git(ctx, ['init', '--quiet'], { quiet: true });
}

/** Fetches the tip of `branch` (one commit, depth 1), checks it out and returns its SHA. */
export async function checkoutBranchTip(ctx: GitContext, branch: string): Promise<string> {
  assertBranchName(branch);
  const local = `refs/remotes/origin/${branch}`;
  await git(ctx, [
    'fetch',
    '--depth=1',
    '--no-tags',
    '--',
    'origin',
    `+refs/heads/${branch}:${local}`,
  ]);
  // The ref checked out is the one just fetched; the commit it pinned is what HEAD then holds.
  await git(ctx, ['checkout', '--quiet', '--detach', local, '--']);
  return detachedHead(ctx);
}

/** Fetches exactly `sha` (depth 1) and checks it out; apply uses nothing else. */
export async function checkoutExactCommit(ctx: GitContext, sha: string): Promise<string> {
  assertCommit(sha);
  await git(ctx, ['fetch', '--depth=1', '--no-tags', '--', 'origin', sha]);
  return checkout(ctx, sha);
}

/**
 * Checks out `sha` only if it is reachable from a branch the allowlist allows: fetches the
 * history of every allowed branch and asks git whether the commit is an ancestor of one.
 * A commit that exists only on an unreviewed branch is refused, and so is one that exists only
 * on `excludedRefs` (plan-only branches, when the run may apply).
 */
export async function checkoutCommitOnAllowedBranch(
  ctx: GitContext,
  sha: string,
  allowedRefs: readonly string[],
  excludedRefs: readonly string[] = [],
): Promise<{ sha: string; branch: string }> {
  assertCommit(sha);
  const listing = await git(ctx, ['ls-remote', '--heads', '--', 'origin'], { quiet: true });
  const branches = listing.stdout
    .split('\n')
    .map((line) => line.split('\t')[1]?.trim())
    .filter((ref): ref is string => ref?.startsWith('refs/heads/') === true)
    .map((ref) => ref.slice('refs/heads/'.length))
    .filter(
      (name) =>
        refPatternProblem(name) === undefined &&
        matchesAny(name, allowedRefs) &&
        !matchesAny(name, excludedRefs),
    );
  if (branches.length === 0)
    throw new InputRefusedError(
      'clone',
      `no branch of the repository matches the allowed refs (${allowedRefs.join(', ')}), so commit ${sha} cannot be verified`,
      'push the commit to an allowed branch, or send the branch name as ref',
    );
  await git(ctx, [
    'fetch',
    '--no-tags',
    '--',
    'origin',
    ...branches.map((b) => `+refs/heads/${b}:refs/remotes/origin/${b}`),
  ]);
  // Which fetched branches have the commit in their history, in one process: git refuses (exit
  // 129) a SHA it does not have, or one that is not a commit, which is a refusal here too.
  const contains = await git(
    ctx,
    [
      'for-each-ref',
      '--format=%(refname)',
      `--contains=${sha}`,
      '--',
      ...branches.map((b) => `refs/remotes/origin/${b}`),
    ],
    { quiet: true, okCodes: [129] },
  );
  const found = new Set(contains.code === 0 ? contains.stdout.split('\n') : []);
  const containing = branches.find((b) => found.has(`refs/remotes/origin/${b}`));
  if (!containing)
    throw new InputRefusedError(
      'clone',
      `commit ${sha} is not reachable from an allowed branch (${branches.join(', ')})`,
      'only commits on reviewed branches may be planned: merge the change first, or send the branch name',
    );
  ctx.log.line(`commit ${sha} is on allowed branch ${containing}`);
  return { sha: await checkout(ctx, sha), branch: containing };
}

async function checkout(ctx: GitContext, sha: string): Promise<string> {
  await git(ctx, ['checkout', '--quiet', '--detach', sha, '--']);
  const head = await detachedHead(ctx);
  if (head !== sha)
    throw new GitError(
      'clone',
      `checked out ${head} instead of ${sha}`,
      'report this: git did not check out the requested commit',
    );
  return head;
}

/**
 * The commit a detached HEAD holds, read from `.git/HEAD` (a detached HEAD is that file holding
 * the SHA) rather than by a `git rev-parse HEAD` process per checkout. Anything else there (a
 * symbolic ref, another ref format) is an error, never a guess.
 */
async function detachedHead(ctx: GitContext): Promise<string> {
  const head = (await fs.readFile(join(ctx.dir, '.git', 'HEAD'), 'utf8').catch(() => '')).trim();
  if (!COMMIT_SHA.test(head))
    throw new GitError(
      'clone',
      `HEAD is not a checked-out commit after the checkout (${JSON.stringify(head.slice(0, 60))})`,
      'report this: git did not check out the requested commit',
    );
  return head;
}

function assertCommit(sha: string): void {
  if (!COMMIT_SHA.test(sha))
    throw new InputRefusedError(
      'clone',
      `${JSON.stringify(sha.slice(0, 60))} is not a 40-hex commit`,
      'send a full lowercase commit SHA',
    );
}

function assertBranchName(branch: string): void {
  const problem = refPatternProblem(branch);
  if (problem || branch.includes('*'))
    throw new InputRefusedError(
      'clone',
      `${JSON.stringify(branch.slice(0, 60))} is not a branch name${problem ? `: it ${problem}` : ''}`,
      'send a branch name or a 40-hex commit',
    );
}
