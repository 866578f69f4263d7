import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { renderSummary, renderTable, runLine } from './report';
import type { BenchResults } from './results';

/**
 * The benchmark tables of README.md and bench/README.md are generated from bench/results.json,
 * between marker comments, so the docs cannot show other numbers than the committed results
 * (test/bench/docs.test.ts fails when they differ). `npm run bench` rewrites them after a full
 * run; `npx tsx bench/docs.ts` rewrites them from the committed results.json.
 */

export const DOC_SECTIONS = [
  { file: 'README.md', marker: 'bench-summary', render: renderSummary },
  {
    file: 'bench/README.md',
    marker: 'bench-table',
    render: (r: BenchResults) => `${renderTable(r, 'markdown')}\n\n${runLine(r)}`,
  },
] as const;

const pattern = (marker: string) =>
  new RegExp(`(<!-- ${marker}:start[^>]*-->)([\\s\\S]*?)(<!-- ${marker}:end -->)`);

/** The text between a file's markers, or undefined when the markers are missing. */
export function sectionOf(text: string, marker: string): string | undefined {
  return pattern(marker).exec(text)?.[2];
}

/** What {@link writeDocs} puts between the markers. */
export const sectionText = (rendered: string) => `\n${rendered}\n`;

export function writeDocs(root: string, results: BenchResults): void {
  for (const { file, marker, render } of DOC_SECTIONS) {
    const path = join(root, file);
    const text = readFileSync(path, 'utf8');
    if (!pattern(marker).test(text)) throw new Error(`${file} has no ${marker} markers`);
    writeFileSync(
      path,
      text.replace(pattern(marker), (_, start: string, _old: string, end: string) => {
        return `${start}${sectionText(render(results))}${end}`;
      }),
    );
  }
}

if (require.main === module) {
  const root = resolve(__dirname, '..');
  const results = JSON.parse(
    readFileSync(join(root, 'bench', 'results.json'), 'utf8'),
  ) as BenchResults;
  writeDocs(root, results);
  process.stdout.write('README.md and bench/README.md tables written from bench/results.json\n');
}
