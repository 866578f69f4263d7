import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it, vi } from 'vitest';
import { type DeployRunnerConfig, parseConfig } from '../../lib/config';
import {
  forgetSynthesizedDefinitions,
  type SynthesizedDefinition,
  synthesizeDefinition,
  templateCacheFile,
  templateShape,
} from '../../lib/definition';

/**
 * synthesizeDefinition reuses a template synthesized for the same config shape, in the process
 * and across processes (node_modules/.cache): what it returns must be exactly what a fresh
 * synthesis returns, for every path, and a cache file is used only when it is intact.
 */

const STACK = 'DefinitionReuse';

const config = (url: string): DeployRunnerConfig =>
  parseConfig({
    repos: {
      infra: { url, allowedRefs: ['main'], allowedPaths: ['envs/*'], tool: 'terraform' },
      other: {
        url: 'https://github.com/acme/other.git',
        allowedRefs: ['main'],
        allowedPaths: ['*'],
        tool: 'tofu',
      },
    },
    approvals: {
      approvers: [
        { name: 'Ada', email: 'ada@example.com' },
        { name: 'Grace', email: 'grace@example.com' },
      ],
      approvalsRequired: 1,
      timeout: '10m',
    },
    notifications: { fromEmail: 'deploy-runner@example.com' },
  });

const fresh = (c: DeployRunnerConfig) =>
  synthesizeDefinition(c, { stackName: STACK, reuse: false });
const reused = (c: DeployRunnerConfig) => synthesizeDefinition(c, { stackName: STACK });
const text = (d: SynthesizedDefinition) => JSON.stringify(d);

describe('synthesizeDefinition reuse', () => {
  // Same length (as two mkdtemp folders), then another length: each has its own definition.
  const a = config('file:///tmp/dr-e2e-AbCd12/infra');
  const b = config('file:///tmp/dr-e2e-Zy_9-x/infra');
  const longer = config('file:///var/tmp/deploy-runner-e2e.k3/repos/infra');

  it('keys the template on the config without its file:// paths', () => {
    expect(templateShape(a).config).toEqual(templateShape(b).config);
    expect(templateShape(a).config).not.toEqual(templateShape(longer).config);
    expect(templateShape(a).substitutions).toEqual([
      [
        templateShape(a).config.repos.infra?.url.slice('file://'.length),
        '/tmp/dr-e2e-AbCd12/infra',
      ],
    ]);
    // The https repo is not a path: it stays in the key.
    expect(templateShape(a).config.repos.other?.url).toBe('https://github.com/acme/other.git');
  });

  it('gives two configs that differ only in paths each the definition synthesis gives', () => {
    forgetSynthesizedDefinitions();
    const [first, second, third] = [reused(a), reused(b), reused(longer)];
    const [expectA, expectB, expectLonger] = [fresh(a), fresh(b), fresh(longer)];
    expect(text(first)).toBe(text(expectA));
    expect(text(second)).toBe(text(expectB));
    expect(text(third)).toBe(text(expectLonger));
    // The paths do reach the template (the runner's allowlist), so the check above means something.
    expect(text(second)).toContain('/tmp/dr-e2e-Zy_9-x/infra');
    expect(text(second)).not.toContain('AbCd12');
    expect(text(first)).not.toContain('~dr-path-');
  });

  it('reads the cache file of another process only when it is intact', () => {
    forgetSynthesizedDefinitions();
    const expected = text(reused(a));
    const file = templateCacheFile(a, STACK);
    expect(existsSync(file)).toBe(true);
    forgetSynthesizedDefinitions();
    expect(text(reused(b))).toBe(text(fresh(b)));

    // A changed template whose checksum no longer matches is not used.
    const entry = JSON.parse(readFileSync(file, 'utf8')) as { synthesis: { template: string } };
    const template = entry.synthesis.template.replaceAll('Validate request', 'Skip validation');
    expect(template).not.toBe(entry.synthesis.template);
    writeFileSync(file, JSON.stringify({ ...entry, synthesis: { ...entry.synthesis, template } }));
    forgetSynthesizedDefinitions();
    expect(text(reused(a))).toBe(expected);
    // An entry written for another key is not used either.
    writeFileSync(file, readFileSync(templateCacheFile(longer, STACK)));
    forgetSynthesizedDefinitions();
    expect(text(reused(a))).toBe(expected);
  });

  it('says what synthesis said (a warning about the config) on every start, with the real path', () => {
    const lonely = (url: string) =>
      parseConfig({
        repos: { infra: { url, allowedRefs: ['main'], allowedPaths: ['envs/*'] } },
        approvals: { approvers: [{ name: 'Ada', email: 'ada@example.com' }], timeout: '10m' },
        notifications: { fromEmail: 'deploy-runner@example.com' },
      });
    const warningsOf = (run: () => SynthesizedDefinition) => {
      const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
      const exitCode = process.exitCode;
      try {
        const result = run();
        return { result, lines: spy.mock.calls.map((args) => args.join(' ')) };
      } finally {
        spy.mockRestore();
        process.exitCode = exitCode;
      }
    };
    const first = lonely('file:///tmp/dr-crash-AbCd12/infra');
    const second = lonely('file:///tmp/dr-crash-Zy_9-x/infra');
    forgetSynthesizedDefinitions();
    const fromSynth = warningsOf(() => reused(first));
    forgetSynthesizedDefinitions();
    const fromCache = warningsOf(() => reused(second));
    const expected = warningsOf(() => fresh(second));
    expect(fromSynth.lines.join('\n')).toMatch(/approvalsRequired is 1 and 1 approver/);
    // Word for word, whether synthesized now, by an earlier process or by an earlier test run
    // (under another temp folder): no line points at the report copy synthesis removed.
    expect(fromCache.lines).toEqual(expected.lines);
    expect(fromSynth.lines).toEqual(expected.lines);
    expect(expected.lines.join('\n')).not.toMatch(/deploy-runner-asl-|can be found in/);
    // CDK names the report relative to the working folder when that is shorter (a clone in /tmp).
    const cwd = vi.spyOn(process, 'cwd').mockReturnValue(tmpdir());
    try {
      forgetSynthesizedDefinitions();
      const near = warningsOf(() => fresh(second));
      expect(near.lines.join('\n')).toMatch(/approvalsRequired is 1 and 1 approver/);
      expect(near.lines).toEqual(expected.lines);
    } finally {
      cwd.mockRestore();
    }
    expect(text(fromCache.result)).toBe(text(expected.result));
  });
});
