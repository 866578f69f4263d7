import type * as z from 'zod';

/**
 * The words of configuration and request errors. Zod's own messages ("Too small: expected string
 * to have >=1 characters") are for programmers; these say what to change, name the closest valid
 * key for a misspelt one, and place a JSON syntax error by line and column.
 */

/** Levenshtein distance: enough for key names, which are short. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

interface Def {
  readonly type?: string;
  readonly shape?: Record<string, z.ZodType>;
  readonly valueType?: z.ZodType;
  readonly element?: z.ZodType;
  readonly innerType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly options?: readonly z.ZodType[];
  readonly left?: z.ZodType;
  readonly right?: z.ZodType;
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/**
 * Every key path a schema accepts, dotted; `*` stands for a record key or an array index.
 * E.g. `notifications.slack.channel`, `repos.*.allowedRefs`.
 */
export function keyPaths(schema: z.ZodType, prefix = '', depth = 0): string[] {
  if (depth > 12) return [];
  const def = defOf(schema);
  const join = (key: string) => (prefix ? `${prefix}.${key}` : key);
  switch (def.type) {
    case 'object':
      return Object.entries(def.shape ?? {}).flatMap(([key, child]) => [
        join(key),
        ...keyPaths(child, join(key), depth + 1),
      ]);
    case 'record':
      return def.valueType ? keyPaths(def.valueType, join('*'), depth + 1) : [];
    case 'array':
      return def.element ? keyPaths(def.element, join('*'), depth + 1) : [];
    case 'union':
      return [...new Set((def.options ?? []).flatMap((o) => keyPaths(o, prefix, depth + 1)))];
    case 'intersection':
      return [
        ...(def.left ? keyPaths(def.left, prefix, depth + 1) : []),
        ...(def.right ? keyPaths(def.right, prefix, depth + 1) : []),
      ];
    case 'pipe':
      return def.in ? keyPaths(def.in, prefix, depth + 1) : [];
    default:
      return def.innerType ? keyPaths(def.innerType, prefix, depth + 1) : [];
  }
}

/**
 * The valid key path closest to `path` (a dotted path with an unknown last key), or undefined
 * when none is close enough to be a likely misspelling. `*` segments take the path's own keys.
 */
export function closestKey(path: readonly string[], valid: readonly string[]): string | undefined {
  const wanted = path.join('.').toLowerCase();
  const last = (path[path.length - 1] ?? '').toLowerCase();
  let best: { path: string; distance: number } | undefined;
  for (const candidate of valid) {
    const segments = candidate.split('.');
    // Only paths at the same place in the file, or one level deeper or shallower.
    if (Math.abs(segments.length - path.length) > 1) continue;
    const concrete = segments.map((s, i) => (s === '*' && path[i] !== undefined ? path[i] : s));
    const text = concrete.join('.');
    if (text.toLowerCase() === wanted) continue;
    const distance = editDistance(wanted, text.toLowerCase());
    if (!best || distance < best.distance) best = { path: text, distance };
  }
  const allowed = Math.max(2, Math.floor(last.length / 3));
  return best && best.distance <= allowed ? best.path : undefined;
}

const article = (type: string) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

function typeWord(type: string): string {
  if (type === 'int') return 'whole number';
  if (type === 'object') return 'object { ... }';
  if (type === 'array') return 'list [ ... ]';
  return type;
}

/** Zod's own default wording, which users must not see. */
const ZOD_DEFAULT =
  /^(Too small|Too big|Invalid|Unrecognized|Expected|Required|Number must|String must|Array must)/;

