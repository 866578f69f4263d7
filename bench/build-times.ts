import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { DeployRunnerConfig } from '../lib/config';
import { synthesizeDefinition } from '../lib/definition';
import { median, now, round } from './stats';

/** `cdk synth`, the in-process definition synthesis local mode does, and the test suite. */

const ROOT = resolve(__dirname, '..');

export interface CommandTiming {
  readonly command: string;
  readonly wallMs: number;
  readonly exitCode: number;
  /** The last lines of its output (the summary). */
  readonly tail: string[];
}

function timeCommand(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  tailLines: number,
): Promise<CommandTiming> {
  const t0 = now();
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  return new Promise((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = output
        .join('')
        .replace(/\x1b\[[0-9;]*m/g, '')
        .split('\n')
        .map((l) => l.trimEnd())
        .filter(Boolean);
      resolvePromise({
        command: [command, ...args].join(' '),
        wallMs: round(now() - t0),
        exitCode: code ?? 1,
        tail: lines.slice(-tailLines),
      });
    });
  });
}

/**
 * `npx cdk synth -q` as a user runs it (cdk.json's app: bin/app.ts through tsx's require hook, esbuild bundling of the
 * five handlers), into a temporary folder so the checkout's cdk.out is left alone. Notices,
 * telemetry and the version check are off: nothing leaves the machine.
 */
export async function measureCdkSynth(): Promise<CommandTiming> {
  const outdir = mkdtempSync(join(tmpdir(), 'dr-bench-cdk-out-'));
  try {
    return await timeCommand(
      'npx',
      ['cdk', 'synth', '-q', '-o', outdir, '--no-notices', '--no-version-reporting'],
      {
        ...process.env,
        CDK_DISABLE_CLI_TELEMETRY: 'true',
        CDK_DISABLE_VERSION_CHECK: '1',
        CI: 'true',
      },
      5,
    );
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * synthesizeDefinition (lib/definition.ts) in this process, modules already loaded: what local
 * mode pays at start-up. Each call uses a new stack name, so its per-process cache never answers.
 */
export function measureDefinitionSynth(config: DeployRunnerConfig, repetitions: number) {
  const samples: number[] = [];
  for (let i = 0; i < repetitions; i++) {
    const t0 = now();
    synthesizeDefinition(config, { stackName: `BenchSynth${i}x${Date.now()}` });
    samples.push(now() - t0);
  }
  return { repetitions, medianMs: round(median(samples)), samplesMs: samples.map((s) => round(s)) };
}

/** `npm test`: Biome, tsc and the whole suite, wall clock, as the goal (< 150 s) counts it. */
export async function measureTestSuite(): Promise<CommandTiming> {
  return timeCommand('npm', ['test'], { ...process.env, CI: 'true' }, 6);
}
