import { z } from 'zod';
import type { DeployRunnerConfig, RepoConfig } from './config';

/**
 * The data contracts of DESIGN.md, shared by the stack, the handlers, the runner, local mode
 * and the CLI. Everything that crosses a process boundary is parsed with one of these schemas.
 */

/** Largest field CI may send; anything longer is rejected before it is looked at. */
export const MAX_FIELD_LENGTH = 256;

/** The execution input CI sends. Strict: unknown keys are rejected. */
export const executionInputSchema = z.strictObject({
  repo: z.string().min(1).max(MAX_FIELD_LENGTH),
  ref: z.string().min(1).max(MAX_FIELD_LENGTH),
  path: z.string().min(1).max(MAX_FIELD_LENGTH),
  mode: z.enum(['apply', 'plan-only']).default('apply'),
  requestedBy: z.string().min(1).max(MAX_FIELD_LENGTH).optional(),
  ciRunUrl: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL of the CI run' })
    .max(2048)
    .optional(),
});
export type ExecutionInput = z.input<typeof executionInputSchema>;
export type ParsedExecutionInput = z.output<typeof executionInputSchema>;

/**
 * The subset of the config that decides what may run. It is baked into the validate
 * function's environment and the runner's task definition (`DR_ALLOWLIST`), so both check it.
 */
export type Allowlist = Record<
  string,
  Pick<RepoConfig, 'url' | 'allowedRefs' | 'allowedPaths' | 'allowCommits' | 'tool' | 'terragrunt'>
>;

/**
 * The allowlist as it travels in `DR_ALLOWLIST`: parsed by the validate function and, again, by
 * the runner. Syntax of refs and paths was checked at synth time (lib/config.ts).
 */
export const allowlistSchema = z.record(
  z.string(),
  z.object({
    url: z.string().min(1),
    allowedRefs: z.array(z.string().min(1)).min(1),
    allowedPaths: z.array(z.string().min(1)).min(1),
    allowCommits: z.boolean().default(true),
    tool: z.enum(['terraform', 'tofu']).default('terraform'),
    terragrunt: z.boolean().default(false),
  }),
) satisfies z.ZodType<Allowlist, unknown>;

export function allowlistOf(config: DeployRunnerConfig): Allowlist {
  return Object.fromEntries(
    Object.entries(config.repos).map(([name, r]) => [
      name,
      {
        url: r.url,
        allowedRefs: r.allowedRefs,
        allowedPaths: r.allowedPaths,
        allowCommits: r.allowCommits,
        tool: r.tool,
        terragrunt: r.terragrunt,
      },
    ]),
  );
}

/** What the `Validate request` state puts into the execution state as `$.request`. */
export const runRequestSchema = z.strictObject({
  repo: z.string(),
  ref: z.string(),
  path: z.string(),
  mode: z.enum(['apply', 'plan-only']),
  requestedBy: z.string().optional(),
  ciRunUrl: z.string().optional(),
  /** The execution name; names every artifact of the run. */
  runId: z.string(),
  executionArn: z.string(),
  /** DynamoDB key of the repo+path lock. */
  lockKey: z.string(),
  /** Epoch seconds (as a string, for DynamoDB's N type) after which a stale lock expires. */
  lockExpiresAt: z.string().regex(/^[0-9]+$/),
  tool: z.enum(['terraform', 'tofu']),
});
export type RunRequest = z.infer<typeof runRequestSchema>;

export const planActionSchema = z.enum(['no-op', 'create', 'read', 'update', 'delete', 'forget']);

/** The plan result the runner writes to the artifact store (and `Inspect plan` reads). */
export const planResultSchema = z.object({
  commit: z.string().regex(/^[0-9a-f]{40}$/),
  tool: z.enum(['terraform', 'tofu']),
  toolVersion: z.string(),
  hasChanges: z.boolean(),
  counts: z.object({
    add: z.int().min(0),
    change: z.int().min(0),
    destroy: z.int().min(0),
    replace: z.int().min(0),
  }),
  /** Destroys and replaces first; capped so the execution state stays small. */
  changes: z.array(z.object({ address: z.string(), actions: z.array(planActionSchema) })),
  /** How many changes were left out of `changes` by the cap. */
  changesOmitted: z.int().min(0).default(0),
  planKey: z.string(),
  planVersionId: z.string(),
  planSha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Terraform's human-readable plan (sensitive values masked by Terraform itself). */
  planTextKey: z.string(),
  planTextVersionId: z.string(),
  planTextSha256: z.string().regex(/^[0-9a-f]{64}$/),
  logUrl: z.string(),
});
export type PlanResult = z.infer<typeof planResultSchema>;

/** Cap on `PlanResult.changes`; Step Functions state is limited to 256 KiB. */
export const MAX_CHANGES_IN_RESULT = 500;

