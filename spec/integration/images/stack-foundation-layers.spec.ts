/**
 * The set-up simulation: cflinuxfs4-rootfs-setup's pre-start (cflinuxfs4-release,
 * jobs/cflinuxfs4-rootfs-setup/templates/pre-start) run for real on a small stack tarball in which
 * Debian's `update-ca-certificates` runs in a chroot, then imported as the BOSH job imports it:
 * the stack tarball as the stack layer, the `rootfs.tar` it leaves as the foundation layer.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Knex } from 'knex';
import { after, before, describe, it } from 'node:test';
import tar from 'tar-stream';
import { FsBlobStore } from '../../../src/blobstore/fs-blob-store.ts';
import type { LayerDescriptor } from '../../../src/conversion/layer-descriptor.ts';
import { prepareBaseLayers, type ImportEvent, type StackBase } from '../../../src/images/base-layers.ts';
import { buildCaStackTree, caStackRootfsProblem } from '../../support/build-ca-stack-rootfs.ts';
import { provisionUmoci, unpackOciLayout } from '../../support/clients/umoci.ts';
import { createMigratedPglite } from '../../support/migrated-pglite.ts';
import { skipOrFail } from '../../support/requirements.ts';
import { makeThrowawayCertificates, throwawayCaProblem } from '../../support/throwaway-ca.ts';

const problem = caStackRootfsProblem() ?? throwawayCaProblem() ?? provisionUmoci();

/** A set-up run: the CAs the operator configured, when it ran, and anything else done to the tree before it is tarred. */
interface SetUpRun {
  readonly trustedCas: readonly string[];
  /** Every path's mtime once the run is done: two runs never share one. */
  readonly at: Date;
  readonly alsoRemove?: readonly string[];
}

