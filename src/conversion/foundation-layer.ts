/**
 * The foundation layer: what a foundation's customized rootfs holds that differs from the stack
 * tarball (see foundation-diff.ts), as an OCI layer applied over the stack layer. Written
 * reproducibly, so the same certificates on the same stack give the same digest on every VM and
 * every deploy, however and whenever `rootfs.tar` was written: whiteouts first (the image spec
 * asks for them before their siblings), then the entries, each sorted by path; every mtime the
 * same fixed instant; no user or group names (tar takes them from the VM's passwd, not the
 * rootfs'); names that share a file written once and hard-linked; the reproducible gzip.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import type { BlobStore } from '../blobstore/blob-store.ts';
import { diffFoundation, spooledPath, spooledSize, type ChangedEntry, type FoundationDiff } from './foundation-diff.ts';
import { InvalidLayerFileError } from './invalid-layer-file-error.ts';
import type { LayerDescriptor } from './layer-descriptor.ts';
import { storeTarLayer } from './store-layer.ts';

/** The mtime of every entry of a foundation layer. */
const FIXED_MTIME = new Date(0);

/** A regular file's type bits in st_mode. */
const S_IFREG = 0o100000;

/** The OCI whiteout prefix: `.wh.<name>` in a layer removes `<name>` from the layers below. */
const WHITEOUT_PREFIX = '.wh.';

export interface FoundationLayerOptions {
  /** The stack release's tarball the customized rootfs was made from. */
  readonly stackTarball: string;
  /** The customized rootfs (cflinuxfs4-rootfs-setup's `rootfs.tar`). */
  readonly customizedTarball: string;
  /** Its size and mtime when the caller looked: one that has other ones once compared is refused before anything is stored. */
  readonly customizedFile?: { readonly size: number; readonly mtimeMs: number } | undefined;
  readonly blobs: BlobStore;
  readonly compressionLevel: number;
  /** Each tarball is refused past this many entries. */
  readonly maxEntries: number;
  /** Where the differing contents are kept while the layer is written; the system's temporary directory by default. */
  readonly scratchDir?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** The stored layer, and how much of the tree it changes (for the log). */
export interface FoundationLayer {
  readonly layer: LayerDescriptor;
  /** Paths added or changed. */
  readonly changed: number;
  /** Whiteouts: paths removed (a directory counts once). */
  readonly removed: number;
}

/** Compares the customized rootfs with the stack tarball and stores the difference as a layer. */
export async function buildFoundationLayer(options: FoundationLayerOptions): Promise<FoundationLayer> {
  const spoolDir = await mkdtemp(join(options.scratchDir ?? tmpdir(), 'droplet-registry-foundation-'));
  try {
    const diff = await diffFoundation({ ...options, spoolDir });
    if (options.customizedFile) await checkHeldStill(options.customizedTarball, options.customizedFile);
    checkExpressible(diff, options.customizedTarball);
    const pack = tar.pack();
    const [layer] = await Promise.all([
      storeTarLayer(Readable.from(pack, { objectMode: false }), [], { blobs: options.blobs, compressionLevel: options.compressionLevel, signal: options.signal }),
      writeEntries(pack, diff, spoolDir).catch((error: unknown) => {
        pack.destroy(error as Error);
        throw error;
      }),
    ]);
    return { layer, changed: diff.changed.length, removed: diff.removed.length };
  } finally {
    await rm(spoolDir, { recursive: true, force: true });
  }
}

/** Whiteouts, then entries; the first name of a shared file carries its content, the others link to it. */
async function writeEntries(pack: tar.Pack, diff: FoundationDiff, spoolDir: string): Promise<void> {
  const owner = { uid: 0, gid: 0, uname: '', gname: '', mtime: FIXED_MTIME };
  for (const path of diff.removed) {
    const whiteout = posix.join(posix.dirname(path), `${WHITEOUT_PREFIX}${posix.basename(path)}`);
    await addEntry(pack, { name: whiteout, type: 'file', mode: 0o644, size: 0, ...owner }, null);
  }
  const firstNameOfFile = new Map<string, string>();
  for (const change of diff.changed) {
    const { entry } = change;
    // tar-stream writes 0644 for a mode of 0; the file-type bits keep a 0000 mode non-zero, and tar keeps only the low 12 bits.
    const mode = entry.mode | S_IFREG;
    const header = { name: entry.path, mode, uid: entry.uid, gid: entry.gid, uname: '', gname: '', mtime: FIXED_MTIME, ...paxOf(change) };
    switch (entry.type) {
      case 'file': {
        const first = change.fileKey === null ? undefined : firstNameOfFile.get(change.fileKey);
        if (first !== undefined) {
          await addEntry(pack, { ...header, type: 'link', linkname: first, size: 0 }, null);
          break;
        }
        if (change.fileKey !== null) firstNameOfFile.set(change.fileKey, entry.path);
        const content = change.contentDigest as string;
        await addEntry(pack, { ...header, type: 'file', size: await spooledSize(spoolDir, content) }, spooledPath(spoolDir, content));
        break;
      }
      case 'symlink':
        await addEntry(pack, { ...header, type: 'symlink', linkname: entry.linkname }, null);
        break;
      case 'character-device':
      case 'block-device':
        await addEntry(pack, { ...header, type: entry.type, devmajor: entry.devmajor, devminor: entry.devminor }, null);
        break;
      case 'directory':
      case 'fifo':
        await addEntry(pack, { ...header, type: entry.type }, null);
        break;
      case 'other':
        // checkExpressible refused these before anything was written.
        throw new Error(`unexpected entry type at ${entry.path}`);
    }
  }
  pack.finalize();
}

/** Adds one entry, its content streamed from `contentFile`, and waits until the pack has taken it. */
async function addEntry(pack: tar.Pack, header: Partial<tar.Header> & { name: string }, contentFile: string | null): Promise<void> {
  if (contentFile === null) {
    // A file without content (a whiteout) still needs its (empty) body to end.
    const body = header.type === 'file' ? Buffer.alloc(0) : null;
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve());
      if (body) pack.entry(header, body, done);
      else pack.entry(header, done);
    });
    return;
  }
  let sink!: ReturnType<tar.Pack['entry']>;
  const taken = new Promise<void>((resolve, reject) => {
    sink = pack.entry(header, (error) => (error ? reject(error) : resolve()));
  });
  for await (const chunk of createReadStream(contentFile)) {
    if (!sink.write(chunk as Buffer)) await once(sink, 'drain');
  }
  sink.end(undefined);
  await taken;
}

