/**
 * Two `droplet-registry` processes on one DATA_DIR, run as an operator runs them (the built CLI,
 * real processes): the embedded database is held by one process at a time. A second `serve` (or
 * `migrate`, `gc`, `import-rootfs`) exits non-zero naming the process that holds it; once that
 * one stops, a new one starts; a lock left by a process killed with SIGKILL is taken over.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnDetached, type DetachedProcess } from '../../support/clients/detached-process.ts';
import { waitFor } from '../../support/clients/wait-for.ts';
import { freePort } from '../../support/free-port.ts';
import { CLI, ensureServerBuilt, REPOSITORY_ROOT } from '../../support/start-registry.ts';

const NODE = join(REPOSITORY_ROOT, 'node_modules', '.bin', 'node');

describe('two processes on one DATA_DIR with the embedded database', () => {
  let work: string;
  let env: Record<string, string>;
  const processes: DetachedProcess[] = [];
  const lockFile = () => join(env.DATA_DIR as string, 'pglite.lock');

  /** `droplet-registry <command>` in the background. */
  async function run(command: string, name: string): Promise<DetachedProcess> {
    const child = spawnDetached(NODE, [CLI, command], {
      env: { PATH: process.env.PATH, ...env, PORT: String(await freePort()) },
      cwd: REPOSITORY_ROOT,
      logFile: join(work, `${name}.log`),
    });
    processes.push(child);
    return child;
  }

  /** `droplet-registry serve`, once it has said it listens. */
  async function serve(name: string): Promise<DetachedProcess> {
    const server = await run('serve', name);
    await waitFor(`${name} to start`, () => server.logs().includes('"event":"started"'), {
      timeoutMs: 120_000,
      abort: () => (server.exit ? `it exited (${JSON.stringify(server.exit)})` : null),
      details: server.logs,
    });
    return server;
  }

  before(async () => {
    await ensureServerBuilt();
    work = await mkdtemp(join(tmpdir(), 'database-lock-'));
    env = { DATA_DIR: join(work, 'data'), HOST: '127.0.0.1', LOG_LEVEL: 'info' };
  });

  after(async () => {
    for (const server of processes) await server.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('refuses a second serve, and migrate, gc and import-rootfs, naming the process that holds the database', async () => {
    const first = await serve('first');
    for (const command of ['serve', 'migrate', 'gc', 'import-rootfs']) {
      const second = await run(command, `second-${command}`);
      await waitFor(`the second ${command} to exit`, () => second.exit !== null, {
        abort: () => (second.logs().includes('"event":"started"') ? 'it started beside the first' : null),
        details: second.logs,
      });
      assert.deepEqual(second.exit, { code: 1, signal: null }, `${command}: ${second.logs()}`);
      assert.match(second.logs(), new RegExp(`^droplet-registry ${command}: the embedded database in \\S+ is in use by process ${first.pid} on \\S+ \\(started \\d{4}-\\d\\d-\\d\\dT`, 'm'), command);
    }
    assert.equal(first.exit, null, 'the first one still runs');
    assert.equal((await fetch(`http://${first.logs().match(/"url":"http:\/\/([^"]+)"/)?.[1]}/v2/`)).status, 200);

    await first.stop();
    assert.equal(existsSync(lockFile()), false, 'released at shutdown');
  });

  it('starts a new one once the first has stopped, and takes over the lock of one killed with SIGKILL', async () => {
    const third = await serve('third');
    process.kill(third.pid, 'SIGKILL');
    await waitFor('the killed registry to be gone', () => third.exit !== null);
    assert.equal((JSON.parse(readFileSync(lockFile(), 'utf8')) as { pid: number }).pid, third.pid, 'the killed process left its lock');

    const fourth = await serve('fourth');
    const takeover = fourth
      .logs()
      .split('\n')
      .filter((line) => line.includes('"event":"database.lock_taken_over"'))
      .map((line) => JSON.parse(line) as { stalePid: number; msg: string });
    assert.equal(takeover.length, 1, fourth.logs());
    assert.equal(takeover[0]?.stalePid, third.pid);
    assert.match(takeover[0]?.msg ?? '', new RegExp(`from process ${third.pid} .*which is gone`));
    assert.equal((JSON.parse(readFileSync(lockFile(), 'utf8')) as { pid: number }).pid, fourth.pid);
  });
});
