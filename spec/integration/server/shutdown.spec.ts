/**
 * Graceful shutdown with a conversion that cannot finish in time: the droplet download hangs
 * half-way (the simulator's blobstore stops sending), SHUTDOWN_TIMEOUT_MS is tiny. `stop()` must
 * return while the download still hangs, leave nothing in the blobstore, and release the image's
 * lease so that another registry on the same database converts it at once (the first one's lease
 * would last ten minutes otherwise).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { standardDroplet } from '../../support/build-droplet.ts';
import { capiSourceEnv, type CfSimulator, type SeededFoundation, seedFoundation, startCfSimulator } from '../../support/cf-simulator/index.ts';
import { waitFor } from '../../support/clients/wait-for.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import { buildTinyRootfs, createTestRegistry, type TestRegistry } from '../../support/test-registry.ts';

const postgres = eachDatabase().find((variant) => variant.name === 'postgres') as ReturnType<typeof eachDatabase>[number];
const WEB = 'acme/development/web';

describe('graceful shutdown', { skip: await postgres.skipReason() }, () => {
  let work: string;
  let rootfsPath: string;
  let blobstoreDir: string;
  let cf: CfSimulator;
  let seed: SeededFoundation;
  let database: TestDatabase;
  let webDropletSize = 0;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'shutdown-'));
    rootfsPath = join(work, 'rootfs.tgz');
    blobstoreDir = join(work, 'blobstore');
    await writeFile(rootfsPath, await buildTinyRootfs());
    cf = await startCfSimulator();
    // web's droplets carry an incompressible file, so that half of one is a real partial download.
    seed = seedFoundation(cf, {
      dropletBytes: async ({ app, startCommand }) => {
        if (app !== 'web') return standardDroplet({ startCommand });
        const bytes = await standardDroplet({ startCommand, files: { 'app/data.bin': randomBytes(512 * 1024) } });
        webDropletSize = bytes.length;
        return bytes;
      },
    });
    database = await postgres.create();
  });

  after(async () => {
    await cf?.stop();
    await database?.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  /** A registry on the shared database and blobstore, reading droplets from the simulator. */
  const open = (env: Record<string, string>) =>
    createTestRegistry({
      databaseUrl: database.url,
      stacks: { cflinuxfs4: rootfsPath },
      dropletsDir: join(work, 'unused'),
      env: {
        BLOBSTORE_FS_ROOT: blobstoreDir,
        DATABASE_SCHEMA: database.schema,
        ...capiSourceEnv(cf, seed),
        UAA_URL: cf.uaaUrl,
        ...env,
      },
    });
  const getManifest = (registry: TestRegistry) => registry.registry.server.inject({ method: 'GET', url: `/v2/${WEB}/manifests/latest` });
  const listBlobs = async () => (await readdir(join(blobstoreDir, 'blobs', 'sha256')).catch(() => [])).sort();
  const listStaging = async () => readdir(join(blobstoreDir, 'staging')).catch(() => []);

  it('cancels a conversion that cannot finish in time, discards its staged blob and hands its image to another instance', async () => {
    // Ten minutes of lease: only a released lease lets the second instance convert now.
    const first: TestRegistry = await open({ SHUTDOWN_TIMEOUT_MS: '100', CONVERSION_LEASE_MS: '600000' });
    const baseBlobs = await listBlobs();
    cf.faults.stallDownloadsAfter(Math.floor(webDropletSize / 2));
    const pending = getManifest(first);
    await waitFor('the download to be half-way, its layer staged', async () => first.events.includes('conversion.started') && (await listStaging()).length > 0);

    await first.close();
    const answer = await pending;
    assert.equal(answer.statusCode, 503, answer.payload);
    assert.equal((JSON.parse(answer.payload) as { errors: Array<{ code: string }> }).errors[0]?.code, 'UNAVAILABLE');
    assert.ok(first.events.includes('conversion.handed_back'), first.events.join(', '));
    assert.deepEqual(await listStaging(), [], 'the staged write is gone');
    assert.deepEqual(await listBlobs(), baseBlobs, 'no blob of the cancelled conversion');
    const [image] = await database.knex('images').select('state', 'lease_expires_at');
    assert.deepEqual(image, { state: 'converting', lease_expires_at: null }, 'the lease is released');
    const records = await database.knex('conversions').select('state', 'error');
    assert.deepEqual(records, [{ state: 'failed', error: 'handed back: its instance was shutting down' }]);

    const second = await open({});
    try {
      const res = await getManifest(second);
      assert.equal(res.statusCode, 200, res.payload);
      assert.ok(second.events.includes('conversion.succeeded'));
      assert.deepEqual((await database.knex('images').select('state'))[0], { state: 'ready' });
    } finally {
      await second.close();
    }
  });

  it('lets a conversion under way finish when it can within the timeout', async () => {
    const registry = await open({ SHUTDOWN_TIMEOUT_MS: '600000' });
    // The previous droplet: an image not converted yet, whose download starts a second late.
    cf.faults.delayNext(1, 1_000, { server: 'blobstore', route: 'GET /read/cc-droplets/:ab/:cd/:guid/:sha1' });
    const pending = registry.registry.server.inject({ method: 'GET', url: `/v2/${WEB}/manifests/${seed.droplets.webPrevious.guid}` });
    await waitFor('the conversion to start', () => registry.events.includes('conversion.started'));
    await registry.close();
    const answer = await pending;
    assert.equal(answer.statusCode, 200, answer.payload);
    assert.ok(registry.events.includes('conversion.succeeded'));
    assert.ok(!registry.events.includes('conversion.handed_back'));
  });
});
