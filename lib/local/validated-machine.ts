import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';
import { PACKAGE_ROOT } from '../constructs/private/paths';

/**
 * The local engine's state machine, its definition validated as Step Functions validates it at
 * CreateStateMachine (aws-local-stepfunctions runs asl-validator). Compiling the validator's
 * JSON schemas is half a second of CPU, on every local-mode start and every e2e harness, for
 * the same definition: a definition that passed is recorded in node_modules/.cache by its hash,
 * with the validator's options and the versions of the packages that validate, as validation
 * left it (with its defaults filled in), and is not validated again. A definition never recorded (or one that fails) is validated, so an invalid
 * one still stops the start with the validator's errors.
 */

/** The validation local mode asks for: ARNs and paths are placeholders (lib/definition.ts). */
const VALIDATION = { checkArn: false, checkPaths: false } as const;

const CACHE_DIR = join(PACKAGE_ROOT, 'node_modules', '.cache', 'deploy-runner', 'valid-asl');

export function validatedStateMachine(definition: Record<string, unknown>): StateMachine {
  const key = validityKey(definition);
  const file = join(CACHE_DIR, `${key}.json`);
  const validated = recorded(file, key);
  if (validated) {
    // Validation also fills in defaults (`QueryLanguage` on every state): the definition must
    // be what it is after validating, as the engine and DescribeStateMachine show it.
    for (const name of Object.keys(definition)) delete definition[name];
    Object.assign(definition, validated);
    return new StateMachine(definition as never, {
      validationOptions: { ...VALIDATION, noValidate: true },
    });
  }
  const machine = new StateMachine(definition as never, { validationOptions: VALIDATION });
  record(file, { key, definition });
  return machine;
}

/** The validated definition recorded for `key`, if its file is there and names that key. */
function recorded(file: string, key: string): Record<string, unknown> | undefined {
  try {
    const entry = JSON.parse(readFileSync(file, 'utf8')) as { key?: unknown; definition?: unknown };
    if (entry.key !== key || typeof entry.definition !== 'object' || entry.definition === null)
      return undefined;
    return entry.definition as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function record(file: string, entry: { key: string; definition: Record<string, unknown> }): void {
  try {
    mkdirSync(CACHE_DIR, { recursive: true });
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(entry));
    renameSync(temp, file);
  } catch {
    // best effort: validated again next time
  }
}

let versions: string | undefined;
/** The manifests of the packages that validate: aws-local-stepfunctions, asl-validator, ajv. */
function validatorVersions(): string {
  if (versions !== undefined) return versions;
  const manifests: string[] = [];
  let from = require.resolve('aws-local-stepfunctions');
  for (const pkg of ['aws-local-stepfunctions', 'asl-validator', 'ajv']) {
    const entry = require.resolve(pkg, { paths: [dirname(from)] });
    manifests.push(readFileSync(manifestOf(entry, pkg), 'utf8'));
    from = entry;
  }
  versions = manifests.join('\0');
  return versions;
}

function manifestOf(entry: string, pkg: string): string {
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    try {
      if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === pkg)
        return manifest;
    } catch {
      // not the package's root
    }
  }
  throw new Error(`cannot find the package.json of ${pkg}`);
}

/** Tests: the hash a definition is recorded under. */
export function validityKey(definition: Record<string, unknown>): string {
  return createHash('sha256')
    .update(JSON.stringify([definition, VALIDATION, validatorVersions()]))
    .digest('hex');
}
