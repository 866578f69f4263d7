import fc from 'fast-check';
import type { Allowlist } from '../../lib/contracts';

/**
 * Hostile execution inputs for the property tests: what a compromised CI job, a confused
 * pipeline or a fuzzer would send. Each field mixes values the allowlist allows with the tricks
 * that have broken deploy tools before (path traversal, option injection, refspecs, unicode
 * look-alikes, control characters, oversized and wrongly typed values, prototype keys).
 */

/** A deliberately mixed allowlist: one strict repo, one without commits, one wide open. */
export const ALLOWLIST: Allowlist = {
  infra: {
    url: 'https://github.com/acme/infra.git',
    allowedRefs: ['main', 'release/*', 'hotfix/**'],
    // Pull-request branches, and release candidates that `release/*` would allow to apply.
    planOnlyRefs: ['pr/**', 'release/rc-*'],
    allowedPaths: ['envs/*', 'stacks/**/live', 'modules/net'],
    allowCommits: true,
    tool: 'terraform',
    terragrunt: false,
  },
  legacy: {
    url: 'git@github.com:acme/legacy.git',
    allowedRefs: ['master'],
    allowedPaths: ['prod'],
    allowCommits: false,
    tool: 'tofu',
    terragrunt: false,
  },
  // Only the syntax checks stand between this repo and the runner: the widest possible globs.
  sandbox: {
    url: 'ssh://git@github.com/acme/sandbox.git',
    allowedRefs: ['*', '*/**'],
    planOnlyRefs: ['pr/*'],
    allowedPaths: ['**'],
    allowCommits: true,
    tool: 'terraform',
    terragrunt: false,
  },
};

export const KNOWN_FIELDS = ['repo', 'ref', 'path', 'mode', 'requestedBy', 'ciRunUrl'] as const;

const SHA = 'a3f1c9e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2';

/** Characters that change what a string means or how it looks. */
const TRICK_CHARS = [
  '\u0000', // NUL
  '\n',
  '\r',
  '\t',
  '\u001b', // ESC (terminal sequences)
  '\u007f', // DEL
  '\u0085', // NEL
  '\u00a0', // no-break space
  '\u2028', // line separator
  '\u202e', // right-to-left override
  '\u2066', // left-to-right isolate
  '\u200b', // zero-width space
  '\u200d', // zero-width joiner
  '\ufeff', // byte-order mark
  '\uff4d', // fullwidth m (homoglyph of "m")
  '\u0430', // Cyrillic a (homoglyph of "a")
  '\u2215', // division slash (homoglyph of "/")
  '\u2024', // one-dot leader (homoglyph of ".")
  '\u0301', // combining acute accent (NFD)
  '\ud800', // lone surrogate
  '/',
  '\\',
  '.',
  '..',
  '../',
  '..\\',
  '%2e%2e',
  '%2f',
  '%00',
  '*',
  '**',
  '?',
  '[',
  '~',
  '^',
  ':',
  '@{',
  ' ',
  '-',
  '+',
  '$',
  '`',
  ';',
  '|',
  '&',
  '$(id)',
  '#',
  '"',
  "'",
  '<',
  '>',
];

const REPOS = [
  'infra',
  'legacy',
  'sandbox',
  'INFRA',
  'Infra',
  'infra ',
  ' infra',
  'infra\u200d',
  '\uff49nfra', // fullwidth i
  'inf\u0433a', // Cyrillic г
  'infra\u0000',
  'other',
  '',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'https://github.com/acme/infra.git',
  'git@github.com:acme/infra.git',
  'ssh://git@github.com/acme/infra.git',
  'git@evil.example.com:acme/infra.git',
  'https://evil.example.com/infra.git',
  'file:///etc',
  'ext::sh -c touch% /tmp/pwned',
  '../infra',
  'infra/../legacy',
  'infra/',
  'infra#envs',
];