/** An issue in plain words: what the value must be. Messages the schemas chose are kept. */
export function plainIssue(issue: z.core.$ZodIssue, value?: unknown): string {
  if (!ZOD_DEFAULT.test(issue.message)) return issue.message;
  const i = issue as z.core.$ZodIssue & Record<string, unknown>;
  switch (issue.code) {
    case 'invalid_type': {
      if (value === undefined) return 'is required';
      return `must be ${article(typeWord(String(i.expected)))}`;
    }
    case 'too_small': {
      const min = Number(i.minimum);
      if (i.origin === 'string')
        return min <= 1 ? 'must not be empty' : `must be at least ${min} characters long`;
      if (i.origin === 'array' || i.origin === 'set')
        return min <= 1 ? 'must list at least one entry' : `must list at least ${min} entries`;
      return `must be at least ${min}${i.inclusive === false ? ' (exclusive)' : ''}`;
    }
    case 'too_big': {
      const max = Number(i.maximum);
      if (i.origin === 'string') return `must be at most ${max} characters long`;
      if (i.origin === 'array' || i.origin === 'set') return `must list at most ${max} entries`;
      return `must be at most ${max}`;
    }
    case 'invalid_value': {
      const values = Array.isArray(i.values) ? i.values : [];
      return values.length === 1
        ? `must be ${JSON.stringify(values[0])}`
        : `must be one of ${values.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    case 'invalid_format':
      return i.format === 'regex'
        ? `is not in the expected form (${String(i.pattern ?? 'see the documentation')})`
        : `must be a valid ${String(i.format)}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(i.divisor)}`;
    case 'invalid_union':
      return 'is not any of the accepted forms; see the documentation for this field';
    case 'invalid_key':
      return 'has an invalid key';
    case 'invalid_element':
      return 'has an invalid entry';
    default:
      return 'is not valid here';
  }
}

function truncate(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/**
 * Zod issues as `field: value: problem` lines in plain words. With `schema`, an unknown key
 * names the closest valid one ("did you mean notifications.slack.channel?").
 */
export function describeIssues(error: z.ZodError, input: unknown, schema?: z.ZodType): string[] {
  let valid: string[] | undefined;
  const validPaths = () => {
    valid ??= schema ? keyPaths(schema) : [];
    return valid;
  };
  return error.issues.flatMap((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => {
        const full = [...issue.path.map(String), key];
        const guess = schema ? closestKey(full, validPaths()) : undefined;
        return `${full.join('.')}: unknown key: ${
          guess ? `did you mean ${guess}?` : 'remove it or check its spelling'
        }`;
      });
    }
    const value = valueAt(input, issue.path);
    const shown = value === undefined ? 'missing' : truncate(value);
    // A bad record key (a repo name) carries the key schema's own message one level down.
    const inner = issue.code === 'invalid_key' ? issue.issues[0] : undefined;
    const message = inner ? plainIssue(inner as z.core.$ZodIssue) : plainIssue(issue, value);
    return [`${path}: ${shown}: ${message}`];
  });
}

/**
 * Where a JSON.parse error is, as `line L, column C` and the line with a caret under the
 * column. Node's message gives a character position ("... at position 42" or "(line 3 column
 * 5)"); without one, only the message.
 */
export function describeJsonError(text: string, error: unknown): string {
  const raw = error instanceof Error ? error.message : String(error);
  const detail = raw.replace(/\s*(in JSON )?at position \d+.*$/s, '').replace(/\s*\(line.*$/s, '');
  const position = /at position (\d+)/.exec(raw)?.[1];
  const lineCol = /line (\d+) column (\d+)/.exec(raw);
  let line: number;
  let column: number;
  if (lineCol) {
    line = Number(lineCol[1]);
    column = Number(lineCol[2]);
  } else if (position !== undefined) {
    const before = text.slice(0, Number(position));
    line = before.split('\n').length;
    column = Number(position) - (before.lastIndexOf('\n') + 1) + 1;
  } else if (/Unexpected end of JSON input/.test(raw)) {
    const lines = text.split('\n');
    line = lines.length;
    column = (lines[lines.length - 1] ?? '').length + 1;
  } else return `is not valid JSON: ${raw}`;
  const source = (text.split('\n')[line - 1] ?? '').replace(/\r$/, '').replace(/\t/g, ' ');
  const gutter = `${line} | `;
  return [
    `is not valid JSON at line ${line}, column ${column}: ${detail}`,
    `    ${gutter}${source}`,
    `    ${' '.repeat(gutter.length + column - 1)}^`,
  ].join('\n');
}