describe('the stack and foundation layers of a set-up rootfs', { skip: skipOrFail(problem) }, () => {
  let work: string;
  let stackTarball: string;
  /** Where the set-up job writes rootfs.tar: one path, rewritten by every run, as on a VM. */
  let rootfsTar: string;
  let db: Knex;
  let blobs: FsBlobStore;
  let blobRoot: string;
  let ca: string;
  let otherCa: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stack-foundation-'));
    const tree = join(work, 'stack-tree');
    mkdirSync(tree);
    buildCaStackTree(tree);
    stackTarball = join(work, 'cflinuxfs4.tar.gz');
    execFileSync('tar', ['-czf', stackTarball, '-C', tree, '.']);
    rmSync(tree, { recursive: true });
    rootfsTar = join(work, 'rootfs.tar');
    blobRoot = join(work, 'blobstore');
    blobs = new FsBlobStore({ root: blobRoot });
    db = await createMigratedPglite();
    ca = makeThrowawayCertificates().ca;
    otherCa = makeThrowawayCertificates().ca;
  });
  after(async () => {
    await db?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** cflinuxfs4-rootfs-setup's pre-start, step by step, with the CAs certsplitter would have written. */
  function setUp(run: SetUpRun): void {
    const rootfsDir = join(work, 'rootfs');
    const caDir = join(rootfsDir, 'usr/local/share/ca-certificates');
    mkdirSync(rootfsDir, { recursive: true });
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-pzxf', stackTarball, '-C', rootfsDir]);
    for (const name of readdirSync(caDir)) rmSync(join(caDir, name), { force: true });
    mkdirSync(caDir, { recursive: true });
    run.trustedCas.forEach((pem, index) => writeFileSync(join(caDir, `trusted-ca-${index + 1}.crt`), pem));
    execFileSync('sh', ['-c', 'chmod 0644 "$1"/*', 'sh', caDir]);
    execFileSync('timeout', ['--signal=KILL', '60s', 'chroot', rootfsDir, '/usr/sbin/update-ca-certificates', '-f'], {
      env: { PATH: '/bin:/usr/bin:/usr/sbin', TMPDIR: '/tmp' },
      stdio: 'pipe',
    });
    for (const path of run.alsoRemove ?? []) rmSync(join(rootfsDir, path), { recursive: true });
    execFileSync('touch', [rootfsDir]);
    // Runs on other days: every mtime differs from the other runs' (the stack's own files' too).
    execFileSync('find', [rootfsDir, '-exec', 'touch', '-h', '-d', `@${Math.floor(run.at.getTime() / 1000)}`, '{}', '+']);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-C', rootfsDir, '-cf', rootfsTar, '.']);
    rmSync(rootfsDir, { recursive: true, force: true });
  }

  /** Imports the stack and its customized rootfs as the registry does at start-up. */
  async function importBase(): Promise<{ base: StackBase; events: ImportEvent[] }> {
    const events: ImportEvent[] = [];
    const layers = await prepareBaseLayers({
      db,
      blobs,
      stacks: { cflinuxfs4: stackTarball },
      stackFoundations: { cflinuxfs4: rootfsTar },
      lifecycleTarball: '',
      compressionLevel: 1,
      onImport: (event) => events.push(event),
    });
    return { base: layers.stacks.get('cflinuxfs4') as StackBase, events };
  }

  const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

  it('gives the same stack and foundation layers for set-ups run at different times', async () => {
    setUp({ trustedCas: [ca], at: new Date('2026-11-01T08:00:00Z') });
    const firstTar = sha256(rootfsTar);
    const first = await importBase();
    setUp({ trustedCas: [ca], at: new Date('2026-12-24T18:30:00Z') });
    assert.notEqual(sha256(rootfsTar), firstTar, 'the set-up writes other bytes each time');
    const second = await importBase();

    assert.equal(second.base.stack.digest, first.base.stack.digest);
    assert.ok(first.base.foundation && second.base.foundation);
    assert.equal(second.base.foundation.digest, first.base.foundation.digest);
    assert.ok(
      second.events.some((event) => event.kind === 'foundation' && event.layer),
      'the rewritten rootfs.tar was compared again, and came to the same layer',
    );
    assert.equal(sha256(blobPath(first.base.stack.digest)), sha256(stackTarball), 'the stack layer is the tarball, byte for byte');
  });

  it('is not compared again while rootfs.tar stays as it is', async () => {
    setUp({ trustedCas: [ca], at: new Date('2026-11-02T08:00:00Z') });
    await importBase();
    const again = await importBase();
    assert.deepEqual(again.events, [], 'nothing read again');
  });

  it('builds images whose filesystem is rootfs.tar: content, modes, owners and links', async () => {
    setUp({ trustedCas: [ca], at: new Date('2026-11-03T08:00:00Z') });
    const { base } = await importBase();
    const foundation = base.foundation as LayerDescriptor;
    const names = await layerEntryNames(foundation);
    assert.ok(names.includes('usr/local/share/ca-certificates/trusted-ca-1.crt'), names.join(', '));
    assert.ok(names.includes('etc/ssl/certs/ca-certificates.crt'), 'the regenerated bundle');
    assert.ok(names.includes('etc/ssl/certs/trusted-ca-1.pem'), 'the link update-ca-certificates makes');
    assert.ok(!names.includes('bin/busybox'), 'what set-up left alone stays in the stack layer');
    assertSameTree(await unpackImage(base, 'same'), extractRootfsTar('same'));
  });

  it('gives another foundation layer (on the same stack layer) for another CA', async () => {
    setUp({ trustedCas: [ca], at: new Date('2026-11-04T08:00:00Z') });
    const one = await importBase();
    setUp({ trustedCas: [otherCa], at: new Date('2026-11-05T08:00:00Z') });
    const other = await importBase();
    assert.equal(other.base.stack.digest, one.base.stack.digest);
    assert.notEqual(other.base.foundation?.digest, one.base.foundation?.digest);
  });

  it('whites out what the set-up removed, and the image lacks it', async () => {
    setUp({ trustedCas: [ca], at: new Date('2026-11-06T08:00:00Z'), alsoRemove: ['etc/os-release', 'home/vcap'] });
    const { base } = await importBase();
    const names = await layerEntryNames(base.foundation as LayerDescriptor);
    assert.ok(names.includes('etc/.wh.os-release'), names.join(', '));
    assert.ok(names.includes('home/.wh.vcap'), names.join(', '));
    assert.ok(!names.some((name) => name.startsWith('home/vcap/')), 'a removed directory is one whiteout');
    const image = await unpackImage(base, 'removed');
    assertSameTree(image, extractRootfsTar('removed'));
  });

  function blobPath(digest: string): string {
    return join(blobRoot, 'blobs/sha256', digest.slice('sha256:'.length));
  }

  async function layerEntryNames(layer: LayerDescriptor): Promise<string[]> {
    const names: string[] = [];
    const extract = tar.extract();
    extract.end(gunzipSync(readFileSync(blobPath(layer.digest))));
    for await (const entry of extract) {
      names.push(entry.header.name.replace(/\/$/, ''));
      entry.resume();
    }
    return names;
  }

  /** The image's filesystem as umoci unpacks an OCI layout of the stack and foundation layers. */
  async function unpackImage(base: StackBase, tag: string): Promise<string> {
    const layers = [base.stack, base.foundation as LayerDescriptor];
    const layout = join(work, `layout-${tag}`);
    mkdirSync(join(layout, 'blobs/sha256'), { recursive: true });
    const put = (bytes: Buffer) => {
      const hex = createHash('sha256').update(bytes).digest('hex');
      writeFileSync(join(layout, 'blobs/sha256', hex), bytes);
      return { digest: `sha256:${hex}`, size: bytes.length };
    };
    for (const layer of layers) writeFileSync(join(layout, 'blobs/sha256', layer.digest.slice('sha256:'.length)), readFileSync(blobPath(layer.digest)));
    const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) } })));
    const manifest = put(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
          layers: layers.map((layer) => ({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size })),
        }),
      ),
    );
    writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      join(layout, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }] }),
    );
    return unpackOciLayout(layout, tag, join(work, `bundle-${tag}`));
  }

  /** What Diego's containers see: rootfs.tar extracted as root (owners kept). */
  function extractRootfsTar(tag: string): string {
    const dir = join(work, `expected-${tag}`);
    mkdirSync(dir);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-pxf', rootfsTar, '-C', dir]);
    return dir;
  }
});

