import { type ChildProcess, spawn } from 'node:child_process';
import { LineSplitter } from './mask';

/**
 * Starting other programs (git, terraform/tofu): always an argument array, never a shell, stdin
 * closed. The runner's modules receive a {@link Spawn} so tests can record or replace it.
 */

export interface SpawnOptions {
  readonly cwd?: string;
  /** The complete environment of the child; nothing is inherited implicitly. */
  readonly env: NodeJS.ProcessEnv;
  /** Called with each output line as it arrives (unmasked: the caller masks before printing). */
  readonly onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Stream stdout lines to `onLine` too; off when stdout is data (show -json), not a log. */
  readonly streamStdout?: boolean;
}

export interface SpawnResult {
  /** Exit code; 128 + signal number style codes are reported as -1 with `signal` set. */
  readonly code: number;
  readonly signal?: NodeJS.Signals;
  readonly stdout: string;
  readonly stderr: string;
}

export type Spawn = (
  file: string,
  args: readonly string[],
  options: SpawnOptions,
) => Promise<SpawnResult>;

/** The program could not be started (not found, not executable). */
export class SpawnFailedError extends Error {
  override readonly name = 'SpawnFailedError';
  constructor(
    readonly file: string,
    options?: ErrorOptions,
  ) {
    super(
      `could not start ${file}: ${(options?.cause as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error'}`,
      options,
    );
  }
}

const running = new Set<ChildProcess>();

/** Asks every running child to stop (ECS sends SIGTERM before it kills the task). */
export function interruptChildren(signal: NodeJS.Signals = 'SIGINT'): void {
  for (const child of running) child.kill(signal);
}

/** The real {@link Spawn}: `child_process.spawn` with `shell: false`. */
export const spawnProcess: Spawn = (file, args, options) =>
  new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(file, [...args], {
        cwd: options.cwd,
        env: options.env,
        shell: false,
        stdio: ['ignore', 'pipe', 'pipe'],
        windowsHide: true,
      });
    } catch (error) {
      reject(new SpawnFailedError(file, { cause: error }));
      return;
    }
    running.add(child);
    const stdout: string[] = [];
    const stderr: string[] = [];
    const outLines = new LineSplitter((l) => options.onLine?.(l, 'stdout'));
    const errLines = new LineSplitter((l) => options.onLine?.(l, 'stderr'));
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout.push(chunk);
      if (options.streamStdout !== false) outLines.push(chunk);
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr.push(chunk);
      errLines.push(chunk);
    });
    child.on('error', (error) => {
      running.delete(child);
      reject(new SpawnFailedError(file, { cause: error }));
    });
    child.on('close', (code, signal) => {
      running.delete(child);
      if (options.streamStdout !== false) outLines.flush();
      errLines.flush();
      resolve({
        code: code ?? -1,
        ...(signal ? { signal } : {}),
        stdout: stdout.join(''),
        stderr: stderr.join(''),
      });
    });
  });
