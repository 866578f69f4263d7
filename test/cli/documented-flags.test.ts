import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerDoctor } from '../../lib/cli/doctor';
import { createProgram } from '../../lib/cli/program';
import { registerLocalCommands } from '../../lib/local/commands';
import { buildStack, ROOT } from '../stack/helpers';

/**
 * Every `deploy-runner <command> --flag` that a reader can copy, from the stack outputs, the
 * README, the docs, the examples and the composite action, names a flag that command has.
 */

const sink = { write: () => true } as unknown as NodeJS.WritableStream;
const program = createProgram({ stdout: sink, stderr: sink, env: {} }, () => {});
registerLocalCommands(program);
registerDoctor(program, { stdout: sink, stderr: sink, env: {} }, () => {});

/** Files a user reads or copies commands from. */
function documents(): string[] {
  const files = ['README.md', 'SECURITY.md', 'action.yml', 'containers/runner/README.md'];
  const walk = (dir: string) => {
    for (const name of readdirSync(path.join(ROOT, dir))) {
      const rel = path.join(dir, name);
      if (statSync(path.join(ROOT, rel)).isDirectory()) walk(rel);
      else if (/\.(md|ya?ml|json|sh)$|^Jenkinsfile$/.test(name)) files.push(rel);
    }
  };
  walk('docs');
  walk('examples');
  return files;
}

interface Usage {
  readonly where: string;
  readonly command: string;
  readonly flag: string;
}

/** `deploy-runner <command> [<subcommand>] ... --flag ...` up to the end of the line or code span. */
function usagesIn(text: string, where: string): Usage[] {
  const usages: Usage[] = [];
  for (const match of text.matchAll(
    // `deploy-runner-ci.cjs` is the CI bundle the examples download.
    /deploy-runner(?:-ci\.cjs)?[ \t]+([a-z][a-z-]*)(?:[ \t]+([a-z][a-z-]*))?([^`\n]*)/g,
  )) {
    const [, first = '', second, rest = ''] = match;
    const parent = program.commands.find((c) => c.name() === first);
    if (!parent) {
      // Prose ("deploy-runner guards ...") is not a command line unless it passes flags.
      if (/(^|\s)--[a-z]/.test(`${second ?? ''}${rest}`))
        usages.push({ where, command: first, flag: '(no such command)' });
      continue;
    }
    const child = parent.commands.find((c) => c.name() === second);
    const command = child ? `${first} ${second}` : first;
    const tail = child ? rest : `${second ?? ''}${rest}`;
    for (const flag of tail.match(/--[a-z][a-z0-9-]*/g) ?? [])
      usages.push({ where, command, flag });
  }
  return usages;
}

function flagsOf(name: string): Set<string> {
  let command: Command = program;
  for (const part of name.split(' ')) {
    const next = command.commands.find((c) => c.name() === part);
    if (!next) return new Set();
    command = next;
  }
  const flags = new Set(['--help', '--version']);
  for (const option of command.options) if (option.long) flags.add(option.long);
  return flags;
}

let outputs: Record<string, { Description?: string }>;
beforeAll(() => {
  outputs = buildStack().template.toJSON().Outputs;
});

describe('flags named in the stack outputs and the docs', () => {
  it('finds the usages it checks (the scanner can fail)', () => {
    expect(usagesIn('run `deploy-runner start --state-machine x --wait`', 'sample')).toEqual([
      { where: 'sample', command: 'start', flag: '--state-machine' },
      { where: 'sample', command: 'start', flag: '--wait' },
    ]);
    expect(flagsOf('start').has('--state-machine')).toBe(false);
    expect(flagsOf('start').has('--state-machine-arn')).toBe(true);
    expect(flagsOf('local serve').has('--port')).toBe(true);
  });

  it('the stack outputs name only flags the CLI has', () => {
    const usages = Object.entries(outputs).flatMap(([id, o]) =>
      usagesIn(o.Description ?? '', `output ${id}`),
    );
    expect(usages.map((u) => u.flag)).toContain('--state-machine-arn');
    expect(usages.filter((u) => !flagsOf(u.command).has(u.flag))).toEqual([]);
  });

  it('the README, docs, examples and action name only flags the CLI has', () => {
    const usages = documents().flatMap((file) =>
      usagesIn(readFileSync(path.join(ROOT, file), 'utf8'), file),
    );
    expect(usages.length).toBeGreaterThan(10);
    expect(usages.filter((u) => !flagsOf(u.command).has(u.flag))).toEqual([]);
  });
});

describe('the deploying guide', () => {
  const guide = readFileSync(path.join(ROOT, 'docs', 'deploying.md'), 'utf8');
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

  it('is linked from the README, which states the supported Node.js versions', () => {
    expect(readme).toContain('[docs/deploying.md](docs/deploying.md)');
    expect(readme).toMatch(/\*\*Node\.js 22 or 24\*\*/);
  });

  it('covers every step of a first deploy', () => {
    const headings = [...guide.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    expect(headings).toEqual([
      '1. Prerequisites',
      '2. Choose a region',
      '3. Email: SES',
      '4. Slack (optional)',
      '5. Git credentials',
      '6. GitHub OIDC (optional)',
      '7. Check the account: `deploy-runner doctor`',
      '8. Deploy',
      '9. A first run from CI',
      '10. Watching runs in the Step Functions console',
      '11. Upgrading',
      '12. Teardown',
    ]);
    for (const fact of [
      'chat:write',
      'Copy member',
      'git.knownHosts',
      'production access',
      'Retained on delete',
    ])
      expect(guide).toContain(fact);
  });
});
