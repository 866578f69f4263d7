import * as z from 'zod';
import type { DeployRunnerConfig, RepoConfig } from './config';

/**
 * The data contracts (docs/workflow-contract.md), shared by the stack, the handlers, the runner, local mode
 * and the CLI. Everything that crosses a process boundary is parsed with one of these schemas.
 */

/** Largest field CI may send; anything longer is rejected before it is looked at. */
export const MAX_FIELD_LENGTH = 256;

/**
 * Text that holds JSON (an environment variable of a handler or the runner), parsed; `error` is
 * the message when the text is missing. Pipe the result into the schema of what it holds.
 */
export function jsonText(error?: string) {
  return z.string(error === undefined ? undefined : { error }).transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
      return z.NEVER;
    }
  });
}

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
  /**
   * A drift check (docs/drift.md): plan with the read-only role, never apply, skip when the path
   * is locked, and on drift `notify` or start a run that asks for approval (`request-approval`).
   */
  drift: z.enum(['notify', 'request-approval']).optional(),
});
export type ExecutionInput = z.input<typeof executionInputSchema>;
export type ParsedExecutionInput = z.output<typeof executionInputSchema>;

/**
 * The input of an execution already started, as `start` reads it to tell a retry of the same
 * run from a clash: any JSON object, since another version of the CLI may have started it.
 */
export const startedInputSchema = z.record(z.string(), z.unknown());

/**
 * The subset of the config that decides what may run. It is baked into the validate
 * function's environment and the runner's task definition (`DR_ALLOWLIST`), so both check it.
 */
export type Allowlist = Record<
  string,
  Pick<
    RepoConfig,
    'url' | 'allowedRefs' | 'allowedPaths' | 'allowCommits' | 'tool' | 'terragrunt'
  > &
    // Optional here (the schema defaults it to []): an allowlist without it has no plan-only refs.
    Partial<Pick<RepoConfig, 'planOnlyRefs'>>
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
    planOnlyRefs: z.array(z.string().min(1)).default([]),
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
        planOnlyRefs: r.planOnlyRefs,
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
  /**
   * Who this run is, in words, for the lock item: a run refused the lock names its holder
   * (`run <runId>, requested by <requester>, CI run <url>`).
   */
  lockHolder: z.string(),
  /** Epoch seconds (as a string, for DynamoDB's N type) after which a stale lock expires. */
  lockExpiresAt: z.string().regex(/^[0-9]+$/),
  tool: z.enum(['terraform', 'tofu']),
  /** Set on drift checks (their `mode` is always `plan-only`): what to do when reality moved. */
  drift: z.enum(['notify', 'request-approval']).optional(),
  /**
   * Set on a drift check whose `path` is a configured drift glob: the run lists the paths it
   * matches at the ref and starts one drift check per path (docs/drift.md).
   */
  expandGlob: z.literal(true).optional(),
});
export type RunRequest = z.infer<typeof runRequestSchema>;

export const planActionSchema = z.enum(['no-op', 'create', 'read', 'update', 'delete', 'forget']);

/**
 * A tool version as the runner reports it ("1.11.4", "1.8.0-beta1", "unknown"): it comes from the
 * tool's output and is shown to approvers, so it is a short token, never free text.
 */
export const toolVersionSchema = z.string().regex(/^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/, {
  error: 'must be a version: 1-64 letters, digits, ".", "+", "_" or "-"',
});

