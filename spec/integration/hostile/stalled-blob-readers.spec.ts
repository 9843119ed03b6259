/**
 * Clients that ask for a large blob and never read it, against the real server on a port (a
 * socket's send buffer and window only exist there): such a response is dropped once it has made
 * no progress for RESPONSE_STALL_TIMEOUT_MS (even if the client keeps sending bytes) while everyone
 * else is served, and one client address may hold BLOB_STREAMS_PER_CLIENT streamed blobs at once —
 * the next is answered 429 `TOOMANYREQUESTS` with `Retry-After`, whatever `X-Forwarded-For` it writes.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildDroplet, standardDroplet } from '../../support/build-droplet.ts';
import { waitFor } from '../../support/clients/wait-for.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import { createTestRegistry, writeDroplet, type TestRegistry } from '../../support/test-registry.ts';

const REPOSITORY = '/v2/my-org/dev/hello';
/** Far more than a socket buffers for a client that never reads (its window stays at the initial 64-128 KiB). */
const ROOTFS_PAYLOAD_BYTES = 24 * 1024 * 1024;

interface Blob {
  readonly digest: string;
  readonly size: number;
}

/** A client that sends `GET path` and then reads nothing until told to. */
interface Reader {
  /** Starts reading: resolves with every byte received once the server has closed (or after `giveUpAfterMs`). */
  readAll(giveUpAfterMs: number): Promise<{ received: Buffer; closedByServer: boolean }>;
  close(): void;
}

/** With `keepSending`, the client goes on sending the headers of a next request, a byte at a time, as if to keep the connection busy. */
function stalledReader(port: number, path: string, options: { keepSending?: boolean } = {}): Reader {
  let sending: NodeJS.Timeout | undefined;
  const socket: Socket = connect(port, '127.0.0.1', () => {
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    if (!options.keepSending) return;
    socket.write('GET /v2/ HTTP/1.1\r\nX-Busy: ');
    sending = setInterval(() => socket.write('a'), 100);
  });
  socket.once('close', () => clearInterval(sending));
  socket.pause();
  const chunks: Buffer[] = [];
  let closedByServer = false;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.once('end', () => (closedByServer = true));
  socket.once('error', () => (closedByServer = true));
  return {
    async readAll(giveUpAfterMs) {
      socket.resume();
      const giveUp = setTimeout(() => socket.destroy(), giveUpAfterMs);
      await closed;
      clearTimeout(giveUp);
      return { received: Buffer.concat(chunks), closedByServer };
    },
    close: () => socket.destroy(),
  };
}

