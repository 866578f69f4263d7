import * as z from 'zod';
import type { Approver } from '../../lib/config';
import {
  type Allowlist,
  allowlistSchema,
  approverSchema,
  type DriftGlob,
  driftGlobSchema,
  jsonText,
  type ResultRouting,
  resultRoutingSchema,
  type SignInSettings,
  signInSettingsSchema,
} from '../../lib/contracts';
import { SettingsError } from './errors';

/**
 * What the handlers read from their environment (docs/workflow-contract.md). The stack writes each
 * function's environment with `settingsToEnv`; the deployed function and local mode (which boots
 * each handler from its function's synthesized environment) read it with `settingsFromEnv`.
 */
export interface Settings {
  /** DynamoDB table holding the lock, approval runs and links. Env `DR_TABLE_NAME`. */
  readonly tableName: string;
  /** Repos, refs and paths that may run. Env `DR_ALLOWLIST` (JSON). */
  readonly allowlist: Allowlist;
  /** Drift entries whose path is a glob: the only globs a (drift) request may name. Env `DR_DRIFT_GLOBS` (JSON). @default [] */
  readonly driftGlobs?: readonly DriftGlob[];
  /** Seconds after the execution start when a stale lock expires. Env `DR_LOCK_TTL_SECONDS`. */
  readonly lockTtlSeconds: number;
  /** Origin (and optional prefix) of the approval page, no trailing slash. Env `DR_APPROVAL_BASE_URL`. */
  readonly approvalBaseUrl: string;
  /** Verified SES identity that sends mail. Env `DR_FROM_EMAIL`. */
  readonly fromEmail: string;
  /** Secrets Manager secret holding the Slack bot token. Env `DR_SLACK_TOKEN_SECRET_ARN`. @default - no Slack */
  readonly slackTokenSecretArn?: string;
  /** Slack channel ID that receives summaries (never decision links). Env `DR_SLACK_CHANNEL`. @default - none */
  readonly slackChannel?: string;
  /** Secrets Manager secret whose value keys the page nonces (HMAC). Env `DR_PAGE_SECRET_ARN`. */
  readonly pageSecretArn?: string;
  /** The nonce key itself; local mode only, takes precedence over `pageSecretArn`. @default - read `pageSecretArn` */
  readonly pageSecret?: string;
  /** Artifact bucket (plan results, runner error reports). Env `DR_ARTIFACT_BUCKET`. @default - no error tails */
  readonly artifactBucket?: string;
  /** Step Functions console URL with `{executionArn}`. Env `DR_CONSOLE_URL_TEMPLATE`. */
  readonly consoleUrlTemplate: string;
  /** Who receives result notifications (the config's approvers). Env `DR_APPROVERS` (JSON array). @default [] */
  readonly approvers: readonly Approver[];
  /** Who hears how a run ended (config `notifications.results`). Env `DR_RESULT_ROUTING` (JSON). @default - the config's defaults */
  readonly resultRouting?: ResultRouting;
  /** KMS key that signs approval decisions (approval page) and verifies them (`Verify approval`). Env `DR_DECISION_KEY_ARN`. */
  readonly decisionKeyArn?: string;
  /** How many distinct approvers must approve (the config's). Env `DR_APPROVALS_REQUIRED`. */
  readonly approvalsRequired?: number;
  /** Approvers sign in before deciding (config `approvals.signIn`). Env `DR_SIGN_IN` (JSON). @default - off */
  readonly signIn?: SignInSettings;
  /** The sign-in client secret itself; local mode only, takes precedence over reading `signIn.clientSecretName`. @default - read the secret */
  readonly signInClientSecret?: string;
}

export type { SignInSettings };

