/**
 * The output edge's guard. Approver comments, rejection reasons, Terraform's and the runner's
 * log lines, execution names and error causes are written by people and programs the CI job
 * does not trust, and CI systems read commands out of a job's log:
 *
 * - GitHub Actions runs any line whose trimmed text starts with `::` (`::add-mask::`,
 *   `::stop-commands::`, `::error ...::`, the deprecated `::set-output`/`::set-env`) and
 *   still parses the legacy `##[command]` form anywhere in a line.
 * - GitLab CI folds the log at `section_start:<time>:<name>` markers written with `ESC[0K`
 *   and a carriage return; other escapes (OSC hyperlinks, cursor movement, erase line) can
 *   overwrite or hide what the log shows.
 * - Jenkins hides console notes behind `ESC[8m`.
 *
 * So every line the CLI prints passes through {@link neutraliseLine}: the text comes out as ONE
 * physical line (line breaks become a visible `⏎`), without control characters or escape
 * sequences (colour codes the CLI added itself may be kept), and a line that would still read
 * as a workflow command is prefixed so that it starts with something else.
 */

/** Colour/style sequences only (SGR): they select colours and cannot move, erase or link. */
const SGR = /\x1b\[[0-9;]*m/g;

/**
 * Every escape sequence: CSI (`ESC [ ... final`), OSC/DCS/APC/PM/SOS strings (terminated by BEL
 * or ST, or running to the end of the text when unterminated), 8-bit CSI/OSC, and two-character
 * escapes.
 */
const ESCAPES =
  /\x1b\[[0-?]*[ -/]*[@-~]?|\x9b[0-?]*[ -/]*[@-~]?|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[ -~]?/g;

/** Line terminators as any of the CI log viewers or Node split lines. */
const LINE_BREAKS = /\r\n|[\n\r\v\f\x85\u2028\u2029]/g;

/** Remaining C0 and C1 controls and DEL; tab is kept (it is whitespace everywhere). */
const CONTROLS = /[\x00-\x08\x0e-\x1f\x7f-\x9f]/g;

/** What a CI runner would read as a command once leading whitespace is trimmed. */
const COMMAND_START = /^[\s\u200b\u2060\ufeff]*::/;

/** Marks a neutralised command-looking line; visible, and not whitespace to any trimmer. */
export const NEUTRAL_PREFIX = '· ';

export interface NeutraliseOptions {
  /** Keep SGR colour codes (the renderer's own, on a colour terminal). @default false */
  readonly keepColour?: boolean;
}

/** Makes `text` safe to print as one line of a CI log. */
export function neutraliseLine(text: string, options: NeutraliseOptions = {}): string {
  const colours: string[] = [];
  // Colour codes are parked as placeholders the later passes cannot match, then restored.
  const input = text.replace(/[\u{F0000}\u{F0001}]/gu, '');
  let work = options.keepColour
    ? input.replace(SGR, (sgr) =>
        // SGR 8 conceals text (Jenkins hides console notes behind it): not a colour to keep.
        /[[;]8[;m]/.test(sgr) ? '' : `\u0000${colours.push(sgr) - 1}\u0000`,
      )
    : input;
  work = work
    .replace(LINE_BREAKS, ' ⏎ ')
    .replace(/\u0000(\d+)\u0000/g, '\u{F0000}$1\u{F0001}')
    .replace(ESCAPES, '')
    .replace(CONTROLS, '')
    // The legacy `##[` command form is read anywhere in a line.
    .replace(/##\[/g, '#\u2060#[')
    // GitLab section markers, even without the escapes that normally surround them.
    .replace(/section_(start|end):/gi, 'section_$1\u2060:');
  // Judged as a viewer that drops zero-width characters would read it: ":\u200b::" is "::"
  // once the U+200B is gone.
  const plain = work.replace(/\u{F0000}\d+\u{F0001}/gu, '').replace(/[\u200b\u2060\ufeff]/g, '');
  if (COMMAND_START.test(plain)) work = `${NEUTRAL_PREFIX}${work}`;
  return work.replace(/\u{F0000}(\d+)\u{F0001}/gu, (_m, i: string) => colours[Number(i)] ?? '');
}

/** {@link neutraliseLine} for each line of a multi-line message (stderr errors, help text). */
export function neutraliseLines(text: string): string {
  const trailing = text.endsWith('\n');
  const body = trailing ? text.slice(0, -1) : text;
  const lines = body.split(/\r\n|\n/).map((line) => neutraliseLine(line));
  return `${lines.join('\n')}${trailing ? '\n' : ''}`;
}
