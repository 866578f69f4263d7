import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { Command, CommanderError, Option } from 'commander';
import { version } from '../../package.json';
import { detectCi } from './ci-env';
import { CiReport } from './ci-report';
import { type AwsTarget, type Clients, createClients, resolveTarget } from './clients';
import { consoleUrl } from './console-url';
import { type DriftFlags, driftOptions, runDriftChecks, splitDriftRuns } from './drift';
import {
  CliError,
  EXIT_CODE_HELP,
  ExitCode,
  exitCodeForError,
  explainError,
  outcomeOf,
} from './exit-codes';
import {
  APPROVAL_POLL_SECONDS,
  DEFAULT_POLL_INTERVALS,
  describeExecution,
  followExecution,
  type PollIntervals,
  parseApprovalPoll,
  withApprovalPoll,
} from './follow';
import { APPROVAL_STATE, type FollowEvent, HistoryTracker, readHistory } from './history';
import { LogTail } from './logs';
import { neutraliseLines } from './neutralise';
import { ApiPacer, type Clock, describeError, systemClock } from './pacer';
import { type OutputStream, Renderer } from './render';
import { localUser, planStart, type StartEnvironment, startExecution } from './start';
import { resolveLogGroup, resolveStateMachineArn, stateMachineArnOf } from './state-machine';

type Env = Readonly<Record<string, string | undefined>>;

/** Everything the CLI touches outside itself; tests replace parts of it. */
export interface CliIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly env: Env;
  /** @default systemClock */
  readonly clock?: Clock;
  /** @default createClients */
  readonly clients?: (target: AwsTarget) => Clients;
  /** @default - the real CI variables, git and clock */
  readonly startEnvironment?: Partial<StartEnvironment>;
  /** @default DEFAULT_POLL_INTERVALS */
  readonly intervals?: PollIntervals;
  /** @default 1000 */
  readonly minCallIntervalMs?: number;
  /** Stop following on Ctrl-C with a note that the run continues. @default false */
  readonly handleSignals?: boolean;
}

interface AwsFlags {
  region?: string;
  endpoint?: string;
  json?: boolean;
}

interface PollFlags {
  approvalPoll?: string;
}

interface FollowFlags extends AwsFlags, PollFlags {
  logGroup?: string;
  logs?: boolean;
  terraformReport?: string;
  path?: string;
}

const ENVIRONMENT_HELP = `Environment:
  DEPLOY_RUNNER_STATE_MACHINE_ARN  state machine to start (stack output StateMachineArn)
  DEPLOY_RUNNER_LOG_GROUP          runner log group to stream (stack output RunnerLogGroupName)
  DEPLOY_RUNNER_ENDPOINT           local mode server URL (instead of AWS)
  DEPLOY_RUNNER_APPROVAL_POLL      seconds between polls while a run waits for approval (--approval-poll)
  AWS_REGION                       used when neither --region nor an ARN names one
  NO_COLOR                         no colours;  CI=true: plain lines even on a terminal`;

