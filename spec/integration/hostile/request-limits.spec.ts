/**
 * Clients that try to hold or swamp the listener, against the real server on a port (the limits are
 * Node's, which `server.inject` bypasses): headers or URLs over 16 KiB answer 431, a client that
 * trickles its headers or body is answered 408 and disconnected after HEADERS_TIMEOUT_MS /
 * REQUEST_TIMEOUT_MS, and while dozens of such clients hang on, everyone else is served.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { standardDroplet } from '../../support/build-droplet.ts';
import { rawRequest } from '../../support/raw-http.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import { buildTinyRootfs, createTestRegistry, writeDroplet, type TestRegistry } from '../../support/test-registry.ts';

const MANIFEST = '/v2/my-org/dev/hello/manifests/latest';

describe('request limits of the listening server', () => {
  let work: string;
  let registry: TestRegistry;
  let port: number;
  let database: TestDatabase | undefined;

  before(async () => {
    // Postgres where there is one: a fresh embedded database takes far longer to create, and nothing here depends on which.
    const postgres = eachDatabase().find((variant) => variant.name === 'postgres');
    database = postgres && !(await postgres.skipReason()) ? await postgres.create() : undefined;
    work = await mkdtemp(join(tmpdir(), 'request-limits-'));
    await writeFile(join(work, 'rootfs.tgz'), await buildTinyRootfs());
    await writeDroplet(join(work, 'droplets'), {
      org: 'my-org', space: 'dev', app: 'hello', guid: '11111111-1111-4111-8111-111111111111',
      bytes: await standardDroplet({ startCommand: './run' }), json: { state: 'STAGED' },
    });
    registry = await createTestRegistry({
      stacks: { cflinuxfs4: join(work, 'rootfs.tgz') },
      dropletsDir: join(work, 'droplets'),
      databaseUrl: database?.url,
      env: { HEADERS_TIMEOUT_MS: '500', REQUEST_TIMEOUT_MS: '1000' },
    });
    await registry.registry.server.start();
    port = registry.registry.server.info.port as number;
    assert.equal((await fetch(`http://127.0.0.1:${port}${MANIFEST}`)).status, 200);
  });

  after(async () => {
    await registry?.close();
    await database?.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  it('answers headers over 16 KiB with 431 and closes the connection', async () => {
    const res = await rawRequest(port, `GET /v2/ HTTP/1.1\r\nHost: x\r\nCookie: ${'c'.repeat(17 * 1024)}\r\n\r\n`);
    assert.equal(res.status, 431, res.received);
    assert.ok(res.closedByServer);
    const many = Array.from({ length: 600 }, (_, i) => `X-Header-${i}: ${'v'.repeat(20)}\r\n`).join('');
    assert.equal((await rawRequest(port, `GET /v2/ HTTP/1.1\r\nHost: x\r\n${many}\r\n`)).status, 431, 'many small headers add up');
  });

  it('answers a URL over 16 KiB with 431', async () => {
    const res = await rawRequest(port, `GET ${MANIFEST}?${'q'.repeat(17 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(res.status, 431, res.received);
    assert.ok(res.closedByServer);
  });

  it('answers 431 on a keep-alive connection that already had a request served', async () => {
    const first = await rawRequest(port, `GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n`, { keepOpen: true });
    assert.equal(first.status, 200);
    const closed = new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      first.socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      first.socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    });
    first.socket.write(`GET /v2/ HTTP/1.1\r\nHost: x\r\nCookie: ${'c'.repeat(17 * 1024)}\r\n\r\n`);
    assert.match(await closed, /HTTP\/1\.1 431 /);
  });

  it('answers 408 to a client trickling its headers a byte at a time, and disconnects it', async () => {
    // 300 bytes at 100 ms would take 30 s; HEADERS_TIMEOUT_MS is 500.
    const res = await rawRequest(port, `GET ${MANIFEST} HTTP/1.1\r\nHost: x\r\nX-Slow: `, { trickle: 'a'.repeat(300), trickleEveryMs: 100, giveUpAfterMs: 25_000 });
    assert.ok(res.closedByServer, 'the server closed the connection before the trickle ran out');
    assert.equal(res.status, 408, res.received);
  });

  it('closes a connection that never sends a request', async () => {
    const res = await rawRequest(port, '', { giveUpAfterMs: 25_000 });
    assert.ok(res.closedByServer);
  });

  it('keeps serving everyone else while 50 slow clients hang on', async () => {
    const slow = Array.from({ length: 50 }, () => rawRequest(port, `GET ${MANIFEST} HTTP/1.1\r\nHost: x\r\n`, { trickle: 'X-A: b\r\n'.repeat(40), trickleEveryMs: 100, giveUpAfterMs: 25_000 }));
    const served = await Promise.all(Array.from({ length: 20 }, () => fetch(`http://127.0.0.1:${port}${MANIFEST}`).then((res) => res.status)));
    assert.deepEqual(served, Array(20).fill(200));
    const slowOutcomes = await Promise.all(slow);
    assert.ok(slowOutcomes.every((res) => res.closedByServer && res.status === 408), 'every slow client was cut off with 408');
  });
});