/** The plan result the runner writes to the artifact store (and `Inspect plan` reads). */
export const planResultSchema = z.object({
  commit: z.string().regex(/^[0-9a-f]{40}$/),
  tool: z.enum(['terraform', 'tofu']),
  toolVersion: toolVersionSchema,
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

/**
 * What the approval page signs when a run is approved (docs/architecture.md, property 8): the run, the exact
 * plan and commit, and the distinct approvers who agreed. `Verify approval` checks it before
 * `Apply`; a callback without it, or with one for another run or plan, applies nothing.
 */
/**
 * The person an approver's identity provider vouched for (approvals.signIn, docs/sign-in.md):
 * the ID token's issuer and `sub`, and their value of the configured claim.
 */
export const verifiedSubjectSchema = z.strictObject({
  issuer: z.string().min(1).max(2048),
  sub: z.string().min(1).max(255),
  identity: z.string().min(1).max(256),
});
export type VerifiedSubject = z.infer<typeof verifiedSubjectSchema>;

export const signedDecisionSchema = z.strictObject({
  v: z.literal(1),
  executionArn: z.string().min(1),
  runId: z.string().min(1),
  planSha256: z.string().regex(/^[0-9a-f]{64}$/),
  commit: z.string().regex(/^[0-9a-f]{40}$/),
  /** Distinct by `id` (lowercased email, else Slack user ID). */
  approvers: z
    .array(
      z.strictObject({
        id: z.string().min(1),
        name: z.string(),
        decidedAt: z.iso.datetime(),
        /** Who signed in to decide; present when approvals.signIn is on. */
        verified: verifiedSubjectSchema.optional(),
      }),
    )
    .min(1),
  approvalsRequired: z.int().min(1),
  decidedAt: z.iso.datetime(),
});
export type SignedDecision = z.infer<typeof signedDecisionSchema>;

/**
 * A signed decision as it travels in the task output. `record` is the exact signed bytes
 * (canonical JSON, base64url), so the verifier checks what was signed, not a re-serialization.
 */
export const decisionAttestationSchema = z.strictObject({
  record: z
    .string()
    .min(1)
    .max(16 * 1024)
    .regex(/^[A-Za-z0-9_-]+$/),
  /** DER-encoded ECDSA P-256 / SHA-256 signature over the record bytes, base64. */
  signature: z
    .string()
    .min(1)
    .max(512)
    .regex(/^[A-Za-z0-9+/]+={0,2}$/),
  /** The signing key: a KMS key ARN, or `local:<fingerprint>` in local mode. */
  keyId: z.string().min(1).max(2048),
});
export type DecisionAttestation = z.infer<typeof decisionAttestationSchema>;

/**
 * Cap on a whole plan result as compact JSON, whatever caps the count of changes. The result
 * rides in the execution state into `Request approval` and `Notify` (256 KiB, and
 * `States.DataLimitExceeded` cannot be caught); half of it is left for the rest of the state.
 */
export const MAX_PLAN_RESULT_BYTES = 128 * 1024;

/** The task output the approval page sends with SendTaskSuccess. */
export const approvalDecisionSchema = z.object({
  approved: z.boolean(),
  /** Who decided (for N-of-M, every approver who agreed, comma-separated). */
  approver: z.string(),
  reason: z.string().optional(),
  decidedAt: z.iso.datetime(),
  planSha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The signed decision; present on approvals, which `Verify approval` refuses without it. */
  attestation: decisionAttestationSchema.optional(),
});
export type ApprovalDecision = z.infer<typeof approvalDecisionSchema>;

/** What `Verify approval` puts into the state as `$.verifiedApproval`; `Apply` reads only this. */
export const verifiedApprovalSchema = z.strictObject({
  planSha256: z.string().regex(/^[0-9a-f]{64}$/),
  commit: z.string().regex(/^[0-9a-f]{40}$/),
  /** Display names of the approvers the signed record names. */
  approvers: z.array(z.string()),
  keyId: z.string(),
  verifiedAt: z.iso.datetime(),
});
export type VerifiedApproval = z.infer<typeof verifiedApprovalSchema>;

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
  /** A drift glob's paths at the ref (`driftPathListSchema`), written by the runner's list mode. */
  driftPaths: `runs/${runId}/drift-paths.json`,
});

/**
 * The names of what a plan writes under `runs/<runId>/`, from the key function itself: the
 * stack's IAM patterns and bucket policy list exactly these.
 */
export const PLAN_ARTIFACT_NAMES: readonly string[] = (() => {
  const keys = artifactKeys('_');
  return [keys.plan, keys.planText, keys.planResult, keys.error('plan'), keys.driftPaths].map(
    (key) => key.slice(key.lastIndexOf('/') + 1),
  );
})();

/** One lock per repo and path: two runs never plan or apply the same root module at once. */
export const lockKeyFor = (repo: string, path: string) => `lock#${repo}#${path}`;

