import { RunErrors } from '../../lib/contracts';

/**
 * Named errors the handlers throw. Step Functions shows a Lambda error's `name` as the state's
 * Error and `{ errorMessage }` as its Cause, so names and messages are written for the console
 * reader: what failed, and what to do. No message ever carries a task token or a capability.
 */

/** The execution input was refused by the allowlist (`Validate request`). */
export class RequestRejectedError extends Error {
  override readonly name = RunErrors.RequestRejected;
}

/**
 * A run's plan artifacts are not as its runner wrote them (`Inspect plan`): a key written more
 * than once or removed, an artifact outside the run's prefix, or a version or SHA-256 other than
 * the recorded one. The run fails before anyone is asked to approve; nothing is applied.
 */
export class ArtifactTamperedError extends Error {
  override readonly name = RunErrors.ArtifactTampered;
}

/** Neither email nor Slack reached enough approvers (or any recipient), after retries. */
export class NotificationDeliveryError extends Error {
  override readonly name = 'NotificationDeliveryError';
  constructor(
    message: string,
    /** One line per failed delivery, recipient and reason. */
    readonly failures: readonly string[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A handler payload did not match the workflow contract (a wiring bug, not a user error). */
export class InvalidPayloadError extends Error {
  override readonly name = 'DeployRunner.InvalidPayload';
}

/** A required environment variable is missing or malformed. */
export class SettingsError extends Error {
  override readonly name = 'DeployRunner.SettingsError';
  constructor(readonly problems: readonly string[]) {
    super(`handler settings are invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** The error's name (SDK v3 errors carry it), or undefined. */
export function errorName(error: unknown): string | undefined {
  if (error !== null && typeof error === 'object' && 'name' in error) {
    const name = (error as { name: unknown }).name;
    return typeof name === 'string' ? name : undefined;
  }
  return undefined;
}

/** Whether the error is DynamoDB's "condition not met" for a single conditional write. */
export function isConditionalCheckFailed(error: unknown): boolean {
  return errorName(error) === 'ConditionalCheckFailedException';
}

/** A short, single-line description of an error for logs and causes. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const name = error.name && error.name !== 'Error' ? `${error.name}: ` : '';
    return `${name}${error.message}`.replace(/\s+/g, ' ').trim();
  }
  return String(error).replace(/\s+/g, ' ').trim();
}
