import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { link, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { before, describe, it } from 'node:test';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import type { StagedBlob } from '../../../src/blobstore/blob-store.ts';
import { convertDropletLayers } from '../../../src/conversion/convert-droplet-layers.ts';
import { convertDroplet, type ConvertDropletOptions } from '../../../src/conversion/convert-droplet.ts';
import { OCI_LAYER_GZIP } from '../../../src/conversion/layer-descriptor.ts';
import { InvalidDropletError } from '../../../src/errors/registry-error.ts';
import { buildDroplet, buildTar, FIXED_MTIME, standardDroplet, standardDropletEntries } from '../../support/build-droplet.ts';
import { longPaxPathDroplet } from '../../support/hostile-droplet-generator.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';
import { provisionCommands, skipOrFail } from '../../support/requirements.ts';
import { names, readLayer } from './read-tar.ts';

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function convert(droplet: Buffer | Readable, blobs: MemoryBlobStore, options: Partial<ConvertDropletOptions> = {}) {
  return convertDroplet({ droplet: Buffer.isBuffer(droplet) ? Readable.from([droplet]) : droplet, blobs, compressionLevel: 1, ...options });
}

/**
 * Expects an InvalidDropletError matching `message`, and a blobstore left empty; from the split
 * conversion too (convert-droplet-layers.ts), which applies the same rules and limits to the whole droplet.
 */
async function assertRejected(droplet: Buffer, message: RegExp, options: Partial<ConvertDropletOptions> = {}): Promise<void> {
  const conversions = [
    (blobs: MemoryBlobStore) => convert(droplet, blobs, options),
    (blobs: MemoryBlobStore) => convertDropletLayers({ droplet: Readable.from([droplet]), blobs, compressionLevel: 1, splitDeps: true, ...options }),
  ];
  for (const conversion of conversions) {
    const blobs = new MemoryBlobStore();
    await assert.rejects(conversion(blobs), (error: unknown) => {
      assert.ok(error instanceof InvalidDropletError, `expected an InvalidDropletError, got ${String(error)}`);
      assert.match(error.message, message);
      return true;
    });
    assert.deepEqual(blobs.digests(), [], 'nothing committed');
    assert.equal(blobs.stagedCount(), 0, 'nothing left staged');
  }
}

describe('convertDroplet', () => {
  it('stores the droplet re-rooted at /home/vcap, vcap-owned, modes and mtimes kept, its root entry gone', async () => {
    const blobs = new MemoryBlobStore();
    const layer = await convert(await standardDroplet({ startCommand: 'node server.js' }), blobs);
    const entries = await readLayer(blobs, layer.digest);
    assert.deepEqual(names(entries), [
      'home/vcap/app/',
      'home/vcap/app/server.js',
      'home/vcap/app/.profile.d/',
      'home/vcap/app/.profile.d/x.sh',
      'home/vcap/profile.d/',
      'home/vcap/profile.d/y.sh',
      'home/vcap/deps/',
      'home/vcap/tmp/',
      'home/vcap/logs/',
      'home/vcap/staging_info.yml',
    ]);
    for (const { header } of entries) {
      assert.deepEqual([header.uid, header.gid, header.uname, header.gname], [2000, 2000, 'vcap', 'vcap'], header.name);
      assert.deepEqual(header.mtime, FIXED_MTIME, header.name);
    }
    const byName = new Map(entries.map((entry) => [entry.header.name, entry]));
    assert.equal(byName.get('home/vcap/app/.profile.d/x.sh')?.header.mode, 0o755);
    assert.equal(byName.get('home/vcap/app/server.js')?.header.mode, 0o644);
    assert.equal(byName.get('home/vcap/profile.d/y.sh')?.content.toString(), 'export FROM_PROFILE=droplet\n');
    assert.deepEqual(JSON.parse(byName.get('home/vcap/staging_info.yml')?.content.toString() ?? ''), {
      detected_buildpack: 'nodejs',
      start_command: 'node server.js',
    });
  });

  it('describes the stored blob: digest of the stored bytes, diff_id of the tar inside, both sizes', async () => {
    const blobs = new MemoryBlobStore();
    const layer = await convert(await standardDroplet({ startCommand: 'x', files: { 'app/data.bin': randomBytes(300_000) } }), blobs);
    const stored = blobs.bytes(layer.digest);
    const tarBytes = gunzipSync(stored);
    assert.deepEqual(layer, {
      digest: sha256(stored),
      diffId: sha256(tarBytes),
      size: stored.length,
      uncompressedSize: tarBytes.length,
      mediaType: OCI_LAYER_GZIP,
    });
    assert.deepEqual(blobs.digests(), [layer.digest], 'only the layer is committed');
    assert.equal(blobs.stagedCount(), 0);
  });

  describe('reproducibility', () => {
    it('gives the same digest and diff_id every time for the same droplet', async () => {
      const droplet = await standardDroplet({ startCommand: 'bundle exec rackup', files: { 'app/big': randomBytes(200_000) } });
      const first = await convert(droplet, new MemoryBlobStore());
      const chunks: Buffer[] = [];
      for (let offset = 0; offset < droplet.length; offset += 1000) chunks.push(droplet.subarray(offset, offset + 1000));
      const second = await convert(Readable.from(chunks), new MemoryBlobStore());
      assert.deepEqual(second, first);
    });

    it('depends on the droplet’s content, not on how the droplet itself was compressed', async () => {
      const tarBytes = await buildTar(standardDropletEntries({ startCommand: 'x' }));
      const fast = await convert(gzipSync(tarBytes, { level: 1 }), new MemoryBlobStore());
      const best = await convert(gzipSync(tarBytes, { level: 9 }), new MemoryBlobStore());
      assert.deepEqual(best, fast);
    });

    it('gives a different digest for different content', async () => {
      const a = await convert(await standardDroplet({ startCommand: 'a' }), new MemoryBlobStore());
      const b = await convert(await standardDroplet({ startCommand: 'b' }), new MemoryBlobStore());
      assert.notEqual(a.digest, b.digest);
      assert.notEqual(a.diffId, b.diffId);
    });

    it('keeps the diff_id across compression levels', async () => {
      const droplet = await standardDroplet({ startCommand: 'x', files: { 'app/text': 'lorem ipsum '.repeat(10_000) } });
      const fast = await convert(droplet, new MemoryBlobStore(), { compressionLevel: 1 });
      const best = await convert(droplet, new MemoryBlobStore(), { compressionLevel: 9 });
      assert.equal(best.diffId, fast.diffId);
      assert.notEqual(best.digest, fast.digest);
    });
  });

  it('reports progress in compressed bytes read, up to the whole droplet', async () => {
    const droplet = await standardDroplet({ startCommand: 'x', files: { 'app/r': randomBytes(100_000) } });
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < droplet.length; offset += 16_384) chunks.push(droplet.subarray(offset, offset + 16_384));
    const reports: number[] = [];
    await convert(Readable.from(chunks), new MemoryBlobStore(), { onProgress: (bytes) => reports.push(bytes) });
    assert.ok(reports.length > 1);
    assert.deepEqual(
      reports,
      [...reports].sort((x, y) => x - y),
    );
    assert.equal(reports.at(-1), droplet.length);
  });

  describe('staging_info.yml', () => {
    it('hands over its content when it is a JSON object', async () => {
      const seen: unknown[] = [];
      await convert(await standardDroplet({ startCommand: 'rackup -p $PORT', detectedBuildpack: 'ruby' }), new MemoryBlobStore(), {
        onStagingInfo: (info) => seen.push(info),
      });
      assert.deepEqual(seen, [{ detected_buildpack: 'ruby', start_command: 'rackup -p $PORT' }]);
    });

    it('says nothing when the droplet has none or it is not JSON', async () => {
      const seen: unknown[] = [];
      const onStagingInfo = (info: Record<string, unknown>): number => seen.push(info);
      await convert(await buildDroplet([{ name: './app/x' }]), new MemoryBlobStore(), { onStagingInfo });
      await convert(await buildDroplet([{ name: './app/x' }, { name: './staging_info.yml', content: '---\nstart_command: x\n' }]), new MemoryBlobStore(), { onStagingInfo });
      assert.deepEqual(seen, []);
    });
  });

  it('converts a droplet made by GNU tar the way the buildpack runner makes it', async (t) => {
    const missing = provisionCommands({ tar: 'tar' });
    if (missing) {
      skipOrFail(t, missing);
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'droplet-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const contents = join(dir, 'contents');
    const longDir = join(contents, 'app', 'node_modules', `${'very-long-package-name-'.repeat(5)}x`);
    await mkdir(longDir, { recursive: true });
    await mkdir(join(contents, 'deps', '0'), { recursive: true });
    await writeFile(join(longDir, `${'index-'.repeat(20)}.js`), 'module.exports = 1;\n');
    await writeFile(join(contents, 'app', 'a.txt'), 'same inode');
    await link(join(contents, 'app', 'a.txt'), join(contents, 'app', 'b.txt'));
    await symlink('/usr/bin/env', join(contents, 'app', 'env'));
    await writeFile(join(contents, 'staging_info.yml'), '{"detected_buildpack":"nodejs","start_command":"npm start"}');
    execFileSync('tar', ['--format=gnu', '-czf', join(dir, 'droplet'), '-C', contents, '.']);

    const blobs = new MemoryBlobStore();
    const layer = await convert(await readFile(join(dir, 'droplet')), blobs);
    const entries = await readLayer(blobs, layer.digest);
    const byName = new Map(entries.map((entry) => [entry.header.name, entry.header]));
    const longFile = `home/vcap/app/node_modules/${'very-long-package-name-'.repeat(5)}x/${'index-'.repeat(20)}.js`;
    assert.equal(byName.get(longFile)?.type, 'file');
    assert.equal(byName.get('home/vcap/app/env')?.linkname, '/usr/bin/env');
    const hard = [byName.get('home/vcap/app/a.txt'), byName.get('home/vcap/app/b.txt')];
    const linked = hard.find((header) => header?.type === 'link');
    assert.ok(linked, 'GNU tar stores the second name of an inode as a hard link');
    assert.match(linked.linkname, /^home\/vcap\/app\/[ab]\.txt$/);
    assert.ok(byName.has('home/vcap/deps/0/'));
    assert.ok(!names(entries).some((name) => !name.startsWith('home/vcap/')));
    for (const header of byName.values()) assert.equal(header.uid, 2000);
  });

  it('writes a layer GNU tar reads back: long names, links, owners, set-uid modes', async (t) => {
    const missing = provisionCommands({ tar: 'tar' });
    if (missing) {
      skipOrFail(t, missing);
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'layer-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const long = `./app/${'n'.repeat(120)}/${'f'.repeat(140)}.txt`;
    const droplet = await buildDroplet([
      { name: './', type: 'directory' },
      { name: './app/', type: 'directory' },
      { name: long, content: 'hi' },
      { name: './app/hard', type: 'link', linkname: long },
      { name: './app/sym', type: 'symlink', linkname: '/etc/passwd' },
      { name: './app/setuid', content: 'x', mode: 0o4750, uid: 0, gid: 0 },
    ]);
    const blobs = new MemoryBlobStore();
    const layer = await convert(droplet, blobs);
    await writeFile(join(dir, 'layer.tgz'), blobs.bytes(layer.digest));
    const listing = execFileSync('tar', ['--numeric-owner', '--utc', '-tvzf', join(dir, 'layer.tgz')], { encoding: 'utf8' });
    const longName = `home/vcap/app/${'n'.repeat(120)}/${'f'.repeat(140)}.txt`;
    assert.deepEqual(
      listing.trim().split('\n').map((line) => line.replace(/\s+/g, ' ')),
      [
        'drwxr-xr-x 2000/2000 0 2024-05-06 07:08 home/vcap/app/',
        `-rw-r--r-- 2000/2000 2 2024-05-06 07:08 ${longName}`,
        `hrw-r--r-- 2000/2000 0 2024-05-06 07:08 home/vcap/app/hard link to ${longName}`,
        'lrw-r--r-- 2000/2000 0 2024-05-06 07:08 home/vcap/app/sym -> /etc/passwd',
        '-rwsr-x--- 2000/2000 1 2024-05-06 07:08 home/vcap/app/setuid',
      ],
    );
  });

  it('keeps memory flat for a droplet far bigger than any buffer', async () => {
    const bodySize = 256 * 1024 * 1024;
    const pack = tar.pack();
    const sink = pack.entry({ name: './app/huge.bin', size: bodySize, mtime: FIXED_MTIME, uid: 2000, gid: 2000 });
    const writeBody = async (): Promise<void> => {
      const chunk = Buffer.alloc(1024 * 1024, 7);
      for (let written = 0; written < bodySize; written += chunk.length) {
        if (!sink.write(chunk)) await once(sink, 'drain');
      }
      sink.end(undefined);
      pack.finalize();
    };
    const writing = writeBody();
    const droplet = Readable.from(pack).pipe(createGzip({ level: 1 }));

    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const blobs = new MemoryBlobStore();
    const layer = await convert(droplet, blobs, { onProgress: () => (peak = Math.max(peak, process.memoryUsage.rss())) });
    await writing;
    assert.equal(layer.uncompressedSize, 512 + bodySize + 1024);
    assert.ok(peak - baseline < 128 * 1024 * 1024, `RSS grew by ${Math.round((peak - baseline) / 2 ** 20)} MiB`);
  });

  describe('bad droplets fail with a clear error and leave nothing behind', () => {
    let valid: Buffer;
    before(async () => {
      valid = await standardDroplet({ startCommand: 'x', files: { 'app/r': randomBytes(50_000) } });
    });

    it('not gzip at all', async () => {
      await assertRejected(Buffer.from('PK\x03\x04 this is a zip file, not a droplet'), /^droplet is not a gzip file$/);
      await assertRejected(await buildTar([{ name: './app/x' }]), /^droplet is not a gzip file$/);
    });

    it('empty', async () => {
      await assertRejected(Buffer.alloc(0), /^droplet is truncated/);
    });

    it('truncated gzip', async () => {
      await assertRejected(valid.subarray(0, valid.length - 100), /^droplet is truncated \(its gzip stream ends early\)$/);
    });

    it('corrupt gzip', async () => {
      const corrupt = Buffer.from(valid);
      corrupt.writeUInt8(corrupt.readUInt8(corrupt.length - 8) ^ 0xff, corrupt.length - 8);
      await assertRejected(corrupt, /^droplet has corrupt gzip data \(incorrect data check\)$/);
    });

    it('junk after the gzip stream', async () => {
      await assertRejected(Buffer.concat([valid, Buffer.from('junk')]), /^droplet has data after the end of its gzip stream$/);
    });

    it('a tar cut in the middle of an entry, in a sound gzip', async () => {
      const tarBytes = await buildTar([{ name: './app/x', content: randomBytes(10_000) }]);
      await assertRejected(gzipSync(tarBytes.subarray(0, 4096)), /^droplet is truncated \(its tar archive ends in the middle of an entry\)$/);
    });

    it('gzip of something that is not a tar', async () => {
      await assertRejected(gzipSync(Buffer.alloc(4096, 'not a tar ')), /^droplet is not a valid tar archive/);
    });

    it('an entry escaping /home/vcap', async () => {
      const traversal = await buildDroplet([
        { name: './app/', type: 'directory' },
        { name: './app/../../etc/passwd', content: 'root::0:0::/:/bin/sh\n' },
      ]);
      await assertRejected(traversal, /"\.\/app\/\.\.\/\.\.\/etc\/passwd" escapes the droplet/);
      await assertRejected(await buildDroplet([{ name: '/etc/passwd', content: 'x' }]), /"\/etc\/passwd" is an absolute path/);
    });

    it('a whiteout', async () => {
      await assertRejected(await buildDroplet([{ name: './app/.wh..wh..opq' }]), /"\.\/app\/\.wh\.\.wh\.\.opq" has a path component starting with "\.wh\."/);
    });

    it('a hard link to a later entry', async () => {
      await assertRejected(
        await buildDroplet([{ name: './app/b', type: 'link', linkname: './app/a' }, { name: './app/a', content: 'x' }]),
        /hard link "\.\/app\/b" points to "\.\/app\/a" which is not earlier in the droplet/,
      );
    });

    it('a device', async () => {
      await assertRejected(await buildDroplet([{ name: './app/tty', type: 'character-device' }]), /"\.\/app\/tty" is a character device/);
    });

    it('more uncompressed bytes than maxUncompressedBytes', async () => {
      const bomb = gzipSync(await buildTar([{ name: './app/zeros', content: Buffer.alloc(5 * 1024 * 1024) }]));
      await assertRejected(bomb, /^droplet unpacks to more than 1048576 bytes \(limit maxUncompressedBytes\)$/, { limits: { maxUncompressedBytes: 1024 * 1024 } });
      assert.ok(await convert(bomb, new MemoryBlobStore(), { limits: { maxUncompressedBytes: 6 * 1024 * 1024 } }));
    });

    it('more entries than maxEntries', async () => {
      const droplet = await standardDroplet({ startCommand: 'x' });
      await assertRejected(droplet, /^droplet has more than 5 entries \(limit maxEntries\)$/, { limits: { maxEntries: 5 } });
      const entryCount = standardDropletEntries({ startCommand: 'x' }).length;
      assert.ok(await convert(droplet, new MemoryBlobStore(), { limits: { maxEntries: entryCount } }));
    });

    it('900 entries with distinct 1 MiB PAX paths, at the first of them', async () => {
      // Remembering each path once exhausted the heap; names past PATH_MAX are refused as they come.
      await assertRejected(await longPaxPathDroplet(), /^droplet entry "\.\/app\/0-p+"… \(1048576 bytes\) has a name of 1048576 bytes, over the limit of 4096 \(PATH_MAX\)$/);
    });

    it('a hard link to a file whose directory became a symlink after it', async () => {
      const droplet = await buildDroplet([
        { name: './app/d/', type: 'directory' },
        { name: './app/d/f', content: 'x' },
        { name: './app/d', type: 'symlink', linkname: '/etc' },
        { name: './app/l', type: 'link', linkname: './app/d/f' },
      ]);
      await assertRejected(droplet, /hard link "\.\/app\/l" points to "\.\/app\/d\/f", which lies under the symlink "app\/d" earlier in the droplet/);
    });
  });

  describe('refuses droplets that would make an image with no app', () => {
    it('an empty gzip and an empty tar', async () => {
      await assertRejected(gzipSync(Buffer.alloc(0)), /^droplet is empty \(its tar archive has no entries\)$/);
      await assertRejected(gzipSync(Buffer.alloc(1024)), /^droplet is empty \(its tar archive has no entries\)$/);
    });

    it('a droplet with nothing under app/', async () => {
      const noApp = /^droplet has no app\/ directory \(no \.\/app\/ entry and nothing under it\), so its image would have no app to run$/;
      await assertRejected(await buildDroplet([{ name: './', type: 'directory' }]), noApp);
      await assertRejected(await buildDroplet([{ name: './deps/0/bin/node', content: 'x' }, { name: './staging_info.yml', content: '{"start_command":"x"}' }]), noApp);
    });

    it('an entry that normalises to app but is not a directory', async () => {
      await assertRejected(await buildDroplet([{ name: './app/sub/..', content: 'x' }]), /droplet entry "\.\/app\/sub\/\.\." replaces the droplet's app\/ directory with a file/);
      await assertRejected(
        await buildDroplet([{ name: './app/', type: 'directory' }, { name: './app/x', content: 'x' }, { name: './app/sub/..', type: 'symlink', linkname: '/etc' }]),
        /replaces the droplet's app\/ directory with a symlink/,
      );
    });

    it('but converts one whose app directory only its entries make', async () => {
      const blobs = new MemoryBlobStore();
      const layer = await convert(await buildDroplet([{ name: './app/server.js', content: 'x' }]), blobs);
      assert.deepEqual(names(await readLayer(blobs, layer.digest)), ['home/vcap/app/server.js']);
    });
  });

  describe('failures that are not the droplet’s fault', () => {
    it('passes a download error through as it is, leaving nothing behind', async () => {
      const blobs = new MemoryBlobStore();
      const droplet = new PassThrough();
      droplet.write((await standardDroplet({ startCommand: 'x' })).subarray(0, 200));
      const failure = new Error('socket hang up');
      setImmediate(() => droplet.destroy(failure));
      await assert.rejects(convert(droplet, blobs), (error: unknown) => error === failure);
      assert.deepEqual(blobs.digests(), []);
      assert.equal(blobs.stagedCount(), 0);
    });

    it('passes an error the download had before conversion started', async () => {
      const droplet = new PassThrough();
      const failure = new Error('connection reset');
      class SlowStage extends MemoryBlobStore {
        override async stage(options?: { signal?: AbortSignal }): Promise<StagedBlob> {
          droplet.destroy(failure);
          await new Promise((resolve) => setImmediate(resolve));
          return super.stage(options);
        }
      }
      const blobs = new SlowStage();
      await assert.rejects(convert(droplet, blobs), (error: unknown) => error === failure);
      assert.equal(blobs.stagedCount(), 0);
    });

    it('closes the download when the blobstore cannot stage', async () => {
      class DownStore extends MemoryBlobStore {
        override async stage(): Promise<StagedBlob> {
          throw new Error('blobstore unavailable');
        }
      }
      const droplet = Readable.from([await standardDroplet({ startCommand: 'x' })]);
      await assert.rejects(convert(droplet, new DownStore()), /blobstore unavailable/);
      assert.equal(droplet.destroyed, true);
    });

    it('stops on abort, leaving nothing behind', async () => {
      const blobs = new MemoryBlobStore();
      const controller = new AbortController();
      const droplet = new PassThrough();
      droplet.write((await standardDroplet({ startCommand: 'x' })).subarray(0, 100));
      const converting = convert(droplet, blobs, {
        signal: controller.signal,
        onProgress: () => controller.abort(),
      });
      await assert.rejects(converting, { name: 'AbortError' });
      assert.deepEqual(blobs.digests(), []);
      assert.equal(blobs.stagedCount(), 0);
    });
  });
});