/** The `lockHolder` of a run request: what a run refused the lock says about its holder. */
export function lockHolderOf(request: {
  runId: string;
  requestedBy?: string;
  ciRunUrl?: string;
}): string {
  return [
    `run ${request.runId}`,
    `requested by ${request.requestedBy ?? 'an unnamed requester'}`,
    ...(request.ciRunUrl ? [`CI run ${request.ciRunUrl}`] : []),
  ].join(', ');
}

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

/** Where in a run the runner failed; shown in its log and in its error report. */
export const runnerPhaseSchema = z.enum([
  'validate',
  'clone',
  'init',
  'plan',
  'show',
  /** List mode: finding the directories a drift glob matches. */
  'list',
  'upload',
  'download',
  'verify',
  'apply',
  'result',
]);
export type RunnerPhase = z.infer<typeof runnerPhaseSchema>;

/**
 * What failed, as the runner detected it: one per error class of containers/runner/src/errors.ts.
 * `StalePlan` is the only way `Notify failure` learns that Terraform refused a stale saved plan.
 */
export const runnerErrorCodeSchema = z.enum([
  'InputRefused',
  /** The allowed path does not exist at the commit: a request error, not a failed run. */
  'PathNotFound',
  'ToolFailed',
  'StalePlan',
  'ArtifactVerification',
  'ArtifactExists',
  'GitFailure',
  'Unexpected',
]);
export type RunnerErrorCode = z.infer<typeof runnerErrorCodeSchema>;

/**
 * The runner's error report, `runs/<runId>/<mode>-error.json` (`artifactKeys(runId).error`):
 * written by the runner when a run fails, read by `Notify failure`. Messages and tail are masked
 * by the runner.
 */
export const runnerErrorReportSchema = z.object({
  mode: z.enum(['plan', 'apply']),
  code: runnerErrorCodeSchema,
  phase: runnerPhaseSchema,
  message: z.string(),
  /** What to do next, in the runner's words. */
  hint: z.string(),
  /** The last lines the runner printed. */
  tail: z.array(z.string()),
  exitCode: z.int(),
  /** Empty when the runner has no log link. */
  logUrl: z.string(),
});
export type RunnerErrorReport = z.infer<typeof runnerErrorReportSchema>;

/**
 * Names of the workflow's states that other code refers to: the workflow construct names them,
 * local mode runs the runner for the task states, the CLI follows them.
 */
export const StateNames = {
  ValidateRequest: 'Validate request',
  AcquireLock: 'Acquire lock',
  Plan: 'Plan',
  InspectPlan: 'Inspect plan',
  RequestApproval: 'Request approval',
  VerifyApproval: 'Verify approval',
  Apply: 'Apply',
  NotifyResult: 'Notify result',
  ReleaseLock: 'Release lock',
  NotifyFailure: 'Notify failure',
  ReleaseLockAfterFailure: 'Release lock after failure',
  RunFailed: 'Run failed',
} as const;

/** Error names the workflow fails with; the CLI maps them to exit codes. */
export const RunErrors = {
  RequestRejected: 'DeployRunner.RequestRejected',
  LockHeld: 'DeployRunner.LockHeld',
  Rejected: 'DeployRunner.Rejected',
  ApprovalExpired: 'DeployRunner.ApprovalExpired',
  ApprovalMismatch: 'DeployRunner.ApprovalMismatch',
  /** The approval carried no valid decision signed by the approval page for this run and plan. */
  ApprovalNotVerified: 'DeployRunner.ApprovalNotVerified',
  /** `Inspect plan` found the run's artifacts written twice, outside its prefix, or not as recorded. */
  ArtifactTampered: 'DeployRunner.ArtifactTampered',
  RunnerNotStarted: 'DeployRunner.RunnerNotStarted',
} as const;

/** What `Inspect plan` sends its Lambda: the run whose artifacts it checks. */
export const inspectPlanEventSchema = z.strictObject({
  /** The execution name; `runs/<runId>/` is the run's artifact prefix. */
  runId: z.string().regex(/^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,79}$/, {
    error: 'must be an execution name: 1-80 letters, digits, "_", "-" or "."',
  }),
  executionArn: z.string().min(1),
});
export type InspectPlanEvent = z.infer<typeof inspectPlanEventSchema>;

