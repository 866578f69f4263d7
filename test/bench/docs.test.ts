import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DOC_SECTIONS, sectionOf, sectionText } from '../../bench/docs';
import type { BenchResults } from '../../bench/results';

/**
 * The benchmark tables of the docs are bench/results.json rendered (bench/docs.ts): a table
 * edited by hand, or a results.json committed without `npm run bench` rewriting the tables,
 * fails here.
 */

const ROOT = resolve(__dirname, '../..');
const results = JSON.parse(
  readFileSync(join(ROOT, 'bench', 'results.json'), 'utf8'),
) as BenchResults;

describe('benchmark tables in the docs', () => {
  for (const { file, marker, render } of DOC_SECTIONS) {
    it(`${file} shows exactly the figures of bench/results.json`, () => {
      const section = sectionOf(readFileSync(join(ROOT, file), 'utf8'), marker);
      expect(section, `${file} has no ${marker} markers`).toBeDefined();
      expect(section).toBe(sectionText(render(results)));
      // The headline figures are really in it (the renderer is not an empty string).
      expect(section).toContain(`${Math.round(results.overheadMs.median)} ms`);
    });
  }

  it('a figure that differs from results.json is caught', () => {
    const { file, marker, render } = DOC_SECTIONS[0];
    const changed = { ...results, overheadMs: { ...results.overheadMs, median: 1 } };
    const section = sectionOf(readFileSync(join(ROOT, file), 'utf8'), marker);
    expect(section).not.toBe(sectionText(render(changed)));
  });
});
