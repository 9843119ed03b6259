/**
 * Cloud Controller and its blobstore failing while a droplet is being fetched for conversion,
 * against the CAPI + UAA simulator (the tag-resolution faults, cut downloads and checksum
 * mismatches are in `spec/integration/sources/capi-source.spec.ts`): the download answering 5xx,
 * the blobstore behind the redirect answering 5xx, CAPI too slow to resolve a tag, a download
 * that stalls half-way. Each pull answers 503 UNAVAILABLE with Retry-After, stores nothing, and
 * the next pull once the fault is gone gets the image.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ServerInjectResponse } from '@hapi/hapi';
import { FsBlobStore } from '../../../src/blobstore/fs-blob-store.ts';
import { standardDroplet } from '../../support/build-droplet.ts';
import { capiSourceEnv, type CfSimulator, type SeededFoundation, seedFoundation, startCfSimulator } from '../../support/cf-simulator/index.ts';
import { storageProblems } from '../../support/storage-invariants.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import { buildTinyRootfs, createTestRegistry, type TestRegistry } from '../../support/test-registry.ts';

describe('Cloud Controller failing during a conversion', () => {
  let cf: CfSimulator;
  let seed: SeededFoundation;
  let work: string;
  let database: TestDatabase | undefined;
  let registry: TestRegistry;
  let serial = 0;

  const get = (url: string) => registry.registry.server.inject({ method: 'GET', url });
  const problems = () => storageProblems({ db: registry.registry.db, blobs: new FsBlobStore({ root: join(registry.dataDir, 'blobstore') }), fsRoot: join(registry.dataDir, 'blobstore') });

  /** A freshly staged app whose droplet (incompressible, ~256 KiB) nobody has converted yet. */
  async function freshApp(): Promise<{ url: string; size: number }> {
    serial += 1;
    const app = cf.foundation.createApp(seed.spaces.development, { name: `fresh-${serial}` });
    const bytes = await standardDroplet({ startCommand: './run', files: { 'app/payload.bin': randomBytes(256 * 1024) } });
    cf.foundation.stage(app, bytes);
    return { url: `/v2/acme/development/fresh-${serial}/manifests/latest`, size: bytes.length };
  }

  function assertUnavailable(res: ServerInjectResponse, message: RegExp): void {
    assert.equal(res.statusCode, 503, res.payload);
    const [error] = (JSON.parse(res.payload) as { errors: Array<{ code: string; message: string }> }).errors;
    assert.equal(error?.code, 'UNAVAILABLE');
    assert.ok(Number(res.headers['retry-after']) > 0, 'Retry-After');
    const said = [error?.message, ...registry.logs.slice(-6).map((line) => line.msg)].join('\n');
    assert.match(said, message);
  }

  before(async () => {
    cf = await startCfSimulator();
    seed = seedFoundation(cf, { dropletBytes: ({ startCommand }) => standardDroplet({ startCommand }) });
    work = await mkdtemp(join(tmpdir(), 'cc-faults-'));
    await writeFile(join(work, 'rootfs.tgz'), await buildTinyRootfs());
    const postgres = eachDatabase().find((variant) => variant.name === 'postgres');
    database = postgres && !(await postgres.skipReason()) ? await postgres.create() : undefined;
    registry = await createTestRegistry({
      databaseUrl: database?.url,
      stacks: { cflinuxfs4: join(work, 'rootfs.tgz') },
      dropletsDir: join(work, 'unused'),
      env: {
        ...capiSourceEnv(cf, seed),
        CAPI_TIMEOUT_MS: '1000',
        DROPLET_DOWNLOAD_IDLE_TIMEOUT_MS: '500',
      },
    });
  });

  after(async () => {
    await registry?.close();
    await database?.cleanup();
    await cf?.stop();
    await rm(work, { recursive: true, force: true });
  });

  beforeEach(() => cf.faults.reset());

  for (const status of [500, 502, 503] as const) {
    it(`the droplet download answering ${status}`, async () => {
      const { url } = await freshApp();
      cf.faults.failNext(1, status, { route: 'GET /v3/droplets/:guid/download' });
      assertUnavailable(await get(url), /Cloud Controller/);
      assert.deepEqual(await problems(), []);
      assert.equal((await get(url)).statusCode, 200);
      assert.deepEqual(await problems(), []);
    });
  }

  it('the blobstore behind the redirect answering 503', async () => {
    const { url } = await freshApp();
    cf.faults.failNext(1, 503, { server: 'blobstore' });
    assertUnavailable(await get(url), /blobstore/);
    assert.deepEqual(await problems(), []);
    assert.equal((await get(url)).statusCode, 200);
  });

  it('Cloud Controller slower than CAPI_TIMEOUT_MS to name the current droplet', async () => {
    const { url } = await freshApp();
    cf.faults.delayNext(1, 3000, { route: 'GET /v3/apps/:guid/droplets/current' });
    assertUnavailable(await get(url), /timed out/);
    assert.deepEqual(await problems(), []);
    assert.equal((await get(url)).statusCode, 200);
  });

  it('a download that stalls half-way, past DROPLET_DOWNLOAD_IDLE_TIMEOUT_MS', async () => {
    const { url, size } = await freshApp();
    cf.faults.stallDownloadsAfter(Math.floor(size / 2));
    assertUnavailable(await get(url), /stalled|idle|no data|timed out/i);
    assert.deepEqual(await problems(), []);
    assert.equal((await get(url)).statusCode, 200);
    assert.deepEqual(await problems(), []);
  });
});
