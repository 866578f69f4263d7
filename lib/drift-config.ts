import * as z from 'zod';
import { matchesAny } from './allowlist';
import { CronError, parseCron } from './cron';

/**
 * The `drift` section of the config (docs/drift.md): which repo paths are planned on a schedule
 * to find infrastructure that no longer matches the code. Checked at synth like the rest.
 */

const RATE = /^rate\(([1-9][0-9]{0,5}) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\(([^()]+)\)$/;
const CRON_FIELD = /^[0-9A-Za-z*?,/#L W-]+$/;
const CRON_FIELD_NAMES = ['minutes', 'hours', 'day-of-month', 'month', 'day-of-week', 'year'];

/** Why an EventBridge Scheduler expression is refused, or undefined. */
export function scheduleProblem(expression: string): string | undefined {
  const rate = RATE.exec(expression);
  if (rate) {
    const [, value, unit] = rate as unknown as [string, string, string];
    if ((value === '1') !== !unit.endsWith('s'))
      return `says "${value} ${unit}": EventBridge Scheduler wants "rate(1 ${unit.replace(/s$/, '')})" for one and the plural for more`;
    return undefined;
  }
  const cron = CRON.exec(expression);
  if (cron) {
    const fields = (cron[1] as string).trim().split(/\s+/);
    const bad = fields.findIndex((f) => !CRON_FIELD.test(f));
    if (fields.length === 6 && bad >= 0)
      return `has an invalid ${CRON_FIELD_NAMES[bad]} field "${fields[bad]}"`;
    // The parser local mode schedules with: what passes here fires there as in AWS.
    try {
      parseCron(cron[1] as string);
    } catch (error) {
      if (error instanceof CronError) return error.message;
      throw error;
    }
    return undefined;
  }
  return 'is not a schedule: use "rate(1 hour)", "rate(30 minutes)" or "cron(0 6 * * ? *)"';
}

/** Whether `zone` is an IANA time zone this runtime knows (EventBridge uses the same database). */
export function timezoneProblem(zone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return undefined;
  } catch {
    return 'is not an IANA time zone (like "UTC" or "Europe/Berlin")';
  }
}

export const driftEntrySchema = z.strictObject({
  /** A repo of `repos`. */
  repo: z.string().min(1),
  /** A path or glob (`envs/*`); a glob is expanded against the directories that exist at `ref`. */
  path: z.string().min(1).max(200),
  /** `rate(...)` or `cron(...)`, EventBridge Scheduler syntax. */
  schedule: z.string().superRefine((value, ctx) => {
    const problem = scheduleProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  /** Time zone of a `cron(...)` schedule. */
  timezone: z
    .string()
    .superRefine((value, ctx) => {
      const problem = timezoneProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .default('UTC'),
  /** The branch whose code is compared with reality (one of the repo's `allowedRefs`). */
  ref: z.string().min(1).default('main'),
  /** What happens when the plan is not empty. */
  onDrift: z
    .enum(['notify', 'request-approval'], { error: 'must be "notify" or "request-approval"' })
    .default('notify'),
});
export type DriftEntry = z.output<typeof driftEntrySchema>;

export const driftSchema = z.array(driftEntrySchema).max(100).default([]);

interface ReposView {
  readonly repos: Record<
    string,
    { allowedRefs: string[]; planOnlyRefs: string[]; allowedPaths: string[] }
  >;
  readonly drift: readonly DriftEntry[];
}

/** Problems of drift entries against the repos they name: `[path, value, message]`. */
export function driftConfigProblems(
  config: ReposView,
  pathProblem: (pattern: string) => string | undefined,
): { path: (string | number)[]; input: unknown; message: string }[] {
  const problems: { path: (string | number)[]; input: unknown; message: string }[] = [];
  const seen = new Map<string, number>();
  config.drift.forEach((entry, i) => {
    const repo = Object.hasOwn(config.repos, entry.repo) ? config.repos[entry.repo] : undefined;
    if (!repo) {
      problems.push({
        path: ['drift', i, 'repo'],
        input: entry.repo,
        message: `is not a repo of "repos"; declared: ${Object.keys(config.repos).join(', ')}`,
      });
      return;
    }
    if (entry.ref.includes('*') || !matchesAny(entry.ref, repo.allowedRefs))
      problems.push({
        path: ['drift', i, 'ref'],
        input: entry.ref,
        message: `must be one branch of the repo's allowedRefs (${repo.allowedRefs.join(', ')}): a drift check compares reality with what may be deployed`,
      });
    const syntax = pathProblem(entry.path);
    if (syntax)
      problems.push({ path: ['drift', i, 'path'], input: entry.path, message: `path ${syntax}` });
    else if (!matchesAny(entry.path, repo.allowedPaths))
      problems.push({
        path: ['drift', i, 'path'],
        input: entry.path,
        message: `is not within the repo's allowedPaths (${repo.allowedPaths.join(', ')})`,
      });
    const key = `${entry.repo}#${entry.path}`;
    const first = seen.get(key);
    if (first !== undefined)
      problems.push({
        path: ['drift', i],
        input: key,
        message: `checks ${entry.repo} ${entry.path} again (drift.${first} does): one schedule per repo and path`,
      });
    seen.set(key, first ?? i);
  });
  return problems;
}
