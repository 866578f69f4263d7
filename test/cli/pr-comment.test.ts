import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CiReport } from '../../lib/cli/ci-report';
import type { PlanSummary } from '../../lib/cli/history';
import { commentMarker, prCommentTarget, upsertPrComment } from '../../lib/cli/pr-comment';

const TOKEN = 'ghs_s3cr3tT0kenTHATmustNEVERshow';

interface Comment {
  id: number;
  body: string;
  author: string;
}

/** GitHub's issue comments and GitLab's merge request notes, in memory, on an ephemeral port. */
let server: Server;
let api: string;
let comments: Comment[];
let requests: { method: string; url: string; auth?: string; body?: string }[];
let failWith: number | undefined;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => {
      const auth = (req.headers.authorization ?? req.headers['private-token']) as
        | string
        | undefined;
      requests.push({ method: req.method as string, url: req.url as string, auth, body });
      const json = (status: number, value: unknown) => {
        res.statusCode = status;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(value));
      };
      if (failWith) return json(failWith, { message: 'nope' });
      const url = new URL(req.url as string, 'http://x');
      const list =
        /^\/(repos\/acme\/infra\/issues\/7\/comments|projects\/42\/merge_requests\/7\/notes)$/;
      const one =
        /^\/(?:repos\/acme\/infra\/issues\/comments|projects\/42\/merge_requests\/7\/notes)\/(\d+)$/;
      if (req.method === 'GET' && list.test(url.pathname)) {
        const page = Number(url.searchParams.get('page'));
        const size = Number(url.searchParams.get('per_page'));
        return json(200, comments.slice((page - 1) * size, page * size));
      }
      if (req.method === 'POST' && list.test(url.pathname)) {
        const comment = { id: 1000 + comments.length, body: JSON.parse(body).body, author: 'bot' };
        comments.push(comment);
        return json(201, comment);
      }
      const m = one.exec(url.pathname);
      if ((req.method === 'PATCH' || req.method === 'PUT') && m) {
        const comment = comments.find((c) => c.id === Number(m[1]));
        if (!comment) return json(404, {});
        if (comment.author !== 'bot') return json(403, {});
        comment.body = JSON.parse(body).body;
        return json(200, comment);
      }
      json(404, {});
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  comments = [];
  requests = [];
  failWith = undefined;
});

const eventFile = (number: number) => {
  const file = join(mkdtempSync(join(tmpdir(), 'dr-pr-event-')), 'event.json');
  writeFileSync(file, JSON.stringify({ pull_request: { number } }));
  return file;
};
const github = (over: Record<string, string | undefined> = {}) => ({
  GITHUB_ACTIONS: 'true',
  GITHUB_REPOSITORY: 'acme/infra',
  GITHUB_API_URL: api,
  GITHUB_TOKEN: TOKEN,
  GITHUB_EVENT_PATH: eventFile(7),
  DEPLOY_RUNNER_PR_COMMENT: 'true',
  ...over,
});
const gitlab = (over: Record<string, string | undefined> = {}) => ({
  GITLAB_CI: 'true',
  CI_API_V4_URL: api,
  CI_PROJECT_ID: '42',
  CI_MERGE_REQUEST_IID: '7',
  DEPLOY_RUNNER_GITLAB_TOKEN: TOKEN,
  DEPLOY_RUNNER_PR_COMMENT: 'true',
  ...over,
});

const plan = (address: string): PlanSummary =>
  ({
    hasChanges: true,
    counts: { add: 1, change: 0, destroy: 1, replace: 0 },
    changes: [{ address, actions: ['delete'] }],
  }) as unknown as PlanSummary;

/** A run as the CLI reports it: started, planned, waiting, then the outcome. */
async function reportRun(env: Record<string, string | undefined>, address = 'aws_s3_bucket.logs') {
  const report = new CiReport({
    env,
    path: 'envs/prod',
    core: async () => ({ setOutput() {}, error() {} }),
  });
  const consoleUrl = 'https://console.example/executions/arn';
  await report.start({ executionArn: 'arn', consoleUrl, name: 'infra-envs-prod-abc1234-1' });
  report.event({ type: 'plan', summary: plan(address) } as never);
  report.event({ type: 'approval-requested', approvers: ['Ada'] } as never);
  await report.finish(consoleUrl, {
    status: 'SUCCEEDED',
    result: 'applied',
    exitCode: 0,
    message: 'Applied',
  });
}