/** What a Catch writes (`{ Error, Cause }`), and what `Record rejection` / `Record expiry` write. */
export const caughtErrorSchema = z.object({
  Error: z.string(),
  Cause: z.string().optional().default(''),
});

/**
 * The execution state as it flows through the workflow (`$` in the definition). Each state adds
 * its facts under its own key, so a reader of the console sees the whole story in the output.
 * `Notify result` and `Notify failure` read it.
 */
export const workflowStateSchema = z.looseObject({
  /** Set by `Validate request`. */
  request: runRequestSchema,
  /** Set by `Inspect plan`: the runner's plan result. */
  plan: z.object({ summary: planResultSchema }).optional(),
  /** Set by `Request approval`: the decision the approval page sent. */
  approval: approvalDecisionSchema.optional(),
  /** Set by `Verify approval`: the facts of the signed decision `Apply` uses. */
  verifiedApproval: verifiedApprovalSchema.optional(),
  /** Set by `Apply` (its ResultSelector). */
  apply: z.object({ taskArn: z.string() }).optional(),
  /** Set by a Catch, or by `Record rejection` / `Record expiry`. */
  error: caughtErrorSchema.optional(),
  /** Set when a notification could not be delivered; the run still ends as it would have. */
  notifyError: caughtErrorSchema.optional(),
});
export type WorkflowState = z.input<typeof workflowStateSchema>;
export type ParsedWorkflowState = z.output<typeof workflowStateSchema>;

/**
 * Local mode: the record of a runner process that runs, `<dataDir>/tasks/<taskId>.json`. Written
 * by the server when it starts the runner and read by the next server after a crash, so a runner
 * that outlived its server is found (pid and start time tell it from a reused pid).
 */
export const localTaskRecordSchema = z.object({
  taskId: z.string().regex(/^[0-9a-f]{32}$/),
  taskArn: z.string().min(1),
  executionArn: z.string().min(1),
  stateName: z.string().min(1),
  mode: z.enum(['plan', 'apply']),
  pid: z.number().int().positive(),
  /** Clock ticks since boot (`/proc/<pid>/stat`); absent where the platform does not say. */
  startTime: z.number().int().nonnegative().optional(),
  startedAt: z.iso.datetime(),
});
export type LocalTaskRecord = z.infer<typeof localTaskRecordSchema>;

/**
 * Local mode: how a runner process ended, `<dataDir>/tasks/<taskId>.json.exit`, written by the
 * runner's watchdog (lib/local/runner-watchdog.cjs) as it exits, so a server that was away learns
 * how an apply it did not see finish ended.
 */
export const localTaskExitSchema = z.object({
  exitCode: z.number().int(),
  at: z.iso.datetime(),
  /** Whether the server had gone away before the runner ended. */
  orphaned: z.boolean(),
});
export type LocalTaskExit = z.infer<typeof localTaskExitSchema>;

/**
 * An approver as the config lists them, as they travel to the handlers: in the `Request
 * approval` payload and in `DR_APPROVERS`. Every identity is kept, `ciLogins` included: the
 * approval page refuses self-approval when any of them is the requester.
 */
export const approverSchema = z
  .object({
    name: z.string().min(1).optional(),
    email: z.string().min(3).optional(),
    slackUserId: z.string().min(1).optional(),
    ciLogins: z.array(z.string().min(1)).optional(),
    /** Their value of the sign-in claim (config `identity`); the page may default it to the email. */
    identity: z.string().min(1).optional(),
  })
  .refine((a) => a.email !== undefined || a.slackUserId !== undefined, {
    error: 'an approver needs an email or a slackUserId',
  });
export type ApproverContract = z.infer<typeof approverSchema>;

/**
 * The payload `Request approval` sends (docs/workflow-contract.md, state 6): built by the
 * workflow construct (lib/constructs/workflow.ts, which parses its fixed part at synth time) and
 * parsed by handlers/request-approval.ts.
 */
export const requestApprovalPayloadSchema = z.object({
  taskToken: z.string().min(1),
  executionArn: z.string().min(1),
  request: runRequestSchema,
  plan: planResultSchema,
  approvers: z.array(approverSchema).min(1),
  approvalsRequired: z.int().min(1),
  timeoutSeconds: z.int().min(1),
});
export type RequestApprovalPayload = z.input<typeof requestApprovalPayloadSchema>;

