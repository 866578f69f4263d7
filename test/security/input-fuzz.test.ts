import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAgainstAllowlist } from '../../containers/runner/src/context';
import { parseRunnerEnv } from '../../containers/runner/src/env';
import { InputRefusedError } from '../../containers/runner/src/errors';
import { resolveModuleDir } from '../../containers/runner/src/workspace';
import { createLogger } from '../../handlers/shared/logger';
import { createValidateRequestHandler } from '../../handlers/validate-request';
import {
  checkExecutionInput,
  describeRejections,
  matchesAny,
  type Verdict,
} from '../../lib/allowlist';
import { runRequestSchema } from '../../lib/contracts';
import {
  ALLOWLIST,
  anyInputArb,
  executionInputArb,
  globMatches,
  KNOWN_FIELDS,
  triplesArb,
} from './generators';

/**
 * Property-based fuzzing of what CI can send: the `Validate request` check
 * (checkExecutionInput) and the runner's own re-check of its environment. The generators
 * (./generators.ts) mix allowed values with traversal, option injection, refspecs, unicode
 * look-alikes, control characters, oversized and wrongly typed values and prototype keys.
 *
 * Figures: RUNS inputs for each of the three properties the issue asks for, plus the Lambda
 * boundary and the checkout containment checks.
 */

const RUNS = 10_000;
const LAMBDA_RUNS = 2_000;
const CHECKOUT_RUNS = 2_000;

const COMMIT = /^[0-9a-f]{40}$/;
const STACK_TRACE = /\n\s+at .+:\d+:\d+/;

/**
 * Plain checks rather than `expect` in the hot loops (tens of thousands of inputs): each
 * names the property it guards, and the first failure throws with the input that broke it.
 */
function check(condition: boolean, what: string, detail: unknown): void {
  if (!condition) throw new Error(`${what}: ${JSON.stringify(detail)?.slice(0, 400)}`);
}

/** Property (a): an accepted input is inside the allowlist, checked by an independent oracle. */
function checkInsideAllowlist(raw: unknown, verdict: Verdict): void {
  if (!verdict.ok) return;
  const { input } = verdict;
  check(raw !== null && typeof raw === 'object' && !Array.isArray(raw), 'not an object', raw);
  const sent = raw as Record<string, unknown>;
  const keys = Object.keys(sent);
  check(
    keys.every((k) => (KNOWN_FIELDS as readonly string[]).includes(k)),
    'unknown key accepted',
    keys,
  );
  // What is accepted is exactly what was sent: nothing normalized into an allowed value.
  check(
    input.repo === sent.repo && input.ref === sent.ref && input.path === sent.path,
    'accepted input differs from what was sent',
    { input, sent },
  );

  check(Object.hasOwn(ALLOWLIST, input.repo), 'repo is not a configured key', input.repo);
  const repo = ALLOWLIST[input.repo] as (typeof ALLOWLIST)[string];

  const ref = input.ref;
  const planOnly = repo.planOnlyRefs ?? [];
  const refs = input.mode === 'plan-only' ? [...repo.allowedRefs, ...planOnly] : repo.allowedRefs;
  check(
    COMMIT.test(ref) ? repo.allowCommits : refs.some((p) => globMatches(p, ref)),
    'ref outside the allowed refs',
    { repo: input.repo, ref, mode: input.mode },
  );
  // A plan-only ref is never applied, whatever else allows it.
  check(
    input.mode !== 'apply' || !planOnly.some((p) => globMatches(p, ref)),
    'apply accepted on a plan-only ref',
    { repo: input.repo, ref },
  );
  check(ref.length <= 200, 'ref too long', ref.length);
  // Plain ASCII a person can read, and nothing git could read as an option, a refspec
  // (`src:dst`, `+src`), a revision expression or a pattern.
  check(/^[A-Za-z0-9._/-]+$/.test(ref), 'ref has a character outside [A-Za-z0-9._/-]', ref);
  check(!/^[-/]|^refs\/|\/$|\/\/|\.\.|\.lock$|\.$/.test(ref), 'ref git could misread', ref);

  const path = input.path;
  const segments = path.split('/');
  check(
    repo.allowedPaths.some((p) => globMatches(p, path)),
    'path outside the allowed globs',
    path,
  );
  check(/^[A-Za-z0-9._/-]+$/.test(path), 'path has a character outside [A-Za-z0-9._/-]', path);
  check(!path.startsWith('/'), 'absolute path', path);
  check(
    !segments.some((s) => s === '..' || s === '.' || s === '' || s.startsWith('-')),
    'path has a "..", ".", empty or option-like segment',
    path,
  );
  // No pattern of ALLOWLIST writes a dot segment, so no accepted path holds one (.git, .terraform).
  check(!segments.some((s) => s.startsWith('.')), 'path reaches a dot segment', path);

  check(input.mode === 'apply' || input.mode === 'plan-only', 'unknown mode', input.mode);
  check(
    input.requestedBy === undefined || !/[\x00-\x1f\x7f]/.test(input.requestedBy),
    'control character in requestedBy',
    input.requestedBy,
  );
  check(
    input.ciRunUrl === undefined || /^https?:\/\//i.test(input.ciRunUrl),
    'ciRunUrl is not http(s)',
    input.ciRunUrl,
  );
}

