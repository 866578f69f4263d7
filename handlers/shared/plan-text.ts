import { INVISIBLE } from './visible';

/**
 * Reads Terraform's (and OpenTofu's) human-readable plan, the output of `show -no-color
 * <planfile>`, into one block per resource so the approval page can group and fold them.
 *
 * The format is made for people, not programs, so this parser is lenient: it recognizes the
 * resource headers (`  # <address> will be created`), the notes under them, the resource line
 * and its attribute block, the "Changes to Outputs" section and the `Plan:` line, and skips
 * everything else. It never throws; text it cannot place is simply not part of any block.
 * Values are kept exactly as Terraform printed them (sensitive ones are already masked there).
 *
 * Only `\n` separates lines. Terraform prints string values raw inside heredocs, carriage
 * returns, ESC, NUL and bidi overrides included, so a line holding any character of
 * `INVISIBLE` (handlers/shared/visible.ts) is never read as a header, resource line, section
 * note or `Plan:` total: it can only be part of the block it stands in. The page shows those
 * characters as visible escapes.
 */

/** What happens to a resource, by the words of its header. */
export type PlanTextAction =
  | 'destroy'
  | 'replace'
  | 'update'
  | 'create'
  | 'read'
  | 'move'
  | 'import'
  | 'forget'
  | 'drift'
  | 'deferred'
  | 'unknown';

/** Where in the plan text a block stood. */
export type PlanTextSection = 'changes' | 'drift' | 'deferred';

export interface PlanTextResource {
  /** The resource address as printed, e.g. `module.db.aws_db_instance.main["eu"]`. */
  readonly address: string;
  readonly action: PlanTextAction;
  /** Terraform's words after the address, e.g. `is tainted, so must be replaced`. */
  readonly headline: string;
  /** The notes under the header, e.g. `(because key ["b"] is not in for_each map)`. */
  readonly notes: readonly string[];
  /** The resource line and its attribute block, as printed. */
  readonly lines: readonly string[];
  readonly section: PlanTextSection;
}

export interface PlanTextOutput {
  readonly name: string;
  readonly action: 'create' | 'update' | 'delete' | 'unknown';
  /** The output's lines as printed (the first names it; values may span more). */
  readonly lines: readonly string[];
}

export interface ParsedPlanText {
  /** In the order of the text. */
  readonly resources: readonly PlanTextResource[];
  readonly outputs: readonly PlanTextOutput[];
  /** Terraform's own summary, e.g. `Plan: 1 to add, 0 to change, 1 to destroy.` */
  readonly summaryLine?: string;
  /** The numbers of the summary line by word: `{ add: 1, change: 0, destroy: 1 }`. */
  readonly summary: Readonly<Record<string, number>>;
  /** The text says the plan changes nothing. */
  readonly noChanges: boolean;
}

/** Header phrases (after the address), most specific first. */
const HEADLINES: readonly (readonly [RegExp, PlanTextAction])[] = [
  [/^will be created$/, 'create'],
  [/^will be updated in-place$/, 'update'],
  [/^will be destroyed$/, 'destroy'],
  [/^must be replaced, but the existing object will not be destroyed$/, 'replace'],
  [/^must be replaced$/, 'replace'],
  [/^is tainted, so must be replaced$/, 'replace'],
  [/^will be replaced, as requested$/, 'replace'],
  [/^will be replaced due to changes in replace_triggered_by$/, 'replace'],
  [/^will be read during apply$/, 'read'],
  [/^has moved to .+$/, 'move'],
  [/^will be imported$/, 'import'],
  [/^will no longer be managed by \S+(?:, but will not be destroyed)?$/, 'forget'],
  [/^will be removed from \S+ state, but will not be destroyed$/, 'forget'],
  [/^has changed$/, 'drift'],
  [/^has been deleted$/, 'drift'],
  [/^was deferred$/, 'deferred'],
];

/**
 * One alternation of every phrase, anchored at the end of the line: the address is what comes
 * before it, so an address may itself contain spaces or quotes (`aws_x.y["a b"]`).
 */
