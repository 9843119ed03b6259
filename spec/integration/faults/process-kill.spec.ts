/**
 * The registry process killed (`kill -9`) in the middle of a conversion, then started again on the
 * same database and filesystem blobstore — the single-instance case; several instances taking over
 * from a dead one are in `spec/e2e/scale-out.spec.ts`. The dead process's staged write never
 * becomes a blob and is swept at the next start once stale; the restarted process converts the
 * droplet afresh once the dead lease has run out, and the pull completes with whole blobs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FsBlobStore } from '../../../src/blobstore/fs-blob-store.ts';
import { standardDroplet } from '../../support/build-droplet.ts';
import { makeScratchDir, removeScratchDir } from '../../support/clients/scratch-dir.ts';
import { waitFor } from '../../support/clients/wait-for.ts';
import { startRegistry, type RunningRegistry } from '../../support/start-registry.ts';
import { storageProblems } from '../../support/storage-invariants.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import { buildTinyRootfs } from '../../support/test-registry.ts';

const postgres = eachDatabase().find((variant) => variant.name === 'postgres') as ReturnType<typeof eachDatabase>[number];
const GUID = 'de4d0000-0000-4000-8000-000000000001';
const TWO_HOURS_MS = 2 * 60 * 60 * 1000;

describe('the registry process killed during a conversion and restarted', { skip: await postgres.skipReason() }, () => {
  let work: string;
  let database: TestDatabase;
  const running: RunningRegistry[] = [];

  before(async () => {
    work = makeScratchDir('kill');
    database = await postgres.create();
  });

  after(async () => {
    for (const registry of running) await registry.stop();
    await database?.cleanup();
    removeScratchDir(work);
  });

  it('leaves no blob of the killed attempt, sweeps its staged write, and converts on the next pull', { timeout: 300_000 }, async () => {
    const blobRoot = join(work, 'blobstore');
    const appDir = join(work, 'droplets', 'org', 'space', 'app');
    await mkdir(appDir, { recursive: true });
    await writeFile(join(appDir, `${GUID}.json`), JSON.stringify({ guid: GUID, state: 'STAGED', stack: 'cflinuxfs4', process_types: { web: './run' } }));
    const dropletPath = join(appDir, `${GUID}.tgz`);
    execFileSync('mkfifo', [dropletPath]);
    await writeFile(join(work, 'rootfs.tgz'), await buildTinyRootfs());
    const droplet = await standardDroplet({ startCommand: './run', files: { 'app/payload.bin': randomBytes(8 * 1024 * 1024) } });
    const env = {
      DROPLETS_DIR: join(work, 'droplets'),
      STACKS: `cflinuxfs4=${join(work, 'rootfs.tgz')}`,
      DATABASE_URL: database.url as string,
      DATABASE_SCHEMA: database.schema,
      BLOBSTORE_FS_ROOT: blobRoot,
      CONVERSION_LEASE_MS: '2000',
    };
    const victim = await startRegistry({ env });
    running.push(victim);
    const baseBlobs = (await readdir(join(blobRoot, 'blobs', 'sha256'))).sort();

    // Half the droplet in, the layer staged and being written: then the process dies.
    const first = fetch(`${victim.url}/v2/org/space/app/manifests/latest`).catch(() => undefined);
    const feed = createWriteStream(dropletPath);
    feed.on('error', () => undefined);
    await write(feed, droplet.subarray(0, droplet.length / 2));
    await waitFor('the layer to be staged', async () => (await readdir(join(blobRoot, 'staging')).catch(() => [])).length > 0);
    victim.kill();
    feed.destroy();
    await first;
    const leftovers = await readdir(join(blobRoot, 'staging'));
    assert.ok(leftovers.length > 0, 'the killed process left its staged write');
    assert.deepEqual((await readdir(join(blobRoot, 'blobs', 'sha256'))).sort(), baseBlobs, 'but no blob');

    // An hour later (as far as the staged file's age goes), the registry starts again.
    const past = new Date(Date.now() - TWO_HOURS_MS);
    for (const name of leftovers) await utimes(join(blobRoot, 'staging', name), past, past);
    await rm(dropletPath);
    await writeFile(dropletPath, droplet);
    const restarted = await startRegistry({ env });
    running.push(restarted);
    assert.deepEqual(await readdir(join(blobRoot, 'staging')), [], 'the start-up sweep removed the stale staged write');
    assert.match(restarted.logs(), /"event":"staging\.swept"/);

    let res: Response;
    for (;;) {
      res = await fetch(`${restarted.url}/v2/org/space/app/manifests/latest`);
      if (res.status !== 429) break;
    }
    const body = await res.text();
    assert.equal(res.status, 200, body);
    const manifest = JSON.parse(body) as { layers: Array<{ digest: string; size: number }> };
    const layer = manifest.layers[2] as { digest: string; size: number };
    const blob = await fetch(`${restarted.url}/v2/org/space/app/blobs/${layer.digest}`);
    assert.equal(Buffer.from(await blob.arrayBuffer()).length, layer.size, 'the droplet layer is whole');
    const states = (await database.knex('conversions').orderBy('started_at').select('state')).map((row: { state: string }) => row.state);
    assert.deepEqual(states, ['failed', 'succeeded'], 'the killed attempt is closed as failed, the new one succeeded');
    assert.deepEqual(await storageProblems({ db: database.knex, blobs: new FsBlobStore({ root: blobRoot }), fsRoot: blobRoot }), []);
  });
});

function write(stream: WriteStream, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => stream.write(bytes, (error) => (error ? reject(error) : resolve())));
}
