import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { buildFoundationLayer, type FoundationLayerOptions } from '../../../src/conversion/foundation-layer.ts';
import { InvalidLayerFileError } from '../../../src/conversion/invalid-layer-file-error.ts';
import { buildTar, type DropletEntry } from '../../support/build-droplet.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';
import { readLayer, type ReadEntry } from './read-tar.ts';

const ROOT = { uid: 0, gid: 0 };
const BUNDLE = '# the Mozilla bundle\n-----BEGIN CERTIFICATE-----\nMOZILLA\n-----END CERTIFICATE-----\n';

/** A stack tarball in miniature: what the foundation layers below are compared with. */
const STACK: DropletEntry[] = [
  { name: './', type: 'directory', ...ROOT },
  { name: './etc/', type: 'directory', ...ROOT },
  { name: './etc/os-release', content: 'NAME="stack"\n', ...ROOT },
  { name: './etc/ssl/', type: 'directory', ...ROOT },
  { name: './etc/ssl/certs/', type: 'directory', ...ROOT },
  { name: './etc/ssl/certs/ca-certificates.crt', content: BUNDLE, ...ROOT },
  { name: './etc/ssl/certs/mozilla.pem', type: 'symlink', linkname: '/usr/share/ca-certificates/mozilla.crt', mode: 0o777, ...ROOT },
  { name: './usr/', type: 'directory', ...ROOT },
  { name: './usr/bin/', type: 'directory', ...ROOT },
  { name: './usr/bin/perl', content: 'perl binary', mode: 0o755, ...ROOT },
  { name: './usr/bin/perl5.34', type: 'link', linkname: './usr/bin/perl', mode: 0o755, ...ROOT },
  { name: './usr/local/', type: 'directory', ...ROOT },
  { name: './usr/local/share/', type: 'directory', ...ROOT },
  { name: './usr/local/share/ca-certificates/', type: 'directory', ...ROOT },
  { name: './var/', type: 'directory', ...ROOT },
  { name: './var/cache/', type: 'directory', ...ROOT },
  { name: './var/cache/old/', type: 'directory', ...ROOT },
  { name: './var/cache/old/a', content: 'a', ...ROOT },
  { name: './var/cache/old/b', content: 'b', ...ROOT },
  { name: './var/run', type: 'directory', ...ROOT },
  { name: './home/', type: 'directory', ...ROOT },
  { name: './home/vcap/', type: 'directory', uid: 2000, gid: 2000 },
];

let dir: string;
let stackTarball: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'foundation-layer-'));
  stackTarball = join(dir, 'stack.tar.gz');
  await writeFile(stackTarball, gzipSync(await buildTar(STACK)));
});
after(() => rm(dir, { recursive: true, force: true }));

let files = 0;
/** The customized rootfs as `tar -cf` writes it: `entries` in the order given, at `mtime`. */
async function customizedTar(entries: readonly DropletEntry[], mtime = new Date('2026-12-01T10:00:00Z')): Promise<string> {
  const path = join(dir, `rootfs-${(files += 1)}.tar`);
  await writeFile(path, await buildTar(entries.map((entry) => ({ ...entry, mtime }))));
  return path;
}

/** The stack with `changes` applied: entries replaced in place (by name), removed (`null`), or added at the end. */
function customized(changes: Record<string, DropletEntry | null>): DropletEntry[] {
  const replaced = STACK.flatMap((entry) => (entry.name in changes ? [changes[entry.name]].filter((change) => change != null) : [entry]));
  const added = Object.entries(changes).flatMap(([name, entry]) => (entry && !STACK.some((known) => known.name === name) ? [entry] : []));
  return [...replaced, ...added];
}

async function build(customizedTarball: string, options: Partial<FoundationLayerOptions> = {}) {
  const blobs = new MemoryBlobStore();
  const built = await buildFoundationLayer({ stackTarball, customizedTarball, blobs, compressionLevel: 6, maxEntries: 1000, ...options });
  return { ...built, blobs, entries: await readLayer(blobs, built.layer.digest) };
}

function summary(entries: readonly ReadEntry[]): string[] {
  return entries.map(({ header, content }) => {
    const what = header.type === 'file' ? `file ${JSON.stringify(content.toString())}` : header.type === 'symlink' || header.type === 'link' ? `${header.type} -> ${header.linkname}` : header.type;
    return `${header.name} ${what} ${header.mode.toString(8)} ${header.uid}:${header.gid}`;
  });
}

const CA = '-----BEGIN CERTIFICATE-----\nFOUNDATION CA\n-----END CERTIFICATE-----\n';