const REFS = [
  'main',
  'pr/12',
  'pr/12/head',
  'release/rc-1',
  'master',
  'release/1.2',
  'release/v2',
  'hotfix/a',
  'hotfix/a/b/c',
  'feature/x',
  SHA,
  SHA.toUpperCase(),
  SHA.slice(0, 39),
  `${SHA}0`,
  SHA.slice(0, 7),
  'HEAD',
  'FETCH_HEAD',
  '@',
  '@{-1}',
  'main@{1}',
  'main@{upstream}',
  '--upload-pack=touch /tmp/pwned',
  '--upload-pack=x',
  '-c',
  '-ccore.sshCommand=touch /tmp/pwned',
  '--output=/etc/passwd',
  '-',
  'main:refs/heads/x',
  'refs/heads/main:refs/heads/x',
  '+main',
  '+refs/heads/main',
  'refs/heads/main',
  'refs/tags/v1',
  'refs/remotes/origin/main',
  'main~1',
  'main^',
  'main^{commit}',
  'main..release/1',
  'main...x',
  'release/../main',
  'release/./x',
  'release/.hidden',
  'release/x.lock',
  'main.lock',
  'main.',
  'main/',
  '/main',
  'release//x',
  'release/*',
  'release/**',
  'release/?',
  'release/[ab]',
  'main\\x',
  'm ain',
  'main\n',
  'main\u0000',
  ' main',
  '\uff4dain', // ｍain
  'm\u0430in', // Cyrillic а
  'mai\u200dn',
  'main\u200b',
  'release/\u202eniam',
  'release/cafe\u0301', // NFD
  'release/caf\u00e9', // NFC
  'https://github.com/acme/infra.git',
  'git@github.com:acme/infra.git',
  'ssh://git@evil.example.com/x',
  'file:///etc/passwd',
  '%2e%2e/main',
  'release/%2e%2e',
];

const PATHS = [
  'envs/dev',
  'envs/prod',
  'envs/prod-eu',
  'envs/dev.v2',
  'envs/.git',
  'envs/.terraform',
  '.git',
  'stacks/.git/live',
  'stacks/a/.terraform/live',
  'stacks/a/live',
  'stacks/a/b/c/live',
  'modules/net',
  'prod',
  'envs',
  'envs/',
  'envs/dev/',
  'envs//dev',
  '/envs/dev',
  '/etc/passwd',
  '//etc',
  '.',
  './envs/dev',
  'envs/./dev',
  '..',
  '../',
  '../outside',
  'envs/../modules/net',
  'envs/..',
  'envs/dev/../../..',
  '..\\..\\windows',
  'envs\\dev',
  'envs/%2e%2e/x',
  '%2e%2e/%2e%2e/etc',
  'envs/%00',
  'envs/dev\u0000',
  'envs/dev\n',
  'envs/dev;touch x',
  'envs/$(id)',
  'envs/`id`',
  'envs/*',
  'envs/**',
  'envs/-rf',
  '-rf',
  '--help',
  'envs/.git',
  '.git/config',
  'envs/.hidden',
  'envs/\uff44ev', // fullwidth d
  'envs/d\u0435v', // Cyrillic е
  'envs/dev\u200d',
  'envs/\u202eved',
  'envs\u2215dev', // division slash
  'envs/cafe\u0301',
  'envs/caf\u00e9',
  'C:\\envs',
  'file:///etc',
  'https://evil.example.com/envs/dev',
  'git@github.com:acme/infra.git',
  'envs/dev?x=1',
  'envs/dev#frag',
];

const MODES = [
  'apply',
  'plan-only',
  'APPLY',
  'Apply',
  'destroy',
  '',
  ' apply',
  'apply\u0000',
  'plan',
];

const REQUESTERS = [
  'dora@example.com',
  'ci-bot',
  'Dora <dora@example.com>',
  'dora@example.com\nBcc: all@example.com',
  'dora\u0000',
  'dora\u001b[31m',
  'dora\u2028admin',
  '\u202emoc.elpmaxe@arod',
  'ａｄｍｉｎ',
];

const CI_URLS = [
  'https://github.com/acme/infra/actions/runs/42',
  'http://ci.example.com/job/1',
  'HTTPS://CI.EXAMPLE.COM/x',
  'https://user:token@ci.example.com/x',
  'javascript:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'file:///etc/passwd',
  'ssh://git@github.com/acme/infra.git',
  'git@github.com:acme/infra.git',
  'ftp://ci.example.com/x',
  '//evil.example.com',
  'https://ci.example.com/\n',
  'https://ci.example.com/\u202e',
  'https://xn--ci-exmple-0za.com/',
  'https://ci.example.com/<script>',
  'not a url',
  '',
];

/** Mutations that keep most of a value and add one trick. */
function mutated(base: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const trick = fc.constantFrom(...TRICK_CHARS);
  return fc.oneof(
    fc
      .tuple(base, trick, fc.nat())
      .map(([s, t, i]) => s.slice(0, i % (s.length + 1)) + t + s.slice(i % (s.length + 1))),
    fc.tuple(trick, base).map(([t, s]) => t + s),
    fc.tuple(base, trick).map(([s, t]) => s + t),
    base.map((s) => s.normalize('NFD')),
    base.map((s) => s.normalize('NFKC')),
    base.map((s) => s.toUpperCase()),
    base.map((s) => encodeURIComponent(s)),
    base.map((s) => s.replaceAll('/', '\\')),
    base.map((s) => s.replaceAll('.', '%2e')),
    fc.tuple(base, fc.integer({ min: 2, max: 40 })).map(([s, n]) => `${'../'.repeat(n)}${s}`),
  );
}

