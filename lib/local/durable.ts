import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statfsSync,
  writeSync,
} from 'node:fs';

/**
 * How local mode writes its data folder so that a crash (kill -9, power loss) or a full disk never
 * leaves a torn file behind: whole files are written to a temporary name, fsynced and renamed
 * over the old one; log-like files are appended one line at a time, and a line that could not be
 * written whole is cut off again. Everything is owner-only (files 0600, folders 0700): the folder
 * holds plans, approval records and the page key.
 */

/** Mode of every file local mode writes. */
export const PRIVATE_FILE = 0o600;
/** Mode of every folder local mode creates. */
export const PRIVATE_DIR = 0o700;

/** Creates `dir` (and missing parents) owner-only, and narrows it if it already existed. */
export function privateDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
  chmodSync(dir, PRIVATE_DIR);
  return dir;
}

/** Writes `data` to `file` so that readers see the old content or the new, never a part. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const temp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx', PRIVATE_FILE);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, file);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
}

/**
 * Appends `line` and a newline to `file`. When the write fails part-way (a full disk), the part
 * that was written is cut off again, so the file never ends in a torn line.
 */
export function appendLine(file: string, line: string): void {
  const fd = openSync(file, 'a', PRIVATE_FILE);
  let size: number | undefined;
  try {
    size = fstatSync(fd).size;
    const bytes = Buffer.from(`${line}\n`, 'utf8');
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
  } catch (error) {
    if (size !== undefined) {
      try {
        ftruncateSync(fd, size);
      } catch {
        // Best effort: readers skip a torn last line anyway.
      }
    }
    throw error;
  } finally {
    closeSync(fd);
  }
}

/** Parses a JSON-lines file; a line that is not JSON (torn by a crash) is counted, not fatal. */
export function readJsonLines<T>(file: string): { values: T[]; damaged: number } {
  const values: T[] = [];
  let damaged = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      values.push(JSON.parse(line) as T);
    } catch {
      damaged += 1;
    }
  }
  return { values, damaged };
}

/** Whether `error` says the disk (or the user's quota) is full. */
export function isDiskFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Bytes available to this user on the file system holding `dir`; undefined when unknown. */
export function freeBytes(dir: string): number | undefined {
  try {
    const stats = statfsSync(dir);
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}

/** The one sentence every disk-full failure of local mode ends with. */
export function diskFullAdvice(dir: string): string {
  return `the disk holding the local data folder ${dir} is full (No space left on device): free some space, then start a new run`;
}

/**
 * The start time of process `pid` in clock ticks since boot (Linux `/proc/<pid>/stat`, field 22),
 * so a recorded pid can be told apart from a later process that reuses it. Undefined elsewhere.
 */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the process recorded as `pid` (started at `startTime`, when known) still runs. */
export function processAlive(pid: number, startTime?: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to someone else, which a reused pid would.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
    return startTime === undefined;
  }
  if (startTime === undefined) return true;
  const now = processStartTime(pid);
  if (now === undefined) return true;
  if (now !== startTime) return false;
  // A zombie has exited; it only waits for its parent to read its status.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}