describe('the foundation layer', () => {
  it('is empty when the customized rootfs holds the stack as it is, whatever its entry order and mtimes', async () => {
    const shuffled = await customizedTar([...STACK].reverse().filter((entry) => entry.type !== 'link').concat(STACK.filter((entry) => entry.type === 'link')));
    const { entries, changed, removed } = await build(shuffled);
    assert.deepEqual(summary(entries), []);
    assert.deepEqual([changed, removed], [0, 0]);
  });

  it('holds what set-up added and changed, sorted, with one mtime, and the same digest from trees written differently', async () => {
    const setUp = customized({
      './usr/local/share/ca-certificates/trusted_ca_1.crt': { name: './usr/local/share/ca-certificates/trusted_ca_1.crt', content: CA, ...ROOT },
      './etc/ssl/certs/ca-certificates.crt': { name: './etc/ssl/certs/ca-certificates.crt', content: BUNDLE + CA, ...ROOT },
      './etc/ssl/certs/trusted_ca_1.pem': { name: './etc/ssl/certs/trusted_ca_1.pem', type: 'symlink', linkname: '/usr/local/share/ca-certificates/trusted_ca_1.crt', mode: 0o777, ...ROOT },
    });
    const first = await build(await customizedTar(setUp, new Date('2026-12-01T10:00:00Z')));
    const second = await build(await customizedTar([...setUp].reverse().filter((entry) => entry.type !== 'link').concat(setUp.filter((entry) => entry.type === 'link')), new Date('2026-12-02T11:00:00Z')));
    assert.deepEqual(summary(first.entries), [
      `etc/ssl/certs/ca-certificates.crt file ${JSON.stringify(BUNDLE + CA)} 644 0:0`,
      'etc/ssl/certs/trusted_ca_1.pem symlink -> /usr/local/share/ca-certificates/trusted_ca_1.crt 777 0:0',
      `usr/local/share/ca-certificates/trusted_ca_1.crt file ${JSON.stringify(CA)} 644 0:0`,
    ]);
    assert.ok(first.entries.every(({ header }) => header.mtime.getTime() === 0 && header.uname === '' && header.gname === ''));
    assert.equal(second.layer.digest, first.layer.digest, 'the same certificates give the same layer');
    assert.equal(second.layer.diffId, first.layer.diffId);
  });

  it('changes with the certificates', async () => {
    const withCa = (ca: string) => customizedTar(customized({ './usr/local/share/ca-certificates/a.crt': { name: './usr/local/share/ca-certificates/a.crt', content: ca, ...ROOT } }));
    const one = await build(await withCa(CA));
    const other = await build(await withCa(CA.replace('FOUNDATION', 'OTHERFOUND')));
    assert.notEqual(other.layer.digest, one.layer.digest);
  });

  it('carries changes of mode, owner, link target and type, and content changed in place to the same size', async () => {
    const path = await customizedTar(
      customized({
        './usr/bin/perl': { name: './usr/bin/perl', content: 'PERL BINARY', mode: 0o755, ...ROOT },
        // Mode 0000 (tar-stream, which builds this tar, writes 0644 for a mode of 0: the type bits keep it 0).
        './etc/os-release': { name: './etc/os-release', content: 'NAME="stack"\n', mode: 0o100000, ...ROOT },
        './home/vcap/': { name: './home/vcap/', type: 'directory', uid: 2001, gid: 2000 },
        './etc/ssl/certs/mozilla.pem': { name: './etc/ssl/certs/mozilla.pem', type: 'symlink', linkname: 'elsewhere.crt', mode: 0o777, ...ROOT },
        './var/run': { name: './var/run', type: 'symlink', linkname: '/run', mode: 0o777, ...ROOT },
      }),
    );
    const { entries, changed, removed } = await build(path);
    assert.deepEqual(summary(entries), [
      'var/.wh.run file "" 644 0:0',
      'etc/os-release file "NAME=\\"stack\\"\\n" 0 0:0',
      'etc/ssl/certs/mozilla.pem symlink -> elsewhere.crt 777 0:0',
      'home/vcap directory 755 2001:2000',
      'usr/bin/perl file "PERL BINARY" 755 0:0',
      // perl5.34 is perl's hard link: its file changed with it, and it is linked again in the layer.
      'usr/bin/perl5.34 link -> usr/bin/perl 755 0:0',
      'var/run symlink -> /run 777 0:0',
    ]);
    assert.deepEqual([changed, removed], [6, 1]);
  });

  it('whites out what set-up removed: a removed directory once, not its contents', async () => {
    const path = await customizedTar(customized({ './var/cache/old/': null, './var/cache/old/a': null, './var/cache/old/b': null, './etc/os-release': null }));
    const { entries } = await build(path);
    assert.deepEqual(summary(entries), ['etc/.wh.os-release file "" 644 0:0', 'var/cache/.wh.old file "" 644 0:0']);
  });

  it('writes a new hard link to an unchanged file as a file of its own', async () => {
    const path = await customizedTar(customized({ './usr/bin/perl-copy': { name: './usr/bin/perl-copy', type: 'link', linkname: './usr/bin/perl', mode: 0o755, ...ROOT } }));
    const { entries } = await build(path);
    assert.deepEqual(summary(entries), ['usr/bin/perl-copy file "perl binary" 755 0:0']);
  });

  it('keeps extended attributes of what it carries', async () => {
    const path = await customizedTar(
      customized({ './usr/bin/ping': { name: './usr/bin/ping', content: 'ping', mode: 0o755, pax: { 'SCHILY.xattr.user.note': 'hello' }, ...ROOT } }),
    );
    const { entries } = await build(path);
    assert.deepEqual((entries[0]?.header as { pax?: Record<string, string> }).pax?.['SCHILY.xattr.user.note'], 'hello');
  });

  it('leaves nothing in its scratch directory', async () => {
    const scratchDir = await mkdtemp(join(dir, 'scratch-'));
    await build(await customizedTar(customized({ './etc/new': { name: './etc/new', content: 'new', ...ROOT } })), { scratchDir });
    assert.deepEqual(await readdir(scratchDir), []);
  });

  describe('refuses, naming the file and what to fix, and stores nothing', () => {
    const refused = async (path: string, message: RegExp, options: Partial<FoundationLayerOptions> = {}) => {
      const blobs = new MemoryBlobStore();
      await assert.rejects(buildFoundationLayer({ stackTarball, customizedTarball: path, blobs, compressionLevel: 6, maxEntries: 1000, ...options }), (error: unknown) => {
        assert.ok(error instanceof InvalidLayerFileError, String(error));
        assert.match(error.message, message);
        return true;
      });
      assert.deepEqual(blobs.digests(), []);
    };

    it('a tarball with more entries than the bound', async () => {
      await refused(await customizedTar(STACK), /stack tarball .*stack\.tar\.gz has more than 5 entries/, { maxEntries: 5 });
    });

    it('a customized rootfs that is no tar', async () => {
      const path = join(dir, 'not-a-tar.tar');
      await writeFile(path, 'certainly not a tar archive, but long enough to hold a header '.repeat(20));
      await refused(path, /customized rootfs .*not-a-tar\.tar is not a valid tar archive/);
    });

    it('a truncated customized rootfs', async () => {
      const path = join(dir, 'truncated.tar');
      const whole = await buildTar(customized({ './etc/big': { name: './etc/big', content: 'x'.repeat(5000), ...ROOT } }));
      await writeFile(path, whole.subarray(0, whole.length - 3000));
      await refused(path, /customized rootfs .*truncated\.tar is truncated/);
    });

    it('an entry that climbs out of the tree', async () => {
      await refused(await customizedTar(customized({ '../etc/passwd': { name: '../etc/passwd', content: 'x', ...ROOT } })), /climbs out of the tree: \.\.\/etc\/passwd/);
    });

    it('a customized rootfs written again while it was compared', async () => {
      const path = await customizedTar(customized({ './etc/new': { name: './etc/new', content: 'new', ...ROOT } }));
      const { size, mtimeMs } = await stat(path);
      await refused(path, /customized rootfs .* changed while it was read/, { customizedFile: { size, mtimeMs: mtimeMs - 1000 } });
    });

    it('a hard link to nothing before it', async () => {
      await refused(
        await customizedTar(customized({ './usr/bin/orphan': { name: './usr/bin/orphan', type: 'link', linkname: './usr/bin/nowhere', ...ROOT } })),
        /customized rootfs .*: a hard link points at usr\/bin\/nowhere, which is no file before it/,
      );
    });

    it('a path that is a directory and then a file, or hangs below a file: no tree to compare', async () => {
      await refused(
        await customizedTar([...STACK, { name: './etc/group/', type: 'directory', ...ROOT }, { name: './etc/group/x', content: 'x', ...ROOT }, { name: './etc/group', content: 'g', ...ROOT }]),
        /customized rootfs .* has etc\/group both as a directory and as something else; re-create it with one entry per path/,
      );
      await refused(
        await customizedTar([...STACK, { name: './etc/motd', content: 'm', ...ROOT }, { name: './etc/motd/x', content: 'x', ...ROOT }]),
        /customized rootfs .* has etc\/motd\/x below etc\/motd, which is no directory/,
      );
    });

    it('a new file named like a whiteout', async () => {
      await refused(await customizedTar(customized({ './etc/.wh.x': { name: './etc/.wh.x', content: 'x', ...ROOT } })), /etc\/\.wh\.x is named like an OCI whiteout/);
    });
  });
});
