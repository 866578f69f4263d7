import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { COMMIT_SHA } from '../../../lib/allowlist';
import { ArtifactNotFoundError, type ArtifactObject } from '../../../lib/artifact-store';
import { artifactKeys, planResultSchema } from '../../../lib/contracts';
import { moduleDir, type PhaseTracker, prepare, putOnce, type RunDeps } from './context';
import type { ApplyInputs, RunnerEnv } from './env';
import { ArtifactVerificationError, StalePlanError } from './errors';
import { checkoutExactCommit, initRepository } from './git';
import { runTool, toolFailure } from './tool';

/** What apply writes to `runs/<runId>/apply-result.json`. */
export interface ApplyResult {
  readonly commit: string;
  readonly tool: 'terraform' | 'tofu';
  readonly toolVersion: string;
  readonly appliedAt: string;
  /** Output names only: values may be sensitive. */
  readonly outputs: string[];
  readonly planSha256: string;
  readonly logUrl: string;
}

/** The cause the workflow shows when the state moved on after approval. */
export const STALE_PLAN_MESSAGE =
  'plan is stale: state changed since it was approved, start a new run';

const SHA256 = /^[0-9a-f]{64}$/;

const verification = (phase: 'verify' | 'download', message: string, hint?: string) =>
  new ArtifactVerificationError(
    phase,
    message,
    hint ?? 'nothing was applied: start a new run so a fresh plan is made and approved',
  );

/**
 * Apply mode: download the exact approved plan version, verify its SHA-256 and that it belongs
 * to the commit, check out exactly that commit, and apply the saved plan, nothing else.
 */
export async function runApply(
  env: RunnerEnv,
  deps: RunDeps,
  phases: PhaseTracker,
): Promise<ApplyResult> {
  const inputs = env.apply as ApplyInputs;
  const prepared = await prepare(env, deps, phases);
  try {
    // After the allowlist, before anything is fetched: apply refuses any doubt about its input.
    if (!COMMIT_SHA.test(inputs.commit))
      throw verification(
        'verify',
        `DR_COMMIT ${JSON.stringify(inputs.commit.slice(0, 60))} is not a 40-hex commit`,
      );
    if (!SHA256.test(inputs.planSha256))
      throw verification('verify', 'DR_PLAN_SHA256 is not a lowercase hex SHA-256');
    const keys = artifactKeys(env.runId);
    if (inputs.planKey !== keys.plan)
      throw verification(
        'verify',
        `DR_PLAN_KEY ${JSON.stringify(inputs.planKey.slice(0, 80))} is not this run's plan (${keys.plan})`,
      );

    phases.enter('download', `plan ${inputs.planKey} version ${inputs.planVersionId}`);
    const plan = await download(deps, inputs.planKey, inputs.planVersionId);

    phases.enter('verify', 'checksum, version and commit of the approved plan');
    const sha256 = createHash('sha256').update(plan.body).digest('hex');
    if (sha256 !== inputs.planSha256)
      throw verification(
        'verify',
        `the plan file's SHA-256 ${sha256} is not the approved ${inputs.planSha256}: the plan was changed after approval`,
        'nothing was applied: treat this as a security incident (who could write the artifact bucket?) and start a new run',
      );
    if (plan.versionId !== inputs.planVersionId)
      throw verification(
        'verify',
        `the store returned version ${plan.versionId}, not ${inputs.planVersionId}`,
      );
    const recorded = await recordedPlan(deps, keys.planResult);
    const mismatch = [
      recorded.planVersionId !== inputs.planVersionId && 'plan version',
      recorded.planSha256 !== inputs.planSha256 && 'plan SHA-256',
      recorded.commit !== inputs.commit && 'commit',
    ].filter(Boolean);
    if (mismatch.length > 0)
      throw verification(
        'verify',
        `the plan result recorded at plan time does not match the apply request (${mismatch.join(', ')}): planned commit ${recorded.commit}, asked to apply commit ${inputs.commit}`,
      );
    if (recorded.tool !== prepared.tool.name)
      throw verification(
        'verify',
        `the plan was made with ${recorded.tool}, but this repo now uses ${prepared.tool.name}`,
      );
    deps.log.line(`sha256 ${sha256} matches the approved plan of commit ${inputs.commit}`);

    phases.enter('clone', `fetching exactly commit ${inputs.commit}`);
    await initRepository(prepared.git);
    await checkoutExactCommit(prepared.git, inputs.commit);
    const dir = await moduleDir(prepared, env.path);
    const tool = prepared.toolContext(dir);
    const planFile = prepared.workspace.planFile;
    await fs.writeFile(planFile, plan.body, { mode: 0o600 });

    phases.enter('init', `${tool.tool.name} init in ${env.path}`);
    // No `version` process: Terraform and OpenTofu apply a saved plan only with the version that
    // made it (another refuses the plan file), so an apply that succeeds ran the recorded one.
    const version = recorded.toolVersion;
    deps.log.line(
      `${tool.tool.name} ${version} made the plan (a saved plan applies only with that version)`,
    );
    await runTool(tool, 'init', ['init', '-input=false', '-no-color']);

    phases.enter('apply', `${tool.tool.name} apply of the approved plan`);
    const args = ['apply', '-input=false', '-no-color', '-lock-timeout=5m', planFile];
    const applied = await runTool(tool, 'apply', args, { anyCode: true });
    if (applied.code !== 0) {
      if (/Saved plan is stale/i.test(`${applied.stderr}\n${applied.stdout}`))
        throw new StalePlanError(
          'apply',
          STALE_PLAN_MESSAGE,
          'another run or a person changed the state after this plan was made; nothing was applied',
        );
      throw toolFailure(tool.tool, 'apply', args, applied);
    }

    phases.enter('result', 'recording the apply result (output names only)');
    const outputs = await runTool(tool, 'result', ['output', '-json', '-no-color'], { data: true });
    let names: string[] = [];
    try {
      names = Object.keys(JSON.parse(outputs.stdout || '{}') as Record<string, unknown>).sort();
    } catch {
      deps.log.line('warning: could not read the output names; recording none');
    }
    const result: ApplyResult = {
      commit: inputs.commit,
      tool: tool.tool.name,
      toolVersion: version,
      appliedAt: deps.clock().toISOString(),
      outputs: names,
      planSha256: sha256,
      logUrl: deps.logUrl,
    };
    await putOnce(
      deps.store,
      'result',
      keys.applyResult,
      JSON.stringify(result, null, 2),
      'application/json',
    );
    deps.log.line(`applied commit ${inputs.commit}; outputs: ${names.join(', ') || '(none)'}`);
    return result;
  } finally {
    await prepared.workspace.cleanup();
  }
}

async function download(deps: RunDeps, key: string, versionId: string): Promise<ArtifactObject> {
  try {
    return await deps.store.get(key, versionId);
  } catch (error) {
    if (error instanceof ArtifactNotFoundError)
      throw verification('download', `plan ${key} version ${versionId} does not exist`);
    throw error;
  }
}

async function recordedPlan(deps: RunDeps, key: string) {
  let object: ArtifactObject;
  try {
    object = await deps.store.get(key);
  } catch (error) {
    if (error instanceof ArtifactNotFoundError)
      throw verification(
        'verify',
        `the plan result ${key} does not exist, so the commit cannot be verified`,
      );
    throw error;
  }
  const parsed = planResultSchema.safeParse(safeJson(object.body.toString('utf8')));
  if (!parsed.success)
    throw verification('verify', `the plan result ${key} is not a valid plan result`);
  return parsed.data;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
