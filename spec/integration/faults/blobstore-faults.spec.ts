/**
 * The blobstore failing under a conversion, on the real composition: a staged write breaking
 * mid-stream, a commit failing, the image config's write failing (after the droplet layer was
 * committed), and a filesystem store running out of space (a real tmpfs). Each pull answers
 * 503 UNAVAILABLE with Retry-After, leaves no blob without a row, no row without its blob and no
 * staged write, and the next pull once the fault is gone gets the image.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ServerInjectResponse } from '@hapi/hapi';
import { FsBlobStore } from '../../../src/blobstore/fs-blob-store.ts';
import { standardDroplet } from '../../support/build-droplet.ts';
import { FaultyBlobStore } from '../../support/faulty-blob-store.ts';
import { skipOrFail } from '../../support/requirements.ts';
import { storageProblems } from '../../support/storage-invariants.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import { buildTinyRootfs, createTestRegistry, writeDroplet, type TestRegistry } from '../../support/test-registry.ts';

function ociError(res: ServerInjectResponse): { code: string; message: string } {
  return (JSON.parse(res.payload) as { errors: Array<{ code: string; message: string }> }).errors[0] as { code: string; message: string };
}

let serial = 0;

/** A cold app in the droplets dir, big enough (incompressible) for its layer to take many writes. */
async function coldApp(dropletsDir: string, size = 300 * 1024): Promise<string> {
  serial += 1;
  const app = `app-${serial}`;
  const guid = `00000000-0000-4000-8000-${String(serial).padStart(12, '0')}`;
  const bytes = await standardDroplet({ startCommand: './run', files: { 'app/payload.bin': randomBytes(size) } });
  await writeDroplet(dropletsDir, { org: 'org', space: 'space', app, guid, bytes, json: { guid, state: 'STAGED' } });
  return `/v2/org/space/${app}/manifests/latest`;
}

function assertUnavailable(res: ServerInjectResponse): void {
  assert.equal(res.statusCode, 503, res.payload);
  assert.equal(ociError(res).code, 'UNAVAILABLE');
  assert.ok(Number(res.headers['retry-after']) > 0, 'Retry-After');
}

for (const database of eachDatabase()) {
  describe(`blobstore failing mid-conversion (${database.name})`, { skip: await database.skipReason() }, () => {
    let work: string;
    let handle: TestDatabase | undefined;
    let registry: TestRegistry;
    let faulty: FaultyBlobStore;
    const dropletsDir = () => join(work, 'droplets');
    const get = (url: string) => registry.registry.server.inject({ method: 'GET', url });
    const problems = () => storageProblems({ db: registry.registry.db, blobs: new FsBlobStore({ root: join(registry.dataDir, 'blobstore') }), fsRoot: join(registry.dataDir, 'blobstore') });

    before(async () => {
      work = await mkdtemp(join(tmpdir(), 'blobstore-faults-'));
      await writeFile(join(work, 'rootfs.tgz'), await buildTinyRootfs());
      handle = database.name === 'postgres' ? await database.create() : undefined;
      registry = await createTestRegistry({
        databaseUrl: handle?.url,
        stacks: { cflinuxfs4: join(work, 'rootfs.tgz') },
        dropletsDir: dropletsDir(),
        wrapBlobStore: (store) => (faulty = new FaultyBlobStore(store)),
      });
    });

    after(async () => {
      await registry?.close();
      await handle?.cleanup();
      await rm(work, { recursive: true, force: true });
    });

    const cases: Array<[string, (store: FaultyBlobStore) => void, string]> = [
      ['a staged write breaking after 1000 bytes', (store) => store.failWrite(1, 1000), 'write'],
      ['the commit of the droplet layer', (store) => store.failCommit(1), 'commit'],
      ['the write of the image config, after the droplet layer was committed', (store) => store.failPut(1), 'put'],
    ];
    for (const [fault, arm, kind] of cases) {
      it(`${fault}: 503, nothing half-written, and the next pull succeeds`, async () => {
        const manifest = await coldApp(dropletsDir());
        arm(faulty);
        assertUnavailable(await get(manifest));
        assert.deepEqual(faulty.fired.splice(0), [kind], 'the fault was hit');
        assert.deepEqual(await problems(), []);
        const line = registry.logs.findLast((entry) => entry.event === 'conversion.failed');
        assert.match(String(line?.msg), /injected blobstore failure/, 'the log says what failed');
        faulty.heal();
        const again = await get(manifest);
        assert.equal(again.statusCode, 200, again.payload);
        assert.deepEqual(await problems(), []);
      });
    }
  });
}

describe('the filesystem blobstore running out of space', () => {
  const postgres = eachDatabase().find((variant) => variant.name === 'postgres');
  let work: string;
  let mountPoint: string | undefined;
  let handle: TestDatabase | undefined;
  let registry: TestRegistry | undefined;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'disk-full-'));
  });

  after(async () => {
    await registry?.close();
    await handle?.cleanup();
    if (mountPoint) execFileSync('umount', [mountPoint]);
    await rm(work, { recursive: true, force: true });
  });

  it('answers 503 while the disk is full, leaves no partial blob, and converts once there is room', async (t) => {
    const point = join(work, 'blobstore');
    await mkdir(point);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', point], { stdio: 'pipe' });
      mountPoint = point;
    } catch (error) {
      skipOrFail(t, `cannot mount a small tmpfs to fill (needs root with CAP_SYS_ADMIN): ${(error as Error).message.split('\n')[0]}`);
      return;
    }
    await writeFile(join(work, 'rootfs.tgz'), await buildTinyRootfs());
    handle = postgres && !(await postgres.skipReason()) ? await postgres.create() : undefined;
    registry = await createTestRegistry({
      databaseUrl: handle?.url,
      stacks: { cflinuxfs4: join(work, 'rootfs.tgz') },
      dropletsDir: join(work, 'droplets'),
      env: { BLOBSTORE_FS_ROOT: point },
    });
    const store = registry;
    const problems = () => storageProblems({ db: store.registry.db, blobs: new FsBlobStore({ root: point }), fsRoot: point });
    const manifest = await coldApp(join(work, 'droplets'), 1024 * 1024);
    const full = await registry.registry.server.inject(manifest);
    assertUnavailable(full);
    const line = registry.logs.findLast((entry) => entry.event === 'conversion.failed');
    assert.match(String(line?.msg), /ENOSPC|no space left/i, 'the log names the full disk');
    assert.deepEqual(await problems(), []);
    execFileSync('mount', ['-o', 'remount,size=16m', point]);
    const roomy = await registry.registry.server.inject(manifest);
    assert.equal(roomy.statusCode, 200, roomy.payload);
    assert.deepEqual(await problems(), []);
  });
});
