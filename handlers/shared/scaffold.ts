import type { Context } from 'aws-lambda';
import type * as z from 'zod';
import { InvalidPayloadError } from './errors';
import { createLogger, type HandlerLogger } from './logger';
import {
  type FunctionName,
  REQUIRED_SETTINGS,
  type SettingsRead,
  settingsFromEnv,
} from './settings';

/**
 * What every handler module shares: how a payload that breaks the workflow contract is reported,
 * and how the Lambda entry point builds the handler once from its function's environment.
 */

/**
 * Parses a handler's payload. A mismatch is a wiring bug (`InvalidPayloadError`); the message
 * names each issue by path and message only, never a value: payloads carry task tokens.
 */
export function parsePayload<T extends z.ZodType>(
  schema: T,
  event: unknown,
  receiver: string,
): z.output<T> {
  const parsed = schema.safeParse(event);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .slice(0, 10)
    .map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`)
    .join('; ');
  throw new InvalidPayloadError(
    `${receiver} received a payload that does not match the workflow contract: ${issues}`,
  );
}

/** The settings a function's entry point is guaranteed (`settingsFromEnv` checked them). */
export type EntrySettings<F extends FunctionName> = SettingsRead<
  (typeof REQUIRED_SETTINGS)[F][number]
>;

/** A Lambda entry point: the handler, given the invocation's context when Lambda calls it. */
export type LambdaEntry<E, R> = (event: E, context?: Context) => Promise<R>;

export interface LambdaEntryOptions<R> {
  /**
   * Answers when the handler cannot be built (bad settings), instead of failing the invocation;
   * the next invocation tries again. @default - the invocation fails with the error
   */
  readonly onSetupError?: (error: unknown, logger: HandlerLogger) => R;
}

/**
 * The entry point of the function `name`: on its first invocation it reads the function's
 * settings from the environment (`settingsFromEnv`, the reader local mode boots handlers with
 * too) and builds the handler; every invocation hands the Lambda context (request id, cold
 * start) to the logger, whose per-invocation children carry it.
 */
export function lambdaEntry<F extends FunctionName, E, R>(
  name: F,
  build: (settings: EntrySettings<F>, logger: HandlerLogger) => (event: E) => Promise<R>,
  options: LambdaEntryOptions<R> = {},
): LambdaEntry<E, R> {
  const logger = createLogger(name);
  let handler: ((event: E) => Promise<R>) | undefined;
  return async (event, context) => {
    if (context) logger.addContext(context);
    if (!handler) {
      try {
        const required: readonly (typeof REQUIRED_SETTINGS)[F][number][] = REQUIRED_SETTINGS[name];
        handler = build(settingsFromEnv(process.env, required), logger);
      } catch (error) {
        if (!options.onSetupError) throw error;
        return options.onSetupError(error, logger);
      }
    }
    return handler(event);
  };
}
