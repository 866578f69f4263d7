import type * as ClientSESv2 from '@aws-sdk/client-sesv2';
import type { SESv2Client } from '@aws-sdk/client-sesv2';
import { lazyModule } from '../../lib/lazy-module';
import { describeError, errorName, NotificationDeliveryError } from './errors';

// Loaded when the first email is sent, not at import: see lib/lazy-module.ts.
const { SendEmailCommand } = lazyModule<typeof ClientSESv2>(() => require('@aws-sdk/client-sesv2'));

/**
 * Delivery of emails and Slack messages. `AwsNotifier` uses SES and the Slack Web API;
 * `OutboxNotifier` writes files (local mode). Both throw `NotificationDeliveryError` when a
 * message cannot be delivered, so callers decide what a failure means for the run.
 */

export interface EmailMessage {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

/** Slack Block Kit blocks (only what the messages use). */
export type SlackBlock = Readonly<Record<string, unknown>>;

export interface SlackMessage {
  /** A user ID (direct message from the bot) or a channel ID. */
  readonly channel: string;
  /** Fallback text for notifications and clients without blocks. */
  readonly text: string;
  readonly blocks?: readonly SlackBlock[];
}

export interface Notifier {
  sendEmail(message: EmailMessage): Promise<void>;
  sendSlack(message: SlackMessage): Promise<void>;
}

export interface RetryOptions {
  /** Total attempts, the first included. @default 4 */
  readonly attempts?: number;
  /** First backoff; doubles each retry, with jitter. @default 250 */
  readonly baseDelayMs?: number;
  /** Longest single wait. @default 5000 */
  readonly maxDelayMs?: number;
  /** Waits; tests pass one that returns at once. @default - setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** An error that is worth trying again, with the wait the server asked for (if any). */
class Retryable extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

const RETRYABLE_AWS = new Set([
  'TooManyRequestsException',
  'ThrottlingException',
  'Throttling',
  'LimitExceededException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalFailure',
  'InternalServerError',
  'RequestTimeout',
  'TimeoutError',
]);

function isRetryableAwsError(error: unknown): boolean {
  const name = errorName(error);
  if (name && RETRYABLE_AWS.has(name)) return true;
  const meta = (error as { $metadata?: { httpStatusCode?: number }; $retryable?: unknown }) ?? {};
  if (meta.$retryable) return true;
  const status = meta.$metadata?.httpStatusCode;
  if (status !== undefined && (status === 429 || status >= 500)) return true;
  // Network failures from the SDK's HTTP handler carry no response.
  return ['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNREFUSED'].includes(
    (error as NodeJS.ErrnoException)?.code ?? '',
  );
}

async function withRetries(
  what: string,
  options: RetryOptions,
  attempt: () => Promise<void>,
  retryable: (error: unknown) => Retryable | undefined,
): Promise<void> {
  const attempts = Math.max(1, options.attempts ?? 4);
  const base = options.baseDelayMs ?? 250;
  const max = options.maxDelayMs ?? 5000;
  const sleep = options.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  for (let i = 1; ; i++) {
    try {
      await attempt();
      return;
    } catch (error) {
      const again = retryable(error);
      if (!again || i >= attempts) {
        const tries = again ? ` after ${attempts} attempts` : '';
        throw new NotificationDeliveryError(
          `could not deliver ${what}${tries}: ${describeError(again ?? error)}`,
          [`${what}: ${describeError(again ?? error)}`],
          { cause: error },
        );
      }
      const backoff = Math.min(max, base * 2 ** (i - 1));
      const jittered = backoff / 2 + Math.random() * (backoff / 2);
      await sleep(Math.min(max, Math.max(again.retryAfterMs ?? 0, jittered)));
    }
  }
}

export interface AwsNotifierOptions {
  readonly ses: SESv2Client;
  readonly fromEmail: string;
  /** Returns the Slack bot token (read once from Secrets Manager). @default - Slack is not configured */
  readonly slackToken?: () => Promise<string>;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  readonly retry?: RetryOptions;
  /** Slack Web API base. @default https://slack.com/api */
  readonly slackApiUrl?: string;
}

/** SES (HTML + text) and Slack `chat.postMessage`, with retries on throttling and server errors. */
export class AwsNotifier implements Notifier {
  constructor(private readonly options: AwsNotifierOptions) {}

  async sendEmail(message: EmailMessage): Promise<void> {
    await withRetries(
      `the email to ${message.to}`,
      this.options.retry ?? {},
      async () => {
        await this.options.ses.send(
          new SendEmailCommand({
            FromEmailAddress: this.options.fromEmail,
            Destination: { ToAddresses: [message.to] },
            Content: {
              Simple: {
                Subject: { Data: message.subject, Charset: 'UTF-8' },
                Body: {
                  Text: { Data: message.text, Charset: 'UTF-8' },
                  Html: { Data: message.html, Charset: 'UTF-8' },
                },
              },
            },
          }),
        );
      },
      (error) => (isRetryableAwsError(error) ? new Retryable(describeError(error)) : undefined),
    );
  }

  async sendSlack(message: SlackMessage): Promise<void> {
    const what = `the Slack message to ${message.channel}`;
    const tokenSource = this.options.slackToken;
    if (!tokenSource)
      throw new NotificationDeliveryError(
        `could not deliver ${what}: Slack is not configured (no bot token secret)`,
        [`${what}: Slack is not configured`],
      );
    let token: string;
    try {
      token = await tokenSource();
    } catch (error) {
      throw new NotificationDeliveryError(
        `could not deliver ${what}: the Slack bot token could not be read (${errorName(error) ?? 'error'})`,
        [`${what}: bot token unavailable`],
        { cause: error },
      );
    }
    const doFetch = this.options.fetch ?? globalThis.fetch;
    const url = `${this.options.slackApiUrl ?? 'https://slack.com/api'}/chat.postMessage`;
    await withRetries(
      what,
      this.options.retry ?? {},
      async () => {
        const response = await doFetch(url, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json; charset=utf-8',
          },
          body: JSON.stringify({
            channel: message.channel,
            text: message.text,
            ...(message.blocks ? { blocks: message.blocks } : {}),
            unfurl_links: false,
            unfurl_media: false,
          }),
        });
        if (response.status === 429 || response.status >= 500) {
          const retryAfter = Number(response.headers.get('retry-after'));
          throw new Retryable(
            `Slack answered HTTP ${response.status}`,
            Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
          );
        }
        const body = (await response.json().catch(() => ({}))) as { ok?: boolean; error?: string };
        if (body.ok === true) return;
        if (body.error === 'ratelimited') throw new Retryable('Slack answered "ratelimited"');
        throw new SlackApiError(
          `Slack answered "${String(body.error ?? `HTTP ${response.status}`).slice(0, 80)}"`,
        );
      },
      (error) => {
        if (error instanceof Retryable) return error;
        if (error instanceof SlackApiError) return undefined;
        // fetch rejects with TypeError on network failures.
        return new Retryable(`Slack could not be reached (${describeError(error)})`);
      },
    );
  }
}

/** Slack refused the message (not retryable); its message reads well on its own. */
class SlackApiError extends Error {}
