/**
 * The embedded database's lock file, in one process: what is refused and what is taken over. (Two
 * real processes: spec/integration/cli/embedded-database-lock.spec.ts.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DatabaseLockedError, lockEmbeddedDatabase, type LockOwner } from '../../../src/db/embedded-database-lock.ts';

describe('the embedded database lock', () => {
  let dir: string;
  let serial = 0;
  const lockFile = () => join(dir, `pglite-${(serial += 1)}.lock`);
  const noTakeOver = (stale: LockOwner) => assert.fail(`took over ${JSON.stringify(stale)}`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'database-lock-'));
  });

  after(() => rm(dir, { recursive: true, force: true }));

  it('is held once per process too, and free again once released', async () => {
    const file = lockFile();
    const lock = await lockEmbeddedDatabase('the database', file, noTakeOver);
    assert.equal((JSON.parse(await readFile(file, 'utf8')) as LockOwner).pid, process.pid);
    await assert.rejects(lockEmbeddedDatabase('the database', file, noTakeOver), (error: unknown) => error instanceof DatabaseLockedError && error.owner.pid === process.pid);
    await lock.release();
    await lock.release();
    assert.ok(!(await readdir(dir)).includes(file.slice(dir.length + 1)), 'the file is gone, and no temporary file is left');
    await (await lockEmbeddedDatabase('the database', file, noTakeOver)).release();
  });

  it('takes over the lock of a process that is gone, saying whose', async () => {
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    const file = lockFile();
    const stale: LockOwner = { pid: gone, host: hostname(), startedAt: '2026-01-02T03:04:05.000Z' };
    await writeFile(file, JSON.stringify(stale));
    const heard: LockOwner[] = [];
    const lock = await lockEmbeddedDatabase('the database', file, (owner) => heard.push(owner));
    assert.deepEqual(heard, [stale]);
    assert.equal((JSON.parse(await readFile(file, 'utf8')) as LockOwner).pid, process.pid);
    await lock.release();
  });

  it('refuses a live process, and one on another host (which cannot be checked from here), naming it', async () => {
    for (const owner of [
      { pid: process.ppid, host: hostname(), startedAt: '2026-01-02T03:04:05.000Z' },
      { pid: 4242, host: `not-${hostname()}`, startedAt: '2026-01-02T03:04:05.000Z' },
    ]) {
      const file = lockFile();
      await writeFile(file, JSON.stringify(owner));
      await assert.rejects(lockEmbeddedDatabase('the embedded database in /data/pglite', file, noTakeOver), {
        name: 'DatabaseLockedError',
        message: `the embedded database in /data/pglite is in use by process ${owner.pid} on ${owner.host} (started ${owner.startedAt}): stop that process first, or set DATABASE_URL to share a PostgreSQL database between processes. If no such process runs any more, delete ${file}`,
      });
      assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), owner, 'left as it was');
    }
  });

  it('refuses a lock file that names no process rather than guess', async () => {
    const file = lockFile();
    await writeFile(file, '');
    await assert.rejects(lockEmbeddedDatabase('the database', file, noTakeOver), /does not name a process .*delete it if no other process uses the database/);
  });
});
