import { readFileSync } from 'node:fs';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The optional sticky pull/merge request comment (`DEPLOY_RUNNER_PR_COMMENT=true`): one comment
 * per root module with the plan summary, the approval state and the run link, found again by a
 * hidden marker and edited in place on every update, as Atlantis and Digger users expect.
 *
 * It uses only `fetch` and the token the CI provides (GitHub: `GITHUB_TOKEN`, which the workflow
 * passes in the step's env with `pull-requests: write`; GitLab: `DEPLOY_RUNNER_GITLAB_TOKEN`, a
 * project access token with `api` scope, since CI_JOB_TOKEN may not write notes). The token goes
 * only into the Authorization header: no message, error or URL carries it. Approval links are
 * never posted: each is one approver's capability.
 */

export interface PrCommentTarget {
  readonly kind: 'github' | 'gitlab';
  /** The comments collection: GET lists, POST creates. */
  readonly commentsUrl: string;
  /** One comment's URL from its id: PATCH (GitHub) or PUT (GitLab) edits it. */
  readonly commentUrl: (id: number) => string;
  readonly headers: Readonly<Record<string, string>>;
}

const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes)$/i.test(v.trim());

/**
 * Where the comment goes, or a reason it cannot go anywhere (undefined when not asked for).
 * GitHub: the pull request of the event (`GITHUB_EVENT_PATH`), or `DEPLOY_RUNNER_PR_NUMBER`.
 */
export function prCommentTarget(env: Env): PrCommentTarget | { problem: string } | undefined {
  if (!truthy(env.DEPLOY_RUNNER_PR_COMMENT)) return undefined;
  if (env.GITHUB_ACTIONS === 'true') {
    const token = env.GITHUB_TOKEN;
    const repo = env.GITHUB_REPOSITORY;
    const api = (env.GITHUB_API_URL || 'https://api.github.com').replace(/\/+$/, '');
    const number = env.DEPLOY_RUNNER_PR_NUMBER || pullRequestOfEvent(env.GITHUB_EVENT_PATH);
    if (!token) return { problem: 'GITHUB_TOKEN is not set in the step environment' };
    if (!repo || !number || !/^\d+$/.test(number))
      return { problem: 'this job is not for a pull request (no pull_request.number)' };
    const base = `${api}/repos/${repo}/issues`;
    return {
      kind: 'github',
      commentsUrl: `${base}/${number}/comments`,
      commentUrl: (id) => `${base}/comments/${id}`,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/vnd.github+json',
        'x-github-api-version': '2022-11-28',
      },
    };
  }
  if (env.GITLAB_CI === 'true') {
    const token = env.DEPLOY_RUNNER_GITLAB_TOKEN;
    const api = env.CI_API_V4_URL?.replace(/\/+$/, '');
    const project = env.CI_PROJECT_ID;
    const iid = env.CI_MERGE_REQUEST_IID;
    if (!token) return { problem: 'DEPLOY_RUNNER_GITLAB_TOKEN is not set' };
    if (!api || !project || !iid) return { problem: 'this job is not for a merge request' };
    const base = `${api}/projects/${encodeURIComponent(project)}/merge_requests/${iid}/notes`;
    return {
      kind: 'gitlab',
      commentsUrl: base,
      commentUrl: (id) => `${base}/${id}`,
      headers: { 'private-token': token },
    };
  }
  return { problem: 'sticky comments need GitHub Actions or GitLab CI' };
}

function pullRequestOfEvent(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    const event = JSON.parse(readFileSync(file, 'utf8')) as {
      pull_request?: { number?: unknown };
    };
    const n = event.pull_request?.number;
    return typeof n === 'number' ? String(n) : undefined;
  } catch {
    return undefined;
  }
}

/** The hidden marker that finds this root module's comment again. */
export function commentMarker(path: string): string {
  // Only characters that cannot close the HTML comment or break out of it.
  return `<!-- deploy-runner:${path.replace(/[^A-Za-z0-9_./*-]/g, '_')} -->`;
}

const MAX_PAGES = 10;

/**
 * Creates this module's comment, or edits it in place when one with the marker exists. A
 * comment someone else wrote with the marker cannot be edited (403/404): a new one is made.
 */
export async function upsertPrComment(
  target: PrCommentTarget,
  marker: string,
  body: string,
  fetchFn: typeof fetch = fetch,
): Promise<{ action: 'created' | 'updated'; id: number }> {
  const call = async (method: string, url: string, payload?: unknown) => {
    const res = await fetchFn(url, {
      method,
      headers: {
        ...target.headers,
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
      redirect: 'error',
    });
    return res;
  };
  const where = (url: string) => url.replace(/\?.*$/, '');
  const fail = (method: string, url: string, status: number) =>
    new Error(
      `${target.kind === 'github' ? 'GitHub' : 'GitLab'} answered ${status} to ${method} ${where(url)}`,
    );
  const text = `${marker}\n${body}`;
  const payload = target.kind === 'github' ? { body: text } : { body: text };

  let existing: number | undefined;
  for (let page = 1; page <= MAX_PAGES && existing === undefined; page++) {
    const url = `${target.commentsUrl}?per_page=100&page=${page}`;
    const res = await call('GET', url);
    if (!res.ok) throw fail('GET', url, res.status);
    const comments = (await res.json()) as { id?: unknown; body?: unknown }[];
    if (!Array.isArray(comments)) throw fail('GET', url, res.status);
    const mine = comments.find(
      (c) => typeof c.body === 'string' && c.body.startsWith(marker) && typeof c.id === 'number',
    );
    if (mine) existing = mine.id as number;
    if (comments.length < 100) break;
  }
  if (existing !== undefined) {
    const url = target.commentUrl(existing);
    const res = await call(target.kind === 'github' ? 'PATCH' : 'PUT', url, payload);
    if (res.ok) return { action: 'updated', id: existing };
    if (res.status !== 403 && res.status !== 404)
      throw fail(target.kind === 'github' ? 'PATCH' : 'PUT', url, res.status);
  }
  const res = await call('POST', target.commentsUrl, payload);
  if (!res.ok) throw fail('POST', target.commentsUrl, res.status);
  const created = (await res.json()) as { id?: unknown };
  return { action: 'created', id: typeof created.id === 'number' ? created.id : -1 };
}