/** PAX records of the entry's extended attributes, if it has any. */
function paxOf(change: ChangedEntry): { pax?: Record<string, string> } {
  if (change.entry.xattrs.length === 0) return {};
  return { pax: Object.fromEntries(change.entry.xattrs.map(([name, value]) => [`SCHILY.xattr.${name}`, value])) };
}

/** A file written again while it was read gives a layer of neither version. */
async function checkHeldStill(path: string, before: { size: number; mtimeMs: number }): Promise<void> {
  const now = await stat(path);
  if (now.size !== before.size || now.mtimeMs !== before.mtimeMs) {
    throw new InvalidLayerFileError(`customized rootfs ${path} changed while it was read (is the job that writes it still running?); import it again once it holds still`);
  }
}

/**
 * What the layer cannot say faithfully is refused with the path to look at: a new name that reads
 * as a whiteout, a name or link target that is not UTF-8 (tar-stream reads names as UTF-8), a
 * tar type the layer does not write.
 */
function checkExpressible(diff: FoundationDiff, file: string): void {
  for (const { entry } of diff.changed) {
    const where = `customized rootfs ${file}: ${entry.path}`;
    if (posix.basename(entry.path).startsWith(WHITEOUT_PREFIX)) throw new InvalidLayerFileError(`${where} is named like an OCI whiteout (${WHITEOUT_PREFIX}…), which a layer cannot carry`);
    if (`${entry.path}${entry.linkname}`.includes('\uFFFD')) throw new InvalidLayerFileError(`${where} has a name or link target that is not UTF-8`);
    if (entry.type === 'other') throw new InvalidLayerFileError(`${where} is of a tar type a layer here does not carry (only files, directories, links, devices and FIFOs)`);
  }
}
