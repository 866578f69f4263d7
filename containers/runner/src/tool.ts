import { constants, promises as fs } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { type Allowlist, toolVersionSchema } from '../../../lib/contracts';
import { type Phase, ToolFailedError } from './errors';
import type { RunLog } from './log';
import type { SecretMasker } from './mask';
import { type Spawn, SpawnFailedError, type SpawnResult } from './process';
import { planToolVersion } from './summary';

/** The binary that plans and applies, and how it is invoked. */
export interface ToolInvocation {
  /** terraform or tofu: what the plan result reports. */
  readonly name: 'terraform' | 'tofu';
  /** The program that is started: the tool itself, or terragrunt wrapping it. */
  readonly program: string;
  /** The terraform/tofu binary (also when terragrunt runs it). */
  readonly binary: string;
  /** Extra environment for this invocation (terragrunt's pointer at the binary). */
  readonly extraEnv: Readonly<Record<string, string>>;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await fs.access(file, constants.X_OK);
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

/** Looks a program up on PATH, the way a shell would, without a shell. */
export async function findOnPath(
  name: string,
  pathEnv: string | undefined,
): Promise<string | undefined> {
  for (const dir of (pathEnv ?? '').split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Which binary runs: `DR_TOOL_PATH` when set (local mode, tests), else the repo's `tool` from
 * the allowlist on PATH; terragrunt in front of it when the repo asks for it.
 */
export async function resolveTool(
  repo: Allowlist[string],
  toolPath: string | undefined,
  pathEnv: string | undefined,
): Promise<ToolInvocation> {
  const name = repo.tool ?? 'terraform';
  const binary = toolPath ? resolve(toolPath) : await findOnPath(name, pathEnv);
  if (!binary || !(await isExecutable(binary)))
    throw new ToolFailedError(
      'validate',
      toolPath
        ? `DR_TOOL_PATH ${JSON.stringify(toolPath)} is not an executable file`
        : `${name} was not found on PATH`,
      'the runner image must contain terraform and tofu; in local mode set DR_TOOL_PATH to the binary (or the simulator)',
    );
  if (!repo.terragrunt) return { name, program: binary, binary, extraEnv: {} };
  const terragrunt = await findOnPath('terragrunt', pathEnv);
  if (!terragrunt)
    throw new ToolFailedError(
      'validate',
      'the repo is configured with terragrunt, but terragrunt was not found on PATH',
      'add terragrunt to the runner image, or set terragrunt: false for this repo',
    );
  return {
    name,
    program: terragrunt,
    binary,
    // Both spellings: terragrunt renamed its variables (TERRAGRUNT_* became TG_*).
    extraEnv: {
      TG_TF_PATH: binary,
      TERRAGRUNT_TFPATH: binary,
      TG_NON_INTERACTIVE: 'true',
      TERRAGRUNT_NON_INTERACTIVE: 'true',
    },
  };
}

/**
 * The environment terraform runs with: the runner's, minus git credentials and configuration,
 * the runner's own DR_* settings, the SSH agent, and anything holding a known secret value.
 */
export function toolEnvironment(base: NodeJS.ProcessEnv, masker: SecretMasker): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) {
    if (value === undefined) continue;
    if (name.startsWith('GIT_') || name.startsWith('DR_') || name === 'SSH_AUTH_SOCK') continue;
    if (masker.contains(value)) continue;
    env[name] = value;
  }
  return { ...env, TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' };
}

/** How tool commands run: where, with what environment, logged where. */
export interface ToolContext {
  readonly tool: ToolInvocation;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly spawn: Spawn;
  readonly log: RunLog;
}

const HINTS: Partial<Record<Phase, string>> = {
  init: 'check the backend configuration and the provider and module sources named above; the task role must be able to read the state',
  plan: 'fix the configuration or the permission named in the output above, push the fix, and start a new run',
  show: 'report this: the tool could not read the plan file it had just written',
  apply:
    'the apply stopped part-way and some changes may have been made: read the output above, fix the cause, and start a new run to plan again from the current state',
  result: 'the apply finished; only reading its outputs failed, so check the state by hand',
};

/**
 * Runs one tool command. Output is streamed to the log (masked) unless `data` is set, in which
 * case stdout is returned but never printed: `show -json` holds attribute values in clear text.
 */
export async function runTool(
  ctx: ToolContext,
  phase: Phase,
  args: readonly string[],
  opts: { okCodes?: readonly number[]; anyCode?: boolean; data?: boolean } = {},
): Promise<SpawnResult> {
  let result: SpawnResult;
  try {
    result = await ctx.spawn(ctx.tool.program, args, {
      cwd: ctx.cwd,
      env: { ...ctx.env, ...ctx.tool.extraEnv },
      onLine: (line) => ctx.log.line(line),
      streamStdout: !opts.data,
    });
  } catch (error) {
    if (error instanceof SpawnFailedError)
      throw new ToolFailedError(phase, error.message, 'check DR_TOOL_PATH or the runner image', {
        cause: error,
      });
    throw error;
  }
  if (result.code === 0 || opts.anyCode || (opts.okCodes ?? []).includes(result.code))
    return result;
  throw toolFailure(ctx.tool, phase, args, result);
}

/** The error for a failed tool command: what exited how, Terraform's own error line, a hint. */
export function toolFailure(
  tool: ToolInvocation,
  phase: Phase,
  args: readonly string[],
  result: SpawnResult,
): ToolFailedError {
  return new ToolFailedError(
    phase,
    `${tool.name} ${args[0]} exited with code ${result.code}${result.signal ? ` (${result.signal})` : ''}${errorSummary(result)}`,
    HINTS[phase] ?? 'read the output above',
  );
}

/** Terraform's first "Error: ..." line, which usually says it all. */
function errorSummary(result: SpawnResult): string {
  const line = `${result.stderr}\n${result.stdout}`
    .split('\n')
    .map((l) => l.replace(/^[│╷╵\s]+/, '').trim())
    .find((l) => l.startsWith('Error: '));
  return line ? `: ${line.slice('Error: '.length, 300)}` : '';
}

/**
 * The tool's version (`version -json`, falling back to the text form), or "unknown" when neither
 * gives a version token (toolVersionSchema): it is shown to approvers, never free text.
 */
export async function toolVersion(ctx: ToolContext, phase: Phase): Promise<string> {
  const direct: ToolContext = {
    ...ctx,
    tool: { ...ctx.tool, program: ctx.tool.binary, extraEnv: {} },
  };
  const json = await runTool(direct, phase, ['version', '-json'], { data: true }).catch(
    () => undefined,
  );
  if (json) {
    try {
      // `version -json` names it as `show -json` does.
      const fromJson = planToolVersion(JSON.parse(json.stdout));
      if (fromJson) return fromJson;
    } catch {
      // Older versions print text only; fall through.
    }
  }
  const text = await runTool(direct, phase, ['version'], { data: true });
  const version = toolVersionSchema.safeParse(/v(\d+\.\d+\.\d+\S*)/.exec(text.stdout)?.[1]);
  return version.success ? version.data : 'unknown';
}