/** Builds the `deploy-runner` program. `exit` receives the exit code of the command that ran. */
export function createProgram(
  io: CliIo,
  exit: (code: number) => void,
  options: { json?: boolean } = {},
): Command {
  const clock = io.clock ?? systemClock;
  let renderer: Renderer | undefined;
  let report: CiReport | undefined;
  /** The CI's report is extra: failing to write it must not change how the run ended. */
  const warnReport = (error: unknown) =>
    io.stderr.write(
      neutraliseLines(`deploy-runner: could not report to the CI: ${describeError(error)}\n`),
    );
  const reportFor = (flags: FollowFlags) => {
    report ??= new CiReport({
      env: io.env,
      json: flags.json,
      path: flags.path,
      terraformReport: flags.terraformReport,
    });
    return report;
  };
  const pacer = new ApiPacer({
    clock,
    minIntervalMs: io.minCallIntervalMs,
    onRetry: (notice) => renderer?.event({ type: 'retry', ...notice }),
  });
  let clients: Clients | undefined;
  const clientsFor = (target: AwsTarget) => {
    clients ??= (io.clients ?? ((t) => createClients(t, io.env)))(target);
    return clients;
  };
  /** The state machine a command acts on: the flag, the environment, or the stack's tag. */
  const stateMachineOf = (flags: AwsFlags & { stateMachineArn?: string }) =>
    resolveStateMachineArn({
      flag: flags.stateMachineArn,
      env: io.env,
      endpoint: resolveTarget(flags, io.env).endpoint,
      sfn: () => clientsFor(resolveTarget(flags, io.env)).sfn,
      pacer,
    });

  /** The runner's log group of a run: the flag, the environment, or its state machine's tag. */
  const logGroupOf = (executionArn: string, logGroup: string | undefined, target: AwsTarget) =>
    resolveLogGroup({
      flag: logGroup,
      env: io.env,
      endpoint: target.endpoint,
      stateMachineArn: stateMachineArnOf(executionArn),
      sfn: () => clientsFor(target).sfn,
      pacer,
    });

  /**
   * How `wait` paces its polls: `--approval-poll`, else DEPLOY_RUNNER_APPROVAL_POLL (empty
   * counts as unset, as CI templates leave unset variables), else the defaults.
   */
  const intervalsFor = (flags: PollFlags): PollIntervals => {
    const base = io.intervals ?? DEFAULT_POLL_INTERVALS;
    const fromEnv = io.env.DEPLOY_RUNNER_APPROVAL_POLL || undefined;
    if (flags.approvalPoll !== undefined)
      return withApprovalPoll(base, parseApprovalPoll(flags.approvalPoll, '--approval-poll'));
    if (fromEnv !== undefined)
      return withApprovalPoll(base, parseApprovalPoll(fromEnv, 'DEPLOY_RUNNER_APPROVAL_POLL'));
    return base;
  };

  const rendererFor = (flags: { json?: boolean }) => {
    renderer = new Renderer({ stream: io.stdout, env: io.env, json: flags.json });
    return renderer;
  };

  /** Runs an action, turning what it throws into a message and an exit code. */
  const action =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A) => {
      try {
        exit(await fn(...args));
      } catch (error) {
        renderer?.close();
        const code = exitCodeForError(error);
        const message = explainError(error);
        if (renderer?.mode === 'json') renderer.json({ type: 'error', message, exitCode: code });
        else io.stderr.write(neutraliseLines(`deploy-runner: ${message}\n`));
        const ci = report ?? new CiReport({ env: io.env, json: renderer?.mode === 'json' });
        await ci.fail(message).catch(() => {});
        exit(code);
      }
    };

  const follow = async (
    executionArn: string,
    flags: FollowFlags,
    target: AwsTarget,
    intervals: PollIntervals,
  ) => {
    const out = renderer ?? rendererFor(flags);
    const ci = reportFor(flags);
    const clients = clientsFor(target);
    const { sfn } = clients;
    const logGroup =
      flags.logs === false ? undefined : await logGroupOf(executionArn, flags.logGroup, target);
    const stop = () => {
      out.close();
      io.stderr.write(
        `\nStopped following; the run continues: ${consoleUrl(executionArn, target)}\n`,
      );
      process.exit(130);
    };
    if (io.handleSignals) process.once('SIGINT', stop);
    try {
      const outcome = await followExecution({
        sfn,
        pacer,
        executionArn,
        clock,
        intervals,
        logs: logGroup && flags.logs !== false ? { client: clients.logs, logGroup } : undefined,
        onEvent: (event) => {
          // Where to look instead: the run that holds the lock (its approval, its requester).
          if (event.type === 'result' && event.lockHolderArn && out.mode !== 'json')
            out.line(`   the lock holder: ${consoleUrl(event.lockHolderArn, target)}`);
          out.event(event);
          ci.event(event);
        },
      });
      out.close();
      await ci
        .finish(consoleUrl(executionArn, target), outcome)
        .catch((error) => warnReport(error));
      return outcome.exitCode;
    } finally {
      if (io.handleSignals) process.removeListener('SIGINT', stop);
    }
  };

  // `--json` promises JSON for every outcome: usage errors become a record run() prints.
  const outputError = (text: string, write: (t: string) => void) => {
    if (!options.json) write(text);
  };
  const program = new Command('deploy-runner')
    .description(
      'Start and follow deploy-runner runs: plan, approval by a person, apply of exactly the approved plan.',
    )
    .version(version)
    .showHelpAfterError(options.json ? false : '(add --help for usage)')
    .configureOutput({
      writeOut: (text) => io.stdout.write(neutraliseLines(text)),
      writeErr: (text) => io.stderr.write(neutraliseLines(text)),
      outputError,
    })
    .exitOverride()
    .addHelpText('after', `\n${EXIT_CODE_HELP}\n\n${ENVIRONMENT_HELP}\n`);

  const withAws = (command: Command) =>
    command
      .option('--region <region>', "AWS region (default: the ARN's region, then AWS_REGION)")
      .option('--endpoint <url>', 'local mode server instead of AWS (env DEPLOY_RUNNER_ENDPOINT)')
      .option('--json', 'print JSON lines for machines instead of text');
  const withPollOption = (command: Command) =>
    command.option(
      '--approval-poll <seconds>',
      `seconds between polls while the run waits at Request approval, ${APPROVAL_POLL_SECONDS.min}-${APPROVAL_POLL_SECONDS.max} (env DEPLOY_RUNNER_APPROVAL_POLL; default 20 growing to 30, at most 3 calls a minute). Each poll is one Step Functions call on the account's shared quota: 5 costs 12 calls a minute until someone decides. After 15 min of waiting polls slow to every 2 min either way.`,
    );
  const withLogs = (command: Command) =>
    withPollOption(command)
      .option('--log-group <name>', 'runner log group to stream (env DEPLOY_RUNNER_LOG_GROUP)')
      .option('--no-logs', "do not stream the runner's log lines")
      .option(
        '--terraform-report <file>',
        "write the plan's counts as GitLab's artifacts:reports:terraform JSON to <file>",
      );

  withLogs(
    withAws(
      program
        .command('start')
        .description('start a run of the workflow (and with --wait, follow it to the end)')
        .requiredOption('--repo <name>', 'repo name from the deploy-runner config')
        .requiredOption('--ref <ref>', 'branch or 40-hex commit to deploy')
        .requiredOption('--path <path>', 'root module directory inside the repo')
        .option('--plan-only', 'plan and report; never ask for approval or apply')
        .option('--wait', 'follow the run until it ends and exit with its result')
        .option(
          '--state-machine-arn <arn>',
          'state machine to start (env DEPLOY_RUNNER_STATE_MACHINE_ARN)',
        )
        .option(
          '--run-id <id>',
          'CI run ID for the execution name (default: from the CI environment; "manual-<time>" elsewhere)',
        ),
    ),
  ).action(
    action(
      async (
        flags: FollowFlags & {
          repo: string;
          ref: string;
          path: string;
          planOnly?: boolean;
          wait?: boolean;
          stateMachineArn?: string;
          runId?: string;
        },
      ) => {
        const out = rendererFor(flags);
        // A bad value stops here, before a run is started that nobody could follow as asked.
        const intervals = intervalsFor(flags);
        const stateMachineArn = await stateMachineOf(flags);
        const target = resolveTarget({ ...flags, arn: stateMachineArn }, io.env);
        const environment: StartEnvironment = {
          ci: detectCi(io.env),
          localUser: () => localUser(io.env),
          now: () => new Date(clock.now()),
          ...io.startEnvironment,
        };
        const { input, name } = planStart(flags, environment);
        const started = await startExecution({
          sfn: clientsFor(target).sfn,
          pacer,
          stateMachineArn,
          name,
          input,
        });
        const url = consoleUrl(started.executionArn, target);
        out.json({ type: 'started', ...started, consoleUrl: url, input });
        const ci = reportFor(flags);
        await ci
          .start({ executionArn: started.executionArn, consoleUrl: url, name })
          .catch((error) => warnReport(error));
        if (started.attached) {
          const when = started.startDate ? ` started ${started.startDate.toISOString()}` : '';
          out.line(`Attached to the existing run ${out.paint('bold', name)}${when}`);
          if (started.differences?.length) {
            out.line(
              out.paint(
                'dim',
                `   (it was started with a different ${started.differences.join(' and ')}; this is the same job retried)`,
              ),
            );
          }
        } else {
          out.line(
            `Started ${out.paint('bold', name)}${input.mode === 'plan-only' ? ' (plan only)' : ''}`,
          );
        }
        out.line(`   ${url}`);
        if (!flags.wait) {
          await ci
            .finish(url, {
              status: 'RUNNING',
              result: 'running',
              exitCode: ExitCode.Ok,
              message: 'Started; not followed (no --wait)',
            })
            .catch((error) => warnReport(error));
          return ExitCode.Ok;
        }
        return follow(started.executionArn, flags, target, intervals);
      },
    ),
  );

  withLogs(
    withAws(
      program
        .command('wait')
        .argument('<executionArn>', 'the run to follow')
        .description(
          'follow a run: states as they are entered, plan summary, approval request, runner logs, outcome',
        ),
    ),
  ).action(
    action(async (executionArn: string, flags: FollowFlags) => {
      rendererFor(flags);
      const intervals = intervalsFor(flags);
      return follow(
        executionArn,
        flags,
        resolveTarget({ ...flags, arn: executionArn }, io.env),
        intervals,
      );
    }),
  );

  withAws(
    withPollOption(
      program
        .command('logs')
        .argument('<executionArn>', 'the run whose runner logs to print')
        .description("print the runner's log lines (plan and apply) of a run")
        .option('--log-group <name>', 'runner log group (env DEPLOY_RUNNER_LOG_GROUP)')
        .option('-f, --follow', 'keep printing until the run ends, then exit with its result'),
    ),
  ).action(
    action(
      async (
        executionArn: string,
        flags: AwsFlags & PollFlags & { logGroup?: string; follow?: boolean },
      ) => {
        const out = rendererFor(flags);
        const intervals = intervalsFor(flags);
        const target = resolveTarget({ ...flags, arn: executionArn }, io.env);
        const { sfn, logs } = clientsFor(target);
        const logGroup = await logGroupOf(executionArn, flags.logGroup, target);
        if (!logGroup) {
          throw new CliError(
            'No log group: pass --log-group or set DEPLOY_RUNNER_LOG_GROUP (the stack output RunnerLogGroupName).',
          );
        }
        let lastTask: string | undefined;
        const print = (event: FollowEvent) => {
          if (event.type === 'log') {
            if (out.mode === 'json') return out.event(event);
            if (event.taskId !== lastTask) {
              out.line(out.paint('dim', `== ${event.state} (task ${event.taskId}) ==`));
              lastTask = event.taskId;
            }
            out.line(event.message);
          } else if (event.type === 'retry' || event.type === 'result') {
            out.event(event);
          }
        };
        if (flags.follow) {
          const outcome = await followExecution({
            sfn,
            pacer,
            executionArn,
            clock,
            intervals,
            logs: { client: logs, logGroup },
            onEvent: print,
          });
          return outcome.exitCode;
        }
        const tracker = new HistoryTracker();
        tracker.apply(await readHistory(sfn, pacer, executionArn));
        if (tracker.tasks.length === 0) {
          out.line('No runner tasks yet: the run has not reached Plan.');
        }
        for (const task of tracker.tasks) {
          await new LogTail({ logs, pacer, logGroup, task, clock }).drain(print);
        }
        return ExitCode.Ok;
      },
    ),
  );

  withAws(
    program
      .command('status')
      .argument('<executionArn>', 'the run to describe')
      .description(
        "print a run's status once; exits 0 while it runs, else with the run's exit code",
      ),
  ).action(
    action(async (executionArn: string, flags: AwsFlags) => {
      const out = rendererFor(flags);
      const target = resolveTarget({ ...flags, arn: executionArn }, io.env);
      const { sfn } = clientsFor(target);
      const execution = await describeExecution(sfn, pacer, executionArn);
      const tracker = new HistoryTracker();
      const events = tracker.apply(await readHistory(sfn, pacer, executionArn));
      const outcome = outcomeOf(execution);
      const url = consoleUrl(executionArn, target);
      const plan = events.findLast((e) => e.type === 'plan');
      const approval = events.findLast((e) => e.type === 'approval-requested');
      out.json({
        type: 'status',
        executionArn,
        name: execution.name,
        startDate: execution.startDate,
        stopDate: execution.stopDate,
        currentState: tracker.currentState,
        consoleUrl: url,
        plan: plan?.summary,
        approvalRequest: approval && { ...approval, type: undefined },
        ...outcome,
      });
      if (out.mode === 'json') return outcome.exitCode;
      out.line(`${out.paint('bold', execution.name ?? executionArn)}: ${execution.status}`);
      if (execution.startDate) out.line(`   started ${execution.startDate.toISOString()}`);
      if (execution.stopDate) out.line(`   stopped ${execution.stopDate.toISOString()}`);
      if (outcome.result === 'running' && tracker.currentState) {
        out.line(`   now at: ${tracker.currentState}`);
        if (tracker.currentState === APPROVAL_STATE && approval) out.event(approval);
      }
      if (plan) out.event(plan);
      if (outcome.result !== 'running') out.event({ type: 'result', executionArn, ...outcome });
      out.line(`   ${url}`);
      return outcome.exitCode;
    }),
  );

  withAws(
    program
      .command('list')
      .description('list recent runs of the state machine, newest first')
      .option('--state-machine-arn <arn>', 'state machine (env DEPLOY_RUNNER_STATE_MACHINE_ARN)')
      .addOption(
        new Option('--status <status>', 'only runs with this status').choices([
          'RUNNING',
          'SUCCEEDED',
          'FAILED',
          'TIMED_OUT',
          'ABORTED',
          'PENDING_REDRIVE',
        ]),
      )
      .option('--max <n>', 'how many runs to list (1-1000)', '20'),
  ).action(
    action(async (flags: AwsFlags & { stateMachineArn?: string; status?: string; max: string }) => {
      const out = rendererFor(flags);
      const max = Number(flags.max);
      if (!Number.isInteger(max) || max < 1 || max > 1000) {
        throw new CliError(`--max must be a whole number from 1 to 1000, got "${flags.max}"`);
      }
      const stateMachineArn = await stateMachineOf(flags);
      const target = resolveTarget({ ...flags, arn: stateMachineArn }, io.env);
      const { sfn } = clientsFor(target);
      const { executions = [] } = await pacer.call('ListExecutions', () =>
        sfn.send(
          new ListExecutionsCommand({
            stateMachineArn,
            maxResults: max,
            ...(flags.status ? { statusFilter: flags.status as 'RUNNING' } : {}),
          }),
        ),
      );
      // Drift checks apart from deploys (their names start with "drift-": lib/drift-input.ts).
      const [drift, deploys] = splitDriftRuns(executions);
      for (const execution of deploys) {
        out.json({ type: 'execution', ...execution });
        const started = execution.startDate?.toISOString().slice(0, 16).replace('T', ' ') ?? '';
        out.line(`${(execution.status ?? '').padEnd(15)} ${started}  ${execution.name}`);
      }
      if (deploys.length === 0) out.line('No runs.');
      if (drift.length > 0) out.line(out.paint('bold', 'Drift checks:'));
      for (const execution of drift) {
        out.json({ type: 'execution', kind: 'drift', ...execution });
        const started = execution.startDate?.toISOString().slice(0, 16).replace('T', ' ') ?? '';
        out.line(`${(execution.status ?? '').padEnd(15)} ${started}  ${execution.name}`);
      }
      return ExitCode.Ok;
    }),
  );

  withAws(driftOptions(program.command('drift'))).action(
    action(async (flags: DriftFlags) => {
      const out = rendererFor(flags);
      if (flags.onDrift !== 'notify' && flags.onDrift !== 'request-approval')
        throw new CliError(`--on-drift must be notify or request-approval, got "${flags.onDrift}"`);
      const sfn = () => clientsFor(resolveTarget(flags, io.env)).sfn;
      const stateMachineArn = () => stateMachineOf(flags);
      return runDriftChecks(flags, { sfn, stateMachineArn, pacer, clock, out });
    }),
  );

  return program;
}

