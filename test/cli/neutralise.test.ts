import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { outcomeOf } from '../../lib/cli/exit-codes';
import { NEUTRAL_PREFIX, neutraliseLine, neutraliseLines } from '../../lib/cli/neutralise';
import { Renderer } from '../../lib/cli/render';
import { binaryUnit } from '../security/generators';
import { EXECUTION_ARN } from './fixtures';

/**
 * How the CI systems read a job's log: every physical line (any of the line breaks their
 * parsers or viewers split on), trimmed, checked for a command.
 */
function commandsIn(log: string): string[] {
  const found: string[] = [];
  for (const line of log.split(/\r\n|[\n\r\v\f\x85\u2028\u2029]/)) {
    // GitHub's runner trims .NET whitespace; trimming colour codes too is the stricter reading.
    // Zero-width characters are dropped too, in case a trimmer ever counts them as space.
    const trimmed = line
      .replace(/\x1b\[[0-9;]*m/g, '')
      .replace(/[\u200b\u2060\ufeff]/g, '')
      .trim();
    if (trimmed.startsWith('::')) found.push(`github: ${trimmed}`);
    if (line.includes('##[')) found.push(`github-legacy: ${line}`);
    if (/section_(start|end):/.test(line)) found.push(`gitlab: ${line}`);
    if (/\x1b(?!\[[0-9;]*m)/.test(line)) found.push(`escape: ${line}`);
    // SGR 8 conceals text (Jenkins hides its console notes that way).
    if (/\x1b\[(?:[0-9;]*;)?8(?:;[0-9;]*)?m/.test(line)) found.push(`conceal: ${line}`);
    if (/[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f]/.test(line)) found.push(`control: ${line}`);
  }
  return found;
}

const PAYLOADS: [string, string][] = [
  ['newline then ::error', 'not now\n::error title=x::deploy failed'],
  ['CRLF then ::set-output', 'ok\r\n::set-output name=approved::true'],
  ['bare CR (GitHub splits on it)', 'ok\r::add-mask::'],
  ['leading ::stop-commands::', '::stop-commands::pwned'],
  ['indented ::warning', '   \t::warning file=a.tf::x'],
  ['vertical tab', 'a\v::error::x'],
  ['form feed', 'a\f::error::x'],
  ['NEL (U+0085)', 'a\x85::error::x'],
  ['line separator U+2028', 'a\u2028::error::x'],
  ['paragraph separator U+2029', 'a\u2029::error::x'],
  ['colour code before ::', '\x1b[0m::error::x'],
  ['erase-line then ::', '\x1b[2K::error::x'],
  ['zero-width space before ::', '\u200b::error::x'],
  ['BOM before ::', '\ufeff::error::x'],
  ['legacy ##[ command', 'plan ok ##[set-env name=X;]1'],
  ['legacy ##[error] at line start', '##[error]deploy failed'],
  ['GitLab section marker', '\x1b[0Ksection_start:1700000000:fake\r\x1b[0KFake section'],
  ['GitLab section end without escapes', 'section_end:1700000000:step_script'],
  ['OSC 8 hyperlink', '\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07'],
  ['unterminated OSC', '\x1b]0;title ::error::x'],
  ['8-bit CSI', '\x9b2K::error::x'],
  ['Jenkins console note', '\x1b[8mha:AAAA\x1b[0m'],
  ['NUL and DEL', 'a\x00\x7f::b'],
];

describe('neutraliseLine', () => {
  it.each(PAYLOADS)('%s: no command, escape or line break survives', (_name, payload) => {
    expect(commandsIn(payload).length).toBeGreaterThan(0);
    const out = neutraliseLine(payload);
    expect(commandsIn(out)).toEqual([]);
    expect(out).not.toMatch(/[\n\r\v\f\x85\u2028\u2029]/);
  });

  it('keeps what people need to read: the text, line breaks as ⏎, tabs', () => {
    expect(neutraliseLine('not now\n::error title=x::deploy failed')).toBe(
      'not now ⏎ ::error title=x::deploy failed',
    );
    expect(neutraliseLine('::stop-commands::pwned')).toBe(
      `${NEUTRAL_PREFIX}::stop-commands::pwned`,
    );
    expect(neutraliseLine('a\tb')).toBe('a\tb');
    expect(neutraliseLine('Plan: 1 to add, 0 to change')).toBe('Plan: 1 to add, 0 to change');
  });

  it('keeps colour codes only when asked, and never anything else', () => {
    const coloured = '\x1b[31mred\x1b[39m \x1b[2Kgone';
    expect(neutraliseLine(coloured)).toBe('red gone');
    expect(neutraliseLine(coloured, { keepColour: true })).toBe('\x1b[31mred\x1b[39m gone');
    expect(neutraliseLine('\x1b[1m::error::x\x1b[22m', { keepColour: true })).toBe(
      `${NEUTRAL_PREFIX}\x1b[1m::error::x\x1b[22m`,
    );
  });

  it('treats a command split by a zero-width character as a command (":\u200b::")', () => {
    const out = neutraliseLine(':\u200b::error::x');
    expect(out.startsWith(NEUTRAL_PREFIX)).toBe(true);
    expect(commandsIn(out)).toEqual([]);
  });

  it('property: any text, with or without colour, prints as one line that is not a command', () => {
    const pieces = fc.constantFrom(
      '::',
      ':',
      '\n',
      '\r',
      '\u2028',
      '\x85',
      '\x1b',
      '\x1b[',
      '\x1b]',
      '\x07',
      '\x9b',
      '[',
      '#',
      '##[',
      'm',
      '0',
      ';',
      ' ',
      '\t',
      '\u200b',
      'section_start:',
      'error',
      '\u{F0000}',
      '\u{F0001}',
      '\u0000',
      '1',
      '8',
      '\x1b[8m',
    );
    const text = fc.oneof(
      // fast-check's 'binary' unit, without the reverse map of every code point it builds first.
      fc.string({ unit: binaryUnit }),
      fc.array(pieces, { maxLength: 30 }).map((p) => p.join('')),
    );
    fc.assert(
      fc.property(text, fc.boolean(), (input, keepColour) => {
        const out = neutraliseLine(input, { keepColour });
        expect(commandsIn(out)).toEqual([]);
        expect(out).not.toMatch(/[\n\r\v\f\x85\u2028\u2029]/);
      }),
      { numRuns: Number(process.env.NEUTRALISE_RUNS ?? 1500) },
    );
  });

  it('neutraliseLines keeps the message’s own lines, each made safe', () => {
    expect(neutraliseLines('deploy-runner: bad\n::error::x\n')).toBe(
      `deploy-runner: bad\n${NEUTRAL_PREFIX}::error::x\n`,
    );
  });
});

describe('Renderer prints untrusted text neutralised', () => {
  const render = (env: Record<string, string>, isTTY = false) => {
    let text = '';
    const renderer = new Renderer({
      stream: { isTTY, write: (chunk: string) => (text += chunk) },
      env,
      spinner: false,
    });
    return { renderer, text: () => text };
  };

  it.each([
    ['GitHub Actions', { GITHUB_ACTIONS: 'true', CI: 'true' }],
    ['GitLab CI', { GITLAB_CI: 'true', CI: 'true' }],
    ['a colour terminal', { FORCE_COLOR: '1' }],
  ])('in %s: a rejection reason, a log line, an approver and a cause', (_ci, env) => {
    const { renderer, text } = render(env);
    const payload = 'no\n::error title=x::pwned\r\n::add-mask::\x1b]8;;x\x07';
    renderer.event({
      type: 'approval-decided',
      approved: false,
      approver: `eve${payload}`,
      reason: payload,
    });
    renderer.event({
      type: 'task-started',
      state: 'Plan',
      taskArn: 'arn:aws:ecs:eu-west-1:1:task/c/abc',
    });
    renderer.event({
      type: 'log',
      state: 'Plan',
      taskId: 'abc',
      at: new Date(0),
      message: payload,
    });
    renderer.event({
      type: 'result',
      executionArn: EXECUTION_ARN,
      ...outcomeOf({
        status: 'FAILED',
        error: 'DeployRunner.Rejected',
        cause: `Rejected by eve: ${payload}`,
      }),
    });
    renderer.close();
    // GitLab's own section markers for the task are the renderer's, and only these two.
    const own = /\x1b\[0Ksection_(start|end):\d+:plan_abc\r\x1b\[0K/g;
    expect((text().match(own) ?? []).length).toBe('GITLAB_CI' in env ? 2 : 0);
    const commands = commandsIn(text().replace(own, '')).filter(
      // The renderer's own fold markers are the only commands allowed.
      (c) => !/^github: ::(group::Plan output \(task abc\)|endgroup::)$/.test(c),
    );
    expect(commands).toEqual([]);
    expect(text()).toContain('::error title=x::pwned');
  });
});