/** Environment variable of each setting. */
export const SETTINGS_ENV: Readonly<Record<keyof Settings, string | undefined>> = {
  tableName: 'DR_TABLE_NAME',
  allowlist: 'DR_ALLOWLIST',
  driftGlobs: 'DR_DRIFT_GLOBS',
  lockTtlSeconds: 'DR_LOCK_TTL_SECONDS',
  approvalBaseUrl: 'DR_APPROVAL_BASE_URL',
  fromEmail: 'DR_FROM_EMAIL',
  slackTokenSecretArn: 'DR_SLACK_TOKEN_SECRET_ARN',
  slackChannel: 'DR_SLACK_CHANNEL',
  pageSecretArn: 'DR_PAGE_SECRET_ARN',
  pageSecret: undefined,
  artifactBucket: 'DR_ARTIFACT_BUCKET',
  consoleUrlTemplate: 'DR_CONSOLE_URL_TEMPLATE',
  approvers: 'DR_APPROVERS',
  resultRouting: 'DR_RESULT_ROUTING',
  decisionKeyArn: 'DR_DECISION_KEY_ARN',
  approvalsRequired: 'DR_APPROVALS_REQUIRED',
  signIn: 'DR_SIGN_IN',
  signInClientSecret: undefined,
};

/**
 * Settings each Lambda entry cannot start without, by function (the component tag of its
 * function, lib/constructs/workflow-functions.ts). The stack test feeds every function's
 * synthesized environment through `settingsFromEnv` with these.
 */
export const REQUIRED_SETTINGS = {
  'validate-request': ['allowlist', 'lockTtlSeconds'],
  'request-approval': ['tableName', 'approvalBaseUrl', 'fromEmail', 'consoleUrlTemplate'],
  // The bucket is required: without it the page could not verify the plan text.
  'approval-page': ['tableName', 'consoleUrlTemplate', 'artifactBucket', 'decisionKeyArn'],
  notify: ['fromEmail', 'consoleUrlTemplate'],
  cleanup: ['tableName'],
  'verify-approval': ['approvers', 'approvalsRequired', 'decisionKeyArn'],
  'inspect-plan': ['artifactBucket'],
} as const satisfies Record<string, readonly (keyof Settings)[]>;

/** A Lambda function of the workflow, named as its component tag. */
export type FunctionName = keyof typeof REQUIRED_SETTINGS;

/** Settings with some fields guaranteed present. */
export type SettingsWith<K extends keyof Settings> = Partial<Settings> & Pick<Settings, K>;

/** Settings read from an environment: the required ones are there. */
export type SettingsRead<K extends keyof Settings> = Partial<Settings> &
  Required<Pick<Settings, K>>;

const json = <T extends z.ZodType>(schema: T) => jsonText().pipe(schema);

/** An http(s) URL; a trailing "/" is dropped (a Function URL's own form ends in one). */
const httpUrl = z
  .string()
  .regex(/^https?:\/\/[^\s/]+[^\s]*$/, { error: 'must be an http(s) URL' })
  .transform((url) => url.replace(/\/+$/, ''));

const parsers: { readonly [K in keyof Settings]-?: z.ZodType<Settings[K]> } = {
  tableName: z.string().min(1),
  allowlist: json(allowlistSchema),
  driftGlobs: json(z.array(driftGlobSchema)),
  lockTtlSeconds: z.coerce.number().int().positive(),
  approvalBaseUrl: httpUrl,
  fromEmail: z.string().regex(/^[^\s@]+@[^\s@]+$/, { error: 'is not an email address' }),
  slackTokenSecretArn: z.string().min(1),
  slackChannel: z.string().regex(/^[CG][A-Z0-9]{2,20}$/, { error: 'is not a Slack channel ID' }),
  pageSecretArn: z.string().min(1),
  pageSecret: z.string().min(16),
  artifactBucket: z.string().min(1),
  consoleUrlTemplate: z.string().includes('{executionArn}', {
    error: 'must contain "{executionArn}"',
  }),
  approvers: json(z.array(approverSchema)),
  resultRouting: json(resultRoutingSchema),
  decisionKeyArn: z.string().regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key\/[A-Za-z0-9-]+$/, {
    error: 'is not a KMS key ARN',
  }),
  approvalsRequired: z.coerce.number().int().min(1).max(10),
  signIn: json(signInSettingsSchema),
  signInClientSecret: z.string().min(1),
};

