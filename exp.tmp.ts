import { spawnSync, spawn } from 'node:child_process';
import { startHarness, resources } from './test/e2e/harness';
import { buildCli } from './lib/cli/build';
import { LOCAL_LOG_GROUP } from './lib/local/log-service';
(async () => {
  const h = await startHarness();
  h.repo.commit({ 'envs/a': { resources: resources('a', 'b') } });
  const b = await buildCli('/tmp/cx/exp-cli.js');
  const run = (args: string[], prof: string) => new Promise<void>((res) => {
    const c = spawn('/usr/bin/time', ['-f', '%U u %S s %e wall', process.execPath, '--cpu-prof', '--cpu-prof-dir', prof, b.outfile, ...args, '--endpoint', h.server.url], { env: { PATH: process.env.PATH!, NODE_PATH: `${process.cwd()}/node_modules`, CI: 'true', GITHUB_ACTIONS: 'true', GITHUB_RUN_ID: '7', GITHUB_SHA: 'abc', GITHUB_REPOSITORY: 'acme/infra', GITHUB_ACTOR: 'x', HOME: '/tmp/cx', DEPLOY_RUNNER_APPROVAL_POLL: '1' } });
    let out = ''; c.stdout.on('data', (d) => (out += d)); c.stderr.on('data', (d) => (out += d));
    c.on('close', () => { console.log(out.split('\n').slice(-4).join('\n')); res(); });
  });
  await run(['start', '--repo', 'infra', '--ref', 'main', '--path', 'envs/a', '--plan-only', '--wait', '--state-machine-arn', h.server.stateMachineArn, '--log-group', LOCAL_LOG_GROUP], '/tmp/cx/prof-exp');
  await h.close(); process.exit(0);
})();