describe('sticky pull request comment (lib/cli/pr-comment.ts)', () => {
  it('is off unless DEPLOY_RUNNER_PR_COMMENT asks for it: no request at all', async () => {
    await reportRun(github({ DEPLOY_RUNNER_PR_COMMENT: undefined }));
    await reportRun(gitlab({ DEPLOY_RUNNER_PR_COMMENT: 'false' }));
    expect(requests).toEqual([]);
  });

  it('GitHub: one comment per root module, created once and then edited in place', async () => {
    comments.push({ id: 1, body: 'LGTM', author: 'someone' });
    await reportRun(github());
    expect(comments).toHaveLength(2);
    const mine = comments[1] as Comment;
    expect(mine.body.startsWith(commentMarker('envs/prod'))).toBe(true);
    expect(mine.body).toContain('✅ Applied');
    expect(mine.body).toContain('**Plan:** 1 to add, 0 to change, 1 to destroy');
    expect(mine.body).toContain('[Open the run](https://console.example/executions/arn)');
    // The waiting update came first, on the same comment.
    expect(requests.map((r) => r.method)).toEqual(['GET', 'POST', 'GET', 'PATCH']);
    expect(requests[1]?.body).toContain('⏳ Waiting for approval');
    await reportRun(github());
    expect(comments).toHaveLength(2);
    expect(requests.every((r) => r.auth === `Bearer ${TOKEN}`)).toBe(true);
    expect(requests[0]?.url).toBe('/repos/acme/infra/issues/7/comments?per_page=100&page=1');
  });

  it('GitLab: a merge request note, edited in place with PUT', async () => {
    await reportRun(gitlab());
    expect(requests.map((r) => r.method)).toEqual(['GET', 'POST', 'GET', 'PUT']);
    expect(requests[3]?.url).toBe('/projects/42/merge_requests/7/notes/1000');
    expect(requests.every((r) => r.auth === TOKEN)).toBe(true);
    expect(comments).toHaveLength(1);
  });

  it('finds its comment past the first page, and never edits a comment someone else marked', async () => {
    for (let i = 0; i < 150; i++)
      comments.push({ id: i + 1, body: `comment ${i}`, author: 'someone' });
    const target = prCommentTarget(github());
    if (!target || 'problem' in target) throw new Error('no target');
    const marker = commentMarker('envs/prod');
    comments.push({ id: 500, body: `${marker}\nforged`, author: 'someone' });
    expect(await upsertPrComment(target, marker, 'first')).toEqual({ action: 'created', id: 1151 });
    expect(comments.find((c) => c.id === 500)?.body).toBe(`${marker}\nforged`);
    comments.splice(
      comments.findIndex((c) => c.id === 500),
      1,
    );
    expect(await upsertPrComment(target, marker, 'second')).toEqual({
      action: 'updated',
      id: 1151,
    });
    expect(comments.at(-1)?.body).toBe(`${marker}\nsecond`);
  });

  it('neutralises untrusted text: no mention, HTML, Markdown link or marker breaks out', async () => {
    const address =
      'aws_s3_bucket.x\n@octocat <img src=x onerror=alert(1)> [click](https://evil) -->';
    await reportRun(github(), address);
    const body = comments[0]?.body ?? '';
    expect(body).not.toMatch(/@octocat|<img|\]\(https:\/\/evil|\n@/);
    expect(body.split('-->')).toHaveLength(2); // only the marker's own
    expect(body).toContain('&#64;octocat');
  });

  it('says why it cannot comment, and never shows the token', async () => {
    await expect(reportRun(github({ GITHUB_EVENT_PATH: undefined }))).rejects.toThrow(
      /no pull request comment: this job is not for a pull request/,
    );
    await expect(reportRun(github({ GITHUB_TOKEN: undefined }))).rejects.toThrow(
      /GITHUB_TOKEN is not set/,
    );
    failWith = 500;
    const error = await reportRun(github()).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /could not write the pull request comment: GitHub answered 500 to GET http:\/\/127\.0\.0\.1:\d+\/repos\/acme\/infra\/issues\/7\/comments$/,
    );
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain(TOKEN);
  });
});
