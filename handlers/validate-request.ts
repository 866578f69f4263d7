import * as z from 'zod';
import { checkExecutionInput, describeRejections } from '../lib/allowlist';
import { lockHolderOf, lockKeyFor, type RunRequest } from '../lib/contracts';
import { RequestRejectedError } from './shared/errors';
import { createLogger, type HandlerLogger, invocationLogger } from './shared/logger';
import { lambdaEntry, parsePayload } from './shared/scaffold';
import type { SettingsWith } from './shared/settings';

/**
 * `Validate request`: checks CI's execution input against the allowlist and turns it into the
 * `RunRequest` every later state reads. A refused input fails the run with
 * `DeployRunner.RequestRejected` and a message naming each bad field, its value and what is allowed.
 */

export type ValidateRequestSettings = SettingsWith<'allowlist' | 'lockTtlSeconds'>;

export interface ValidateRequestDeps {
  readonly settings: ValidateRequestSettings;
  /** @default - a Powertools logger for this handler */
  readonly logger?: HandlerLogger;
}

/** The payload `Validate request` sends (docs/workflow-contract.md, state 1). */
export const validateRequestPayloadSchema = z.object({
  input: z.unknown(),
  execution: z.object({
    id: z.string().min(1),
    name: z.string().min(1),
    startTime: z.string().refine((s) => !Number.isNaN(Date.parse(s)), {
      error: 'must be an ISO timestamp',
    }),
  }),
});
export type ValidateRequestPayload = z.input<typeof validateRequestPayloadSchema>;

export type ValidateRequestHandler = (event: unknown) => Promise<{ request: RunRequest }>;

export function createValidateRequestHandler(deps: ValidateRequestDeps): ValidateRequestHandler {
  const { settings } = deps;
  const logger = deps.logger ?? createLogger('validate-request');

  return async (event) => {
    const { input, execution } = parsePayload(
      validateRequestPayloadSchema,
      event,
      'Validate request',
    );
    const log = invocationLogger(logger, execution.id);
    const verdict = checkExecutionInput(input, settings.allowlist, settings.driftGlobs ?? []);
    if (!verdict.ok) {
      const message = describeRejections(verdict.rejections);
      log.warn('request rejected', { rejections: verdict.rejections });
      throw new RequestRejectedError(message);
    }
    const { repo, ref, path, requestedBy, ciRunUrl, drift } = verdict.input;
    // A drift check only ever plans: its refs were checked as for a deploy, its run never applies.
    const mode = drift !== undefined ? 'plan-only' : verdict.input.mode;
    const startSeconds = Math.floor(Date.parse(execution.startTime) / 1000);
    const request: RunRequest = {
      repo,
      ref,
      path,
      mode,
      ...(requestedBy !== undefined ? { requestedBy } : {}),
      ...(ciRunUrl !== undefined ? { ciRunUrl } : {}),
      runId: execution.name,
      executionArn: execution.id,
      lockKey: lockKeyFor(repo, path),
      lockHolder: lockHolderOf({ runId: execution.name, requestedBy, ciRunUrl }),
      lockExpiresAt: String(startSeconds + settings.lockTtlSeconds),
      tool: (settings.allowlist[repo] as (typeof settings.allowlist)[string]).tool,
      ...(drift !== undefined ? { drift } : {}),
      ...(verdict.expandGlob ? { expandGlob: true as const } : {}),
    };
    log.info('request accepted', {
      repo,
      ref,
      path,
      mode,
      requestedBy,
      ...(request.expandGlob && { expandGlob: true }),
    });
    return { request };
  };
}

/** Lambda entry point (`Validate request`). */
export const handler = lambdaEntry('validate-request', (settings, logger) =>
  createValidateRequestHandler({ settings, logger }),
);
