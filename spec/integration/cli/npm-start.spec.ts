/**
 * `npm start` as a user runs it, stopped as a user stops it: a SIGTERM to the npm process (what
 * `kill <pid of npm start>` sends; Ctrl-C reaches the whole group anyway) stops the registry too,
 * instead of leaving it running on its port after npm is gone.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { groupAlive, spawnDetached, type DetachedProcess } from '../../support/clients/detached-process.ts';
import { waitFor } from '../../support/clients/wait-for.ts';
import { freePort } from '../../support/free-port.ts';
import { REPOSITORY_ROOT } from '../../support/start-registry.ts';

describe('npm start', () => {
  let work: string;
  let npm: DetachedProcess | undefined;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'npm-start-'));
  });

  after(async () => {
    await npm?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('stops the registry when the npm process is sent SIGTERM', async () => {
    const port = await freePort();
    npm = spawnDetached('npm', ['start'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: join(work, 'data'), PORT: String(port) },
      cwd: REPOSITORY_ROOT,
      logFile: join(work, 'npm-start.log'),
    });
    const started = npm;
    await waitFor('the registry to listen', () => started.logs().includes('"event":"started"'), {
      timeoutMs: 180_000,
      abort: () => (started.exit ? `npm start exited (${JSON.stringify(started.exit)})` : null),
      details: () => started.logs(),
    });
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);

    process.kill(started.pid, 'SIGTERM');
    await waitFor('the registry to stop', async () => !(await listening(port)), { timeoutMs: 90_000, details: () => started.logs() });
    await waitFor('every process of npm start to end', () => !groupAlive(started.pid), { timeoutMs: 30_000 });
    assert.match(started.logs(), /"event":"stopping","signal":"SIGTERM"/, 'the registry shut down as on its own SIGTERM');
  });
});

async function listening(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/healthz`);
    return true;
  } catch {
    return false;
  }
}
