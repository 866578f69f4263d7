import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { bundleRunner } from '../../containers/runner/bundle';
import { parseConfig } from '../config';
import { changeKind, executionName, workflowStateSchema } from '../contracts';
import { runGit } from './git';
import type { LocalServer } from './local-server';
import { chooseTool, prepareDataDir, requireGit, simulatorNotice } from './preflight';
import { startLocalServerWithSignIn } from './sign-in';

/**
 * `npm start`: the whole product on a laptop. Prepares a git repo from examples/demo-infra,
 * starts the local server, starts a run like CI would, prints the approval link from the
 * approver's email, waits for a human to decide in the browser, and shows the result. Then it
 * offers a second run, of a commit that removes a resource, so the approver also meets what
 * protects people: the destroy warning and the typed confirmation.
 */

const ROOT = resolve(__dirname, '..', '..');
const PATH = 'envs/dev';

/** What the demo does once the first run is applied. */
export type SecondRun = 'ask' | 'start' | 'skip';

export interface DemoOptions {
  readonly dataDir: string;
  readonly port: number;
  /** Stop the server when the demo ends (tests); otherwise keep serving until Ctrl+C. */
  readonly exitWhenDone?: boolean;
  readonly out?: (line: string) => void;
  /**
   * After the first apply: `ask` (the default) waits for Enter on `input` and ends the demo at
   * the end of input (stdin from /dev/null or a closed pipe); `start` starts the second run at
   * once; `skip` ends the demo there.
   */
  readonly secondRun?: SecondRun;
  /** Where `ask` reads the answer; process.stdin unless given. */
  readonly input?: NodeJS.ReadableStream;
  /** Approvers sign in at a local OpenID provider before deciding (`--sign-in`). @default false */
  readonly signIn?: boolean;
}

export interface DemoResult {
  readonly server: LocalServer;
  /** The first run. */
  readonly executionArn: string;
  /** Resolves with the final status of the demo's last run once the demo ends. */
  readonly finished: Promise<string>;
}

const git = (cwd: string, ...args: string[]) => runGit(cwd, 'Demo', ...args);

const banner = (lines: string[]) => {
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  const rule = `+${'-'.repeat(width - 2)}+`;
  return [rule, ...lines.map((l) => `| ${l.padEnd(width - 4)} |`), rule].join('\n');
};

/** An HCL string literal: JSON's escapes, and no `${` or `%{` template sequence. */
const hclString = (value: string) =>
  JSON.stringify(value).replaceAll('${', '$${').replaceAll('%{', '%%{');

/**
 * Terraform keeps state in the working directory unless told otherwise, and every run checks
 * out afresh: without this file the second run would plan against nothing and create all three
 * resources again. A local backend outside the checkouts plays the part of a remote backend.
 * (The simulator keeps its state under TF_SIM_STATE_DIR for the same reason.)
 */
const backendFile = (
  statePath: string,
) => `# Written by \`deploy-runner local demo\`: the state lives outside the runner's checkouts, as
# in a remote backend, so each run plans against what the previous one applied.
terraform {
  backend "local" {
    path = ${hclString(statePath)}
  }
}
`;

