/**
 * An exclusive lock on a piece of a folder (an augmentation data set, or one shard of it), held
 * by one process at a time: a lock file created with O_EXCL that names its holder (host, pid, the
 * process's start time and a random token). A second writer is refused while the holder lives.
 *
 * A lock outlives a holder killed with SIGKILL; the next run takes it over when it is stale:
 * - on the same host, when the holder's process is gone (its pid is free, or now belongs to a
 *   process that started at another time: pids are reused, e.g. pid 1 in a container);
 * - on another host (a shared volume), when the holder has not refreshed the file's time for
 *   {@link LOCK_STALE_MS} (the holder touches it every {@link LOCK_REFRESH_MS}).
 * Taking over renames the stale file away and checks it was the one judged stale, so that two
 * runs taking over at once do not both win.
 *
 * @example
 *   const lock = acquireLock(join(out, '.wganx-augment.lock'));   // throws LockHeldError
 *   try { … } finally { lock.release(); }
 */
import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';

/** How often a holder refreshes its lock file's time. */
export const LOCK_REFRESH_MS = 5_000;
/** A lock of another host not refreshed for this long is taken to be left by a dead holder. */
export const LOCK_STALE_MS = 30_000;

export interface LockHolder {
  host: string;
  pid: number;
  /** The process's start time (Linux: clock ticks since boot, /proc/<pid>/stat), or null. */
  started: number | null;
  token: string;
  since: string;
}

export class LockHeldError extends Error {
  override name = 'LockHeldError';
  constructor(
    readonly path: string,
    readonly holder: LockHolder,
  ) {
    super(`${path} is held by pid ${holder.pid} on ${holder.host} since ${holder.since}`);
  }
}

export interface FolderLock {
  readonly path: string;
  release(): void;
}

/** Start time of a process (field 22 of /proc/<pid>/stat), or null where /proc says nothing. */
function startTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const value = Number(fields[19]);
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(path: string): LockHolder | null {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
    return typeof h.pid === 'number' && typeof h.host === 'string' && typeof h.token === 'string' ? h : null;
  } catch {
    return null;
  }
}

/** Locks this process holds (a second augment() in the same process is a second writer too). */
const HELD = new Set<string>();

function isStale(path: string, holder: LockHolder | null): boolean {
  if (holder === null) {
    // Unreadable: a holder killed between creating and writing it, or one writing it now.
    try {
      return Date.now() - statSync(path).mtimeMs > LOCK_STALE_MS;
    } catch {
      return true;
    }
  }
  if (holder.host === hostname()) {
    if (holder.pid === process.pid) return !HELD.has(path);
    if (!alive(holder.pid)) return true;
    const started = startTime(holder.pid);
    return holder.started !== null && started !== null && started !== holder.started;
  }
  try {
    return Date.now() - statSync(path).mtimeMs > LOCK_STALE_MS;
  } catch {
    return true;
  }
}

/** Create the lock file; false when it exists. */
function create(path: string, me: LockHolder): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, `${JSON.stringify(me)}\n`);
  } catch (err) {
    closeSync(fd);
    unlinkSync(path);
    throw err;
  }
  closeSync(fd);
  return true;
}

/** Take over a stale lock: move it away, and put it back if it turns out not to be the stale one. */
function takeOver(path: string, stale: LockHolder | null): boolean {
  const moved = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, moved);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true; // someone else moved it: try to create
    throw err;
  }
  const got = readHolder(moved);
  if (stale !== null && got?.token !== stale.token) {
    // Another run took it over between our look and our move: give it back.
    try {
      linkSync(moved, path);
    } catch {
      // a third run created one meanwhile: it holds the lock
    }
    unlinkSync(moved);
    return false;
  }
  unlinkSync(moved);
  return true;
}

/**
 * Take the lock at `path` (its folder must exist), or throw {@link LockHeldError} naming the
 * holder. The lock is refreshed in the background until {@link FolderLock.release}.
 */
export function acquireLock(path: string): FolderLock {
  const me: LockHolder = { host: hostname(), pid: process.pid, started: startTime(process.pid), token: randomBytes(8).toString('hex'), since: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    if (create(path, me)) break;
    const holder = readHolder(path);
    if (attempt >= 3 || !isStale(path, holder) || !takeOver(path, holder)) {
      throw new LockHeldError(path, holder ?? { host: '?', pid: 0, started: null, token: '', since: '?' });
    }
  }
  HELD.add(path);
  const timer = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      // gone (the folder was removed): nothing to refresh
    }
  }, LOCK_REFRESH_MS);
  timer.unref();
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      HELD.delete(path);
      // Remove it only while it is still ours.
      if (readHolder(path)?.token === me.token) unlinkSync(path);
    },
  };
}
