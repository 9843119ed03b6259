import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { Knex } from 'knex';
import { baseLayerDigests, prepareBaseLayers, type BaseLayerOptions, type ImportEvent } from '../../../src/images/base-layers.ts';
import { buildTar, type DropletEntry } from '../../support/build-droplet.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';
import { createMigratedPglite } from '../../support/migrated-pglite.ts';

const ROOT = { uid: 0, gid: 0 };
const STACK: DropletEntry[] = [
  { name: './etc/', type: 'directory', ...ROOT },
  { name: './etc/os-release', content: 'NAME="stack"\n', ...ROOT },
  { name: './etc/ssl/', type: 'directory', ...ROOT },
];
const CUSTOMIZED: DropletEntry[] = [...STACK, { name: './etc/ssl/trusted.crt', content: 'CA\n', ...ROOT }];

let dir: string;
let db: Knex;
let blobs: MemoryBlobStore;
let stackTarball: string;
let rootfsTar: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'base-layers-'));
  db = await createMigratedPglite();
});
after(async () => {
  await db.destroy();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  await db('imported_layers').delete();
  blobs = new MemoryBlobStore();
  stackTarball = join(dir, 'cflinuxfs4.tar.gz');
  rootfsTar = join(dir, 'rootfs.tar');
  await writeFile(stackTarball, gzipSync(await buildTar(STACK)));
  await writeFile(rootfsTar, await buildTar(CUSTOMIZED));
});

async function prepare(options: Partial<BaseLayerOptions> = {}) {
  const events: ImportEvent[] = [];
  const base = await prepareBaseLayers({ db, blobs, stacks: { cflinuxfs4: stackTarball }, lifecycleTarball: '', compressionLevel: 1, onImport: (event) => events.push(event), ...options });
  return { base, events, stack: base.stacks.get('cflinuxfs4') };
}

const sha256 = async (path: string) => `sha256:${createHash('sha256').update(await readFile(path)).digest('hex')}`;

describe('prepareBaseLayers', () => {
  it('serves a stack of STACKS alone as its tarball, byte for byte, without a foundation layer', async () => {
    const { stack, base } = await prepare();
    assert.equal(stack?.stack.digest, await sha256(stackTarball));
    assert.equal(stack?.foundation, null);
    assert.deepEqual(baseLayerDigests(base).sort(), [base.lifecycle.digest, stack?.stack.digest].sort());
  });

  it('adds the foundation layer of a customized rootfs, recorded so an unchanged file is not compared again', async () => {
    const first = await prepare({ stackFoundations: { cflinuxfs4: rootfsTar } });
    const foundation = first.stack?.foundation;
    assert.ok(foundation);
    assert.equal(first.stack?.stack.digest, await sha256(stackTarball));
    assert.deepEqual(
      first.events.filter((event) => event.kind === 'foundation').map(({ layer, changes }) => ({ digest: layer?.digest, changes })),
      [{ digest: undefined, changes: undefined }, { digest: foundation.digest, changes: { changed: 1, removed: 0 } }],
    );
    assert.ok(baseLayerDigests(first.base).includes(foundation.digest));
    const kinds = await db('layers').where({ digest: foundation.digest }).pluck('kind');
    assert.deepEqual(kinds, ['foundation']);

    const again = await prepare({ stackFoundations: { cflinuxfs4: rootfsTar } });
    assert.deepEqual(again.events, []);
    assert.equal(again.stack?.foundation?.digest, foundation.digest);
  });

  it('compares again when the stack tarball changed, even if the customized rootfs kept its size and mtime', async () => {
    const first = await prepare({ stackFoundations: { cflinuxfs4: rootfsTar } });
    const { mtime } = await stat(rootfsTar);
    // A new stack release that already has the foundation's file: nothing is left to add.
    await writeFile(stackTarball, gzipSync(await buildTar(CUSTOMIZED)));
    await utimes(rootfsTar, mtime, mtime);
    const second = await prepare({ stackFoundations: { cflinuxfs4: rootfsTar } });
    assert.notEqual(second.stack?.stack.digest, first.stack?.stack.digest);
    assert.ok(second.events.some((event) => event.kind === 'foundation' && event.changes?.changed === 0));
    assert.notEqual(second.stack?.foundation?.digest, first.stack?.foundation?.digest);
  });

  it('imports the foundation again when its blob is gone from the blobstore', async () => {
    const first = await prepare({ stackFoundations: { cflinuxfs4: rootfsTar } });
    blobs = new MemoryBlobStore();
    const second = await prepare({ stackFoundations: { cflinuxfs4: rootfsTar } });
    assert.equal(second.stack?.foundation?.digest, first.stack?.foundation?.digest);
    assert.ok(await blobs.stat(second.stack?.foundation?.digest as string));
  });

  it('refuses a customized rootfs for a stack STACKS does not name, and a missing file, naming what to fix', async () => {
    await assert.rejects(prepare({ stackFoundations: { cflinuxfs3: rootfsTar } }), /stack cflinuxfs3 \(STACK_FOUNDATIONS\), but no stack tarball \(STACKS\)/);
    await assert.rejects(prepare({ stackFoundations: { cflinuxfs4: join(dir, 'missing.tar') } }), /foundation of cflinuxfs4: cannot read .*missing\.tar \(ENOENT\)/);
  });
});