/**
 * The approval page's sign-in settings (config `approvals.signIn`), env `DR_SIGN_IN` (JSON). The
 * client secret travels by name only; the page reads it from Secrets Manager.
 */
export const signInSettingsSchema = z.strictObject({
  issuer: z.string().regex(/^https?:\/\/[^\s/]+[^\s]*$/, { error: 'must be an http(s) URL' }),
  clientId: z.string().min(1),
  clientSecretName: z.string().min(1),
  claim: z.string().min(1),
});
export type SignInSettings = z.infer<typeof signInSettingsSchema>;

/**
 * The sign-in flow cookie: what the approval page needs back when the provider redirects to its
 * callback. Sealed (AES-256-GCM) by the page, so the browser carries it without reading it.
 */
export const signInFlowSchema = z.strictObject({
  v: z.literal(1),
  /** The link being signed in for; the callback returns to it. */
  capability: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  state: z.string().min(16).max(128),
  /** PKCE code verifier (RFC 7636). */
  verifier: z.string().min(43).max(128),
  /** Epoch seconds after which the flow is void. */
  exp: z.int().positive(),
});
export type SignInFlow = z.infer<typeof signInFlowSchema>;

/**
 * The signed-in session cookie (HMAC-signed by the page): one person, verified by the provider,
 * for one approval link, for a short while.
 */
export const signInSessionSchema = z.strictObject({
  v: z.literal(1),
  /** SHA-256 (hex) of the link's capability. */
  linkHash: z.string().regex(/^[0-9a-f]{64}$/),
  subject: verifiedSubjectSchema,
  /** Epoch seconds after which the session is void. */
  exp: z.int().positive(),
});
export type SignInSession = z.infer<typeof signInSessionSchema>;