/** Oversized values: just over the limits, and far over. */
const oversized = fc
  .tuple(
    fc.constantFrom('a', 'envs/', 'main/', '../', '\u0000', '\u202e', 'é', '\ud83d\ude00'),
    fc.constantFrom(199, 200, 201, 255, 256, 257, 1000, 5000),
  )
  .map(([unit, length]) => unit.repeat(Math.ceil(length / unit.length)).slice(0, length));

/**
 * fast-check's `binary` string unit (one code point, surrogates aside) as the same `nat().map`,
 * with a constant-time way back from a value to its index. fast-check's own builds that reverse
 * map over all 1,112,064 code points the first time it checks a value (as `fc.string` and
 * `fc.anything` do when they are built): seconds of CPU in every process that imports this file.
 * The values generated, and the property names `fc.string` mixes in, are the same.
 */
const SURROGATES = 0xe000 - 0xd800;
export const binaryUnit = fc.nat({ max: 0x10ffff - SURROGATES }).map(
  (i) => String.fromCodePoint(i < 0xd800 ? i : i + SURROGATES),
  (value) => {
    const cp = typeof value === 'string' ? value.codePointAt(0) : undefined;
    if (cp === undefined || String.fromCodePoint(cp) !== value || (cp >= 0xd800 && cp < 0xe000))
      throw new Error('not one code point of the binary unit');
    return cp < 0xd800 ? cp : cp - SURROGATES;
  },
);

/** Free text: printable, arbitrary unicode, raw UTF-16 (lone surrogates included). */
const freeText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: binaryUnit, maxLength: 20 }),
  fc.string({
    unit: fc.constantFrom(...TRICK_CHARS, 'a', 'b', 'main', 'envs', 'dev'),
    maxLength: 12,
  }),
);

/** A value of the wrong type for a string field. */
const wrongType = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  fc.constant({ toString: 'main' }),
);

function field(valid: readonly string[], weightValid = 6): fc.Arbitrary<unknown> {
  const base = fc.constantFrom(...valid);
  return fc.oneof(
    { arbitrary: base, weight: weightValid },
    { arbitrary: mutated(base), weight: 4 },
    { arbitrary: oversized, weight: 1 },
    { arbitrary: freeText, weight: 2 },
    { arbitrary: wrongType, weight: 1 },
  );
}

export const repoArb = field(REPOS, 10);
export const refArb = field(REFS);
export const pathArb = field(PATHS);

/** Keys CI should never send, or that try to reach the prototype chain. */
const EXTRA_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'toJSON',
  'Repo',
  'REF',
  'repo ',
  'ref\u0000',
  'pa\u200dth',
  'url',
  'allowedRefs',
  'allowedPaths',
  'tool',
  'command',
  'args',
  'env',
  'DR_TOOL_PATH',
  'x\n  - repo "infra" is allowed',
  '',
  'k'.repeat(300),
  '\u0000'.repeat(80),
  '\u202e'.repeat(70),
];

const extraKeysArb = fc.uniqueArray(
  fc.oneof(fc.constantFrom(...EXTRA_KEYS), fc.string({ maxLength: 12 })),
  { maxLength: 3 },
);

/** Builds an object with own, enumerable data properties, `__proto__` included. */
export function ownObject(entries: ReadonlyArray<readonly [string, unknown]>): object {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries)
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

/** Whether to present the object as CI's JSON would arrive (parsed), or as built. */
function maybeViaJson(value: object, viaJson: boolean): unknown {
  if (!viaJson) return value;
  try {
    return JSON.parse(JSON.stringify(value));
  } catch {
    return value;
  }
}

/** Values each repo of ALLOWLIST allows, so that hostile inputs start from something plausible. */
const VALID: Record<string, { refs: string[]; paths: string[] }> = {
  infra: {
    refs: [
      'main',
      'release/1.2',
      'release/v2',
      'hotfix/a',
      'hotfix/a/b/c',
      SHA,
      'pr/7',
      'pr/7/merge',
      'release/rc-2',
    ],
    paths: ['envs/dev', 'envs/prod', 'envs/prod-eu', 'envs/dev.v2', 'stacks/a/live', 'modules/net'],
  },
  legacy: { refs: ['master'], paths: ['prod'] },
  sandbox: {
    refs: ['main', 'feature/x', 'HEAD', 'a.b_c-d', SHA, 'pr/9'],
    paths: ['envs/dev', 'a', 'a/b/c/d/e', 'x.y_z-1'],
  },
};