const HEADER = new RegExp(
  `^ {1,2}# (\\S.*?) (${HEADLINES.map(([re]) => re.source.slice(1, -1)).join('|')})$`,
);
/** A comment line at the header's indentation: a header we do not know, or a note. */
const TOP_COMMENT = /^ {1,2}#(?: (.*))?$/;
/** `-/+ resource "aws_instance" "web" {`, ` <= data "x" "y" {`, `    resource ... {}`. */
const RESOURCE_LINE = /^ *([-+~<=./]*) *(?:resource|data) "[^"]*" "[^"]*" \{(\})?\s*$/;
const BLOCK_END = /^ {4}\}\s*$/;
const OUTPUT_LINE = /^ {2}([-+~]) (\S+?) *= ?(.*)$/;
const SUMMARY = /^Plan: (.*)$/;
/** How far past an unknown header to look for its resource line. */
const MAX_NOTES = 8;
const HAS_INVISIBLE = new RegExp(INVISIBLE.source, 'u');
/**
 * What the parser matches in place of a line that holds an invisible character: an indented
 * line that is no header, note, resource line, block end, section or total, so it stays
 * content of the block (or output value) it stands in.
 */
const CONTENT_ONLY = '        \u2400';

const SYMBOL_ACTIONS: Readonly<Record<string, PlanTextAction>> = {
  '+': 'create',
  '~': 'update',
  '-': 'destroy',
  '-/+': 'replace',
  '+/-': 'replace',
  '+/.': 'replace',
  '<=': 'read',
  '.': 'forget',
};

function actionOf(headline: string): PlanTextAction {
  for (const [re, action] of HEADLINES) if (re.test(headline)) return action;
  return 'unknown';
}

/** The address and words of an unknown header, split at the first verb Terraform uses. */
function splitUnknownHeader(text: string): { address: string; headline: string } {
  const verb = / (?:will|must|has|is|was|would) /.exec(text);
  if (!verb) return { address: text, headline: '' };
  return { address: text.slice(0, verb.index), headline: text.slice(verb.index + 1) };
}

