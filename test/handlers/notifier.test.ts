import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  MessageRejected,
  SESv2Client,
  SendEmailCommand,
  TooManyRequestsException,
} from '@aws-sdk/client-sesv2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { cachedSecret } from '../../handlers/shared/clients/secrets';
import { NotificationDeliveryError } from '../../handlers/shared/errors';
import { AwsNotifier } from '../../handlers/shared/notifier';
import { OutboxNotifier } from '../../lib/local/outbox-notifier';

const ses = mockClient(SESv2Client);
const secrets = mockClient(SecretsManagerClient);
const BOT_TOKEN = 'xoxb-1234-5678-secretbottoken';
const email = { to: 'alice@example.com', subject: 'Hi', text: 'plain', html: '<p>html</p>' };
const noSleep = { attempts: 3, sleep: async () => {} };

function slackFetch(responses: (() => Response)[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fn = vi.fn(async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    const next = responses.shift();
    if (!next) throw new Error('no more responses');
    return next();
  });
  return { fetch: fn as unknown as typeof fetch, calls };
}

const ok = () => new Response(JSON.stringify({ ok: true }), { status: 200 });

function notifier(fetchImpl?: typeof fetch) {
  return new AwsNotifier({
    ses: new SESv2Client({ region: 'us-east-1' }),
    fromEmail: 'deploys@example.com',
    slackToken: cachedSecret(() => new SecretsManagerClient({ region: 'us-east-1' }), 'arn:slack'),
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
    retry: noSleep,
  });
}

beforeEach(() => {
  ses.reset();
  secrets.reset();
  secrets.on(GetSecretValueCommand).resolves({ SecretString: BOT_TOKEN });
});

describe('AwsNotifier email (SES)', () => {
  it('sends HTML and text in one simple message', async () => {
    ses.on(SendEmailCommand).resolves({ MessageId: 'm-1' });
    await notifier().sendEmail(email);
    expect(ses.commandCalls(SendEmailCommand)[0]?.args[0].input).toEqual({
      FromEmailAddress: 'deploys@example.com',
      Destination: { ToAddresses: ['alice@example.com'] },
      Content: {
        Simple: {
          Subject: { Data: 'Hi', Charset: 'UTF-8' },
          Body: {
            Text: { Data: 'plain', Charset: 'UTF-8' },
            Html: { Data: '<p>html</p>', Charset: 'UTF-8' },
          },
        },
      },
    });
  });

  it('retries throttling, then succeeds', async () => {
    ses
      .on(SendEmailCommand)
      .rejectsOnce(new TooManyRequestsException({ message: 'Rate exceeded', $metadata: {} }))
      .resolves({ MessageId: 'm-2' });
    await notifier().sendEmail(email);
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(2);
  });

  it('retries throttling, then throws NotificationDeliveryError with a clear message', async () => {
    ses
      .on(SendEmailCommand)
      .rejects(new TooManyRequestsException({ message: 'Rate exceeded', $metadata: {} }));
    const error = await notifier()
      .sendEmail(email)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotificationDeliveryError);
    expect((error as Error).message).toBe(
      'could not deliver the email to alice@example.com after 3 attempts: TooManyRequestsException: Rate exceeded',
    );
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(3);
  });

  it('does not retry a rejected message', async () => {
    ses
      .on(SendEmailCommand)
      .rejects(new MessageRejected({ message: 'Email address is not verified.', $metadata: {} }));
    const error = await notifier()
      .sendEmail(email)
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      'could not deliver the email to alice@example.com: MessageRejected: Email address is not verified.',
    );
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(1);
  });

  it('backs off between attempts', async () => {
    ses
      .on(SendEmailCommand)
      .rejects(Object.assign(new Error('busy'), { $metadata: { httpStatusCode: 503 } }));
    const waits: number[] = [];
    const n = new AwsNotifier({
      ses: new SESv2Client({ region: 'us-east-1' }),
      fromEmail: 'deploys@example.com',
      retry: { attempts: 4, baseDelayMs: 100, sleep: async (ms) => void waits.push(ms) },
    });
    await expect(n.sendEmail(email)).rejects.toThrow(NotificationDeliveryError);
    expect(waits).toHaveLength(3);
    expect(waits[0]).toBeGreaterThanOrEqual(50);
    expect(waits[2]).toBeGreaterThanOrEqual(200);
  });
});