const validInputArb = fc.constantFrom(...Object.keys(VALID)).chain((repo) =>
  fc.record(
    {
      repo: fc.constant(repo),
      ref: fc.constantFrom(...(VALID[repo] as (typeof VALID)[string]).refs),
      path: fc.constantFrom(...(VALID[repo] as (typeof VALID)[string]).paths),
      mode: fc.constantFrom('apply', 'plan-only'),
      requestedBy: fc.constantFrom('dora@example.com', 'ci-bot'),
      ciRunUrl: fc.constantFrom('https://github.com/acme/infra/actions/runs/42'),
    },
    { requiredKeys: ['repo', 'ref', 'path'] },
  ),
);

/** A hostile replacement for one field, or nothing (keep the plausible value). */
function maybe<T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: arb, weight: 1 });
}

/**
 * Execution inputs: a plausible request with some fields replaced by hostile values, some
 * removed, and now and then extra keys (prototype keys included).
 */
export const executionInputArb: fc.Arbitrary<unknown> = fc
  .record({
    base: validInputArb,
    repo: maybe(repoArb),
    ref: maybe(refArb),
    path: maybe(pathArb),
    mode: maybe(field(MODES, 3)),
    requestedBy: maybe(field(REQUESTERS, 3)),
    ciRunUrl: maybe(field(CI_URLS, 3)),
    // A required field goes missing now and then.
    missing: fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 11 },
      fc.constantFrom('repo', 'ref', 'path'),
    ),
    extras: fc.oneof({ arbitrary: fc.constant([]), weight: 6 }, extraKeysArb),
    extraValue: fc.oneof(fc.string({ maxLength: 10 }), wrongType),
    viaJson: fc.boolean(),
  })
  .map((r) => {
    const fields: Record<string, unknown> = { ...r.base };
    for (const key of KNOWN_FIELDS) {
      const hostile = (r as Record<string, unknown>)[key];
      if (hostile !== undefined) fields[key] = hostile;
    }
    const entries: Array<[string, unknown]> = [];
    for (const key of KNOWN_FIELDS)
      if (key in fields && key !== r.missing) entries.push([key, fields[key]]);
    for (const key of r.extras) entries.push([key, r.extraValue]);
    return maybeViaJson(ownObject(entries), r.viaJson);
  });

/** Anything at all: the wrong JSON type, strings that look like JSON, exotic JS values. */
export const nonObjectInputArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.bigInt(),
  fc.string(),
  fc.constantFrom(
    '{"repo":"infra","ref":"main","path":"envs/dev"}',
    'infra main envs/dev',
    '[object Object]',
  ),
  fc.array(fc.anything(), { maxLength: 4 }),
  fc.constant([{ repo: 'infra', ref: 'main', path: 'envs/dev' }]),
  fc.anything({
    withBoxedValues: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
    withObjectString: true,
    withSparseArray: true,
    withTypedArray: true,
    withDate: true,
    withBigInt: true,
    stringUnit: binaryUnit,
  }),
  fc.constant(Object.create(null)),
  fc.constant(new Date(0)),
  fc.constant(new String('infra')),
  fc.constant(() => ({ repo: 'infra' })),
  fc.constant(Symbol('x')),
);

/** Every input the validator may be handed. */
export const anyInputArb = fc.oneof(
  { arbitrary: executionInputArb, weight: 4 },
  { arbitrary: nonObjectInputArb, weight: 1 },
);

/** String triples only: what the runner can receive through its environment. */
export const triplesArb = fc
  .record({
    base: validInputArb,
    repo: maybe(fc.oneof(mutated(fc.constantFrom(...REPOS)), fc.constantFrom(...REPOS), oversized)),
    ref: maybe(
      fc.oneof(mutated(fc.constantFrom(...REFS)), fc.constantFrom(...REFS), oversized, freeText),
    ),
    path: maybe(
      fc.oneof(mutated(fc.constantFrom(...PATHS)), fc.constantFrom(...PATHS), oversized, freeText),
    ),
  })
  .map((r) => ({
    repo: r.repo ?? r.base.repo,
    ref: r.ref ?? r.base.ref,
    path: r.path ?? r.base.path,
  }));

/**
 * An independent glob matcher (the oracle): `**` matches anything, `*` anything but `/`,
 * every other character itself. Written without regular expressions, so it shares no code
 * (and no escaping bugs) with lib/allowlist.ts.
 */
export function globMatches(pattern: string, value: string): boolean {
  if (pattern === '') return value === '';
  if (pattern.startsWith('**')) {
    for (let i = 0; i <= value.length; i++)
      if (globMatches(pattern.slice(2), value.slice(i))) return true;
    return false;
  }
  if (pattern.startsWith('*')) {
    for (let i = 0; i <= value.length; i++) {
      if (i > 0 && value[i - 1] === '/') return false;
      if (globMatches(pattern.slice(1), value.slice(i))) return true;
    }
    return false;
  }
  return (
    value.length > 0 && value[0] === pattern[0] && globMatches(pattern.slice(1), value.slice(1))
  );
}
