import { describe, expect, it } from 'vitest';
import { detectCi, isCi, manualRunId } from '../../lib/cli/ci-env';

const SHA = '0123456789abcdef0123456789abcdef01234567';

describe('detectCi', () => {
  it.each([
    {
      name: 'GitHub Actions',
      env: {
        CI: 'true',
        GITHUB_ACTIONS: 'true',
        GITHUB_ACTOR: 'octocat',
        GITHUB_SERVER_URL: 'https://github.com',
        GITHUB_REPOSITORY: 'acme/infra',
        GITHUB_RUN_ID: '9876543210',
        GITHUB_RUN_ATTEMPT: '1',
        GITHUB_SHA: SHA,
      },
      retry: { GITHUB_RUN_ATTEMPT: '2', GITHUB_TRIGGERING_ACTOR: 'someone-else' },
      expected: {
        system: 'github-actions',
        requestedBy: 'octocat',
        ciRunUrl: 'https://github.com/acme/infra/actions/runs/9876543210',
        ciRunId: '9876543210',
        sha: SHA,
      },
    },
    {
      name: 'GitLab CI',
      env: {
        CI: 'true',
        GITLAB_CI: 'true',
        GITLAB_USER_LOGIN: 'alice',
        GITLAB_USER_EMAIL: 'alice@example.com',
        CI_PIPELINE_ID: '1234',
        CI_PIPELINE_URL: 'https://gitlab.example.com/acme/infra/-/pipelines/1234',
        CI_JOB_ID: '555',
        CI_COMMIT_SHA: SHA,
      },
      retry: { CI_JOB_ID: '556' },
      expected: {
        system: 'gitlab-ci',
        requestedBy: 'alice@example.com',
        ciRunUrl: 'https://gitlab.example.com/acme/infra/-/pipelines/1234',
        ciRunId: '1234',
        sha: SHA,
      },
    },
    {
      name: 'Jenkins',
      env: {
        JENKINS_URL: 'https://jenkins.example.com/',
        JOB_NAME: 'infra/deploy-prod',
        BUILD_NUMBER: '57',
        BUILD_URL: 'https://jenkins.example.com/job/infra/job/deploy-prod/57/',
        BUILD_USER_EMAIL: 'carol@example.com',
        GIT_COMMIT: SHA,
      },
      retry: {},
      expected: {
        system: 'jenkins',
        requestedBy: 'carol@example.com',
        ciRunUrl: 'https://jenkins.example.com/job/infra/job/deploy-prod/57/',
        ciRunId: expect.stringMatching(/^57-[0-9a-f]{6}$/),
        sha: SHA,
      },
    },
    {
      name: 'CircleCI',
      env: {
        CI: 'true',
        CIRCLECI: 'true',
        CIRCLE_USERNAME: 'dave',
        CIRCLE_WORKFLOW_ID: '1b2c3d4e-aaaa-bbbb-cccc-0123456789ab',
        CIRCLE_BUILD_NUM: '88',
        CIRCLE_SHA1: SHA,
      },
      retry: { CIRCLE_BUILD_NUM: '89' },
      expected: {
        system: 'circleci',
        requestedBy: 'dave',
        ciRunUrl:
          'https://app.circleci.com/pipelines/workflows/1b2c3d4e-aaaa-bbbb-cccc-0123456789ab',
        ciRunId: '1b2c3d4eaaaabbbbcccc0123456789ab',
        sha: SHA,
      },
    },
  ])(
    '$name: who, where, which run and commit; the same on a retried job',
    ({ env, retry, expected }) => {
      const first = detectCi(env);
      expect(first).toEqual(expected);
      expect(detectCi({ ...env, ...retry })).toEqual(first);
      expect(isCi(env)).toBe(true);
    },
  );

  it('Jenkins build numbers of two jobs do not collide', () => {
    const base = { JENKINS_URL: 'https://j/', BUILD_NUMBER: '7' };
    expect(detectCi({ ...base, JOB_NAME: 'a' }).ciRunId).not.toBe(
      detectCi({ ...base, JOB_NAME: 'b' }).ciRunId,
    );
  });

  it('outside CI: nothing, and manual run IDs are timestamps', () => {
    expect(detectCi({ HOME: '/home/me' })).toEqual({});
    expect(isCi({})).toBe(false);
    expect(isCi({ CI: 'false' })).toBe(false);
    expect(isCi({ CI: '1' })).toBe(true);
    expect(manualRunId(new Date('2026-11-25T17:09:03.123Z'))).toBe('manual-20261125T170903Z');
  });
});
