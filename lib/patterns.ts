/*
 * Syntax of the allowlist's ref and path patterns: checked when the config is read (lib/config.ts)
 * and again by the allowlist (lib/allowlist.ts) and the runner. Apart from the config module so
 * the validate function and the runner do not bundle the config schema.
 */

/**
 * A branch name or pattern. `*` matches within one path segment, `**` across segments.
 * The rules are git's own (`git check-ref-format`), so a pattern can never match something
 * git would refuse, and nothing that looks like a command-line option.
 */
export function refPatternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'is empty';
  if (pattern.length > 200) return 'is longer than 200 characters';
  if (pattern.startsWith('-')) return 'starts with "-" (it would read as a command-line option)';
  if (pattern.startsWith('refs/'))
    return 'starts with "refs/": give the branch name only, e.g. "main" or "release/*"';
  if (/[\s~^:?[\\\x00-\x1f\x7f]/.test(pattern))
    return 'contains a character git does not allow in branch names (space, ~ ^ : ? [ \\ or a control character)';
  if (pattern.includes('..')) return 'contains ".."';
  if (pattern.includes('@{')) return 'contains "@{"';
  if (pattern.includes('//') || pattern.startsWith('/') || pattern.endsWith('/'))
    return 'has an empty path segment (a leading, trailing or double "/")';
  if (pattern.endsWith('.') || pattern.endsWith('.lock')) return 'ends with "." or ".lock"';
  if (pattern.split('/').some((segment) => segment.startsWith('.')))
    return 'has a path segment starting with "."';
  return undefined;
}

/** A path glob inside the repository: relative, no `..`, plain characters only. */
export function pathPatternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'is empty';
  if (pattern.length > 200) return 'is longer than 200 characters';
  if (pattern.startsWith('/')) return 'is absolute: give a path relative to the repository root';
  if (pattern.split('/').some((segment) => segment === '..' || segment === '.'))
    return 'contains a "." or ".." segment';
  if (!/^[A-Za-z0-9._*/-]+$/.test(pattern))
    return 'may only contain letters, digits, ".", "_", "-", "/" and "*"';
  if (pattern.includes('//') || pattern.endsWith('/'))
    return 'has an empty path segment (a trailing or double "/")';
  if (pattern.startsWith('-') || pattern.includes('/-'))
    return 'has a segment starting with "-" (it would read as a command-line option)';
  return undefined;
}