/**
 * Reads settings from the environment. Every variable that is set is validated; the ones in
 * `required` must be set. All problems are reported at once.
 */
export function settingsFromEnv<K extends keyof Settings>(
  env: Readonly<Record<string, string | undefined>>,
  required: readonly K[] = [],
): SettingsRead<K> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(parsers) as (keyof Settings)[]) {
    const name = SETTINGS_ENV[key];
    const raw = name === undefined ? undefined : env[name];
    if (raw === undefined || raw === '') {
      if ((required as readonly string[]).includes(key)) problems.push(`${name ?? key} is not set`);
      continue;
    }
    const parsed = parsers[key].safeParse(raw);
    if (parsed.success) out[key] = parsed.data;
    else problems.push(`${name}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (problems.length > 0) throw new SettingsError(problems);
  return out as SettingsRead<K>;
}

/** Settings as the stack writes them: values may be CDK tokens (strings that resolve at deploy). */
export type SettingsInput = { readonly [K in keyof Settings]?: Settings[K] };

const writers: { readonly [K in keyof Settings]-?: (value: Settings[K]) => string } = {
  tableName: String,
  allowlist: (value) => JSON.stringify(value),
  driftGlobs: (value) => JSON.stringify(value),
  lockTtlSeconds: String,
  approvalBaseUrl: String,
  fromEmail: String,
  slackTokenSecretArn: String,
  slackChannel: String,
  pageSecretArn: String,
  pageSecret: String,
  artifactBucket: String,
  consoleUrlTemplate: String,
  approvers: (value) => JSON.stringify(value),
  resultRouting: (value) => JSON.stringify(value),
  decisionKeyArn: String,
  approvalsRequired: String,
  signIn: (value) => JSON.stringify(value),
  signInClientSecret: String,
};

/**
 * Writes settings as the environment `settingsFromEnv` reads (the stack's function environments).
 * A setting without an environment variable (`pageSecret`, local mode's own) cannot be written.
 */
export function settingsToEnv(settings: SettingsInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of Object.keys(settings) as (keyof Settings)[]) {
    const value = settings[key];
    if (value === undefined) continue;
    const name = SETTINGS_ENV[key];
    if (name === undefined) throw new SettingsError([`${key} has no environment variable`]);
    env[name] = (writers[key] as (v: unknown) => string)(value);
  }
  return env;
}

/** Variables Lambda's runtime or the stack sets that are not settings. */
const RUNTIME_ENV = new Set(['NODE_OPTIONS']);

/**
 * Variables of an environment that no setting reads: a name written on one side only. Looks at
 * `DR_*` names and the stack's own; the Lambda runtime adds many others.
 */
export function unknownSettingsEnv(env: Readonly<Record<string, string | undefined>>): string[] {
  const known = new Set(Object.values(SETTINGS_ENV).filter((n) => n !== undefined));
  return Object.keys(env).filter(
    (name) => name.startsWith('DR_') && !known.has(name) && !RUNTIME_ENV.has(name),
  );
}

/** Checks at factory time that settings built in code (local mode) carry what a handler needs. */
export function requireSettings<K extends keyof Settings>(
  settings: Partial<Settings>,
  required: readonly K[],
): SettingsWith<K> {
  const missing = required.filter((key) => settings[key] === undefined);
  if (missing.length > 0)
    throw new SettingsError(
      missing.map((key) => `${key} (${SETTINGS_ENV[key] ?? 'no env variable'}) is not set`),
    );
  return settings as SettingsWith<K>;
}

/** The Step Functions console link of an execution. */
export function consoleUrl(settings: Pick<Settings, 'consoleUrlTemplate'>, executionArn: string) {
  return settings.consoleUrlTemplate.split('{executionArn}').join(executionArn);
}