/** Splits Terraform's plan text into resources, outputs and its summary. Never throws. */
export function parsePlanText(text: string): ParsedPlanText {
  const raw = String(text ?? '').split('\n');
  // The parser reads `lines`; the blocks keep the `raw` lines, as printed.
  const lines = raw.map((line) => (HAS_INVISIBLE.test(line) ? CONTENT_ONLY : line));
  const resources: PlanTextResource[] = [];
  const outputs: PlanTextOutput[] = [];
  const summary: Record<string, number> = {};
  let summaryLine: string | undefined;
  let noChanges = false;
  let section: PlanTextSection | 'outputs' = 'changes';

  /** Reads the resource block that starts at `start` (after its header); returns the next index. */
  const readBlock = (start: number, header: { address: string; headline: string }) => {
    const notes: string[] = [];
    const body: string[] = [];
    let i = start;
    // Notes: comment lines at the header's indentation that are not headers themselves.
    while (i < lines.length) {
      const line = lines[i] as string;
      if (HEADER.test(line)) break;
      const note = TOP_COMMENT.exec(line);
      if (!note) break;
      notes.push((note[1] ?? '').trim());
      i++;
    }
    const first = lines[i];
    const resourceLine = first === undefined ? undefined : RESOURCE_LINE.exec(first);
    let symbolAction: PlanTextAction | undefined;
    if (resourceLine) {
      symbolAction = SYMBOL_ACTIONS[resourceLine[1] ?? ''];
      body.push(raw[i] as string);
      i++;
      if (resourceLine[2] === undefined) {
        // The block runs to its closing brace at four spaces; a new header or unindented text
        // ends it early when the text was cut off.
        while (i < lines.length) {
          const line = lines[i] as string;
          if (HEADER.test(line) || TOP_COMMENT.test(line) || /^\S/.test(line)) break;
          body.push(raw[i] as string);
          i++;
          if (BLOCK_END.test(line)) break;
        }
      }
    }
    while (body.length > 1 && (body[body.length - 1] as string).trim() === '') body.pop();
    let action = actionOf(header.headline);
    if (action === 'unknown' && symbolAction) action = symbolAction;
    if (section === 'drift' && action !== 'move') action = 'drift';
    resources.push({
      address: header.address,
      action,
      headline: header.headline,
      notes,
      lines: body,
      section: section === 'outputs' ? 'changes' : section,
    });
    return i;
  };

  let i = 0;
  while (i < lines.length) {
    const line = lines[i] as string;
    const header = HEADER.exec(line);
    if (header) {
      i = readBlock(i + 1, { address: header[1] as string, headline: header[2] as string });
      continue;
    }
    // A header in words we do not know yet (a newer Terraform): still a block when a resource
    // line follows its notes.
    const comment = TOP_COMMENT.exec(line);
    if (comment?.[1] && !comment[1].startsWith('(') && section !== 'outputs') {
      let j = i + 1;
      while (j < lines.length && j - i <= MAX_NOTES && TOP_COMMENT.test(lines[j] as string)) j++;
      if (RESOURCE_LINE.test(lines[j] ?? '')) {
        i = readBlock(i + 1, splitUnknownHeader(comment[1].trim()));
        continue;
      }
    }
    if (/^\S/.test(line)) {
      const plan = SUMMARY.exec(line.trim());
      if (plan) {
        summaryLine = line.trim();
        for (const m of (plan[1] as string).matchAll(/(\d+) to ([A-Za-z-]+)/g))
          summary[m[2] as string] = Number(m[1]);
      } else if (/^Changes to Outputs:/.test(line)) section = 'outputs';
      else if (/^Note: Objects have changed outside of /.test(line)) section = 'drift';
      else if (/^Note: This is a partial plan/.test(line)) section = 'deferred';
      else if (/ (?:will perform|planned) the following actions/.test(line)) section = 'changes';
      else if (/^No changes\./.test(line)) noChanges = true;
      else if (section === 'outputs') section = 'changes';
      i++;
      continue;
    }
    if (section === 'outputs') {
      const output = OUTPUT_LINE.exec(line);
      if (output) {
        const body = [raw[i] as string];
        i++;
        // A value may span lines (maps, lists, heredocs), all indented deeper.
        while (i < lines.length && /^(?: {4}|\s*$)/.test(lines[i] as string)) {
          body.push(raw[i] as string);
          i++;
        }
        while (body.length > 1 && (body[body.length - 1] as string).trim() === '') body.pop();
        const symbol = output[1];
        outputs.push({
          name: output[2] as string,
          action:
            symbol === '+'
              ? 'create'
              : symbol === '-'
                ? 'delete'
                : symbol === '~'
                  ? 'update'
                  : 'unknown',
          lines: body,
        });
        continue;
      }
    }
    i++;
  }
  return {
    resources,
    outputs,
    ...(summaryLine === undefined ? {} : { summaryLine }),
    summary,
    noChanges,
  };
}

/** The order of the page: what destroys first, what only reads last. */
export const ACTION_GROUPS: readonly {
  readonly key: 'destroy' | 'replace' | 'update' | 'create' | 'other';
  readonly actions: readonly PlanTextAction[];
}[] = [
  { key: 'destroy', actions: ['destroy'] },
  { key: 'replace', actions: ['replace'] },
  { key: 'update', actions: ['update'] },
  { key: 'create', actions: ['create'] },
  {
    key: 'other',
    actions: ['read', 'move', 'import', 'forget', 'drift', 'deferred', 'unknown'],
  },
];

export type ActionGroupKey = (typeof ACTION_GROUPS)[number]['key'];

/** Resources grouped destroy, replace, update, create, other; each group keeps the plan's order. */
export function groupResources(
  resources: readonly PlanTextResource[],
): { readonly key: ActionGroupKey; readonly resources: readonly PlanTextResource[] }[] {
  return ACTION_GROUPS.map((group) => ({
    key: group.key,
    resources: resources.filter((r) => group.actions.includes(r.action)),
  }));
}