describe('AwsNotifier Slack (chat.postMessage)', () => {
  it('posts with the bot token read once from Secrets Manager', async () => {
    const { fetch, calls } = slackFetch([ok, ok]);
    const n = notifier(fetch);
    await n.sendSlack({ channel: 'U0BOB1234', text: 'hello', blocks: [{ type: 'divider' }] });
    await n.sendSlack({ channel: 'C0DEPLOYS', text: 'summary' });
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(calls[0]?.url).toBe('https://slack.com/api/chat.postMessage');
    expect(calls[0]?.init.headers).toMatchObject({ authorization: `Bearer ${BOT_TOKEN}` });
    expect(JSON.parse(calls[0]?.init.body as string)).toMatchObject({
      channel: 'U0BOB1234',
      text: 'hello',
      blocks: [{ type: 'divider' }],
    });
  });

  it('retries 429 (honouring Retry-After), 5xx and "ratelimited", then succeeds', async () => {
    const waits: number[] = [];
    const { fetch, calls } = slackFetch([
      () => new Response('', { status: 429, headers: { 'retry-after': '2' } }),
      () => new Response('', { status: 502 }),
      () => new Response(JSON.stringify({ ok: false, error: 'ratelimited' }), { status: 200 }),
      ok,
    ]);
    const n = new AwsNotifier({
      ses: new SESv2Client({ region: 'us-east-1' }),
      fromEmail: 'x@example.com',
      slackToken: async () => BOT_TOKEN,
      fetch,
      retry: { attempts: 4, maxDelayMs: 5000, sleep: async (ms) => void waits.push(ms) },
    });
    await n.sendSlack({ channel: 'C0DEPLOYS', text: 'x' });
    expect(calls).toHaveLength(4);
    expect(waits[0]).toBe(2000);
  });

  it('gives up after the attempts with NotificationDeliveryError, never showing the token', async () => {
    const { fetch } = slackFetch([
      () => new Response('', { status: 503 }),
      () => new Response('', { status: 503 }),
      () => new Response('', { status: 503 }),
    ]);
    const error = await notifier(fetch)
      .sendSlack({ channel: 'C0DEPLOYS', text: 'x' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotificationDeliveryError);
    expect((error as Error).message).toBe(
      'could not deliver the Slack message to C0DEPLOYS after 3 attempts: Slack answered HTTP 503',
    );
    expect(JSON.stringify(error)).not.toContain(BOT_TOKEN);
  });

  it('does not retry Slack API errors such as channel_not_found', async () => {
    const { fetch, calls } = slackFetch([
      () =>
        new Response(JSON.stringify({ ok: false, error: 'channel_not_found' }), { status: 200 }),
    ]);
    await expect(notifier(fetch).sendSlack({ channel: 'C0NOPE', text: 'x' })).rejects.toThrow(
      'could not deliver the Slack message to C0NOPE: Slack answered "channel_not_found"',
    );
    expect(calls).toHaveLength(1);
  });

  it('retries network failures', async () => {
    const { fetch, calls } = slackFetch([
      () => {
        throw new TypeError('fetch failed');
      },
      ok,
    ]);
    await notifier(fetch).sendSlack({ channel: 'C0DEPLOYS', text: 'x' });
    expect(calls).toHaveLength(2);
  });

  it('fails clearly when Slack is not configured or the token cannot be read', async () => {
    const none = new AwsNotifier({
      ses: new SESv2Client({ region: 'us-east-1' }),
      fromEmail: 'x@example.com',
    });
    await expect(none.sendSlack({ channel: 'C0X', text: 'x' })).rejects.toThrow(
      'Slack is not configured',
    );
    secrets
      .on(GetSecretValueCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    await expect(
      notifier(slackFetch([ok]).fetch).sendSlack({ channel: 'C0X', text: 'x' }),
    ).rejects.toThrow('the Slack bot token could not be read (AccessDeniedException)');
  });

  it('unwraps a JSON secret', async () => {
    secrets
      .on(GetSecretValueCommand)
      .resolves({ SecretString: JSON.stringify({ token: BOT_TOKEN }) });
    const read = cachedSecret(() => new SecretsManagerClient({ region: 'us-east-1' }), 'arn:x');
    expect(await read()).toBe(BOT_TOKEN);
  });
});

describe('OutboxNotifier', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dr-outbox-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes each message as JSON (plus .html and .txt for emails) and reports a line', async () => {
    const lines: string[] = [];
    const outbox = new OutboxNotifier({ dir, onMessage: (line) => lines.push(line) });
    await outbox.sendEmail(email);
    await outbox.sendSlack({ channel: 'U0BOB1234', text: 'first line\nsecond' });
    const files = readdirSync(dir).sort();
    expect(files.filter((f) => f.endsWith('.json'))).toHaveLength(2);
    const html = files.find((f) => f.endsWith('.html')) as string;
    expect(readFileSync(join(dir, html), 'utf8')).toBe('<p>html</p>');
    expect(files.some((f) => f.endsWith('.txt'))).toBe(true);
    const slack = files.find((f) => f.includes('-slack-')) as string;
    expect(JSON.parse(readFileSync(join(dir, slack), 'utf8'))).toMatchObject({
      kind: 'slack',
      channel: 'U0BOB1234',
    });
    expect(lines).toEqual(['email to alice@example.com: Hi', 'slack to U0BOB1234: first line']);
  });
});
