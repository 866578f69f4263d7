import { Logger } from '@aws-lambda-powertools/logger';

/**
 * Structured JSON logs (Powertools) with a redaction step: task tokens and approval capabilities
 * are bearer credentials, so no log line may carry one, whatever a caller passes to the logger.
 *
 * Three layers, because one missed call site must not leak:
 * 1. values under credential-like keys (`taskToken`, `capability`, `nonce`, `token`, ...) are dropped;
 * 2. every string is scrubbed of the exact secret values registered with `registerSecret`;
 * 3. shapes that can only be credentials are masked: approval link paths, Slack tokens, and
 *    very long opaque strings (Step Functions task tokens are several hundred characters).
 */

const REDACTED = '[redacted]';
const SECRET_KEY =
  /^(task_?token|capability|capabilities|nonce|token|bot_?token|secret|page_?secret|password|authorization)$/i;
const CAPABILITY_PATH = /\/a\/[A-Za-z0-9_-]{16,}/g;
const SLACK_TOKEN = /xox[abposre]-[A-Za-z0-9-]+/g;
const LONG_OPAQUE = /[A-Za-z0-9+/=_-]{200,}/g;
/** Bounded, so a long-running local server does not grow without end. */
const MAX_SECRETS = 2000;
const secrets = new Set<string>();

/** Registers a secret value (task token, capability) that must never appear in a log line. */
export function registerSecret(value: string | undefined): void {
  if (!value || value.length < 8) return;
  secrets.add(value);
  if (secrets.size > MAX_SECRETS) {
    const oldest = secrets.values().next().value;
    if (oldest !== undefined) secrets.delete(oldest);
  }
}

/** Masks every known secret and credential-shaped substring of `text`. */
export function redactText(text: string): string {
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out
    .replace(CAPABILITY_PATH, `/a/${REDACTED}`)
    .replace(SLACK_TOKEN, REDACTED)
    .replace(LONG_OPAQUE, REDACTED);
}

/** JSON replacer used by every handler logger. */
export function redactingReplacer(key: string, value: unknown): unknown {
  if (key !== '' && SECRET_KEY.test(key) && value !== undefined && value !== null) return REDACTED;
  if (typeof value === 'string') return redactText(value);
  return value;
}

/** The logger type handlers accept (Powertools' Logger). */
export type HandlerLogger = Logger;

/** Creates the JSON logger for one handler. */
export function createLogger(
  serviceName: string,
  options: { readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT' } = {},
): Logger {
  return new Logger({
    serviceName: `deploy-runner-${serviceName}`,
    jsonReplacerFn: redactingReplacer,
    // @default - POWERTOOLS_LOG_LEVEL, else INFO
    ...(options.logLevel ? { logLevel: options.logLevel } : {}),
  });
}

/** A per-invocation child logger whose lines carry the execution ARN as correlation id. */
export function invocationLogger(logger: Logger, executionArn: string | undefined): Logger {
  const child = logger.createChild();
  if (executionArn) child.setCorrelationId(executionArn);
  return child;
}