/** A client that reads the response head of `GET path` and then stops reading; resolves with its status. */
async function headThenStall(port: number, path: string, headers = ''): Promise<{ status: number; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${headers}\r\n`));
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1];
      if (status === undefined || !head.includes('\r\n\r\n')) return;
      socket.pause();
      socket.off('data', onData);
      resolve({ status: Number(status), socket });
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

describe('clients that stall on a blob', () => {
  let work: string;
  const registries: TestRegistry[] = [];
  const databases: TestDatabase[] = [];
  let blob: Blob;

  async function openRegistry(env: Record<string, string>): Promise<{ registry: TestRegistry; port: number }> {
    // Postgres where there is one: a fresh embedded database takes far longer to create, and nothing here depends on which.
    const postgres = eachDatabase().find((variant) => variant.name === 'postgres');
    const database = postgres && !(await postgres.skipReason()) ? await postgres.create() : undefined;
    if (database) databases.push(database);
    const registry = await createTestRegistry({
      stacks: { cflinuxfs4: join(work, 'rootfs.tgz') },
      dropletsDir: join(work, 'droplets'),
      databaseUrl: database?.url,
      env: { SHUTDOWN_TIMEOUT_MS: '1000', ...env },
    });
    registries.push(registry);
    await registry.registry.server.start();
    return { registry, port: registry.registry.server.info.port as number };
  }

  /** The image's largest layer (the rootfs, served from the filesystem store). */
  async function largestLayer(port: number): Promise<Blob> {
    const res = await fetch(`http://127.0.0.1:${port}${REPOSITORY}/manifests/latest`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(res.status, 200);
    const { layers } = (await res.json()) as { layers: Blob[] };
    return layers.reduce((largest, layer) => (layer.size > largest.size ? layer : largest));
  }

  async function fetchWhole(port: number): Promise<void> {
    const res = await fetch(`http://127.0.0.1:${port}${REPOSITORY}/blobs/${blob.digest}`);
    assert.equal(res.status, 200);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, blob.digest);
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stalled-readers-'));
    const rootfs = await buildDroplet([
      { name: 'bin/', type: 'directory', mode: 0o755, uid: 0, gid: 0 },
      { name: 'bin/sh', content: '#!stand-in shell\n', mode: 0o755, uid: 0, gid: 0 },
      { name: 'home/', type: 'directory', mode: 0o755, uid: 0, gid: 0 },
      { name: 'home/vcap/', type: 'directory', mode: 0o755, uid: 2000, gid: 2000 },
      { name: 'usr/share/noise', content: randomBytes(ROOTFS_PAYLOAD_BYTES), mode: 0o644, uid: 0, gid: 0 },
    ]);
    await writeFile(join(work, 'rootfs.tgz'), rootfs);
    await writeDroplet(join(work, 'droplets'), {
      org: 'my-org', space: 'dev', app: 'hello', guid: '11111111-1111-4111-8111-111111111111',
      bytes: await standardDroplet({ startCommand: './run' }), json: { state: 'STAGED' },
    });
  });

  after(async () => {
    for (const registry of registries) await registry.close();
    for (const database of databases) await database.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  it('drops a response that makes no progress for RESPONSE_STALL_TIMEOUT_MS, serving everyone else meanwhile', async () => {
    const { registry, port } = await openRegistry({ RESPONSE_STALL_TIMEOUT_MS: '500' });
    blob = await largestLayer(port);
    assert.ok(blob.size > ROOTFS_PAYLOAD_BYTES, 'the rootfs layer is the large one');
    const stalled = stalledReader(port, `${REPOSITORY}/blobs/${blob.digest}`);
    try {
      await fetchWhole(port);
      assert.equal((await fetch(`http://127.0.0.1:${port}${REPOSITORY}/manifests/latest`)).status, 200);
      await waitFor('the stalled response to be dropped', () => registry.events.includes('response.stalled'), { timeoutMs: 20_000 });
      const { received, closedByServer } = await stalled.readAll(20_000);
      assert.ok(closedByServer, 'the server closed the connection');
      assert.match(received.subarray(0, 20).toString('latin1'), /^HTTP\/1\.1 200 /);
      assert.ok(received.length < blob.size, `the stalled client got ${received.length} of ${blob.size} bytes, not the whole blob`);
      await fetchWhole(port);
    } finally {
      stalled.close();
    }
  });

  it('drops it also when the client keeps sending meanwhile', async () => {
    const { registry, port } = await openRegistry({ RESPONSE_STALL_TIMEOUT_MS: '500' });
    blob = await largestLayer(port);
    const stalled = stalledReader(port, `${REPOSITORY}/blobs/${blob.digest}`, { keepSending: true });
    try {
      await waitFor('the stalled response to be dropped', () => registry.events.includes('response.stalled'), { timeoutMs: 20_000 });
      const { received, closedByServer } = await stalled.readAll(20_000);
      assert.ok(closedByServer, 'the server closed the connection');
      assert.ok(received.length < blob.size, `the stalled client got ${received.length} of ${blob.size} bytes, not the whole blob`);
    } finally {
      stalled.close();
    }
  });

  it('answers 429 past BLOB_STREAMS_PER_CLIENT streamed blobs from one client address, whatever X-Forwarded-For says', async () => {
    const { port } = await openRegistry({ BLOB_STREAMS_PER_CLIENT: '3' });
    blob = await largestLayer(port);
    const path = `${REPOSITORY}/blobs/${blob.digest}`;
    const holders = await Promise.all([1, 2, 3].map((i) => headThenStall(port, path, `X-Forwarded-For: 192.0.2.${i}\r\n`)));
    try {
      assert.deepEqual(holders.map(({ status }) => status), [200, 200, 200]);
      const refused = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { 'x-forwarded-for': '192.0.2.99' } });
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After');
      assert.equal(((await refused.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'TOOMANYREQUESTS');
      assert.equal((await fetch(`http://127.0.0.1:${port}${path}`, { method: 'HEAD' })).status, 200, 'HEAD streams nothing and is not counted');
      assert.equal((await fetch(`http://127.0.0.1:${port}${REPOSITORY}/manifests/latest`)).status, 200, 'manifests are served');

      holders[0]?.socket.destroy();
      // The slot is free once the server has seen the connection close.
      await waitFor('a slot to be freed', async () => {
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        await res.arrayBuffer();
        return res.status === 200;
      }, { timeoutMs: 10_000 });
    } finally {
      for (const { socket } of holders) socket.destroy();
    }
  });
});
