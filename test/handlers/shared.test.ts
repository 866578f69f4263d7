import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import {
  approvalLink,
  hashCapability,
  issueNonce,
  newCapability,
  verifyNonce,
} from '../../handlers/shared/capability';
import { SettingsError } from '../../handlers/shared/errors';
import { escapeHtml, html, safeHref } from '../../handlers/shared/html';
import {
  createLogger,
  invocationLogger,
  redactText,
  registerSecret,
} from '../../handlers/shared/logger';
import { requireSettings, settingsFromEnv } from '../../handlers/shared/settings';
import { type FunctionUrlServer, serveFunctionUrl } from '../../lib/local/http-adapter';
import { captureOutput, counterBytes, START, settings as testSettings } from './support/fixtures';

describe('settings', () => {
  const env = {
    DR_TABLE_NAME: 'deploy-runner-table',
    DR_ALLOWLIST: JSON.stringify(testSettings.allowlist),
    DR_LOCK_TTL_SECONDS: '108000',
    DR_APPROVAL_BASE_URL: 'https://abc.lambda-url.us-east-1.on.aws',
    DR_FROM_EMAIL: 'deploys@example.com',
    DR_SLACK_CHANNEL: 'C0DEPLOYS',
    DR_PAGE_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:page',
    DR_CONSOLE_URL_TEMPLATE: 'https://console/{executionArn}',
    DR_APPROVERS: JSON.stringify([{ email: 'alice@example.com' }]),
  };

  it('reads and validates every variable', () => {
    expect(settingsFromEnv(env, ['tableName', 'allowlist'])).toEqual({
      tableName: 'deploy-runner-table',
      allowlist: testSettings.allowlist,
      lockTtlSeconds: 108000,
      approvalBaseUrl: 'https://abc.lambda-url.us-east-1.on.aws',
      fromEmail: 'deploys@example.com',
      slackChannel: 'C0DEPLOYS',
      pageSecretArn: 'arn:aws:secretsmanager:us-east-1:1:secret:page',
      consoleUrlTemplate: 'https://console/{executionArn}',
      approvers: [{ email: 'alice@example.com' }],
    });
  });

  it('lists every problem at once, naming the variable', () => {
    expect(() =>
      settingsFromEnv(
        { ...env, DR_APPROVAL_BASE_URL: 'ftp://x', DR_ALLOWLIST: '{', DR_TABLE_NAME: '' },
        ['tableName'],
      ),
    ).toThrow(
      new SettingsError([
        'DR_TABLE_NAME is not set',
        'DR_ALLOWLIST: is not valid JSON',
        'DR_APPROVAL_BASE_URL: must be an http(s) URL',
      ]),
    );
    expect(settingsFromEnv({ DR_APPROVAL_BASE_URL: 'https://x.on.aws/' }).approvalBaseUrl).toBe(
      'https://x.on.aws',
    );
    expect(() => requireSettings({}, ['consoleUrlTemplate'])).toThrow(
      'consoleUrlTemplate (DR_CONSOLE_URL_TEMPLATE) is not set',
    );
  });
});

describe('capabilities and nonces', () => {
  it('makes 43-character base64url capabilities and stores only their SHA-256', () => {
    const cap = newCapability(counterBytes());
    expect(cap.capability).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(cap.hash).toBe(hashCapability(cap.capability));
    expect(cap.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(approvalLink('https://x.example/', cap.capability)).toBe(
      `https://x.example/a/${cap.capability}`,
    );
  });

  it('accepts a nonce for 30 minutes, for its link and key only', () => {
    const key = Buffer.from('k'.repeat(32));
    const nonce = issueNonce(key, 'a'.repeat(64), START);
    const at = (s: number) => new Date(START.getTime() + s * 1000);
    expect(verifyNonce(key, 'a'.repeat(64), nonce, at(29 * 60))).toBe('ok');
    expect(verifyNonce(key, 'a'.repeat(64), nonce, at(31 * 60))).toBe('expired');
    expect(verifyNonce(key, 'b'.repeat(64), nonce, START)).toBe('invalid');
    expect(verifyNonce(Buffer.from('other key 0123456789'), 'a'.repeat(64), nonce, START)).toBe(
      'invalid',
    );
    expect(verifyNonce(key, 'a'.repeat(64), undefined, START)).toBe('missing');
    expect(verifyNonce(key, 'a'.repeat(64), issueNonce(key, 'a'.repeat(64), at(600)), START)).toBe(
      'expired',
    );
  });
});

describe('html', () => {
  it('escapes interpolations unless they are already html', () => {
    const name = '<script>alert("x")</script>';
    expect(html`<p title="${name}">${name} ${html`<b>${'&'}</b>`}</p>`.value).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; <b>&amp;</b></p>',
    );
    expect(escapeHtml("'")).toBe('&#39;');
    expect(safeHref('javascript:alert(1)')).toBe('#');
    expect(safeHref('https://ok.example/x')).toBe('https://ok.example/x');
  });
});

describe('logger redaction', () => {
  it('never writes a registered secret, a credential-named field or a capability path', () => {
    const token = `TOKEN-${'q'.repeat(40)}`;
    registerSecret(token);
    const out = captureOutput();
    try {
      const log = invocationLogger(
        createLogger('redaction-test', { logLevel: 'DEBUG' }),
        'arn:aws:states:x',
      );
      log.info(`got ${token}`, {
        taskToken: 'anything',
        nested: { capability: 'c' },
        path: '/a/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      });
      log.error('failed', { error: new Error(`wrapped ${token}`) });
      log.warn('slack', { detail: 'xoxb-1-2-abc' });
    } finally {
      out.restore();
    }
    const text = out.text();
    expect(text).not.toContain(token);
    expect(text).not.toContain('anything');
    expect(text).not.toContain('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    expect(text).not.toContain('xoxb-1-2-abc');
    const lines = out.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({
      message: 'got [redacted]',
      taskToken: '[redacted]',
      correlation_id: 'arn:aws:states:x',
    });
    expect(redactText('x'.repeat(300))).toBe('[redacted]');
  });
});

describe('http adapter', () => {
  let server: FunctionUrlServer | undefined;
  afterEach(async () => {
    await server?.close();
  });

  it('turns node requests into Function URL events and writes the result back', async () => {
    const seen: unknown[] = [];
    server = await serveFunctionUrl(async (event) => {
      seen.push(event);
      return { statusCode: 201, headers: { 'x-test': 'yes' }, body: `got ${event.body}` };
    });
    const { status, headers, body } = await new Promise<{
      status: number;
      headers: Record<string, unknown>;
      body: string;
    }>((resolve, reject) => {
      const req = httpRequest(
        `${server?.url}/a/xyz?q=1`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: 'a=1; b=2' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString(),
            }),
          );
        },
      );
      req.on('error', reject);
      req.end('decision=approve');
    });
    expect([status, headers['x-test'], body]).toEqual([201, 'yes', 'got decision=approve']);
    expect(seen[0]).toMatchObject({
      version: '2.0',
      rawPath: '/a/xyz',
      rawQueryString: 'q=1',
      queryStringParameters: { q: '1' },
      cookies: ['a=1', 'b=2'],
      isBase64Encoded: false,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      requestContext: { http: { method: 'POST', path: '/a/xyz', sourceIp: '127.0.0.1' } },
    });
  });
});