/** What a container sees at each path below `root`: type, mode, owner, link target, content, device, hard-link count. */
function describeTree(root: string): Map<string, string> {
  const tree = new Map<string, string>();
  const walk = (relative: string) => {
    for (const name of readdirSync(join(root, relative)).sort()) {
      const path = relative ? `${relative}/${name}` : name;
      const full = join(root, path);
      const info = lstatSync(full);
      const owner = `${(info.mode & 0o7777).toString(8)} ${info.uid}:${info.gid}`;
      if (info.isDirectory()) {
        tree.set(path, `directory ${owner}`);
        walk(path);
      } else if (info.isSymbolicLink()) tree.set(path, `symlink ${owner} -> ${readlinkSync(full)}`);
      else if (info.isFile()) tree.set(path, `file ${owner} links=${info.nlink} sha256=${createHash('sha256').update(readFileSync(full)).digest('hex')}`);
      else tree.set(path, `special ${owner} rdev=${info.rdev} ${info.isCharacterDevice() ? 'char' : info.isBlockDevice() ? 'block' : 'fifo'}`);
    }
  };
  walk('');
  return tree;
}

function assertSameTree(image: string, expected: string): void {
  const [actual, wanted] = [describeTree(image), describeTree(expected)];
  const differences = [...new Set([...actual.keys(), ...wanted.keys()])]
    .sort()
    .filter((path) => actual.get(path) !== wanted.get(path))
    .map((path) => `${path}: image has ${actual.get(path) ?? 'nothing'}, rootfs.tar has ${wanted.get(path) ?? 'nothing'}`);
  assert.deepEqual(differences, [], 'the image is the set-up rootfs');
  assert.ok(wanted.size > 40, `a real tree was compared (${wanted.size} paths)`);
}
