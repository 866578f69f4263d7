// The GitHub action's entry (action.yml, runs.using node24). It runs the CLI bundle that the
// release workflow (.github/workflows/release-cli.yml) built and committed next to this file,
// after checking the bundle against its SHA-256, and passes the action's inputs as flags.
// Plain JavaScript with no dependencies: nothing is installed when the job runs.
'use strict';
const { createHash } = require('node:crypto');
const { existsSync, readFileSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..');
const bundle = process.env.DEPLOY_RUNNER_CLI_BUNDLE || join(root, 'dist', 'deploy-runner-ci.cjs');

function fail(message) {
  // Our own fixed text (no untrusted part), so it can be a workflow command.
  process.stdout.write(`::error title=deploy-runner::${message}\n`);
  process.exit(1);
}

if (!existsSync(bundle) || !existsSync(`${bundle}.sha256`)) {
  fail(
    'this ref of deploy-runner has no CLI bundle: pin a release commit (tag cli-v*) or build and commit your own (npm run build:ci, see README)',
  );
}
const expected = readFileSync(`${bundle}.sha256`, 'utf8').trim().split(/\s+/)[0];
const actual = createHash('sha256').update(readFileSync(bundle)).digest('hex');
if (!/^[0-9a-f]{64}$/.test(expected) || actual !== expected) {
  fail(
    `the CLI bundle does not match its SHA-256 (expected ${expected}, got ${actual}): not running it`,
  );
}

/** GitHub passes input `plan-only` as INPUT_PLAN-ONLY. */
const input = (name) => (process.env[`INPUT_${name.toUpperCase()}`] || '').trim();

const args = ['start', '--repo', input('repo'), '--ref', input('ref'), '--path', input('path')];
if (input('plan-only') === 'true') args.push('--plan-only');
if (input('wait') !== 'false') args.push('--wait');
for (const name of ['state-machine-arn', 'log-group', 'region']) {
  if (input(name)) args.push(`--${name}`, input(name));
}

// The token travels in the environment: argv is visible to every process on the runner.
const env = { ...process.env };
if (input('pr-comment') === 'true') {
  env.DEPLOY_RUNNER_PR_COMMENT = 'true';
  if (input('github-token')) env.GITHUB_TOKEN = input('github-token');
}

const result = spawnSync(process.execPath, [bundle, ...args], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
