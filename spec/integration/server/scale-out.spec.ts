/**
 * Several registries on one Postgres database and one blobstore: a cold image is converted once
 * whichever instances are asked, a lapsed lease is taken over, a full queue answers 429, and a
 * manifest request that outlasts MANIFEST_WAIT_MS answers 429 while the conversion goes on, so
 * that a retry gets the manifest. Droplets read from a FIFO stand for slow downloads: nothing
 * converts until the test writes the droplet, so no assertion depends on timing.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import type { ServerInjectResponse } from '@hapi/hapi';
import { standardDroplet } from '../../support/build-droplet.ts';
import { waitFor } from '../../support/clients/wait-for.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import { buildTinyRootfs, createTestRegistry, writeDroplet, type TestRegistry } from '../../support/test-registry.ts';

const postgres = eachDatabase().find((variant) => variant.name === 'postgres') as ReturnType<typeof eachDatabase>[number];

function errorCode(res: ServerInjectResponse): string | undefined {
  return (JSON.parse(res.payload) as { errors: Array<{ code: string }> }).errors[0]?.code;
}

describe('scale-out on one Postgres database', { skip: await postgres.skipReason() }, () => {
  let work: string;
  let rootfsPath: string;
  let blobstoreDir: string;
  let droplet: Buffer;
  let database: TestDatabase;
  let serial = 0;
  const registries: TestRegistry[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'scale-out-'));
    rootfsPath = join(work, 'rootfs.tgz');
    blobstoreDir = join(work, 'blobstore');
    await writeFile(rootfsPath, await buildTinyRootfs());
    droplet = await standardDroplet({ startCommand: './run.sh' });
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  /** A fresh database per test; registries opened with `open` are closed after it. */
  async function freshDatabase(): Promise<void> {
    database = await postgres.create();
  }

  async function closeAll(): Promise<void> {
    for (const registry of registries.splice(0)) await registry.close();
    await database?.cleanup();
  }

  /** A registry on the test's database and the shared blobstore, with droplets of its own. */
  async function open(env: Record<string, string> = {}): Promise<{ registry: TestRegistry; dropletsDir: string }> {
    serial += 1;
    const dropletsDir = join(work, `droplets-${serial}`);
    await mkdir(dropletsDir, { recursive: true });
    const registry = await createTestRegistry({
      databaseUrl: database.url,
      stacks: { cflinuxfs4: rootfsPath },
      dropletsDir,
      env: { BLOBSTORE_FS_ROOT: blobstoreDir, DATABASE_SCHEMA: database.schema, ...env },
    });
    registries.push(registry);
    return { registry, dropletsDir };
  }

  /** Lays the droplet out as a FIFO: reading it blocks until `release` writes the bytes. */
  async function slowDroplet(dropletsDir: string, app: string, guid: string): Promise<{ release(): Promise<void> }> {
    await writeDroplet(dropletsDir, { org: 'org', space: 'space', app, guid, bytes: Buffer.alloc(0), json: sidecar(guid) });
    const path = join(dropletsDir, 'org', 'space', app, `${guid}.tgz`);
    await rm(path);
    execFileSync('mkfifo', [path]);
    return {
      async release() {
        const stream = createWriteStream(path);
        stream.end(droplet);
        await finished(stream);
      },
    };
  }

  function fastDroplet(dropletsDir: string, app: string, guid: string): Promise<void> {
    return writeDroplet(dropletsDir, { org: 'org', space: 'space', app, guid, bytes: droplet, json: sidecar(guid) });
  }

  function sidecar(guid: string): Record<string, unknown> {
    return { guid, state: 'STAGED', stack: 'cflinuxfs4', created_at: '2024-01-01T00:00:00Z', process_types: { web: './run.sh' } };
  }

  const get = (registry: TestRegistry, app: string) => registry.registry.server.inject({ method: 'GET', url: `/v2/org/space/${app}/manifests/latest` });
  const conversions = async (state?: string) => Number((await database.knex('conversions').where(state ? { state } : {}).count({ n: '*' }))[0]?.n);

  it('converts a cold image once for concurrent requests on two instances, answering 429 while it converts and the manifest to a retry', async () => {
    await freshDatabase();
    try {
      const guid = '11111111-1111-4111-8111-111111111111';
      // Both instances can read the droplet; whichever claims the image blocks on its FIFO.
      const a = await open({ MANIFEST_WAIT_MS: '300' });
      const b = await open({ MANIFEST_WAIT_MS: '300' });
      const droplets = [await slowDroplet(a.dropletsDir, 'app', guid), await slowDroplet(b.dropletsDir, 'app', guid)];
      const first = await Promise.all(Array.from({ length: 10 }, (_, i) => get(i % 2 ? a.registry : b.registry, 'app')));
      for (const res of first) {
        assert.equal(res.statusCode, 429, res.payload);
        assert.equal(errorCode(res), 'TOOMANYREQUESTS');
        assert.equal(res.headers['retry-after'], '1');
      }
      assert.equal(await conversions('running'), 1, 'one instance converts, the other waits');
      const [image] = await database.knex('images').select('lease_expires_at');
      assert.ok(image.lease_expires_at, 'the converting instance holds a lease');
      // The waiting instance is woken by NOTIFY, on a connection of its own.
      const listening = async () =>
        Number((await database.knex.raw(`select count(*) as n from pg_stat_activity where datname = current_database() and query ilike 'listen %'`)).rows[0].n) > 0;
      await waitFor('a LISTEN session', listening);
      // Unblock the owner's download; the waiter never opened its FIFO (writing to it would block).
      const owner = [a, b].findIndex(({ registry }) => registry.events.includes('conversion.started'));
      await droplets[owner]?.release();
      const retries = await Promise.all(Array.from({ length: 10 }, (_, i) => retryUntilReady(() => get(i % 2 ? a.registry : b.registry, 'app'))));
      const digests = new Set(retries.map((res) => res.headers['docker-content-digest']));
      assert.equal(digests.size, 1, 'the same manifest on both instances');
      assert.equal(await conversions(), 1, 'exactly one conversion');
      assert.equal(await conversions('succeeded'), 1);
      const events = [...a.registry.events, ...b.registry.events].filter((event) => event === 'conversion.succeeded');
      assert.equal(events.length, 1);
    } finally {
      await closeAll();
    }
  });

  it('takes a conversion over when its lease lapses (the owner stopped heartbeating)', async () => {
    await freshDatabase();
    try {
      const guid = '22222222-2222-4222-8222-222222222222';
      const stuck = await open({ MANIFEST_WAIT_MS: '200', CONVERSION_LEASE_MS: '60000' });
      const hung = await slowDroplet(stuck.dropletsDir, 'app', guid);
      assert.equal((await get(stuck.registry, 'app')).statusCode, 429, 'the owner is stuck in its download');
      const taker = await open({ CONVERSION_LEASE_MS: '1000' });
      await fastDroplet(taker.dropletsDir, 'app', guid);
      // The owner's process freezes: its heartbeat no longer renews the lease, which runs out.
      await database.knex('images').update({ instance: 'frozen-instance', lease_expires_at: database.knex.raw(`now() - interval '1 second'`) });
      const res = await get(taker.registry, 'app');
      assert.equal(res.statusCode, 200, res.payload);
      assert.equal(await conversions('succeeded'), 1);
      assert.ok(taker.registry.events.includes('conversion.succeeded'));
      // The frozen owner wakes up to an empty download and gives up; the image stays ready.
      await hung.release().catch(() => undefined);
      const late = await retryUntilReady(() => get(stuck.registry, 'app'));
      assert.equal(late.headers['docker-content-digest'], res.headers['docker-content-digest']);
    } finally {
      await closeAll();
    }
  });

  it('refuses conversions beyond the limit and its queue with 429 and Retry-After', async () => {
    await freshDatabase();
    try {
      const { registry, dropletsDir } = await open({ CONVERSION_CONCURRENCY: '1', CONVERSION_QUEUE: '0', MANIFEST_WAIT_MS: '200' });
      const busy = await slowDroplet(dropletsDir, 'busy', '33333333-3333-4333-8333-333333333333');
      await fastDroplet(dropletsDir, 'other', '44444444-4444-4444-8444-444444444444');
      const converting = await get(registry, 'busy');
      assert.equal(converting.statusCode, 429);
      assert.equal((JSON.parse(converting.payload) as { errors: Array<{ detail?: { reason?: string } }> }).errors[0]?.detail?.reason, 'converting');
      const refused = await get(registry, 'other');
      assert.equal(refused.statusCode, 429, refused.payload);
      assert.equal(errorCode(refused), 'TOOMANYREQUESTS');
      assert.equal(refused.headers['retry-after'], '10');
      await busy.release();
      assert.equal((await retryUntilReady(() => get(registry, 'busy'))).statusCode, 200);
      assert.equal((await get(registry, 'other')).statusCode, 200, 'a free slot converts the next image');
    } finally {
      await closeAll();
    }
  });
});

/** Retries on 429 "still converting", as containerd does, until the manifest comes. */
async function retryUntilReady(request: () => Promise<ServerInjectResponse>): Promise<ServerInjectResponse> {
  for (;;) {
    const res = await request();
    if (res.statusCode !== 429) {
      assert.equal(res.statusCode, 200, res.payload);
      return res;
    }
  }
}
