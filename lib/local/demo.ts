import { cpSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { bundleRunner } from '../../containers/runner/bundle';
import { parseConfig } from '../config';
import { executionName } from '../contracts';
import { runGit } from './git';
import type { LocalServer } from './local-server';
import { chooseTool, prepareDataDir, requireGit, simulatorNotice } from './preflight';
import { startLocalServerWithSignIn } from './sign-in';

/**
 * `npm start`: the whole product on a laptop. Prepares a git repo from examples/demo-infra,
 * starts the local server, starts a run like CI would, prints the approval link from the
 * approver's email, waits for a human to decide in the browser, and shows the result.
 */

const ROOT = resolve(__dirname, '..', '..');

export interface DemoOptions {
  readonly dataDir: string;
  readonly port: number;
  /** Stop the server when the run ends (tests); otherwise keep serving until Ctrl+C. */
  readonly exitWhenDone?: boolean;
  readonly out?: (line: string) => void;
  /** Approvers sign in at a local OpenID provider before deciding (`--sign-in`). @default false */
  readonly signIn?: boolean;
}

export interface DemoResult {
  readonly server: LocalServer;
  readonly executionArn: string;
  /** Resolves with the final status once the run ends. */
  readonly finished: Promise<string>;
}

const git = (cwd: string, ...args: string[]) => runGit(cwd, 'Demo', ...args);

const banner = (lines: string[]) => {
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  const rule = `+${'-'.repeat(width - 2)}+`;
  return [rule, ...lines.map((l) => `| ${l.padEnd(width - 4)} |`), rule].join('\n');
};

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const started = Date.now();
  requireGit();
  const dataDir = resolve(options.dataDir);
  // The demo starts from nothing each time, so its first plan always has something to show.
  rmSync(dataDir, { recursive: true, force: true });
  prepareDataDir(dataDir);

  out('deploy-runner demo: the real state machine, handlers and runner, offline.');
  const repoDir = join(dataDir, 'demo-infra');
  cpSync(join(ROOT, 'examples', 'demo-infra'), repoDir, { recursive: true });
  git(repoDir, 'init', '-q', '-b', 'main');
  git(repoDir, 'add', '-A');
  git(repoDir, 'commit', '-q', '-m', 'Demo infrastructure');
  const commit = git(repoDir, 'rev-parse', 'HEAD');
  out(`• demo repo ${repoDir} at ${commit.slice(0, 7)} (examples/demo-infra)`);

  const bundle = await bundleRunner(join(dataDir, 'build'));
  const tool = chooseTool('terraform', bundle.simulator);
  if (tool.kind === 'simulator') out(simulatorNotice());
  else out(`• using ${tool.tool} at ${tool.path}`);

  const config = parseConfig(
    {
      repos: {
        demo: {
          url: `file://${repoDir}`,
          allowedRefs: ['main'],
          allowedPaths: ['envs/*'],
          tool: tool.kind === 'real' ? tool.tool : 'terraform',
        },
      },
      approvals: {
        approvers: [{ name: 'You (the demo approver)', email: 'approver@example.com' }],
        timeout: '30m',
      },
      notifications: { fromEmail: 'deploy-runner@example.com' },
    },
    'the demo config',
  );

  let approvalLink: string | undefined;
  const server = await startLocalServerWithSignIn(options.signIn, {
    config,
    dataDir,
    port: options.port,
    runnerScript: bundle.runner,
    toolPath: tool.path,
    runnerEnv: { TF_SIM_STATE_DIR: join(dataDir, 'tfstate') },
    echoRunnerOutput: true,
    echo: (line) => {
      out(line);
      const file = /\((\/[^)]+\.json)\)$/.exec(line)?.[1];
      if (file && !approvalLink) {
        const text = readFileSync(file.replace(/\.json$/, '.txt'), 'utf8').toString();
        const link = /(https?:\/\/\S+\/a\/[A-Za-z0-9_-]+)/.exec(text)?.[1];
        if (link) {
          approvalLink = link;
          out(
            `\n${banner([
              'Approval requested. Open this link in your browser, read the plan, and decide:',
              '',
              link,
              '',
              `(the approver's email is in ${server.outboxDir})`,
              `reached in ${((Date.now() - started) / 1000).toFixed(1)} s`,
            ])}\n`,
          );
        }
      }
    },
  });
  out(`• local server ${server.url} (Step Functions API, approval page, run pages)`);
  for (const line of server.signIn?.lines ?? []) out(`• ${line}`);

  const sfn = new SFNClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const name = executionName({
    repo: 'demo',
    path: 'envs/dev',
    sha: commit,
    ciRunId: `demo-${Date.now().toString(36)}`,
  });
  const { executionArn } = await sfn.send(
    new StartExecutionCommand({
      stateMachineArn: server.stateMachineArn,
      name,
      input: JSON.stringify({
        repo: 'demo',
        ref: 'main',
        path: 'envs/dev',
        requestedBy: 'demo-ci',
      }),
    }),
  );
  out(`• started ${name}: ${server.consoleUrl(executionArn as string)}`);

  const finished = (async () => {
    for (;;) {
      const run = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      if (run.status !== 'RUNNING') {
        await server.engine.settled(executionArn as string);
        out('');
        if (run.status === 'SUCCEEDED') {
          const state = JSON.parse(run.output ?? '{}');
          const counts = state.plan?.summary?.counts;
          out(
            banner([
              state.apply
                ? `Applied ${state.plan.summary.commit.slice(0, 7)}: ${counts.add} added, ${counts.change} changed, ${counts.destroy} destroyed, ${counts.replace} replaced; approved by ${state.approval?.approver}.`
                : 'Finished: nothing to apply.',
            ]),
          );
          out(`Run page: ${server.consoleUrl(executionArn as string)}`);
        } else {
          out(banner([`The run ended ${run.status}: ${run.error ?? ''}`, run.cause ?? '']));
        }
        sfn.destroy();
        if (options.exitWhenDone) await server.close();
        else out(`The local server keeps serving ${server.url}; press Ctrl+C to stop.`);
        return run.status as string;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return { server, executionArn: executionArn as string, finished };
}