/** `signin#<sha256(state)>`: a sign-in callback that was completed; a second one is a replay. */
export const signInClaimSchema = z.object({
  pk: z.string().regex(/^signin#[0-9a-f]{64}$/),
  /** TTL (epoch seconds). */
  expiresAt: z.number(),
});
export type SignInClaim = z.infer<typeof signInClaimSchema>;

/*
 * The approval store's items (DynamoDB in AWS, memory or a JSON file in local mode): written by
 * `Request approval` and the approval page, read by the page and `Cleanup`, and, for the lock,
 * written by the state machine's `Acquire lock`. Table key `pk`, TTL attribute `expiresAt`
 * (epoch seconds). Readers parse them with these schemas.
 */

/** One approver as the run knows them. `id` is their identity for counting distinct approvals. */
export const approverRefSchema = z.object({
  /** Lowercased email, else the Slack user ID. */
  id: z.string().min(1),
  /** Display name: configured name, else email, else Slack user ID. */
  name: z.string(),
  email: z.string().optional(),
  slackUserId: z.string().optional(),
  /** Their logins on CI systems (config `ciLogins`): identities that may appear as `requestedBy`. */
  ciLogins: z.array(z.string()).optional(),
  /** Their value of the sign-in claim, as configured; absent when the page defaults it (email). */
  identity: z.string().optional(),
});
export type ApproverRef = z.infer<typeof approverRefSchema>;

export const decisionRecordSchema = z.object({
  approverId: z.string(),
  approverName: z.string(),
  decision: z.enum(['approve', 'reject']),
  /** What the approver wrote; "" when nothing. */
  reason: z.string(),
  decidedAt: z.string(),
  /** Who signed in to decide (approvals.signIn on). */
  verified: verifiedSubjectSchema.optional(),
});
export type DecisionRecord = z.infer<typeof decisionRecordSchema>;

/** `pending` until decided; `approved`/`rejected` once the task was completed; `ended` when the execution ended first. */
export const runStatusSchema = z.enum(['pending', 'approved', 'rejected', 'ended']);
export type RunStatus = z.infer<typeof runStatusSchema>;

/** `run#<executionArn>`: a run waiting for approval. */
export const approvalRunSchema = z.object({
  executionArn: z.string(),
  runId: z.string(),
  /** The Step Functions task token: a bearer credential, never shown or logged. */
  taskToken: z.string(),
  request: runRequestSchema,
  plan: planResultSchema,
  approvers: z.array(approverRefSchema),
  approvalsRequired: z.int().min(1),
  linkHashes: z.array(z.string()),
  createdAt: z.string(),
  /** Epoch seconds after which no decision is accepted. */
  validUntil: z.number(),
  /** TTL (epoch seconds): kept a while after `validUntil` so late visitors get a clear page. */
  expiresAt: z.number(),
  status: runStatusSchema,
  /** By approver id; at most one decision per approver. */
  decisions: z.record(z.string(), decisionRecordSchema),
  /** The decision sent to Step Functions, once sent. */
  outcome: approvalDecisionSchema.optional(),
  endedAt: z.string().optional(),
  endedReason: z.string().optional(),
});
export type ApprovalRun = z.infer<typeof approvalRunSchema>;

export const linkStatusSchema = z.enum(['open', 'used', 'void']);
export type LinkStatus = z.infer<typeof linkStatusSchema>;

/** `link#<sha256(capability)>`: one approver's capability link. */
export const approvalLinkSchema = z.object({
  /** SHA-256 (hex) of the capability. */
  hash: z.string(),
  executionArn: z.string(),
  approverId: z.string(),
  approverName: z.string(),
  validUntil: z.number(),
  expiresAt: z.number(),
  status: linkStatusSchema,
  usedAt: z.string().optional(),
  decision: z.enum(['approve', 'reject']).optional(),
});
export type ApprovalLink = z.infer<typeof approvalLinkSchema>;

/**
 * `lock#<repo>#<path>`: the lock item the state machine's `Acquire lock` writes (its attributes
 * are these keys, test/stack/workflow.test.ts checks it) and `Cleanup` and local mode read.
 */
export const lockItemSchema = z.object({
  pk: z.string(),
  executionArn: z.string(),
  runId: z.string(),
  repo: z.string(),
  path: z.string(),
  /** Who holds it, in words (`RunRequest.lockHolder`); absent on locks of older versions. */
  holder: z.string().optional(),
  acquiredAt: z.string(),
  /** Epoch seconds (the table's TTL attribute). */
  expiresAt: z.number(),
});
export type LockItem = z.infer<typeof lockItemSchema>;

/**
 * How long a run may last, and its lock (seconds): one formula for the stack (the state
 * machine's timeout, `DR_LOCK_TTL_SECONDS`) and local mode.
 */
export function runTimeoutSeconds(t: { plan: number; approval: number; apply: number }): {
  execution: number;
  lock: number;
} {
  const execution = t.plan + t.approval + t.apply + 3600;
  // A lock outlives the longest possible run by an hour, then DynamoDB TTL may drop it.
  return { execution, lock: execution + 3600 };
}

/**
 * Who hears how a run ended (config `notifications.results`), as it travels in the notify
 * function's environment (`DR_RESULT_ROUTING`). handlers/shared/routing.ts applies it.
 */
export const resultRoutingSchema = z.object({
  planOnly: z.enum(['requester', 'approvers', 'none']).default('requester'),
  failures: z.enum(['requester', 'approvers']).default('requester'),
  requesterEmailDomains: z.array(z.string().min(1)).optional(),
});
export type ResultRouting = z.input<typeof resultRoutingSchema>;

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

/** What a drift check's `Drift: report` state puts into the state as `$.drift` (docs/drift.md). */
export const driftOutcomeSchema = z.object({
  drifted: z.boolean(),
  /** One line for the run's output and the CLI. */
  summary: z.string(),
  counts: z
    .object({
      add: z.int().min(0),
      change: z.int().min(0),
      destroy: z.int().min(0),
      replace: z.int().min(0),
    })
    .optional(),
  notified: z.int().min(0),
  /** The execution name of the run started to ask for approval (`onDrift: request-approval`). */
  approvalRun: z.string().optional(),
});
export type DriftOutcome = z.infer<typeof driftOutcomeSchema>;

/** What `Drift: record skipped` (lib/constructs/drift.ts) puts into `$.drift` when the path was locked. */
export const driftSkippedSchema = z.object({ skipped: z.literal(true), summary: z.string() });

/** `$.drift` of a drift check that succeeded: skipped, or the report. The CLI reads it. */
export const driftResultSchema = z.union([driftSkippedSchema, driftOutcomeSchema]);

/** The output of a drift check execution (the workflow state), as far as the CLI reads it. */
export const driftCheckOutputSchema = z.looseObject({ drift: z.unknown().optional() });

/**
 * What the CLI reads of a succeeded execution's output (the workflow state, `workflowStateSchema`)
 * to say how it ended. Lenient: a field of another shape counts as absent, so an output from
 * another version still gives an exit code.
 */
export const executionOutputFactsSchema = z.looseObject({
  request: z
    .looseObject({ mode: z.string().optional().catch(undefined) })
    .optional()
    .catch(undefined),
  plan: z
    .looseObject({
      summary: z
        .looseObject({ hasChanges: z.boolean().optional().catch(undefined) })
        .optional()
        .catch(undefined),
    })
    .optional()
    .catch(undefined),
  apply: z.unknown().optional(),
});

/**
 * The Cause of a failed Lambda task as Step Functions hands it over: the error's JSON envelope
 * (`errorType`, `errorMessage`, `trace`), or a state's own `{ Error, Cause }` around another.
 */
export const errorCauseEnvelopeSchema = z.looseObject({
  errorMessage: z.string().optional().catch(undefined),
  Cause: z.string().optional().catch(undefined),
});

/**
 * `drift#view#<sha256(capability)>`: a read-only view of one drift check's plan. The notify
 * function writes it when it tells people about drift; the approval page reads it for
 * `GET /v/<capability>` (handlers/shared/plan-view.ts). The capability itself is never stored.
 */
export const planViewRecordSchema = z.object({
  /** SHA-256 (hex) of the capability. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  executionArn: z.string(),
  runId: z.string(),
  request: runRequestSchema,
  plan: planResultSchema,
  createdAt: z.string(),
  /** Epoch seconds after which the link shows nothing but that it expired. */
  validUntil: z.number(),
  /** TTL (epoch seconds): kept a while after `validUntil` so late visitors get a clear page. */
  expiresAt: z.number(),
});
export type PlanViewRecord = z.infer<typeof planViewRecordSchema>;

/**
 * The state machine tag that names the runner's log group: the stack sets it, local mode answers
 * it, and the CLI reads it so `start --wait` streams the runner's output with no flag.
 */
export const RUNNER_LOG_GROUP_TAG = 'deploy-runner:runner-log-group';

/** A drift entry whose path is a glob: the only glob a request may name (`DR_DRIFT_GLOBS`). */
export const driftGlobSchema = z.strictObject({
  repo: z.string().min(1),
  ref: z.string().min(1),
  path: z.string().min(1),
});
export type DriftGlob = z.infer<typeof driftGlobSchema>;

/** The most drift checks one glob starts per tick; more fails the tick with a clear error. */
export const DRIFT_FAN_OUT_MAX = 50;

/**
 * `runs/<runId>/drift-paths.json`: the directories a drift glob matches at the ref, written once
 * by the runner's list mode (read-only plan role), read by the notify function's `drift-fan-out`
 * phase, which starts one drift check per path.
 */
export const driftPathListSchema = z.strictObject({
  repo: z.string().min(1),
  ref: z.string().min(1),
  glob: z.string().min(1),
  /** The commit the paths were listed at. */
  commit: z.string().regex(/^[0-9a-f]{40}$/),
  /** Sorted, distinct; at most 1000 (`total` counts them all). */
  paths: z.array(z.string().min(1).max(MAX_FIELD_LENGTH)).max(1000),
  total: z.int().min(0),
});
export type DriftPathList = z.infer<typeof driftPathListSchema>;

/** What `Drift: start the checks` puts into `$.drift`: the child drift checks it started. */
export const driftFanOutSchema = z.object({
  /** `N drift checks started: ...`, for the run's output and the CLI. */
  summary: z.string(),
  commit: z.string(),
  /** One per path, in path order. */
  checks: z.array(z.object({ path: z.string(), executionArn: z.string() })),
});
export type DriftFanOut = z.infer<typeof driftFanOutSchema>;