/** A JSON string literal of at most 60 characters of the original (how `shown` cuts values). */
function isShortJsonString(text: string): boolean {
  try {
    const decoded = JSON.parse(text) as unknown;
    return typeof decoded === 'string' && decoded.length <= 60;
  } catch {
    return false;
  }
}

/** Property (b): the verdict is always one of the two documented shapes, readable and bounded. */
function checkStructuredVerdict(verdict: Verdict): void {
  check(typeof verdict === 'object' && verdict !== null, 'verdict is not an object', verdict);
  const keys = Object.keys(verdict).sort().join(',');
  if (verdict.ok === true) {
    check(keys === 'input,ok', 'accepted verdict has other keys', keys);
    return;
  }
  check(verdict.ok === false && keys === 'ok,rejections', 'verdict shape', verdict);
  check(verdict.rejections.length > 0, 'refused without a rejection', verdict);
  for (const r of verdict.rejections) {
    check(Object.keys(r).sort().join(',') === 'field,problem,value', 'rejection shape', r);
    for (const text of [r.field, r.value, r.problem]) {
      check(typeof text === 'string', 'rejection text is not a string', r);
      check(!STACK_TRACE.test(text), 'stack trace in a rejection', r);
    }
    check(r.value.length > 0 && r.problem.length > 0, 'empty value or problem', r);
    // The field is a plain name, or (an unknown key that is not one) a short JSON literal: it
    // cannot add lines or control characters to the message.
    check(r.field.length > 0, 'empty field name', r);
    check(!/[\x00-\x1f\x7f]/.test(r.field), 'control character in the field name', r);
    check(
      /^[A-Za-z0-9_$()-]{1,64}$/.test(r.field) || isShortJsonString(r.field),
      'field is neither a plain name nor a short JSON string',
      r,
    );
    check(r.problem.length <= 400, 'problem too long', r);
    // The value is a JSON string literal of at most 60 characters of the original: printable
    // values stay within 70 characters; escapes (\u0000...) are what makes longer ones.
    check(isShortJsonString(r.value), 'value not a short JSON string', r);
    if (!/[\x00-\x1f"\\\ud800-\udfff]/.test(JSON.parse(r.value) as string))
      check(r.value.length <= 70, 'printable value longer than 70 characters', r);
  }
  check(
    describeRejections(verdict.rejections).startsWith('Request rejected:\n  - '),
    'message',
    verdict,
  );
}

const RUNNER_BASE_ENV = {
  DR_MODE: 'plan',
  DR_ALLOWLIST: JSON.stringify(ALLOWLIST),
  DR_RUN_ID: 'infra-envs-dev-abc1234-1',
  DR_EXECUTION_ARN: 'arn:aws:states:us-east-1:123456789012:execution:deploy-runner:run-1',
  DR_ARTIFACT_DIR: '/nonexistent/artifacts',
};

/**
 * The runner's verdict on repo/ref/path, exactly as its environment delivers them: the plan task
 * of an apply run (no `requestMode`), of a plan-only run, or the apply task (`apply`).
 */
function runnerVerdict(
  triple: { repo: string; ref: string; path: string },
  requestMode?: 'plan-only' | 'apply',
): boolean {
  try {
    const env = parseRunnerEnv({
      ...RUNNER_BASE_ENV,
      ...(requestMode === 'plan-only' && { DR_REQUEST_MODE: 'plan-only' }),
      ...(requestMode === 'apply' && {
        DR_MODE: 'apply',
        DR_COMMIT: 'a'.repeat(40),
        DR_PLAN_KEY: 'runs/x/plan.tfplan',
        DR_PLAN_VERSION_ID: 'v1',
        DR_PLAN_SHA256: 'b'.repeat(64),
      }),
      DR_REPO: triple.repo,
      DR_REF: triple.ref,
      DR_PATH: triple.path,
    });
    checkAgainstAllowlist(env);
    return true;
  } catch (error) {
    // Anything but a refusal is a crash, and fails the property.
    if (error instanceof InputRefusedError) return false;
    throw error;
  }
}

describe('fuzzing the execution input (checkExecutionInput)', () => {
  it(`(a) accepts nothing outside the allowlist: ${RUNS.toLocaleString('en')} hostile inputs`, () => {
    let accepted = 0;
    fc.assert(
      fc.property(executionInputArb, (raw) => {
        const verdict = checkExecutionInput(raw, ALLOWLIST);
        if (verdict.ok) accepted++;
        checkInsideAllowlist(raw, verdict);
      }),
      { numRuns: RUNS },
    );
    // The property is not vacuous: a good share of inputs is accepted, most are refused.
    expect(accepted).toBeGreaterThan(RUNS * 0.02);
    expect(accepted).toBeLessThan(RUNS * 0.5);
  });

  it(`(b) never throws and always answers {ok} or {ok:false, rejections}: ${RUNS.toLocaleString('en')} inputs of any type`, () => {
    fc.assert(
      fc.property(anyInputArb, (raw) => {
        // A throw fails the property with the input that caused it.
        const verdict = checkExecutionInput(raw, ALLOWLIST);
        checkStructuredVerdict(verdict);
        checkInsideAllowlist(raw, verdict);
      }),
      { numRuns: RUNS },
    );
  });

  it(`(c) the runner refuses exactly what the validator refuses: ${RUNS.toLocaleString('en')} repo/ref/path triples`, () => {
    let agreedAccepted = 0;
    fc.assert(
      fc.property(triplesArb, (triple) => {
        const validator = checkExecutionInput(triple, ALLOWLIST).ok;
        const runner = runnerVerdict(triple);
        if (runner !== validator)
          throw new Error(`validator ${validator}, runner ${runner}: ${JSON.stringify(triple)}`);
        if (runner) agreedAccepted++;
      }),
      { numRuns: RUNS },
    );
    expect(agreedAccepted).toBeGreaterThan(RUNS * 0.02);
  });

  it(`(d) apply is never accepted on a plan-only ref, by the validator or the runner; plan-only is: ${RUNS.toLocaleString('en')} refs`, () => {
    const segment = fc
      .stringMatching(/^[a-z0-9][a-z0-9._-]{0,11}$/)
      .filter((s) => !s.endsWith('.') && !s.endsWith('.lock') && !s.includes('..'));
    const planOnlyRef = fc.oneof(
      fc
        .tuple(fc.constantFrom('infra', 'sandbox'), segment)
        .map(([repo, n]) => ({ repo, ref: `pr/${n}` })),
      fc.tuple(segment, segment).map(([a, b]) => ({ repo: 'infra', ref: `pr/${a}/${b}` })),
      segment.map((n) => ({ repo: 'infra', ref: `release/rc-${n}` })),
    );
    let planned = 0;
    fc.assert(
      fc.property(planOnlyRef, ({ repo, ref }) => {
        const base = { repo, ref, path: repo === 'infra' ? 'envs/dev' : 'a' };
        const apply = checkExecutionInput({ ...base, mode: 'apply' }, ALLOWLIST);
        const implicit = checkExecutionInput(base, ALLOWLIST);
        check(!apply.ok && !implicit.ok, 'apply accepted on a plan-only ref', base);
        if (!apply.ok)
          check(
            apply.rejections.some((r) => r.field === 'mode' && r.problem.includes('planOnlyRefs')),
            'the refusal does not say the ref may only be planned',
            apply.rejections,
          );
        check(!runnerVerdict(base, 'apply'), 'the apply task accepted a plan-only ref', base);
        check(!runnerVerdict(base), 'the plan of an apply run accepted a plan-only ref', base);
        if (checkExecutionInput({ ...base, mode: 'plan-only' }, ALLOWLIST).ok) {
          planned++;
          check(runnerVerdict(base, 'plan-only'), 'the runner refused a plan-only plan', base);
        }
      }),
      { numRuns: RUNS },
    );
    // Not vacuous: most generated refs are valid branch names that plan-only runs may use.
    expect(planned).toBeGreaterThan(RUNS * 0.5);
  });

  it('keeps the examples of the issue out, each by name', () => {
    const base = { repo: 'infra', ref: 'main', path: 'envs/dev' };
    const refused: Array<Record<string, unknown>> = [
      { path: '../outside' },
      { path: '..\\..\\windows' },
      { path: 'envs/%2e%2e/x' },
      { path: '/etc/passwd' },
      { path: 'envs/dev\u0000' },
      { path: 'envs/dev/' },
      { path: 'envs/\uff44ev' },
      { ref: '\uff4dain' },
      { ref: 'mai\u200dn' },
      { ref: 'main\u202e' },
      { ref: '--upload-pack=touch /tmp/pwned' },
      { ref: '-c' },
      { ref: 'main:refs/heads/x' },
      { ref: '+main' },
      { ref: 'HEAD' },
      { ref: '@{-1}' },
      { ref: 'x'.repeat(257) },
      { repo: 'git@github.com:acme/infra.git' },
      { repo: 'https://github.com/acme/infra.git' },
      { repo: '__proto__' },
      { repo: 'constructor' },
      { ciRunUrl: 'javascript:alert(1)' },
      { requestedBy: 'dora\u001b[31m' },
    ];
    for (const patch of refused)
      expect(checkExecutionInput({ ...base, ...patch }, ALLOWLIST).ok, JSON.stringify(patch)).toBe(
        false,
      );
    expect(checkExecutionInput(JSON.parse('{"__proto__":{"repo":"infra"}}'), ALLOWLIST).ok).toBe(
      false,
    );
    expect(checkExecutionInput({ ...base, constructor: 'x' }, ALLOWLIST).ok).toBe(false);
    expect(checkExecutionInput(base, ALLOWLIST).ok).toBe(true);
  });
});

describe('fuzzing the boundaries around the check', () => {
  const validate = createValidateRequestHandler({
    settings: {
      tableName: 'deploy-runner-table',
      allowlist: ALLOWLIST,
      lockTtlSeconds: 3600,
    } as never,
    logger: createLogger('input-fuzz', { logLevel: 'SILENT' }),
  });
  const execution = {
    id: 'arn:aws:states:us-east-1:123456789012:execution:deploy-runner:run-1',
    name: 'run-1',
    startTime: '2025-11-25T10:00:00.000Z',
  };

  it(`the Validate request function returns a RunRequest or throws DeployRunner.RequestRejected, nothing else: ${LAMBDA_RUNS.toLocaleString('en')} inputs`, async () => {
    await fc.assert(
      fc.asyncProperty(anyInputArb, async (input) => {
        try {
          const { request } = await validate({ input, execution });
          runRequestSchema.parse(request);
          expect(request.lockKey).toBe(`lock#${request.repo}#${request.path}`);
        } catch (error) {
          expect((error as Error).name).toBe('DeployRunner.RequestRejected');
          expect((error as Error).message).toMatch(/^Request rejected:\n/);
        }
      }),
      { numRuns: LAMBDA_RUNS },
    );
  });

  describe('the module directory inside a real checkout', () => {
    let root: string;
    let checkout: string;
    beforeAll(() => {
      root = mkdtempSync(join(tmpdir(), 'dr-fuzz-checkout-'));
      checkout = join(root, 'checkout');
      const outside = join(root, 'outside');
      for (const dir of [
        'envs/dev',
        'envs/prod',
        'envs/.git',
        'stacks/a/live',
        'modules/net',
        'prod',
        '.git/objects',
      ])
        mkdirSync(join(checkout, dir), { recursive: true });
      mkdirSync(outside);
      writeFileSync(join(checkout, 'envs/file'), 'not a directory');
      symlinkSync('../..', join(checkout, 'envs/up'));
      symlinkSync(outside, join(checkout, 'envs/out'));
      symlinkSync('dev', join(checkout, 'envs/alias'));
      symlinkSync('../.git', join(checkout, 'envs/gitlink'));
    });
    afterAll(() => rmSync(root, { recursive: true, force: true }));

    it(`resolves only to a directory inside the checkout, never into .git: ${CHECKOUT_RUNS.toLocaleString('en')} paths, symlinks included`, async () => {
      const pathArb = fc.oneof(
        triplesArb.map((t) => t.path),
        fc.constantFrom(
          'envs/up',
          'envs/out',
          'envs/alias',
          'envs/gitlink',
          'envs/.git',
          'envs/file',
          'envs/missing',
        ),
      );
      let resolved = 0;
      await fc.assert(
        fc.asyncProperty(pathArb, fc.constantFrom('infra', 'sandbox'), async (path, name) => {
          const repo = ALLOWLIST[name] as (typeof ALLOWLIST)[string];
          const allowed = checkExecutionInput({ repo: name, ref: 'main', path }, ALLOWLIST).ok;
          let dir: string;
          try {
            dir = await resolveModuleDir(checkout, path, repo);
          } catch (error) {
            expect(error).toBeInstanceOf(InputRefusedError);
            return;
          }
          resolved++;
          expect(allowed).toBe(true);
          const rel = relative(checkout, dir);
          expect(rel).not.toBe('');
          expect(rel.startsWith('..')).toBe(false);
          expect(rel.split(sep)).not.toContain('.git');
        }),
        { numRuns: CHECKOUT_RUNS },
      );
      expect(resolved).toBeGreaterThan(0);
    });
  });
});

/**
 * Globs against dot segments: `*` and `**` never start a segment with "." (`.git`,
 * `.terraform`), so `envs/*` cannot reach `envs/.git` and `**` cannot cross one.
 */
describe('globs never match a dot segment', () => {
  const patternSegmentArb = fc.constantFrom('*', '**', 'envs', 'a', 'a*', '*a', 'x.y', '*.tf');
  const valueSegmentArb = fc.constantFrom<string>('envs', 'a', 'ab', 'x.y', 'main.tf', 'b.a');
  const dotSegmentArb = fc.constantFrom('.git', '.terraform', '.a', '.', '..', '.*');
  const patternArb = fc
    .array(patternSegmentArb, { minLength: 1, maxLength: 5 })
    .map((s) => s.join('/'));
  const plainValueArb = fc.array(valueSegmentArb, { minLength: 1, maxLength: 6 });

  it(`no wildcard pattern matches a path with a dot segment: ${RUNS.toLocaleString('en')} pairs`, () => {
    fc.assert(
      fc.property(
        patternArb,
        plainValueArb,
        dotSegmentArb,
        fc.nat(),
        (pattern, segments, dot, at) => {
          const value = segments.toSpliced(at % (segments.length + 1), 0, dot).join('/');
          check(!matchesAny(value, [pattern]), 'a glob matched a dot segment', { pattern, value });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it(`on paths without dot segments, matching is unchanged (the oracle agrees): ${RUNS.toLocaleString('en')} pairs`, () => {
    fc.assert(
      fc.property(patternArb, plainValueArb, (pattern, segments) => {
        const value = segments.join('/');
        check(
          matchesAny(value, [pattern]) === globMatches(pattern, value),
          'differs from the oracle',
          {
            pattern,
            value,
          },
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('keeps the examples of the issue out, and a pattern that writes the dot in', () => {
    expect(matchesAny('envs/.git', ['envs/*'])).toBe(false);
    expect(matchesAny('envs/.terraform', ['envs/*'])).toBe(false);
    expect(matchesAny('stacks/a/.git/live', ['stacks/**/live'])).toBe(false);
    expect(matchesAny('.git/config', ['**'])).toBe(false);
    expect(matchesAny('envs/dev', ['envs/*'])).toBe(true);
    expect(matchesAny('a/.config', ['a/.config'])).toBe(true);
    expect(
      checkExecutionInput({ repo: 'sandbox', ref: 'main', path: 'x/.git' }, ALLOWLIST).ok,
    ).toBe(false);
  });
});

/** Found by this fuzzing and fixed in lib/allowlist.ts; kept as regressions. */
describe('gaps the fuzzer found', () => {
  it('refuses bidirectional overrides and zero-width characters in refs that match a wildcard', () => {
    for (const ref of ['release/\u202eniam', 'release/ma\u200din', 'release/\u2066x'])
      expect(checkExecutionInput({ repo: 'infra', ref, path: 'envs/dev' }, ALLOWLIST).ok).toBe(
        false,
      );
  });

  it('names an unknown empty key visibly', () => {
    const verdict = checkExecutionInput(
      { repo: 'infra', ref: 'main', path: 'envs/dev', '': 1 },
      ALLOWLIST,
    );
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.rejections[0]?.field).not.toBe('');
  });

  it('shows unknown field names escaped, so they cannot add lines to the rejection message', () => {
    const verdict = checkExecutionInput(
      { repo: 'infra', ref: 'main', path: 'envs/dev', 'x\n  - repo "infra" is allowed': 1 },
      ALLOWLIST,
    );
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(describeRejections(verdict.rejections).split('\n')).toHaveLength(2);
  });
});
