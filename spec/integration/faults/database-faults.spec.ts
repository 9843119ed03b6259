/**
 * PostgreSQL connections dropped under the registry (`pg_terminate_backend` on every session of
 * its database, from an admin connection, at a chosen moment): during a burst of pulls, and in the
 * middle of a conversion. Requests caught by it answer 503 UNAVAILABLE with Retry-After (never a
 * 500, never a hang); the pool reconnects, the conversion lands or is retried, and no blob, row or
 * image is left half-made.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import type { ServerInjectResponse } from '@hapi/hapi';
import pg from 'pg';
import { FsBlobStore } from '../../../src/blobstore/fs-blob-store.ts';
import { standardDroplet } from '../../support/build-droplet.ts';
import { waitFor } from '../../support/clients/wait-for.ts';
import { storageProblems } from '../../support/storage-invariants.ts';
import { eachDatabase, TEST_DATABASE_URL, type TestDatabase } from '../../support/test-database.ts';
import { buildTinyRootfs, createTestRegistry, writeDroplet, type TestRegistry } from '../../support/test-registry.ts';

const postgres = eachDatabase().find((variant) => variant.name === 'postgres') as ReturnType<typeof eachDatabase>[number];

describe('PostgreSQL connections dropped', { skip: await postgres.skipReason() }, () => {
  let work: string;
  let database: TestDatabase;
  let registry: TestRegistry;
  let admin: pg.Client;
  const dropletsDir = () => join(work, 'droplets');
  const get = (url: string) => registry.registry.server.inject({ method: 'GET', url });
  const problems = () => storageProblems({ db: registry.registry.db, blobs: new FsBlobStore({ root: join(registry.dataDir, 'blobstore') }), fsRoot: join(registry.dataDir, 'blobstore') });

  /** Ends every session of the registry's database but the admin's own; how many it ended. */
  async function dropConnections(): Promise<number> {
    const name = new URL(database.url as string).pathname.slice(1);
    const ended = await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
    return ended.rowCount ?? 0;
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'database-faults-'));
    await writeFile(join(work, 'rootfs.tgz'), await buildTinyRootfs());
    database = await postgres.create();
    admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    registry = await createTestRegistry({
      databaseUrl: database.url,
      stacks: { cflinuxfs4: join(work, 'rootfs.tgz') },
      dropletsDir: dropletsDir(),
      // Every injected request comes from one address: the burst's 20 blob GETs must not meet BLOB_STREAMS_PER_CLIENT, which is not what is tested here.
      env: { MANIFEST_WAIT_MS: '300', CONVERSION_LEASE_MS: '3000', BLOB_STREAMS_PER_CLIENT: '100' },
    });
    // The test's own knex (made by `create`) holds sessions too; they are ended with the rest, which is fine.
  });

  after(async () => {
    await registry?.close();
    await admin?.end();
    await database?.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  it('during a burst of pulls: each answers 200 or 503 with Retry-After, and the next ones all 200', async () => {
    await writeDroplet(dropletsDir(), { org: 'org', space: 'space', app: 'warm', guid: 'aaaaaaaa-0000-4000-8000-000000000001', bytes: await standardDroplet({ startCommand: './run' }), json: { state: 'STAGED' } });
    const warm = await get('/v2/org/space/warm/manifests/latest');
    assert.equal(warm.statusCode, 200, warm.payload);
    const digest = warm.headers['docker-content-digest'] as string;
    const layer = (JSON.parse(warm.payload) as { layers: Array<{ digest: string }> }).layers[2]?.digest as string;
    const urls = ['/v2/org/space/warm/manifests/latest', `/v2/org/space/warm/manifests/${digest}`, `/v2/org/space/warm/blobs/${layer}`, '/v2/org/space/warm/tags/list'];
    const burst: Array<Promise<ServerInjectResponse>> = [];
    let dropped = 0;
    for (let i = 0; i < 80; i += 1) {
      burst.push(get(urls[i % urls.length] as string));
      if (i % 20 === 10) dropped += await dropConnections();
    }
    const answers = await Promise.all(burst);
    assert.ok(dropped > 0, 'sessions were ended while requests ran');
    for (const res of answers) {
      if (res.statusCode === 200) continue;
      assert.equal(res.statusCode, 503, `${res.payload} ${JSON.stringify(registry.logs.filter((line) => Number(line.level) >= 50).slice(-3))}`);
      assert.equal(JSON.parse(res.payload).errors[0].code, 'UNAVAILABLE');
      assert.ok(Number(res.headers['retry-after']) > 0);
    }
    const after = await Promise.all(urls.map((url) => get(url)));
    assert.deepEqual(after.map((res) => res.statusCode), [200, 200, 200, 200]);
    assert.deepEqual(await problems(), []);
  });

  it('in the middle of a conversion: the image lands (now or on a retry), whole', async () => {
    const guid = 'aaaaaaaa-0000-4000-8000-000000000002';
    await writeDroplet(dropletsDir(), { org: 'org', space: 'space', app: 'cold', guid, bytes: Buffer.alloc(0), json: { state: 'STAGED' } });
    const fifo = join(dropletsDir(), 'org', 'space', 'cold', `${guid}.tgz`);
    await rm(fifo);
    execFileSync('mkfifo', [fifo]);
    const url = '/v2/org/space/cold/manifests/latest';
    const first = await get(url);
    assert.equal(first.statusCode, 429, 'the conversion waits on its download');
    await waitFor('the conversion to start', async () => registry.events.includes('conversion.started'));
    assert.ok((await dropConnections()) > 0);
    const writer = createWriteStream(fifo);
    writer.end(await standardDroplet({ startCommand: './cold' }));
    await finished(writer);
    let res: ServerInjectResponse;
    for (;;) {
      res = await get(url);
      if (res.statusCode !== 429 && res.statusCode !== 503) break;
      if (res.statusCode === 503) {
        // A failed attempt: the droplet is a file from now on, and the retry converts it again.
        await rm(fifo, { force: true });
        await writeDroplet(dropletsDir(), { org: 'org', space: 'space', app: 'cold', guid, bytes: await standardDroplet({ startCommand: './cold' }), json: { state: 'STAGED' } });
      }
    }
    assert.equal(res.statusCode, 200, `${res.payload} ${JSON.stringify(registry.logs.filter((line) => Number(line.level) >= 40).slice(-4))}`);
    assert.deepEqual(await problems(), []);
  });
});
