/**
 * One process at a time on the embedded database. PGlite is Postgres running inside this process,
 * with no postmaster to keep a second process out: two processes on one `DATA_DIR` (a second
 * `npm start`, a `migrate` or `gc` beside a running `serve`) would both write its files and corrupt
 * it. So its opener takes a lock file beside it that names the owner (pid, host, when the process
 * started), and removes it when the database is closed or the process exits.
 *
 * @remarks
 * The file appears with its content in one step (written under a temporary name, then hard-linked
 * into place, which fails if the lock exists), so a reader never sees it empty. A lock whose
 * process is gone (killed, crashed) is taken over, as PostgreSQL does with `postmaster.pid`, and,
 * like PostgreSQL, with a small window: two processes taking over the same stale lock at the very
 * same moment could both succeed. A lock naming this process's own pid that this process does not
 * hold was left by an earlier process that had the same pid (containers restart at pid 1): stale
 * too. A lock taken on another host (a shared `DATA_DIR`) cannot be checked from here, so it is
 * never taken over.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';

/** Who holds (or held) a lock, as written in the lock file. */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  /** When the owning process started (ISO 8601). */
  readonly startedAt: string;
}

/** The database is in use by another live process (or a process on another host). */
export class DatabaseLockedError extends Error {
  readonly owner: LockOwner;
  readonly lockFile: string;

  constructor(what: string, lockFile: string, owner: LockOwner) {
    super(
      `${what} is in use by process ${owner.pid} on ${owner.host} (started ${owner.startedAt}): stop that process first, ` +
        `or set DATABASE_URL to share a PostgreSQL database between processes. If no such process runs any more, delete ${lockFile}`,
    );
    this.name = 'DatabaseLockedError';
    this.owner = owner;
    this.lockFile = lockFile;
  }
}

export interface HeldLock {
  /** Removes the lock file (if it is still this process's); safe to call more than once. */
  release(): Promise<void>;
}

/**
 * Lock files this process holds, with their content: a second opener in the same process is
 * refused like another process, and a process that exits without closing the database (a second
 * signal, a crash on the way out) still frees it.
 */
const heldHere = new Map<string, string>();
let releasingOnExit = false;

/** Rounds of "the lock went away while we looked"; beyond them something keeps recreating it. */
const MAX_ROUNDS = 10;

/**
 * Takes the lock file `lockFile` for the database described by `what` (used in messages);
 * `onTakeOver` hears of each stale lock taken over. Rejects with `DatabaseLockedError` while
 * another live process holds it.
 */
export async function lockEmbeddedDatabase(what: string, lockFile: string, onTakeOver: (stale: LockOwner) => void): Promise<HeldLock> {
  const me: LockOwner = { pid: process.pid, host: hostname(), startedAt: new Date(Date.now() - process.uptime() * 1000).toISOString() };
  const record = `${JSON.stringify(me)}\n`;
  if (heldHere.has(lockFile)) throw new DatabaseLockedError(what, lockFile, me);
  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    if (await createExclusively(lockFile, record)) return hold(lockFile, record);
    const found = await readFile(lockFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null; // released meanwhile
      throw error;
    });
    if (found === null) continue;
    const owner = parseOwner(found);
    if (owner === null) throw new Error(`${what}: its lock file ${lockFile} does not name a process (${JSON.stringify(found.slice(0, 200))}); delete it if no other process uses the database`);
    if (!isGone(owner)) throw new DatabaseLockedError(what, lockFile, owner);
    // Removed only if it is still the stale lock just read, not one another process took meanwhile.
    if ((await readFile(lockFile, 'utf8').catch(() => null)) === found) {
      await unlink(lockFile).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      onTakeOver(owner);
    }
  }
  throw new Error(`${what}: could not take its lock file ${lockFile}: it kept changing`);
}

/** Creates `path` holding `content`, atomically; false when it exists. */
async function createExclusively(path: string, content: string): Promise<boolean> {
  const temporary = `${path}.${randomUUID()}`;
  await writeFile(temporary, content, { flag: 'wx' });
  try {
    await link(temporary, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temporary);
  }
}

function hold(lockFile: string, record: string): HeldLock {
  heldHere.set(lockFile, record);
  if (!releasingOnExit) {
    releasingOnExit = true;
    process.on('exit', releaseAllNow);
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(lockFile);
      if ((await readFile(lockFile, 'utf8').catch(() => null)) === record) await unlink(lockFile).catch(() => undefined);
    },
  };
}

/** At exit (synchronous by necessity): removes every lock file this process still holds. */
function releaseAllNow(): void {
  for (const [lockFile, record] of heldHere) {
    try {
      if (readFileSync(lockFile, 'utf8') === record) unlinkSync(lockFile);
    } catch {
      // already gone
    }
  }
}

function parseOwner(text: string): LockOwner | null {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (Number.isSafeInteger(value.pid) && (value.pid as number) > 0 && typeof value.host === 'string' && typeof value.startedAt === 'string') return value as LockOwner;
  } catch {
    // not ours
  }
  return null;
}

/** Whether the owner's process is known to be gone: on this host, and no process has its pid (or it is ours, and we do not hold the lock). */
function isGone(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return false;
  if (owner.pid === process.pid) return true;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    // EPERM: the process exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
