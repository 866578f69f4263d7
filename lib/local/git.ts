import { execFileSync } from 'node:child_process';

/**
 * Runs git (no shell) in `cwd` as `who`, for the repos local mode and its tests create: the
 * identity comes from the environment, so a machine without git config still commits.
 */
export function runGit(cwd: string, who: string, ...args: string[]): string {
  const email = `${who.toLowerCase().replace(/[^a-z0-9]+/g, '-')}@example.com`;
  return execFileSync('git', args, {
    cwd,
    stdio: 'pipe',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: who,
      GIT_AUTHOR_EMAIL: email,
      GIT_COMMITTER_NAME: who,
      GIT_COMMITTER_EMAIL: email,
    },
  })
    .toString()
    .trim();
}
