import { plainIssue } from './config-errors';
import {
  type Allowlist,
  type DriftGlob,
  executionInputSchema,
  type ParsedExecutionInput,
} from './contracts';
import { pathPatternProblem, refPatternProblem } from './patterns';

/** What a run may do: plan and apply, or only plan. */
export type RunMode = ParsedExecutionInput['mode'];

/**
 * The allowlist check, shared by the `Validate request` function and the runner (which checks
 * again: defense in depth). Pure and total: any input yields a verdict, never an exception.
 */

export const COMMIT_SHA = /^[0-9a-f]{40}$/;

/** One reason a request was refused: the field, the value (truncated) and what is allowed. */
export interface Rejection {
  readonly field: string;
  readonly value: string;
  readonly problem: string;
}

export type Verdict =
  | {
      readonly ok: true;
      readonly input: ParsedExecutionInput;
      /** The path is a configured drift glob: the run lists its paths and checks each (docs/drift.md). */
      readonly expandGlob?: true;
    }
  | { readonly ok: false; readonly rejections: readonly Rejection[] };

/** Shows a value safely in a message: JSON-escaped (so control characters stay visible), cut to 60. */
export function shown(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    text = Object.prototype.toString.call(value);
  }
  const cut = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return JSON.stringify(cut);
}

/**
 * A wildcard never starts a dot segment (`.git`, `.terraform`): `envs/*` must not reach
 * `envs/.git`, and `**` must not cross one. Only a pattern that writes the dot itself does.
 */
const NO_DOT_SEGMENT_HERE = '(?!(?<=^|/)\\.)';

function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      source += `${NO_DOT_SEGMENT_HERE}(?:[^/]|/(?!\\.))*`;
      i++;
    } else if (c === '*') {
      source += `${NO_DOT_SEGMENT_HERE}[^/]*`;
    } else {
      source += c.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

/**
 * Whether `value` matches one of the glob `patterns` (`*` within a segment, `**` across; neither
 * matches a segment starting with ".").
 */
export function matchesAny(value: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => globToRegExp(p).test(value));
}

/** The branch patterns a run of `mode` may use (plan-only refs only plan). */
export function refsFor(repo: Allowlist[string], mode: RunMode): readonly string[] {
  return mode === 'plan-only'
    ? [...repo.allowedRefs, ...(repo.planOnlyRefs ?? [])]
    : repo.allowedRefs;
}

/**
 * Why a ref is refused for this repo and mode, or undefined when it is allowed. A ref that
 * matches `planOnlyRefs` is refused for apply by {@link modeProblem}, not here.
 */
