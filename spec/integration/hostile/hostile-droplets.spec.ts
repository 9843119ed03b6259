/**
 * Hostile droplets staged in Cloud Foundry (the CAPI simulator) and pulled through the registry:
 * a crafted one per attack and a sample of the seeded generator's refused droplets. Each pull
 * answers 404 MANIFEST_UNKNOWN with the reason, the admin API and the log show the failed
 * conversion with that reason, no blob is committed, a second pull converts nothing, and the
 * registry goes on serving other images. (The property over hundreds of droplets, without HTTP, is
 * `spec/unit/conversion/fuzz-droplets.spec.ts`.)
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { convertDroplet } from '../../../src/conversion/convert-droplet.ts';
import { InvalidDropletError } from '../../../src/errors/registry-error.ts';
import { standardDroplet } from '../../support/build-droplet.ts';
import { capiSourceEnv, type CfSimulator, type SeededFoundation, seedFoundation, startCfSimulator } from '../../support/cf-simulator/index.ts';
import { generateHostileDroplet, longPaxPathDroplet } from '../../support/hostile-droplet-generator.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';
import { END_OF_ARCHIVE, gnuLongName, paxHeader, paxRecord, rawEntry } from '../../support/raw-tar.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import { buildTinyRootfs, createTestRegistry, type TestRegistry } from '../../support/test-registry.ts';

const tgz = (...blocks: Buffer[]) => gzipSync(Buffer.concat([rawEntry({ name: './app/', typeflag: '5' }), ...blocks, END_OF_ARCHIVE]));

/** [name, droplet, what the reason must say] */
const CRAFTED: Array<[string, Buffer, RegExp]> = [
  ['a path escaping with ..', tgz(rawEntry({ name: './app/../../etc/passwd', typeflag: '0' }, Buffer.from('x'))), /escapes the droplet through "\.\."/],
  ['an absolute path', tgz(rawEntry({ name: '/etc/cron.d/evil', typeflag: '0' }, Buffer.from('x'))), /is an absolute path/],
  ['a hard link out of the droplet', tgz(rawEntry({ name: './app/shadow', typeflag: '1', linkname: '../../etc/shadow' })), /hard link .* which escapes|escapes the droplet/],
  ['a hard link to a later entry', tgz(rawEntry({ name: './app/b', typeflag: '1', linkname: './app/a' }), rawEntry({ name: './app/a', typeflag: '0' })), /not earlier in the droplet/],
  ['a whiteout', tgz(rawEntry({ name: './app/.wh..wh..opq', typeflag: '0' })), /whiteout/],
  ['a character device', tgz(rawEntry({ name: './app/tty', typeflag: '3' })), /character device/],
  ['a fifo', tgz(rawEntry({ name: './app/pipe', typeflag: '6' })), /fifo/],
  ['a PAX path escaping', tgz(paxHeader(paxRecord('path', '../../../etc/passwd')), rawEntry({ name: './app/innocent', typeflag: '0' })), /escapes the droplet/],
  ['a GNU long name escaping', tgz(gnuLongName('L', `${'../'.repeat(40)}etc/passwd`), rawEntry({ name: 'innocent', typeflag: '0', format: 'gnu' })), /escapes the droplet/],
  ['a PAX header over 4 MiB', tgz(paxHeader(paxRecord('comment', 'x'.repeat(4 * 1024 * 1024 + 10))), rawEntry({ name: './app/f', typeflag: '0' })), /extended header over 4 MiB/],
  ['a truncated gzip', gzipSync(Buffer.concat([rawEntry({ name: './app/f', typeflag: '0' }, Buffer.alloc(40_000, 1)), END_OF_ARCHIVE])).subarray(0, 60), /truncated/],
  ['not gzip at all', Buffer.from('PK\u0003\u0004 a zip, not a droplet'), /not a gzip file/],
  ['an entry flood over CONVERSION_MAX_ENTRIES', tgz(...Array.from({ length: 60 }, (_, i) => rawEntry({ name: `./app/e${i}`, typeflag: '0' }))), /more than 50 entries/],
  ['a bomb over CONVERSION_MAX_UNCOMPRESSED_BYTES', tgz(rawEntry({ name: './app/zeros', typeflag: '0' }, Buffer.alloc(3 * 1024 * 1024))), /unpacks to more than 2097152 bytes/],
  ['a name past PATH_MAX', tgz(paxHeader(paxRecord('path', `./app/${'n'.repeat(5000)}`)), rawEntry({ name: 'decoy', typeflag: '0' })), /has a name of 5006 bytes, over the limit of 4096 \(PATH_MAX\)/],
  [
    'a hard link through a symlink planted after its target',
    tgz(rawEntry({ name: './app/d/f', typeflag: '0' }), rawEntry({ name: './app/d', typeflag: '2', linkname: '/etc' }), rawEntry({ name: './app/l', typeflag: '1', linkname: './app/d/f' })),
    /points to "\.\/app\/d\/f", which lies under the symlink "app\/d"/,
  ],
  ['an empty droplet (a gzip of nothing)', gzipSync(Buffer.alloc(0)), /droplet is empty \(its tar archive has no entries\)$/],
  ['a droplet with nothing under app/', gzipSync(Buffer.concat([rawEntry({ name: './staging_info.yml', typeflag: '0' }, Buffer.from('{}')), END_OF_ARCHIVE])), /droplet has no app\/ directory/],
  ['an entry replacing app with a symlink', tgz(rawEntry({ name: './app/sub/..', typeflag: '2', linkname: '/etc' })), /replaces the droplet's app\/ directory with a symlink/],
];

const LIMITS = { maxEntries: 50, maxUncompressedBytes: 2 * 1024 * 1024 };

describe('hostile droplets pulled through the registry', () => {
  let cf: CfSimulator;
  let seed: SeededFoundation;
  let work: string;
  let database: TestDatabase | undefined;
  let registry: TestRegistry;
  let adminToken: string;
  let serial = 0;

  const get = (url: string, authorization?: string) => registry.registry.server.inject({ method: 'GET', url, headers: authorization ? { authorization } : {} });
  const storedBlobs = async () => (await readdir(join(registry.dataDir, 'blobstore', 'blobs', 'sha256')).catch(() => [] as string[])).sort();

  before(async () => {
    cf = await startCfSimulator();
    seed = seedFoundation(cf, { dropletBytes: ({ startCommand }) => standardDroplet({ startCommand }) });
    work = await mkdtemp(join(tmpdir(), 'hostile-droplets-'));
    await writeFile(join(work, 'rootfs.tgz'), await buildTinyRootfs());
    const postgres = eachDatabase().find((variant) => variant.name === 'postgres');
    database = postgres && !(await postgres.skipReason()) ? await postgres.create() : undefined;
    registry = await createTestRegistry({
      databaseUrl: database?.url,
      stacks: { cflinuxfs4: join(work, 'rootfs.tgz') },
      dropletsDir: join(work, 'unused'),
      env: {
        ...capiSourceEnv(cf, seed),
        CONVERSION_MAX_ENTRIES: String(LIMITS.maxEntries),
        CONVERSION_MAX_UNCOMPRESSED_BYTES: String(LIMITS.maxUncompressedBytes),
      },
    });
    adminToken = `bearer ${cf.uaa.issueToken({ clientId: 'cf', username: seed.users.admin.username })}`;
    assert.equal((await get('/v2/acme/development/web/manifests/latest')).statusCode, 200, 'a good image, served before and after');
  });

  after(async () => {
    await registry?.close();
    await database?.cleanup();
    await cf?.stop();
    await rm(work, { recursive: true, force: true });
  });

  /** Stages `bytes` as a new app's droplet, pulls it, and checks every promise of a refused droplet. */
  async function pullRefused(bytes: Buffer, reason: RegExp): Promise<void> {
    serial += 1;
    const app = cf.foundation.createApp(seed.spaces.development, { name: `hostile-${serial}` });
    const droplet = cf.foundation.stage(app, bytes);
    const url = `/v2/acme/development/hostile-${serial}/manifests/latest`;
    const blobsBefore = await storedBlobs();
    const res = await get(url);
    assert.equal(res.statusCode, 404, res.payload);
    const error = (JSON.parse(res.payload) as { errors: Array<{ code: string; message: string; detail: { reason: string } }> }).errors[0];
    assert.equal(error?.code, 'MANIFEST_UNKNOWN');
    assert.match(error?.detail.reason ?? '', reason);
    assert.deepEqual(await storedBlobs(), blobsBefore, 'no blob committed');
    assert.deepEqual(await readdir(join(registry.dataDir, 'blobstore', 'staging')).catch(() => []), [], 'nothing left staged');
    const logged = registry.logs.findLast((line) => line.event === 'conversion.failed' && line.droplet === droplet.guid);
    assert.match(String(logged?.msg), reason, 'the log line gives the reason');
    const admin = await get(`/admin/conversions?droplet_guid=${droplet.guid}`, adminToken);
    assert.equal(admin.statusCode, 200, admin.payload);
    const [conversion, ...more] = (JSON.parse(admin.payload) as { resources: Array<{ state: string; error: string }> }).resources;
    assert.equal(more.length, 0);
    assert.equal(conversion?.state, 'failed');
    assert.match(conversion?.error ?? '', reason, 'the admin API gives the reason');
    assert.equal((await get(url)).statusCode, 404);
    assert.equal(registry.logs.filter((line) => line.event === 'conversion.started' && line.droplet === droplet.guid).length, 1, 'a droplet known to be bad is not converted again');
  }

  for (const [name, bytes, reason] of CRAFTED) {
    it(`refuses ${name}`, async () => {
      await pullRefused(bytes, reason);
    });
  }

  it('refuses 900 entries with distinct 1 MiB PAX paths (which exhausted the heap) by the first name', async () => {
    await pullRefused(await longPaxPathDroplet(), /droplet entry "\.\/app\/0-p+"… \(1048576 bytes\) has a name of 1048576 bytes, over the limit of 4096 \(PATH_MAX\)$/);
  });

  it('refuses a sample of the seeded generator’s refused droplets with the same reason as the conversion gives', async () => {
    let sampled = 0;
    for (let seedValue = 1; sampled < 8; seedValue += 1) {
      const droplet = generateHostileDroplet(seedValue);
      const reason = await convertDroplet({ droplet: Readable.from([droplet.bytes]), blobs: new MemoryBlobStore(), compressionLevel: 1, limits: LIMITS }).then(
        () => undefined,
        (error: unknown) => (error instanceof InvalidDropletError ? error.message : undefined),
      );
      if (reason === undefined) continue;
      sampled += 1;
      await pullRefused(droplet.bytes, new RegExp(reason.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    }
  });

  it('still serves the good image', async () => {
    assert.equal((await get('/v2/acme/development/web/manifests/latest')).statusCode, 200);
  });
});