/** The task output the approval page sends with SendTaskSuccess. */
export const approvalDecisionSchema = z.object({
  approved: z.boolean(),
  /** Who decided (for N-of-M, every approver who agreed, comma-separated). */
  approver: z.string(),
  reason: z.string().optional(),
  decidedAt: z.iso.datetime(),
  planSha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type ApprovalDecision = z.infer<typeof approvalDecisionSchema>;

/** Which sum of the plan a change counts towards. */
export function changeKind(
  actions: readonly string[],
): 'add' | 'change' | 'destroy' | 'replace' | undefined {
  const has = (a: string) => actions.includes(a);
  if (has('create') && has('delete')) return 'replace';
  if (has('create')) return 'add';
  if (has('delete')) return 'destroy';
  if (has('update')) return 'change';
  return undefined;
}

/** Keys of a run's artifacts in the artifact store. */
export const artifactKeys = (runId: string) => ({
  plan: `runs/${runId}/plan.tfplan`,
  planText: `runs/${runId}/plan.txt`,
  planResult: `runs/${runId}/plan-result.json`,
  applyResult: `runs/${runId}/apply-result.json`,
  error: (mode: 'plan' | 'apply') => `runs/${runId}/${mode}-error.json`,
});

/** One lock per repo and path: two runs never plan or apply the same root module at once. */
export const lockKeyFor = (repo: string, path: string) => `lock#${repo}#${path}`;

/**
 * The execution name CI uses: `<repo>-<path>-<sha7>-<ci run id>`, restricted to the characters
 * Step Functions allows and to 80 characters. Deterministic, so a retried CI job attaches to
 * the run it already started.
 */
export function executionName(parts: {
  repo: string;
  path: string;
  sha: string;
  ciRunId: string;
}): string {
  const clean = (s: string) =>
    s
      .replace(/[^A-Za-z0-9_-]+/g, '-')
      .replace(/-+/g, '-')
      .replace(/^-|-$/g, '');
  const tail = `-${clean(parts.sha).slice(0, 7)}-${clean(parts.ciRunId).slice(0, 24)}`;
  const head = `${clean(parts.repo)}-${clean(parts.path)}`.slice(0, 80 - tail.length);
  return `${head}${tail}`.replace(/^-+/, '');
}

/** Error names the workflow fails with; the CLI maps them to exit codes. */
export const RunErrors = {
  RequestRejected: 'DeployRunner.RequestRejected',
  LockHeld: 'DeployRunner.LockHeld',
  Rejected: 'DeployRunner.Rejected',
  ApprovalExpired: 'DeployRunner.ApprovalExpired',
  ApprovalMismatch: 'DeployRunner.ApprovalMismatch',
} as const;

/**
 * The execution state as it flows through the workflow (`$` in the definition). Each state adds
 * its facts under its own key, so a reader of the console sees the whole story in the output.
 */
export interface WorkflowState {
  /** Set by `Validate request`. */
  readonly request: RunRequest;
  /** Set by `Inspect plan`: the runner's plan result. */
  readonly plan?: { readonly summary: PlanResult };
  /** Set by `Request approval`: the decision the approval page sent. */
  readonly approval?: ApprovalDecision;
  /** Set by `Apply`. */
  readonly apply?: { readonly taskArn: string };
  /** Set by a Catch (`{ Error, Cause }`), or by `Record rejection` / `Record expiry`. */
  readonly error?: { readonly Error: string; readonly Cause: string };
  /** Set when a notification could not be delivered; the run still ends as it would have. */
  readonly notifyError?: { readonly Error: string; readonly Cause: string };
}

/**
 * An approver as the config lists them, as they travel to the handlers: in the `Request
 * approval` payload and in `DR_APPROVERS`. Every identity is kept, `ciLogins` included: the
 * approval page refuses self-approval when any of them is the requester.
 */
export const approverSchema = z.object({
  name: z.string().min(1).optional(),
  email: z.string().min(3).optional(),
  slackUserId: z.string().min(1).optional(),
  ciLogins: z.array(z.string().min(1)).optional(),
});
export type ApproverContract = z.infer<typeof approverSchema>;

/**
 * The SSH host keys the runner trusts (config `git.knownHosts`), as they travel in the runner's
 * environment: known_hosts lines joined by newlines. Set by the task definition and by local
 * mode; empty when the config lists none.
 */
export const KNOWN_HOSTS_ENV = 'DR_GIT_KNOWN_HOSTS';
export const knownHostsSchema = z
  .string()
  .max(64 * 1024)
  .refine((text) => !/[\x00\r]/.test(text), { error: 'must be known_hosts lines' });

export function knownHostsEnv(config: DeployRunnerConfig): Record<string, string> {
  const lines = config.git.knownHosts ?? [];
  return lines.length > 0 ? { [KNOWN_HOSTS_ENV]: lines.join('\n') } : {};
}