export function refProblem(
  ref: string,
  repo: Allowlist[string],
  mode: RunMode = 'apply',
): string | undefined {
  const planOnly = repo.planOnlyRefs ?? [];
  const refs = [...repo.allowedRefs, ...planOnly];
  if (COMMIT_SHA.test(ref)) {
    return repo.allowCommits
      ? undefined
      : `commit SHAs are not allowed for this repo; use one of the branches ${refsFor(repo, mode).join(', ')}`;
  }
  const syntax = refPatternProblem(ref);
  if (syntax) return `is not a valid branch name: it ${syntax}`;
  // Git allows almost any byte in a branch name; a deploy server allows what people can read.
  // This keeps bidirectional overrides and zero-width characters from matching a wildcard.
  if (!/^[A-Za-z0-9._/*-]+$/.test(ref))
    return 'may only contain letters, digits, ".", "_", "-" and "/"';
  if (ref.includes('*')) return 'is a pattern; send a branch name or a 40-hex commit';
  if (!matchesAny(ref, refs))
    return `is not an allowed branch; allowed: ${repo.allowedRefs.join(', ')}${planOnly.length > 0 ? ` (plan-only: ${planOnly.join(', ')})` : ''}${repo.allowCommits ? ', or a 40-hex commit on one of them' : ''}`;
  return undefined;
}

/**
 * Why `mode` is refused for this ref, or undefined. A branch that matches `planOnlyRefs` may
 * only be planned, whatever `allowedRefs` says: a pull-request branch is never applied. (A
 * commit is checked by the runner, which knows the branches it is on.)
 */
export function modeProblem(
  mode: RunMode,
  ref: string,
  repo: Allowlist[string],
): string | undefined {
  const planOnly = repo.planOnlyRefs ?? [];
  if (mode !== 'apply' || COMMIT_SHA.test(ref) || !matchesAny(ref, planOnly)) return undefined;
  return `is not allowed on ref ${shown(ref)}: it matches planOnlyRefs (${planOnly.join(', ')}) and may only be planned; send mode "plan-only", or apply from ${repo.allowedRefs.join(', ')}`;
}

/** Why a path is refused for this repo, or undefined when it is allowed. */
export function pathProblem(path: string, repo: Allowlist[string]): string | undefined {
  const syntax = pathPatternProblem(path);
  if (syntax) return `is not a plain relative path: it ${syntax}`;
  if (path.includes('*')) return 'is a pattern; send one path';
  if (!matchesAny(path, repo.allowedPaths))
    return `is not an allowed path; allowed: ${repo.allowedPaths.join(', ')}`;
  return undefined;
}

/**
 * Whether a request names a drift glob of the config: a drift check with exactly that entry's
 * repo, ref and glob. Only such a request may send a pattern as its path; it is expanded at the
 * ref by the run itself, one drift check per path (lib/constructs/drift.ts).
 */
export function isConfiguredDriftGlob(
  input: Pick<ParsedExecutionInput, 'repo' | 'ref' | 'path' | 'drift'>,
  driftGlobs: readonly DriftGlob[],
): boolean {
  return (
    input.drift !== undefined &&
    input.path.includes('*') &&
    driftGlobs.some((g) => g.repo === input.repo && g.ref === input.ref && g.path === input.path)
  );
}

/**
 * Checks raw execution input against the schema and the allowlist. `driftGlobs` are the config's
 * drift entries whose path is a glob: a drift request naming one of them exactly is the only
 * request whose path may be a pattern.
 */
export function checkExecutionInput(
  raw: unknown,
  allowlist: Allowlist,
  driftGlobs: readonly DriftGlob[] = [],
): Verdict {
  const rejections: Rejection[] = [];
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return {
      ok: false,
      rejections: [
        {
          field: '(input)',
          value: shown(raw),
          problem: 'must be a JSON object { repo, ref, path, mode?, requestedBy?, ciRunUrl? }',
        },
      ],
    };
  }
  const parsed = executionInputSchema.safeParse(raw);
  if (!parsed.success) {
    // Report every problem at once, so CI users fix their call in one go.
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys)
          rejections.push({
            // An unknown key is attacker text: shown plain only when it is a plain name.
            field: /^[A-Za-z0-9_$-]{1,64}$/.test(key) ? key : shown(key),
            value: shown((raw as Record<string, unknown>)[key]),
            problem:
              'is not a known field; allowed: repo, ref, path, mode, requestedBy, ciRunUrl, drift',
          });
        continue;
      }
      const field = String(issue.path[0] ?? '(input)');
      rejections.push({
        field,
        value: shown((raw as Record<string, unknown>)[field]),
        problem: plainIssue(issue, (raw as Record<string, unknown>)[field]),
      });
    }
    return { ok: false, rejections };
  }
  const input = parsed.data;
  const repo = Object.hasOwn(allowlist, input.repo) ? allowlist[input.repo] : undefined;
  if (repo === undefined) {
    return {
      ok: false,
      rejections: [
        {
          field: 'repo',
          value: shown(input.repo),
          problem: `is not a configured repo; allowed: ${Object.keys(allowlist).join(', ')}`,
        },
      ],
    };
  }
  const ref = refProblem(input.ref, repo, input.mode);
  if (ref) rejections.push({ field: 'ref', value: shown(input.ref), problem: ref });
  const mode = ref ? undefined : modeProblem(input.mode, input.ref, repo);
  if (mode) rejections.push({ field: 'mode', value: shown(input.mode), problem: mode });
  const glob = isConfiguredDriftGlob(input, driftGlobs);
  const syntax = glob ? pathPatternProblem(input.path) : undefined;
  // A glob is checked as synth checks a drift entry's: its syntax, and within the allowed paths.
  const path = glob
    ? syntax
      ? `is not a plain relative path: it ${syntax}`
      : matchesAny(input.path, repo.allowedPaths)
        ? undefined
        : `is not an allowed path; allowed: ${repo.allowedPaths.join(', ')}`
    : pathProblem(input.path, repo);
  if (path)
    rejections.push({
      field: 'path',
      value: shown(input.path),
      problem:
        !glob && input.drift !== undefined && input.path.includes('*')
          ? `${path} (a drift check names a glob only as a drift entry of the config does, with its repo and ref)`
          : path,
    });
  if (input.requestedBy !== undefined && /[\x00-\x1f\x7f]/.test(input.requestedBy)) {
    rejections.push({
      field: 'requestedBy',
      value: shown(input.requestedBy),
      problem: 'must not contain control characters',
    });
  }
  if (rejections.length > 0) return { ok: false, rejections };
  return glob ? { ok: true, input, expandGlob: true } : { ok: true, input };
}

/** Formats rejections as one readable message, one line each. */
export function describeRejections(rejections: readonly Rejection[]): string {
  return `Request rejected:\n${rejections.map((r) => `  - ${r.field} ${r.value} ${r.problem}`).join('\n')}`;
}
