import { promises as fs } from 'node:fs';
import { COMMIT_SHA, refsFor } from '../../../lib/allowlist';
import { artifactKeys, type PlanResult, planResultSchema } from '../../../lib/contracts';
import {
  moduleDir,
  type PhaseTracker,
  type Prepared,
  prepare,
  putOnce,
  type RunDeps,
} from './context';
import type { RunnerEnv } from './env';
import { ToolFailedError } from './errors';
import { checkoutBranchTip, checkoutCommitOnAllowedBranch, initRepository } from './git';
import { fitPlanResult } from './result-budget';
import { PlanJsonError, parsePlanJson, planToolVersion, summarizePlan } from './summary';
import { runTool, toolVersion } from './tool';

/**
 * Pins the run's ref to a commit and checks it out (plan, and list mode): a run that may apply
 * pins a commit of a branch it may apply from, never of a plan-only one.
 */
export async function checkoutRef(
  env: RunnerEnv,
  prepared: Prepared,
  deps: RunDeps,
  phases: PhaseTracker,
): Promise<string> {
  phases.enter('clone', `fetching ${env.ref} of ${env.repo}`);
  await initRepository(prepared.git);
  const planOnly = env.requestMode === 'plan-only';
  const commit = COMMIT_SHA.test(env.ref)
    ? (
        await checkoutCommitOnAllowedBranch(
          prepared.git,
          env.ref,
          refsFor(prepared.repo, env.requestMode),
          planOnly ? [] : (prepared.repo.planOnlyRefs ?? []),
        )
      ).sha
    : await checkoutBranchTip(prepared.git, env.ref);
  deps.log.line(`checked out ${commit}`);
  return commit;
}

/**
 * Plan mode: pin the ref to a commit, `init`, `plan -out`, summarize `show -json`, and hand off
 * the plan file, the human-readable plan and the plan result (in that order: the result names
 * the versions of the other two, and `Inspect plan` reads only the result).
 */
export async function runPlan(
  env: RunnerEnv,
  deps: RunDeps,
  phases: PhaseTracker,
): Promise<PlanResult> {
  const prepared = await prepare(env, deps, phases);
  try {
    const commit = await checkoutRef(env, prepared, deps, phases);
    const planOnly = env.requestMode === 'plan-only';
    const dir = await moduleDir(prepared, env.path);
    const tool = prepared.toolContext(dir);
    const planFile = prepared.workspace.planFile;

    phases.enter('init', `${tool.tool.name} init in ${env.path}`);
    await runTool(tool, 'init', ['init', '-input=false', '-no-color']);

    phases.enter('plan', `${tool.tool.name} plan`);
    const plan = await runTool(
      tool,
      'plan',
      [
        'plan',
        '-input=false',
        '-no-color',
        `-out=${planFile}`,
        '-detailed-exitcode',
        // A plan-only run holds no deploy lock and writes no state: taking terraform's state lock
        // would fail (read-only role) or hold up an apply of the same state, so it reads without
        // it. Its plan is never applied, so a state that changes meanwhile costs nothing.
        ...(planOnly ? ['-lock=false'] : ['-lock-timeout=5m']),
      ],
      { okCodes: [2] },
    );

    phases.enter('show', 'summarizing the plan (addresses and actions only)');
    const json = await runTool(tool, 'show', ['show', '-json', planFile], { data: true });
    let summary: ReturnType<typeof summarizePlan>;
    let shown: unknown;
    try {
      shown = parsePlanJson(json.stdout);
      summary = summarizePlan(shown, plan.code);
    } catch (error) {
      if (!(error instanceof PlanJsonError)) throw error;
      throw new ToolFailedError(
        'show',
        error.message,
        'the tool version may be unsupported: use a Terraform or OpenTofu release with `show -json`',
        { cause: error },
      );
    }
    // The version that made the plan, from the plan itself; a `version` call only for a tool
    // whose `show -json` does not name it.
    const version = planToolVersion(shown) ?? (await toolVersion(tool, 'show'));
    deps.log.line(`${tool.tool.name} ${version}`);
    const text = await runTool(tool, 'show', ['show', '-no-color', planFile], { data: true });
    const { add, change, destroy, replace } = summary.counts;
    deps.log.line(
      `${summary.hasChanges ? 'changes' : 'no changes'}: ${add} to add, ${change} to change, ${destroy} to destroy, ${replace} to replace`,
    );

    phases.enter('upload', 'plan file, plan text and plan result');
    const keys = artifactKeys(env.runId);
    const planBytes = await fs.readFile(planFile);
    const storedPlan = await putOnce(
      deps.store,
      'upload',
      keys.plan,
      planBytes,
      'application/octet-stream',
    );
    const storedText = await putOnce(
      deps.store,
      'upload',
      keys.planText,
      deps.masker.mask(text.stdout),
      'text/plain; charset=utf-8',
    );
    // Capped by bytes as well as by count: the result travels in the execution state.
    const result = fitPlanResult(
      planResultSchema.parse({
        commit,
        tool: tool.tool.name,
        toolVersion: version,
        ...summary,
        planKey: storedPlan.key,
        planVersionId: storedPlan.versionId,
        planSha256: storedPlan.sha256,
        planTextKey: storedText.key,
        planTextVersionId: storedText.versionId,
        planTextSha256: storedText.sha256,
        logUrl: deps.logUrl,
      } satisfies PlanResult),
    );
    await putOnce(
      deps.store,
      'upload',
      keys.planResult,
      JSON.stringify(result, null, 2),
      'application/json',
    );
    deps.log.line(`plan ${storedPlan.key} version ${storedPlan.versionId}`);
    deps.log.line(`plan sha256 ${storedPlan.sha256}`);
    return result;
  } finally {
    await prepared.workspace.cleanup();
  }
}
