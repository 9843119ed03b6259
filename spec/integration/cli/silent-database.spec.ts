/**
 * A PostgreSQL address where something accepts connections and never answers (a stuck server, a
 * firewall or load balancer holding the connection): `droplet-registry migrate`, as the BOSH job's
 * pre-start runs it, must fail in bounded time naming the address, and exit, so pre-start can
 * retry or give up. Before, pg had no connect timeout, knex waited 60 s and blamed a full pool,
 * and the open socket kept the process alive after the command had failed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../support/free-port.ts';
import { runCli } from '../../support/run-cli.ts';
import { ensureServerBuilt } from '../../support/start-registry.ts';

describe('droplet-registry migrate against a database that accepts and stays silent', () => {
  let work: string;
  let server: Server;
  let port: number;
  const sockets = new Set<Socket>();

  before(async () => {
    await ensureServerBuilt();
    work = await mkdtemp(join(tmpdir(), 'silent-database-'));
    port = await freePort();
    server = createServer((socket) => {
      // Reads what the client sends (its startup message) and never writes or closes.
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
      socket.resume();
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  });

  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    await rm(work, { recursive: true, force: true });
  });

  it('fails with exit code 1 naming the address and the connect timeout, and exits', async () => {
    const result = await runCli(['migrate'], { DATA_DIR: work, DATABASE_URL: `postgres://registry:TOP-SECRET@127.0.0.1:${port}/registry` }, { timeoutMs: 120_000 });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`droplet-registry migrate: cannot connect to PostgreSQL at 127\\.0\\.0\\.1:${port}/registry: no answer within 10 s`));
    assert.doesNotMatch(result.stderr, /TOP-SECRET/);
    assert.doesNotMatch(result.stderr, /pool is probably full/);
  });
});
