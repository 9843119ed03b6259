import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { createGzip, gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import type { BlobStat, StagedBlob } from '../../../src/blobstore/blob-store.ts';
import { convertDroplet } from '../../../src/conversion/convert-droplet.ts';
import { convertDropletLayers, type ConvertDropletLayersOptions, type DropletLayer, type StoredOutcome } from '../../../src/conversion/convert-droplet-layers.ts';
import { DEPS_LAYER_MTIME } from '../../../src/conversion/droplet-layer-routing.ts';
import { InvalidDropletError } from '../../../src/errors/registry-error.ts';
import { buildpackDroplet } from '../../support/build-buildpack-droplet.ts';
import { buildDroplet, FIXED_MTIME, standardDroplet, type DropletEntry } from '../../support/build-droplet.ts';
import { FaultyBlobStore, InjectedBlobStoreError } from '../../support/faulty-blob-store.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';
import { provisionCommands, skipOrFail } from '../../support/requirements.ts';
import { names, readLayer, type ReadEntry } from './read-tar.ts';

function convertLayers(droplet: Buffer | Readable, blobs: MemoryBlobStore | FaultyBlobStore, options: Partial<ConvertDropletLayersOptions> = {}): Promise<DropletLayer[]> {
  return convertDropletLayers({ droplet: Buffer.isBuffer(droplet) ? Readable.from([droplet]) : droplet, blobs, compressionLevel: 1, splitDeps: true, ...options });
}

/** Which layer holds each digest, as `deps/<i>` or `app`. */
function roles(layers: readonly DropletLayer[]): string[] {
  return layers.map((layer) => (layer.role === 'app' ? 'app' : `deps/${layer.depsIndex}`));
}

/** The layers' entries, by role. */
async function layerEntries(blobs: MemoryBlobStore, layers: readonly DropletLayer[]): Promise<Map<string, ReadEntry[]>> {
  const byRole = new Map<string, ReadEntry[]>();
  const labels = roles(layers);
  for (const [index, layer] of layers.entries()) byRole.set(labels[index] as string, await readLayer(blobs, layer.digest));
  return byRole;
}

async function assertRejected(droplet: Buffer, message: RegExp, options: Partial<ConvertDropletLayersOptions> = {}): Promise<void> {
  const blobs = new MemoryBlobStore();
  await assert.rejects(convertLayers(droplet, blobs, options), (error: unknown) => {
    assert.ok(error instanceof InvalidDropletError, `expected an InvalidDropletError, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
  assert.deepEqual(blobs.digests(), [], 'nothing committed');
  assert.equal(blobs.stagedCount(), 0, 'nothing left staged');
}

/** Skips the test (or fails it under NO_SKIP) without GNU tar; true when it is there. */
function needsTar(t: TestContext): boolean {
  const missing = provisionCommands({ tar: 'tar' });
  if (missing) return skipOrFail(t, missing);
  return true;
}

/** Extracts the layers, bottom → top, with GNU tar into one directory, as a runtime applying them in order does. */
async function extractInOrder(blobs: MemoryBlobStore, layers: readonly DropletLayer[], dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const layer of layers) {
    const file = join(dir, '..', `${layer.digest.slice(7, 19)}.tgz`);
    await writeFile(file, blobs.bytes(layer.digest));
    execFileSync('tar', ['-xzf', file, '-C', dir]);
  }
}

describe('convertDropletLayers', () => {
  describe('without the split', () => {
    it('gives one app layer, byte for byte what convertDroplet gives', async () => {
      for (const droplet of [await standardDroplet({ startCommand: 'x' }), await buildpackDroplet({ runtimeBytes: 3 * 1024 * 1024, supplyBuildpacks: 2 })]) {
        const single = new MemoryBlobStore();
        const layer = await convertDroplet({ droplet: Readable.from([droplet]), blobs: single, compressionLevel: 1 });
        const blobs = new MemoryBlobStore();
        const layers = await convertLayers(droplet, blobs, { splitDeps: false });
        assert.deepEqual(layers, [{ ...layer, role: 'app' }]);
        assert.deepEqual(blobs.bytes(layer.digest), single.bytes(layer.digest));
      }
    });
  });

  describe('split by deps directory', () => {
    it('gives one layer per deps/<i>, timestamps fixed, then the app layer with everything else', async () => {
      const blobs = new MemoryBlobStore();
      const layers = await convertLayers(await buildpackDroplet({ runtimeBytes: 256 * 1024, supplyBuildpacks: 2 }), blobs);
      assert.deepEqual(roles(layers), ['deps/0', 'deps/1', 'deps/2', 'app']);
      const byRole = await layerEntries(blobs, layers);
      const deps1 = byRole.get('deps/1') ?? [];
      assert.deepEqual(names(deps1), ['home/vcap/deps/', 'home/vcap/deps/1/', 'home/vcap/deps/1/config.yml', 'home/vcap/deps/1/bin/', 'home/vcap/deps/1/bin/tool-1']);
      for (const role of ['deps/0', 'deps/1', 'deps/2']) {
        for (const { header } of byRole.get(role) ?? []) {
          assert.deepEqual(header.mtime, DEPS_LAYER_MTIME, header.name);
          assert.deepEqual([header.uid, header.gid, header.uname, header.gname], [2000, 2000, 'vcap', 'vcap'], header.name);
          assert.ok(header.name === 'home/vcap/deps/' || header.name.startsWith(`home/vcap/${role}/`), `${header.name} in ${role}`);
        }
      }
      const deps0 = new Map((byRole.get('deps/0') ?? []).map((entry) => [entry.header.name, entry.header]));
      assert.equal(deps0.get('home/vcap/deps/0/node/bin/node')?.mode, 0o755, 'modes kept');
      assert.equal(deps0.get('home/vcap/deps/0/node/bin/nodejs')?.linkname, 'home/vcap/deps/0/node/bin/node', 'links within the layer kept');
      assert.equal(deps0.get('home/vcap/deps/0/bin/node')?.linkname, '../node/bin/node');
      const app = byRole.get('app') ?? [];
      assert.deepEqual(
        names(app).filter((name) => !name.startsWith('home/vcap/app/')),
        ['home/vcap/deps/', 'home/vcap/profile.d/', 'home/vcap/profile.d/000_multi-supply.sh', 'home/vcap/staging_info.yml', 'home/vcap/tmp/', 'home/vcap/logs/'],
      );
      assert.ok(app.every(({ header }) => header.mtime.getTime() !== DEPS_LAYER_MTIME.getTime()), 'the app layer keeps its mtimes');
    });

    it('extracts, layer on layer, to the tree the single layer gives but for the timestamps under deps/', async (t) => {
      if (!needsTar(t)) return;
      const dir = await mkdtemp(join(tmpdir(), 'split-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      const droplet = await buildpackDroplet({ runtimeBytes: 512 * 1024, supplyBuildpacks: 1 });
      const blobs = new MemoryBlobStore();
      const single = await convertLayers(droplet, blobs, { splitDeps: false });
      const split = await convertLayers(droplet, blobs);
      await extractInOrder(blobs, single, join(dir, 'single'));
      await extractInOrder(blobs, split, join(dir, 'split'));
      const listing = (root: string, withDepsTimes: boolean): string[] =>
        execFileSync('find', ['.', '-printf', '%p %y %m %U:%G %s %l %T@\\n'], { cwd: root, encoding: 'utf8' })
          .trim()
          .split('\n')
          .map((line) => (withDepsTimes || !line.startsWith('./home/vcap/deps/') ? line : line.replace(/ [\d.]+$/, '')))
          .sort();
      // Directories made by tar for parents without entries (home/, home/vcap/) get the time of extraction.
      const stable = (lines: string[]): string[] => lines.filter((line) => !/^\.( |\/home |\/home\/vcap )/.test(line));
      assert.deepEqual(stable(listing(join(dir, 'split'), false)), stable(listing(join(dir, 'single'), false)));
      const depsTimes = stable(listing(join(dir, 'split'), true)).filter((line) => line.startsWith('./home/vcap/deps/'));
      assert.ok(depsTimes.length > 10);
      for (const line of depsTimes) assert.match(line, / 315532801(\.0+)?$/, line);
    });
  });

  describe('reproducibility', () => {
    it('gives two stagings of one app with new app code the same deps layers and a new app layer', async () => {
      const first = await convertLayers(await buildpackDroplet({ stagedAt: new Date('2026-11-01T08:00:00Z') }), new MemoryBlobStore());
      const restaged = await convertLayers(
        await buildpackDroplet({ stagedAt: new Date('2026-11-03T17:45:12Z'), appFiles: { 'server.js': "console.log('v2');\n" } }),
        new MemoryBlobStore(),
      );
      assert.deepEqual(roles(restaged), roles(first));
      assert.deepEqual(
        restaged.slice(0, -1).map((layer) => layer.digest),
        first.slice(0, -1).map((layer) => layer.digest),
      );
      assert.notEqual(restaged.at(-1)?.digest, first.at(-1)?.digest);
    });

    it('gives a second app on the same buildpack the same deps layers', async () => {
      const one = await convertLayers(await buildpackDroplet({}), new MemoryBlobStore());
      const other = await convertLayers(await buildpackDroplet({ appFiles: { 'index.js': 'module.exports = 2;\n', 'lib/util.js': 'x' }, startCommand: 'node index.js' }), new MemoryBlobStore());
      assert.equal(other[0]?.digest, one[0]?.digest);
      assert.notEqual(other.at(-1)?.digest, one.at(-1)?.digest);
      const otherRuntime = await convertLayers(await buildpackDroplet({ runtime: 'node-20.18.0' }), new MemoryBlobStore());
      assert.notEqual(otherRuntime[0]?.digest, one[0]?.digest, 'a different runtime is a different layer');
    });

    it('gives the same digests every time for the same droplet, however it is chunked', async () => {
      const droplet = await buildpackDroplet({ runtimeBytes: 2 * 1024 * 1024, supplyBuildpacks: 3 });
      const whole = await convertLayers(droplet, new MemoryBlobStore());
      const chunks: Buffer[] = [];
      for (let offset = 0; offset < droplet.length; offset += 7_000) chunks.push(droplet.subarray(offset, offset + 7_000));
      assert.deepEqual(await convertLayers(Readable.from(chunks), new MemoryBlobStore()), whole);
    });
  });

  describe('entries in any order', () => {
    it('routes each entry to its layer as it comes, in the droplet’s order within each layer', async () => {
      const blobs = new MemoryBlobStore();
      const layers = await convertLayers(
        await buildDroplet([
          { name: './deps/1/b', content: 'b1' },
          { name: './app/x', content: 'x' },
          { name: './deps/0/lib/a', content: 'a0' },
          { name: './staging_info.yml', content: '{}' },
          { name: './deps/0/', type: 'directory', mode: 0o750 },
          { name: './deps/', type: 'directory' },
          { name: './deps/1/', type: 'directory' },
          { name: './app/', type: 'directory' },
          { name: './deps/0/lib/c', content: 'c0' },
        ]),
        blobs,
      );
      assert.deepEqual(roles(layers), ['deps/0', 'deps/1', 'app']);
      const byRole = await layerEntries(blobs, layers);
      assert.deepEqual(names(byRole.get('deps/0') ?? []), ['home/vcap/deps/', 'home/vcap/deps/0/lib/a', 'home/vcap/deps/0/', 'home/vcap/deps/0/lib/c']);
      assert.deepEqual(names(byRole.get('deps/1') ?? []), ['home/vcap/deps/', 'home/vcap/deps/1/b', 'home/vcap/deps/1/']);
      assert.deepEqual(names(byRole.get('app') ?? []), ['home/vcap/app/x', 'home/vcap/staging_info.yml', 'home/vcap/deps/', 'home/vcap/app/']);
      assert.equal((byRole.get('deps/0') ?? [])[2]?.header.mode, 0o750);
      assert.equal((byRole.get('app') ?? [])[2]?.header.mtime.getTime(), FIXED_MTIME.getTime(), 'the real deps/ entry keeps its mtime');
    });

    it('makes at most 32 deps layers: deps/32 and up, and names that are no index, stay in the app layer', async () => {
      const entries: DropletEntry[] = [{ name: './app/x', content: 'x' }];
      for (let index = 40; index >= 0; index -= 1) entries.push({ name: `./deps/${index}/f`, content: String(index) });
      entries.push({ name: './deps/007/f', content: 'leading zeros' }, { name: './deps/cache/f', content: 'not an index' });
      const blobs = new MemoryBlobStore();
      const layers = await convertLayers(await buildDroplet(entries), blobs);
      assert.deepEqual(roles(layers), [...Array.from({ length: 32 }, (_, index) => `deps/${index}`), 'app']);
      const app = (await layerEntries(blobs, layers)).get('app') ?? [];
      assert.deepEqual(names(app), [
        'home/vcap/app/x',
        ...Array.from({ length: 9 }, (_, offset) => `home/vcap/deps/${40 - offset}/f`),
        'home/vcap/deps/007/f',
        'home/vcap/deps/cache/f',
      ]);
    });
  });

  describe('hard links across layers', () => {
    const crossLinked = (): Promise<Buffer> =>
      buildDroplet([
        { name: './app/', type: 'directory' },
        { name: './app/shared.txt', content: 'from the app' },
        { name: './deps/', type: 'directory' },
        { name: './deps/0/', type: 'directory' },
        { name: './deps/0/lib/', type: 'directory', mode: 0o750 },
        { name: './deps/0/lib/runtime.so', content: 'from deps 0' },
        { name: './deps/1/', type: 'directory' },
        { name: './deps/1/y', content: 'from deps 1' },
        // Down: into a lower layer, the target's.
        { name: './app/bin/runtime.so', type: 'link', linkname: './deps/0/lib/runtime.so' },
        { name: './deps/1/runtime.so', type: 'link', linkname: './deps/0/lib/runtime.so' },
        // Up: into a higher layer, the target's, with the directories it needs there.
        { name: './deps/0/lib/up.txt', type: 'link', linkname: './app/shared.txt' },
        { name: './deps/0/lib/y', type: 'link', linkname: './deps/1/y' },
        // A link to a link that moved goes where that one went.
        { name: './app/again.so', type: 'link', linkname: './app/bin/runtime.so' },
      ]);

    it('puts each link in the layer of its target, with the directories it needs above', async () => {
      const blobs = new MemoryBlobStore();
      const layers = await convertLayers(await crossLinked(), blobs);
      const byRole = await layerEntries(blobs, layers);
      const summary = (role: string): string[] =>
        (byRole.get(role) ?? []).map(({ header }) => `${header.name}${header.type === 'link' ? ` => ${header.linkname}` : header.type === 'directory' ? ` ${header.mode.toString(8)}` : ''}`);
      assert.deepEqual(summary('deps/0'), [
        'home/vcap/deps/ 755',
        'home/vcap/deps/0/ 755',
        'home/vcap/deps/0/lib/ 750',
        'home/vcap/deps/0/lib/runtime.so',
        'home/vcap/app/bin/runtime.so => home/vcap/deps/0/lib/runtime.so',
        'home/vcap/deps/1/runtime.so => home/vcap/deps/0/lib/runtime.so',
        'home/vcap/app/again.so => home/vcap/app/bin/runtime.so',
      ]);
      assert.deepEqual(summary('deps/1'), [
        'home/vcap/deps/ 755',
        'home/vcap/deps/1/ 755',
        'home/vcap/deps/1/y',
        'home/vcap/deps/0/ 755',
        'home/vcap/deps/0/lib/ 750',
        'home/vcap/deps/0/lib/y => home/vcap/deps/1/y',
      ]);
      assert.deepEqual(summary('app'), [
        'home/vcap/app/ 755',
        'home/vcap/app/shared.txt',
        'home/vcap/deps/ 755',
        'home/vcap/deps/0/ 755',
        'home/vcap/deps/0/lib/ 750',
        'home/vcap/deps/0/lib/up.txt => home/vcap/app/shared.txt',
      ]);
      for (const { header } of byRole.get('app') ?? []) {
        if (header.name.startsWith('home/vcap/deps/0/')) assert.deepEqual(header.mtime, DEPS_LAYER_MTIME, header.name);
      }
    });

    it('extracts every layer on its own, and layer on layer to links that share their target’s inode', async (t) => {
      if (!needsTar(t)) return;
      const dir = await mkdtemp(join(tmpdir(), 'links-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      const blobs = new MemoryBlobStore();
      const layers = await convertLayers(await crossLinked(), blobs);
      // Each layer into an empty directory, as Docker's overlay2 applies them: a link to another layer would fail.
      for (const [index, layer] of layers.entries()) await extractInOrder(blobs, [layer], join(dir, `alone-${index}`));
      const root = join(dir, 'rootfs');
      await extractInOrder(blobs, layers, root);
      const vcap = join(root, 'home', 'vcap');
      const inode = async (path: string): Promise<number> => (await lstat(join(vcap, path))).ino;
      for (const [link, target, content] of [
        ['app/bin/runtime.so', 'deps/0/lib/runtime.so', 'from deps 0'],
        ['deps/1/runtime.so', 'deps/0/lib/runtime.so', 'from deps 0'],
        ['app/again.so', 'deps/0/lib/runtime.so', 'from deps 0'],
        ['deps/0/lib/up.txt', 'app/shared.txt', 'from the app'],
        ['deps/0/lib/y', 'deps/1/y', 'from deps 1'],
      ] as const) {
        assert.equal(await readFile(join(vcap, link), 'utf8'), content, link);
        assert.equal(await inode(link), await inode(target), `${link} shares ${target}'s inode`);
      }
      assert.equal((await lstat(join(vcap, 'deps/0/lib'))).mode & 0o777, 0o750);
    });

    it('refuses, rather than shows the wrong one, a path written twice around a link that changed layers', async () => {
      const why = /so the layers would show the earlier one; split droplet layers cannot express it \(give the path one entry\)$/;
      await assertRejected(
        await buildDroplet([
          { name: './app/x', content: 'x' },
          { name: './deps/0/f', content: 'f' },
          { name: './app/x', type: 'link', linkname: './deps/0/f' },
        ]),
        new RegExp(`^hard link "\\./app/x" replaces an earlier entry but goes into a lower layer, its target's, ${why.source}`),
      );
      await assertRejected(
        await buildDroplet([
          { name: './app/x', content: 'x' },
          { name: './deps/0/l', type: 'link', linkname: './app/x' },
          { name: './deps/0/l', content: 'again' },
        ]),
        /^droplet entry "\.\/deps\/0\/l" replaces a hard link that went into a higher layer, its target's, /,
      );
      await assertRejected(
        await buildDroplet([
          { name: './app/x', content: 'x' },
          { name: './deps/0/d/l', type: 'link', linkname: './app/x' },
          { name: './deps/0/d', type: 'symlink', linkname: '/etc' },
        ]),
        /^droplet entry "\.\/deps\/0\/d" replaces a directory a hard link needed in a higher layer, its target's, /,
      );
    });

    it('refuses a directory replaced by a file or link: what a lower layer holds under it would show through', async () => {
      const why = /replaces a directory with a (symlink|file); split droplet layers cannot express it \(give the path one entry, or convert with DROPLET_LAYERS=single\)$/;
      // deps/ becomes a symlink (taking deps/0/x along in one layer), then a directory again.
      const resurrecting = await buildDroplet([
        { name: './app/run.sh', content: 'run' },
        { name: './deps/0/x', content: 'x' },
        { name: './deps', type: 'symlink', linkname: 'elsewhere' },
        { name: './deps/', type: 'directory' },
        { name: './deps/1/y', content: 'y' },
      ]);
      await assertRejected(resurrecting, new RegExp(`^droplet entry "\\./deps" ${why.source}`));
      // A hard link moved into deps/0's layer, its directory in app/ then replaced by a file.
      const linkedAway = await buildDroplet([
        { name: './deps/0/f', content: 'f' },
        { name: './app/sub/l', type: 'link', linkname: './deps/0/f' },
        { name: './app/sub', content: 'now a file' },
        { name: './app/sub/', type: 'directory' },
      ]);
      await assertRejected(linkedAway, new RegExp(`^droplet entry "\\./app/sub" ${why.source}`));
      for (const droplet of [resurrecting, linkedAway]) assert.equal((await convertLayers(droplet, new MemoryBlobStore(), { splitDeps: false })).length, 1, 'the single layer takes it');
    });

    it('still converts those droplets without the split', async () => {
      const droplet = await buildDroplet([
        { name: './app/x', content: 'x' },
        { name: './deps/0/f', content: 'f' },
        { name: './app/x', type: 'link', linkname: './deps/0/f' },
      ]);
      assert.equal((await convertLayers(droplet, new MemoryBlobStore(), { splitDeps: false })).length, 1);
    });
  });

  describe('stores each layer once', () => {
    it('drops the written copy of a layer the store already has, and says which layers it committed', async () => {
      class CountingStore extends MemoryBlobStore {
        readonly stats: string[] = [];
        override async stat(digest: string): Promise<BlobStat | null> {
          this.stats.push(digest);
          return super.stat(digest);
        }
      }
      const blobs = new CountingStore();
      const seen: Array<[string, StoredOutcome]> = [];
      const onLayerStored = (layer: DropletLayer, outcome: StoredOutcome): number => seen.push([layer.digest, outcome]);
      const first = await convertLayers(await buildpackDroplet({}), blobs, { onLayerStored });
      assert.deepEqual(
        seen,
        first.map((layer) => [layer.digest, 'committed']),
      );
      seen.length = 0;
      const second = await convertLayers(await buildpackDroplet({ appFiles: { 'main.js': 'other app' } }), blobs, { onLayerStored });
      assert.deepEqual(seen, [
        [second[0]?.digest, 'found'],
        [second[1]?.digest, 'found'],
        [second[2]?.digest, 'committed'],
      ]);
      assert.deepEqual(second.slice(0, 2), first.slice(0, 2));
      assert.equal(blobs.digests().length, 4, 'two deps layers and two app layers');
      assert.equal(blobs.stagedCount(), 0, 'the dropped copies are not left staged');
    });
  });

  describe('a failed conversion leaves no blob of any layer behind', () => {
    it('bad droplets, with the same errors as the single layer', async () => {
      await assertRejected(Buffer.from('not gzip'), /^droplet is not a gzip file$/);
      const valid = await buildpackDroplet({ runtimeBytes: 1024 * 1024 });
      await assertRejected(valid.subarray(0, valid.length - 100), /^droplet is truncated/);
      await assertRejected(await buildDroplet([{ name: './deps/0/x', content: 'x' }, { name: './app/../../etc/passwd', content: 'x' }]), /escapes the droplet/);
      await assertRejected(await buildDroplet([{ name: './deps/0/.wh.x' }, { name: './app/x' }]), /Docker reads as a whiteout/);
      await assertRejected(await buildDroplet([{ name: './deps/0/x', content: 'x' }, { name: './staging_info.yml', content: '{}' }]), /^droplet has no app\/ directory/);
      await assertRejected(
        await buildDroplet([{ name: './deps/0/d', type: 'symlink', linkname: '/etc' }, { name: './deps/0/d/passwd', content: 'x' }, { name: './app/x' }]),
        /lies under the symlink "deps\/0\/d" earlier in the droplet/,
      );
      await assertRejected(await buildDroplet([{ name: './app/l', type: 'link', linkname: './deps/0/x' }, { name: './deps/0/x', content: 'x' }]), /is not earlier in the droplet/);
    });

    it('the limits, counted over the whole droplet', async () => {
      const droplet = await buildpackDroplet({ runtimeBytes: 1024 * 1024, supplyBuildpacks: 2 });
      await assertRejected(droplet, /^droplet has more than 20 entries \(limit maxEntries\)$/, { limits: { maxEntries: 20 } });
      const tarBytes = gunzipSync(droplet).length;
      await assertRejected(droplet, new RegExp(`^droplet unpacks to more than ${tarBytes - 1} bytes \\(limit maxUncompressedBytes\\)$`), { limits: { maxUncompressedBytes: tarBytes - 1 } });
      assert.equal((await convertLayers(droplet, new MemoryBlobStore(), { limits: { maxEntries: 200, maxUncompressedBytes: tarBytes } })).length, 4);
    });

    it('a layer whose write breaks half-way, and a commit that fails after others went through', async () => {
      const droplet = await buildpackDroplet({ runtimeBytes: 1024 * 1024, supplyBuildpacks: 1 });
      for (const arm of [(store: FaultyBlobStore) => store.failWrite(2, 1000), (store: FaultyBlobStore) => store.failCommit(3)]) {
        const memory = new MemoryBlobStore();
        const store = new FaultyBlobStore(memory);
        arm(store);
        await assert.rejects(convertLayers(droplet, store), InjectedBlobStoreError);
        assert.equal(store.fired.length, 1, 'the fault went off');
        assert.deepEqual(memory.digests(), [], 'no layer left committed');
        assert.equal(memory.stagedCount(), 0, 'nothing left staged');
      }
    });

    it('a download that breaks after some layers have begun', async () => {
      const blobs = new MemoryBlobStore();
      const droplet = new PassThrough();
      const bytes = await buildpackDroplet({ runtimeBytes: 2 * 1024 * 1024 });
      droplet.write(bytes.subarray(0, bytes.length / 2));
      const failure = new Error('socket hang up');
      setImmediate(() => droplet.destroy(failure));
      await assert.rejects(convertLayers(droplet, blobs), (error: unknown) => error === failure);
      assert.deepEqual(blobs.digests(), []);
      assert.equal(blobs.stagedCount(), 0);
    });

    it('a blobstore that cannot stage, closing the download', async () => {
      class DownStore extends MemoryBlobStore {
        override async stage(): Promise<StagedBlob> {
          throw new Error('blobstore unavailable');
        }
      }
      const droplet = Readable.from([await buildpackDroplet({})]);
      await assert.rejects(convertLayers(droplet, new DownStore()), /blobstore unavailable/);
      assert.equal(droplet.destroyed, true);
    });

    it('an abort', async () => {
      const blobs = new MemoryBlobStore();
      const controller = new AbortController();
      const bytes = await buildpackDroplet({ runtimeBytes: 2 * 1024 * 1024 });
      const chunks: Buffer[] = [];
      for (let offset = 0; offset < bytes.length; offset += 65_536) chunks.push(bytes.subarray(offset, offset + 65_536));
      const converting = convertLayers(Readable.from(chunks), blobs, { signal: controller.signal, onProgress: (read) => read > bytes.length / 2 && controller.abort() });
      await assert.rejects(converting, { name: 'AbortError' });
      assert.deepEqual(blobs.digests(), []);
      assert.equal(blobs.stagedCount(), 0);
    });
  });

  it('hands over staging_info.yml and reports progress up to the whole droplet', async () => {
    const droplet = await buildpackDroplet({ startCommand: 'npm start' });
    const seen: unknown[] = [];
    let read = 0;
    await convertLayers(droplet, new MemoryBlobStore(), { onStagingInfo: (info) => seen.push(info), onProgress: (bytes) => (read = bytes) });
    assert.deepEqual(seen, [{ detected_buildpack: 'nodejs', start_command: 'npm start' }]);
    assert.equal(read, droplet.length);
  });

  it('keeps memory flat for a droplet far bigger than any buffer, its bytes in two layers at once', async () => {
    const bodySize = 192 * 1024 * 1024;
    const pack = tar.pack();
    const writeBody = async (name: string): Promise<void> => {
      const sink = pack.entry({ name, size: bodySize, mtime: FIXED_MTIME, uid: 2000, gid: 2000 });
      const chunk = Buffer.alloc(1024 * 1024, 7);
      for (let written = 0; written < bodySize; written += chunk.length) {
        if (!sink.write(chunk)) await once(sink, 'drain');
      }
      sink.end(undefined);
      await once(sink, 'finish');
    };
    const writing = (async () => {
      await writeBody('./deps/0/runtime.bin');
      await writeBody('./app/huge.bin');
      pack.finalize();
    })();
    const droplet = Readable.from(pack).pipe(createGzip({ level: 1 }));
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const blobs = new MemoryBlobStore();
    const layers = await convertLayers(droplet, blobs, { onProgress: () => (peak = Math.max(peak, process.memoryUsage.rss())) });
    await writing;
    assert.deepEqual(
      layers.map((layer) => layer.uncompressedSize),
      [512 + 512 + bodySize + 1024, 512 + bodySize + 1024],
    );
    assert.ok(peak - baseline < 128 * 1024 * 1024, `RSS grew by ${Math.round((peak - baseline) / 2 ** 20)} MiB`);
    assert.ok(gunzipSync(blobs.bytes(layers[0]?.digest ?? '')).length > bodySize);
  });
});
