import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExitCode, StalePlanError } from '../../containers/runner/src/errors';
import {
  cloudWatchStreamUrl,
  RunLog,
  resolveLogUrl,
  TAIL_LINES,
} from '../../containers/runner/src/log';
import { basicAuthValue, LineSplitter, SecretMasker } from '../../containers/runner/src/mask';

const TOKEN = 'ghp_abcdefghijklmnop1234';

describe('SecretMasker', () => {
  it('masks the token raw, as the Basic header value, base64 and URL-encoded', () => {
    const masker = new SecretMasker().addToken('tok/en+value=1');
    for (const form of [
      'tok/en+value=1',
      basicAuthValue('tok/en+value=1'),
      Buffer.from('tok/en+value=1').toString('base64'),
      encodeURIComponent('tok/en+value=1'),
    ])
      expect(masker.mask(`before ${form} after`)).toBe('before *** after');
  });

  it('masks each body line of an SSH key, not its armor', () => {
    const key =
      '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAline1\nBBBBline2\n-----END OPENSSH PRIVATE KEY-----\n';
    const masker = new SecretMasker().addSshKey(key);
    expect(masker.mask('x AAAAline1 y BBBBline2')).toBe('x *** y ***');
    expect(masker.mask('-----BEGIN OPENSSH PRIVATE KEY-----')).toBe(
      '-----BEGIN OPENSSH PRIVATE KEY-----',
    );
  });

  it('ignores empty and very short secrets', () => {
    const masker = new SecretMasker().addToken('').addToken(undefined).add('ab');
    expect(masker.mask('ab cd')).toBe('ab cd');
  });

  it('never lets the token through, however output is cut into chunks', () => {
    const masker = new SecretMasker().addToken(TOKEN);
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 20 }), { maxLength: 5 }),
        fc.array(fc.nat({ max: 200 }), { maxLength: 6 }),
        (noise, cuts) => {
          const text = `${noise.join(TOKEN)}\n${TOKEN} ${basicAuthValue(TOKEN)}\n`;
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const printed: string[] = [];
          const splitter = new LineSplitter((line) => printed.push(masker.mask(line)));
          let last = 0;
          for (const p of [...points, text.length]) {
            splitter.push(text.slice(last, p));
            last = p;
          }
          splitter.flush();
          const out = printed.join('\n');
          return !out.includes(TOKEN) && !out.includes(basicAuthValue(TOKEN));
        },
      ),
    );
  });
});

describe('RunLog', () => {
  const clock = () => new Date('2026-01-01T00:00:00Z');

  it('masks every line and keeps the last lines for the error report', () => {
    const out: string[] = [];
    const log = new RunLog(
      new SecretMasker().addToken(TOKEN),
      (t) => out.push(t),
      () => {},
      clock,
    );
    for (let i = 0; i < TAIL_LINES + 10; i++) log.line(`line ${i} ${TOKEN}`);
    expect(out.join('')).not.toContain(TOKEN);
    expect(log.tail()).toHaveLength(TAIL_LINES);
    expect(log.tail().at(-1)).toBe(`line ${TAIL_LINES + 9} ***`);
  });

  it('prints phase headers and a final error block that says what to do', () => {
    const out: string[] = [];
    const err: string[] = [];
    const log = new RunLog(
      new SecretMasker(),
      (t) => out.push(t),
      (t) => err.push(t),
      clock,
    );
    log.phase('apply', 'clone', 'fetching');
    log.errorBlock('apply', new StalePlanError('apply', 'plan is stale', 'start a new run'));
    expect(out.join('')).toContain('==> [apply] clone: fetching (+0.0s)');
    expect(err.join('')).toContain('FAILED in phase "apply" (exit code 3, StalePlanError)');
    expect(err.join('')).toContain('What to do:  start a new run');
  });
});

describe('exit codes', () => {
  it('are the documented ones', () => {
    expect(ExitCode).toEqual({
      Ok: 0,
      ToolFailure: 1,
      Refused: 2,
      StalePlan: 3,
      ArtifactVerification: 4,
      GitFailure: 5,
      ArtifactExists: 6,
    });
  });
});

describe('the log link', () => {
  it('double-encodes the group and stream the way the console does', () => {
    expect(cloudWatchStreamUrl('eu-west-1', '/deploy-runner/runner', 'runner/runner/abc')).toBe(
      'https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/$252Fdeploy-runner$252Frunner/log-events/runner$252Frunner$252Fabc',
    );
  });

  it('finds the task ID through the metadata endpoint', async () => {
    const calls: string[] = [];
    const fakeFetch = (async (url: string) => {
      calls.push(url);
      return new Response(JSON.stringify({ TaskARN: 'arn:aws:ecs:us-east-1:1:task/c/t123' }));
    }) as typeof fetch;
    const url = await resolveLogUrl(
      { logGroup: 'g', region: 'us-east-1', metadataUri: 'http://169.254.170.2/v4/x' },
      fakeFetch,
    );
    expect(calls).toEqual(['http://169.254.170.2/v4/x/task']);
    expect(url).toMatch(/log-events\/runner\$252Frunner\$252Ft123$/);
  });

  it('falls back to DR_LOG_URL locally and to "" when the endpoint fails', async () => {
    expect(await resolveLogUrl({ localLogUrl: 'http://127.0.0.1:1/log' })).toBe(
      'http://127.0.0.1:1/log',
    );
    expect(await resolveLogUrl({})).toBe('');
    const failing = (async () => {
      throw new Error('down');
    }) as typeof fetch;
    expect(
      await resolveLogUrl({ logGroup: 'g', region: 'r', metadataUri: 'http://x' }, failing),
    ).toBe('');
  });
});