/** Adds commands owned elsewhere; `exit` receives the exit code of the command that ran. */
export type ExtendProgram = (program: Command, io: CliIo, exit: (code: number) => void) => unknown;

/**
 * Runs the CLI with `argv` (as in process.argv) and resolves to the exit code. `extend` adds
 * commands owned elsewhere (bin/deploy-runner.ts adds `doctor` and `local`; the CI bundle,
 * bin/ci.ts, neither).
 */
export async function run(
  argv: readonly string[],
  io: CliIo = processIo(),
  extend?: ExtendProgram,
): Promise<number> {
  let code: number = ExitCode.Ok;
  const setCode = (c: number) => {
    code = c;
  };
  const json = argv.includes('--json');
  const program = createProgram(io, setCode, { json });
  extend?.(program, io, setCode);
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version exit 0; every parse error is bad usage.
      if (error.exitCode === 0) return ExitCode.Ok;
      if (json) {
        const message = error.message.replace(/^error: /, '');
        io.stdout.write(
          `${JSON.stringify({ type: 'error', message, exitCode: ExitCode.Usage })}\n`,
        );
      }
      return ExitCode.Usage;
    }
    io.stderr.write(neutraliseLines(`deploy-runner: ${describeError(error)}\n`));
    return exitCodeForError(error);
  }
  return code;
}

/** The real process: stdout, stderr, environment, Ctrl-C handling. */
export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, handleSignals: true };
}

/** Sets the process's exit code from a CLI run; an error that escaped it prints one line, exit 1. */
export function exitWith(result: Promise<number>): void {
  result.then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`deploy-runner: ${describeError(error)}\n`);
      process.exitCode = 1;
    },
  );
}
