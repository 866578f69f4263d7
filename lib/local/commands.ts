import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { ConfigError, type DeployRunnerConfig, loadConfig } from '../config';
import { assertDataDirFree } from './data-dir-lock';
import { PortInUseError } from './http-server';
import type { LocalServer } from './local-server';
import {
  assertPortFree,
  chooseTool,
  LocalSetupError,
  prepareDataDir,
  requireGit,
  simulatorNotice,
} from './preflight';

/**
 * `deploy-runner local serve` and `deploy-runner local demo`. Problems a newcomer can hit (port
 * taken, config invalid, data folder not writable, git missing) end with one line that says the
 * cause and the fix, and exit code 2.
 */

const parsePort = (value: string) => {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new InvalidArgumentError('must be a port number (0-65535)');
  return port;
};

/** Handler logs are JSON for CloudWatch; on a terminal only warnings are worth showing. */
const quietHandlerLogs = () => {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
};

function explain(error: unknown): never {
  if (
    error instanceof PortInUseError ||
    error instanceof LocalSetupError ||
    error instanceof ConfigError
  ) {
    process.stderr.write(`deploy-runner local: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}

function stopOnSignals(server: LocalServer): void {
  const stop = () => {
    process.stdout.write('\nstopping the local server...\n');
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** A glob is not a ref or a path: the hint names a concrete one, or a placeholder to replace. */
const concrete = (patterns: readonly string[] | undefined, placeholder: string) =>
  patterns?.find((p) => !/[*?[\]{}]/.test(p)) ?? placeholder;

/**
 * The command `local serve` suggests, ready to paste from the repo root: the config's first repo
 * and its first literal ref and path; no state machine ARN or log group, which the CLI asks the
 * server for. A local server has no API quota, so it polls the approval wait every 2 s, not
 * every 20-30 s as it would against AWS: a decision shows within seconds.
 */
export function tryCommand(config: DeployRunnerConfig, url: string): string {
  const [name, repo] = Object.entries(config.repos)[0] ?? [];
  const ref = concrete(repo?.allowedRefs, '"<ref>"');
  const path = concrete(repo?.allowedPaths, '"<path>"');
  return `npx deploy-runner start --endpoint ${url} --repo ${name ?? '"<repo>"'} --ref ${ref} --path ${path} --wait --approval-poll 2`;
}

type ServeOptions = {
  port: number;
  dataDir: string;
  config: string;
  driftSchedules: boolean;
  signIn?: boolean;
};
type DemoCommandOptions = {
  port: number;
  dataDir: string;
  exitWhenDone?: boolean;
  /** Unset: ask after the first apply; `--second-run`: start it; `--no-second-run`: skip it. */
  secondRun?: boolean;
  signIn?: boolean;
};

const SIGN_IN_OPTION = [
  '--sign-in',
  'approvers sign in before deciding, at a local OpenID provider on 127.0.0.1 (docs/sign-in.md)',
] as const;

/**
 * The server's modules (the handlers, the engine, esbuild for the runner bundle) are most of a
 * start's CPU: they load once the checks above have passed, so a command that ends with one of
 * their one-line answers (port taken, config invalid, data folder in use) does not pay for them.
 */
const serverModules = () => ({
  ...(require('../../containers/runner/bundle') as typeof import('../../containers/runner/bundle')),
  ...(require('./demo') as typeof import('./demo')),
  ...(require('./sign-in') as typeof import('./sign-in')),
});

/** Registers `deploy-runner local ...` (serve, demo) on the CLI. */
export function registerLocalCommands(program: Command): Command {
  const local = program
    .command('local')
    .description('run deploy-runner offline on this machine: no AWS account needed');

  local
    .command('serve')
    .description(
      'serve the Step Functions API, the approval page and run pages on 127.0.0.1, running the synthesized state machine',
    )
    .option('--port <port>', 'port on 127.0.0.1', parsePort, 8787)
    .option(
      '--data-dir <dir>',
      'where runs, artifacts, logs and the outbox live',
      '.deploy-runner/local',
    )
    .option('--config <file>', 'the deploy-runner config', 'deploy-runner.config.json')
    .option('--no-drift-schedules', "do not start the config's drift checks on their schedules")
    .option(...SIGN_IN_OPTION)
    .action(async (opts: ServeOptions) => {
      quietHandlerLogs();
      try {
        requireGit();
        await assertPortFree(opts.port);
        const config = loadConfig(resolve(opts.config));
        const dataDir = resolve(opts.dataDir);
        prepareDataDir(dataDir);
        assertDataDirFree(dataDir);
        const { bundleRunner, startLocalServerWithSignIn } = serverModules();
        const bundle = await bundleRunner(join(dataDir, 'build'));
        const preferred = Object.values(config.repos)[0]?.tool ?? 'terraform';
        const tool = chooseTool(preferred, bundle.simulator);
        if (tool.kind === 'simulator') process.stdout.write(`${simulatorNotice()}\n`);
        const server = await startLocalServerWithSignIn(opts.signIn, {
          config,
          dataDir,
          port: opts.port,
          runnerScript: bundle.runner,
          toolPath: tool.path,
          runnerEnv: { TF_SIM_STATE_DIR: join(dataDir, 'tfstate') },
          echo: (line) => process.stdout.write(`${line}\n`),
          driftSchedules: opts.driftSchedules,
        });
        stopOnSignals(server);
        process.stdout.write(
          [
            `deploy-runner local server: ${server.url}`,
            `  state machine  ${server.stateMachineArn}`,
            `  runs           ${server.url}/`,
            `  outbox         ${server.outboxDir}`,
            `  try            ${tryCommand(config, server.url)}`,
            ...(server.signIn ? server.signIn.lines.map((line) => `  ${line}`) : []),
            '',
          ].join('\n'),
        );
      } catch (error) {
        explain(error);
      }
    });

  local
    .command('demo')
    .description(
      'the whole flow on this machine: plan a demo repo, print the approval link, apply once you approve; then offer a second run whose plan destroys a resource',
    )
    .option('--port <port>', 'port on 127.0.0.1', parsePort, 8787)
    .option('--data-dir <dir>', 'the demo folder (reset on every start)', '.deploy-runner/demo')
    .option('--exit-when-done', 'stop the server when the demo ends')
    .option(
      '--second-run',
      'after the first apply, start the second run (its plan destroys a resource) without asking',
    )
    .option('--no-second-run', 'end the demo after the first run')
    .option(...SIGN_IN_OPTION)
    .action(async (opts: DemoCommandOptions) => {
      quietHandlerLogs();
      try {
        await assertPortFree(opts.port);
        const demo = await serverModules().runDemo({
          dataDir: opts.dataDir,
          port: opts.port,
          exitWhenDone: opts.exitWhenDone === true,
          secondRun: opts.secondRun === undefined ? 'ask' : opts.secondRun ? 'start' : 'skip',
          signIn: opts.signIn === true,
        });
        if (!opts.exitWhenDone) stopOnSignals(demo.server);
        const status = await demo.finished;
        if (opts.exitWhenDone) process.exit(status === 'SUCCEEDED' ? 0 : 1);
      } catch (error) {
        explain(error);
      }
    });

  return local;
}