/** Resolves true on a line of input (Enter, or "y"), false on "n" or at the end of input. */
export function askToContinue(input: NodeJS.ReadableStream): Promise<boolean> {
  const lines = createInterface({ input, terminal: false });
  return new Promise((resolve) => {
    let answer: boolean | undefined;
    lines.once('line', (line) => {
      answer = !/^\s*n/i.test(line);
      lines.close();
    });
    lines.once('close', () => resolve(answer ?? false));
  });
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const started = Date.now();
  requireGit();
  const dataDir = resolve(options.dataDir);
  // The demo starts from nothing each time, so its first plan always has something to show.
  rmSync(dataDir, { recursive: true, force: true });
  prepareDataDir(dataDir);
  const stateDir = join(dataDir, 'tfstate');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });

  out('deploy-runner demo: the real state machine, handlers and runner, offline.');
  const repoDir = join(dataDir, 'demo-infra');
  cpSync(join(ROOT, 'examples', 'demo-infra'), repoDir, { recursive: true });
  writeFileSync(
    join(repoDir, PATH, 'backend.tf'),
    backendFile(join(stateDir, 'terraform-envs-dev.tfstate')),
  );
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

  // Which run the next approval email belongs to, and since when the demo has waited for it.
  let current = { second: false, since: started };
  const links = new Set<string>();
  const server = await startLocalServerWithSignIn(options.signIn, {
    config,
    dataDir,
    port: options.port,
    runnerScript: bundle.runner,
    toolPath: tool.path,
    runnerEnv: { TF_SIM_STATE_DIR: stateDir },
    echoRunnerOutput: true,
    echo: (line) => {
      out(line);
      const file = /\((\/[^)]+\.json)\)$/.exec(line)?.[1];
      if (!file) return;
      const text = readFileSync(file.replace(/\.json$/, '.txt'), 'utf8').toString();
      const link = /(https?:\/\/\S+\/a\/[A-Za-z0-9_-]+)/.exec(text)?.[1];
      if (!link || links.has(link)) return;
      links.add(link);
      const reached = `reached in ${((Date.now() - current.since) / 1000).toFixed(1)} s`;
      out(
        `\n${banner(
          current.second
            ? [
                'Approval requested for the second run. This plan DESTROYS a resource: open the',
                'link, see the warning, and type the path to approve (or reject it):',
                '',
                link,
                '',
                reached,
              ]
            : [
                'Approval requested. Open this link in your browser, read the plan, and decide:',
                '',
                link,
                '',
                `(the approver's email is in ${server.outboxDir})`,
                reached,
              ],
        )}\n`,
      );
    },
  });
  out(`• local server ${server.url} (Step Functions API, approval page, run pages)`);
  for (const line of server.signIn?.lines ?? []) out(`• ${line}`);

  const sfn = new SFNClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });

  /** Starts a run of envs/dev on main, as CI would after a push. */
  const startRun = async (sha: string): Promise<string> => {
    const name = executionName({
      repo: 'demo',
      path: PATH,
      sha,
      ciRunId: `demo-${Date.now().toString(36)}`,
    });
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: server.stateMachineArn,
        name,
        input: JSON.stringify({ repo: 'demo', ref: 'main', path: PATH, requestedBy: 'demo-ci' }),
      }),
    );
    if (!executionArn) throw new Error(`StartExecution returned no executionArn for ${name}`);
    out(`• started ${name}: ${server.consoleUrl(executionArn)}`);
    return executionArn;
  };

  /** Waits for a run to end, says how it ended, and tells whether it applied a plan. */
  const report = async (executionArn: string): Promise<{ status: string; applied: boolean }> => {
    for (;;) {
      const run = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      if (run.status !== 'RUNNING') {
        await server.engine.settled(executionArn);
        out('');
        const status = run.status ?? 'UNKNOWN';
        if (status !== 'SUCCEEDED') {
          out(banner([`The run ended ${status}: ${run.error ?? ''}`, run.cause ?? '']));
          return { status, applied: false };
        }
        const state = workflowStateSchema.parse(JSON.parse(run.output ?? '{}'));
        const plan = state.plan?.summary;
        if (!state.apply || !plan) {
          out(banner(['Finished: nothing to apply.']));
          return { status, applied: false };
        }
        const { counts } = plan;
        const destroyed = plan.changes
          .filter((c) => ['destroy', 'replace'].includes(changeKind(c.actions) ?? ''))
          .map(
            (c) =>
              `${changeKind(c.actions) === 'destroy' ? 'Destroyed' : 'Replaced'} ${c.address}.`,
          );
        out(
          banner([
            `Applied ${plan.commit.slice(0, 7)}: ${counts.add} added, ${counts.change} changed, ${counts.destroy} destroyed, ${counts.replace} replaced; approved by ${state.approval?.approver}.`,
            ...destroyed,
          ]),
        );
        out(`Run page: ${server.consoleUrl(executionArn)}`);
        return { status, applied: true };
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  /** The second commit: examples/demo-infra-cleanup, which drops the artifacts bucket. */
  const commitCleanup = (): string => {
    cpSync(join(ROOT, 'examples', 'demo-infra-cleanup'), repoDir, { recursive: true });
    git(repoDir, 'add', '-A');
    git(repoDir, 'commit', '-q', '-m', 'Remove the artifacts bucket from envs/dev');
    const sha = git(repoDir, 'rev-parse', 'HEAD');
    out(
      `• committed ${sha.slice(0, 7)} "Remove the artifacts bucket from envs/dev" (examples/demo-infra-cleanup)`,
    );
    return sha;
  };

  /** Offers the second run; true when it should start. */
  const offerSecondRun = async (): Promise<boolean> => {
    const mode = options.secondRun ?? 'ask';
    out('');
    out(
      banner([
        'Next: what protects people. A second commit removes the artifacts bucket from',
        `${PATH}/main.tf: a tidy-up in review, but its plan destroys terraform_data.bucket.`,
        'The approval page puts the destroy first and asks you to type the path to approve.',
        '',
        mode === 'ask'
          ? 'Press Enter to start the second run, or type n and Enter to stop here.'
          : mode === 'start'
            ? 'Starting the second run (--second-run).'
            : 'Skipped (--no-second-run); run `npm start` again to see it.',
      ]),
    );
    if (mode !== 'ask') return mode === 'start';
    const go = await askToContinue(options.input ?? process.stdin);
    if (!go)
      out(
        'No second run. To see it without a prompt (no terminal at hand): npm start -- --second-run',
      );
    return go;
  };

  const firstArn = await startRun(commit);

  const finished = (async () => {
    let last = await report(firstArn);
    if (last.applied && (await offerSecondRun())) {
      current = { second: true, since: Date.now() };
      last = await report(await startRun(commitCleanup()));
    }
    sfn.destroy();
    if (options.exitWhenDone) await server.close();
    else out(`The local server keeps serving ${server.url}; press Ctrl+C to stop.`);
    return last.status;
  })();
  return { server, executionArn: firstArn, finished };
}
