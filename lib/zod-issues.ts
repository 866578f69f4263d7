import type * as z from 'zod';

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

/** Formats zod issues as `field: value: problem` lines. */
export function describeIssues(error: z.ZodError, input: unknown): string[] {
  return error.issues.flatMap((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map(
        (key) =>
          `${issue.path.length > 0 ? `${path}.` : ''}${key}: unknown key: remove it or check its spelling`,
      );
    }
    const value = valueAt(input, issue.path);
    const shown = value === undefined ? 'missing' : truncate(value);
    // A bad record key (a repo name) carries the key schema's own message one level down.
    const message =
      issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? issue.message) : issue.message;
    return [`${path}: ${shown}: ${message}`];
  });
}
