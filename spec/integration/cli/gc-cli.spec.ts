/**
 * `droplet-registry gc` as an operator runs it: the built CLI in a child process, on the data a
 * registry left behind (embedded database, filesystem blobstore, droplets folder).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GcReport } from '../../../src/workers/gc-report.ts';
import { standardDroplet } from '../../support/build-droplet.ts';
import { runCli as cli } from '../../support/run-cli.ts';
import { ensureServerBuilt } from '../../support/start-registry.ts';
import { buildTinyRootfs, createTestRegistry, writeDroplet } from '../../support/test-registry.ts';

const GUID = '33333333-3333-4333-8333-333333333333';

describe('droplet-registry gc', () => {
  let work: string;
  let env: Record<string, string>;

  before(async () => {
    await ensureServerBuilt();
    work = await mkdtemp(join(tmpdir(), 'gc-cli-'));
    const rootfs = join(work, 'rootfs.tgz');
    await writeFile(rootfs, await buildTinyRootfs());
    const dataDir = join(work, 'data');
    const dropletsDir = join(work, 'droplets');
    await mkdir(dropletsDir, { recursive: true });
    env = { DATA_DIR: dataDir, DROPLETS_DIR: dropletsDir, STACKS: `cflinuxfs4=${rootfs}` };
    // A registry converts one droplet, stops; then the droplet is deleted.
    await writeDroplet(dropletsDir, {
      org: 'org',
      space: 'space',
      app: 'app',
      guid: GUID,
      bytes: await standardDroplet({ startCommand: './run.sh' }),
      json: { guid: GUID, state: 'STAGED', stack: 'cflinuxfs4', created_at: '2024-01-01T00:00:00Z', process_types: { web: './run.sh' } },
    });
    const registry = await createTestRegistry({ dataDir, dropletsDir, stacks: { cflinuxfs4: rootfs }, env: { GC_INTERVAL_MS: '0' } });
    try {
      const res = await registry.registry.server.inject({ method: 'GET', url: '/v2/org/space/app/manifests/latest' });
      assert.equal(res.statusCode, 200, res.payload);
    } finally {
      await registry.close({ keepData: true });
    }
    await rm(join(dropletsDir, 'org', 'space', 'app'), { recursive: true });
  });

  after(() => rm(work, { recursive: true, force: true }));

  it('is listed, and explained with --help', async () => {
    const help = await cli(['--help']);
    assert.match(help.stdout, /^ {2}gc /m);
    const own = await cli(['gc', '--help']);
    assert.equal(own.code, 0);
    assert.match(own.stdout, /^droplet-registry gc \[--dry-run\]/);
  });

  it('lists in a dry run exactly what the real run then removes, and says so readably', async () => {
    const text = await cli(['gc', '--dry-run'], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /dry run: nothing was removed/);
    assert.match(text.stdout, /^images to remove: 1$/m);
    assert.match(text.stdout, new RegExp(`^ {2}droplet ${GUID} {2}app [0-9a-f-]+ {2}ready {2}droplet-deleted$`, 'm'));
    assert.match(text.stdout, /^blobs found unreferenced for the first time: 2$/m, 'its config and droplet layer');
    assert.match(text.stderr, /"event":"gc.finished"/);

    const dry = await cli(['gc', '--dry-run', '--json'], env);
    assert.equal(dry.code, 0, dry.stderr);
    const planned = JSON.parse(dry.stdout) as GcReport;
    assert.equal(planned.dryRun, true);
    const real = await cli(['gc', '--json'], env);
    assert.equal(real.code, 0, real.stderr);
    const done = JSON.parse(real.stdout) as GcReport;
    assert.equal(done.dryRun, false);
    assert.deepEqual(done.imagesRemoved, planned.imagesRemoved);
    assert.deepEqual(done.blobsRemoved, planned.blobsRemoved);
    assert.equal(done.blobsMarked, planned.blobsMarked);
    assert.deepEqual(
      done.imagesRemoved.map((image) => [image.dropletGuid, image.reason]),
      [[GUID, 'droplet-deleted']],
    );

    const again = await cli(['gc', '--dry-run'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^images to remove: 0$/m);
    assert.match(again.stdout, /^blobs unreferenced, within the grace period: 2$/m);
  });

  it('says what to fix on bad usage (exit 2) and fails on a broken configuration (exit 1)', async () => {
    const badFlag = await cli(['gc', '--dry'], env);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /--dry/);
    assert.match(badFlag.stderr, /see: droplet-registry gc --help/);
    const missingRootfs = await cli(['gc', '--dry-run'], { ...env, STACKS: `cflinuxfs4=${join(work, 'missing.tgz')}` });
    assert.equal(missingRootfs.code, 1);
    assert.match(missingRootfs.stderr, /missing\.tgz/);
  });
});
