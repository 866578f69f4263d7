import { execFileSync } from 'node:child_process';
import {
  DescribeExecutionCommand,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { Command } from 'commander';
import { matchesAny } from '../allowlist';
import { driftCheckOutputSchema, driftResultSchema } from '../contracts';
import { driftExecutionPrefix, driftInput, isDriftRunName } from '../drift-input';
import { ExitCode } from './exit-codes';
import type { ApiPacer, Clock } from './pacer';
import type { Renderer } from './render';

/**
 * `deploy-runner drift`: runs a drift check now (docs/drift.md), so CI can run it too. Exit 0:
 * no drift (or skipped: another run holds the path); 7: drift found; 1: the check failed, however
 * it failed (a tampered plan too: `drift` never returns another command's codes).
 */

export const DriftExit = {
  NoDrift: ExitCode.Ok,
  Failed: ExitCode.RunFailed,
  DriftFound: ExitCode.DriftFound,
} as const;

export interface DriftFlags {
  repo: string;
  path: string;
  ref: string;
  onDrift: 'notify' | 'request-approval';
  stateMachineArn?: string;
  region?: string;
  endpoint?: string;
  json?: boolean;
}

/** A glob expanded against the directories of the current checkout at `ref` (origin's first). */
export function expandInCheckout(glob: string, ref: string, cwd = process.cwd()): string[] {
  if (!glob.includes('*')) return [glob];
  for (const tree of [`refs/remotes/origin/${ref}`, `refs/heads/${ref}`, 'HEAD']) {
    try {
      const files = execFileSync('git', ['ls-tree', '-r', '--name-only', '--full-tree', tree], {
        cwd,
        stdio: 'pipe',
        maxBuffer: 64 * 1024 * 1024,
      })
        .toString()
        .split('\n')
        .filter(Boolean);
      const dirs = new Set(files.map((f) => f.split('/').slice(0, -1).join('/')).filter(Boolean));
      return [...dirs].filter((d) => matchesAny(d, [glob])).sort();
    } catch {
      // Not this tree: try the next one.
    }
  }
  throw new Error(`cannot expand "${glob}": run in a git checkout of the repo, or give one path`);
}

export interface DriftCommandContext {
  readonly sfn: () => SFNClient;
  readonly stateMachineArn: () => Promise<string>;
  readonly pacer: ApiPacer;
  readonly clock: Clock;
  readonly out: Renderer;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly cwd?: string;
}

/** Starts one check per path, waits for each, prints one line each; resolves to the exit code. */
export async function runDriftChecks(flags: DriftFlags, ctx: DriftCommandContext): Promise<number> {
  const paths = expandInCheckout(flags.path, flags.ref, ctx.cwd);
  if (paths.length === 0) {
    ctx.out.line(`No directory matches ${flags.path} at ${flags.ref}: nothing to check.`);
    return DriftExit.NoDrift;
  }
  const stateMachineArn = await ctx.stateMachineArn();
  const sfn = ctx.sfn();
  const sleep = ctx.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  const stamp = new Date(ctx.clock.now()).toISOString().replace(/\D/g, '').slice(0, 14);
  const entry = { repo: flags.repo, ref: flags.ref, onDrift: flags.onDrift };
  const started = await Promise.all(
    paths.map(async (path) => {
      const name = `${driftExecutionPrefix(path)}${stamp}-cli`;
      const out = await ctx.pacer.call('StartExecution', () =>
        sfn.send(
          new StartExecutionCommand({
            stateMachineArn,
            name,
            input: JSON.stringify(driftInput(entry, path)),
          }),
        ),
      );
      if (!out.executionArn)
        throw new Error(`StartExecution returned no execution ARN for ${path}`);
      return { path, executionArn: out.executionArn };
    }),
  );
  let code: number = DriftExit.NoDrift;
  for (const run of started) {
    let described = await ctx.pacer.call('DescribeExecution', () =>
      sfn.send(new DescribeExecutionCommand({ executionArn: run.executionArn })),
    );
    while (described.status === 'RUNNING') {
      await sleep(2000);
      described = await ctx.pacer.call('DescribeExecution', () =>
        sfn.send(new DescribeExecutionCommand({ executionArn: run.executionArn })),
      );
    }
    if (described.status !== 'SUCCEEDED') {
      ctx.out.json({ type: 'drift', path: run.path, result: 'failed', error: described.error });
      ctx.out.line(
        `✗ ${run.path}: the check failed (${described.error ?? described.status}): ${described.cause ?? ''}`,
      );
      code = DriftExit.Failed;
      continue;
    }
    const { drift } = driftCheckOutputSchema.parse(JSON.parse(described.output ?? '{}'));
    const outcome = driftResultSchema.parse(drift);
    if ('skipped' in outcome) {
      const summary = outcome.summary;
      ctx.out.json({ type: 'drift', path: run.path, result: 'skipped', summary });
      ctx.out.line(`- ${run.path}: ${summary}`);
      continue;
    }
    ctx.out.json({
      type: 'drift',
      path: run.path,
      result: outcome.drifted ? 'drift' : 'none',
      ...outcome,
    });
    ctx.out.line(`${outcome.drifted ? '! ' : '✓ '}${run.path}: ${outcome.summary}`);
    if (outcome.drifted && code !== DriftExit.Failed) code = DriftExit.DriftFound;
  }
  return code;
}

/** The options of `deploy-runner drift`. */
export function driftOptions(command: Command): Command {
  return command
    .description(
      'check for drift now: plan read-only, never apply (exit 0 no drift, 7 drift found, 1 failed)',
    )
    .requiredOption('--repo <name>', 'repo name from the deploy-runner config')
    .requiredOption('--path <path>', 'root module directory, or a glob expanded in this checkout')
    .option('--ref <branch>', 'the branch whose code reality is compared with', 'main')
    .option(
      '--on-drift <action>',
      'notify, or request-approval (start a run asking to bring reality back to the code)',
      'notify',
    )
    .option('--state-machine-arn <arn>', 'state machine (env DEPLOY_RUNNER_STATE_MACHINE_ARN)');
}

/** `list`: drift checks apart from deploys, each in its original order. */
export function splitDriftRuns<T extends { name?: string }>(executions: readonly T[]): [T[], T[]] {
  const drift = executions.filter((e) => isDriftRunName(e.name));
  return [drift, executions.filter((e) => !isDriftRunName(e.name))];
}
