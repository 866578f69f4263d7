import { linkSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { processAlive, processStartTime, writeFileAtomic } from './durable';
import { LocalSetupError } from './preflight';

/**
 * One local server per data folder. Two servers on one folder would each run the runs they find,
 * overwrite each other's records and hand out the same lock twice.
 *
 * The lock is `<dataDir>/server.lock`, created with an atomic `link()` that fails when the file
 * exists, holding the owner's pid and process start time. A server killed with `kill -9` leaves
 * the file behind; the next server sees that no process with that pid and start time runs and
 * takes the lock over at once. (A lock library based on refreshed timestamps, such as
 * proper-lockfile, would make a restart wait out the staleness period, and would declare a live
 * server stale whenever its event loop is blocked longer than that, for example by the
 * synchronous CDK synthesis at start.)
 */

interface LockOwner {
  readonly pid: number;
  readonly startTime?: number;
  readonly startedAt: string;
  readonly url?: string;
}

const LOCK_FILE = 'server.lock';

/** Data folders locked by this process, so a copy of one (a simulated crash in tests) is told apart. */
const heldHere = new Set<string>();

export interface DataDirLock {
  /** Records the server's URL in the lock, so a second server can say where the first one is. */
  setUrl(url: string): void;
  release(): void;
}

function readOwner(file: string): { text: string; owner?: LockOwner } {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
    return { text, owner: JSON.parse(text) as LockOwner };
  } catch {
    return { text };
  }
}

function ownerRuns(dir: string, owner: LockOwner | undefined): boolean {
  if (!owner || !Number.isInteger(owner.pid)) return false;
  if (owner.pid === process.pid) return heldHere.has(dir);
  return processAlive(owner.pid, owner.startTime);
}

function refusal(dir: string, owner: LockOwner): LocalSetupError {
  const where = owner.url ? ` at ${owner.url}` : '';
  return new LocalSetupError(
    `another local server (pid ${owner.pid}${where}) is using the data folder ${dir}: stop it first, or pass --data-dir <another folder>`,
  );
}

/**
 * Throws `LocalSetupError` when a live server holds the folder: the CLI checks before its slow
 * start-up work (which writes into the folder); `lockDataDir` is what really excludes.
 */
export function assertDataDirFree(dataDir: string): void {
  const dir = resolve(dataDir);
  const { owner } = readOwner(join(dir, LOCK_FILE));
  if (owner && ownerRuns(dir, owner)) throw refusal(dir, owner);
}

/** Takes the data folder's lock, or throws `LocalSetupError` when a live server holds it. */
export function lockDataDir(dataDir: string): DataDirLock {
  const dir = resolve(dataDir);
  const file = join(dir, LOCK_FILE);
  let mine: LockOwner = {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    ...(processStartTime(process.pid) !== undefined && {
      startTime: processStartTime(process.pid),
    }),
  };
  const candidate = join(dir, `${LOCK_FILE}.${process.pid}`);
  for (let attempt = 0; ; attempt++) {
    writeFileAtomic(candidate, JSON.stringify(mine));
    try {
      linkSync(candidate, file);
      rmSync(candidate, { force: true });
      break;
    } catch (error) {
      rmSync(candidate, { force: true });
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw error;
    }
    const seen = readOwner(file);
    if (seen.owner && ownerRuns(dir, seen.owner)) throw refusal(dir, seen.owner);
    // Stale: move it aside (atomic), then make sure what was moved is what was judged stale.
    const aside = join(dir, `${LOCK_FILE}.stale-${process.pid}`);
    try {
      renameSync(file, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    const moved = readOwner(aside);
    if (moved.text !== seen.text && ownerRuns(dir, moved.owner)) {
      // Another server took the lock over between our read and our rename: give it back.
      try {
        linkSync(aside, file);
      } catch {
        // A third server holds it now; either way, it is not ours.
      }
      rmSync(aside, { force: true });
      throw refusal(dir, moved.owner as LockOwner);
    }
    rmSync(aside, { force: true });
  }
  heldHere.add(dir);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    heldHere.delete(dir);
    if (readOwner(file).owner?.pid === process.pid) rmSync(file, { force: true });
    process.removeListener('exit', release);
  };
  process.on('exit', release);
  return {
    setUrl: (url) => {
      mine = { ...mine, url };
      try {
        writeFileAtomic(file, JSON.stringify(mine));
      } catch {
        // The URL only makes the refusal message friendlier.
      }
    },
    release,
  };
}
