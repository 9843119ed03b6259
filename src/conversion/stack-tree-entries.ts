/**
 * Reads a stack rootfs tarball (gzip or plain tar) as the tree extracting it makes: one record per
 * path, with what a container sees there (type, mode, owner, link target, device numbers, extended
 * attributes, the sha256 of a file's content) and not what it does not (mtime, user and group
 * names, the order of entries, which of several hard-linked names tar happened to store first).
 * Only the current entry's content is in memory, a chunk at a time; the caller decides what to keep.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { describeArchiveError } from './archive-errors.ts';
import { createByteMeter } from './byte-meter.ts';
import { createGzipMagicProbe } from './gzip-magic-probe.ts';
import { InvalidLayerFileError } from './invalid-layer-file-error.ts';
import { TarParseError } from './rewrite-tar.ts';
import { LAYER_CHUNK_BYTES } from './stream-chunk-size.ts';

/** What a path of the tree is; `other` is a tar type no layer of this registry writes (GNU sparse files…). */
export type TreeEntryType = 'file' | 'directory' | 'symlink' | 'character-device' | 'block-device' | 'fifo' | 'other';

/** One path of the tree, as extraction leaves it. */
export interface TreeEntry {
  /** Relative, without `./` or a trailing `/`; the tree's root itself is never an entry. */
  readonly path: string;
  readonly type: TreeEntryType;
  /** Permission bits with setuid, setgid and sticky (07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** A symlink's target; '' for anything else. */
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** A file's content bytes; 0 for anything else. */
  readonly size: number;
  /** Extended attributes (`SCHILY.xattr.*` PAX records), sorted by name. */
  readonly xattrs: ReadonlyArray<readonly [string, string]>;
  /** For a hard link: the path of the entry it shares its file with. null otherwise. */
  readonly hardlinkTo: string | null;
}

/** What the caller does with the entries as they go by. */
export interface TreeVisitor {
  /**
   * Where to copy a file's content as it is read (a file on disk, say), or null to only hash it.
   * Asked before the content is read; the stream is ended once the content has gone by.
   */
  copyContentTo?(entry: TreeEntry): Writable | null;
  /** Told of each entry once it (and a file's content) has gone by, with the content's `sha256:<hex>` for a file that is no hard link. */
  visit(entry: TreeEntry, contentDigest: string | null): void | Promise<void>;
}

export interface ReadTreeOptions {
  /** The tarball is refused past this many entries: what bounds the memory an index of it takes. */
  readonly maxEntries: number;
  readonly signal?: AbortSignal | undefined;
  /** What the tarball is, for error messages: "stack tarball", "customized rootfs". */
  readonly role: string;
}

/** Pax records of extended attributes: GNU tar, bsdtar and Docker all write these. */
const XATTR_PAX_PREFIX = 'SCHILY.xattr.';

/** The longest path a Linux file system takes. */
const PATH_MAX = 4096;

/**
 * Tells `visitor` of each entry of the tarball at `path`, in archive order, waiting for it before
 * reading on. Rejects with an `InvalidLayerFileError` naming the file when it is not a readable
 * tar (or gzip of one), has more than `maxEntries` entries, or an entry climbs out of the tree.
 */
export async function readTreeTarball(path: string, options: ReadTreeOptions, visitor: TreeVisitor): Promise<void> {
  const probe = createGzipMagicProbe();
  let decompressed = 0;
  const extract = tar.extract();
  const input = createReadStream(path, { highWaterMark: LAYER_CHUNK_BYTES });
  const gzipped = await startsWithGzipMagic(path);
  const stages = gzipped
    ? [input, probe.stream, createGunzip({ chunkSize: LAYER_CHUNK_BYTES }), createByteMeter((total) => (decompressed = total)), extract]
    : [input, probe.stream, extract];
  const piping = pipeline(stages, { signal: options.signal });
  // The same failure also ends the loop below; leaving the loop early rejects this one (premature close).
  piping.catch(() => undefined);
  let entries = 0;
  /** Path → whether it is a directory: a tree is compared path by path, so a path must not change its kind nor hang below a non-directory. */
  const kinds = new Map<string, boolean>();
  try {
    for await (const raw of extract) {
      entries += 1;
      if (entries > options.maxEntries) {
        throw new InvalidLayerFileError(`${options.role} ${path} has more than ${options.maxEntries} entries, more than a stack rootfs has; is it the right file?`);
      }
      const entry = treeEntry(raw.header as unknown as TarHeader, path, options.role);
      if (entry === null) {
        raw.resume();
        continue;
      }
      checkTreeShape(entry, kinds, path, options.role);
      const contentDigest = entry.type === 'file' && entry.hardlinkTo === null ? await readContent(raw, visitor.copyContentTo?.(entry) ?? null) : null;
      if (contentDigest === null) raw.resume();
      await visitor.visit(entry, contentDigest);
    }
    await piping;
  } catch (error) {
    if (error instanceof InvalidLayerFileError) throw error;
    const tarError = isTarStreamParseError(error) ? new TarParseError(error as Error) : error;
    const problem = describeArchiveError(tarError, decompressed, probe.startsAsGzip());
    if (problem !== undefined) throw new InvalidLayerFileError(`${options.role} ${path} ${problem}`, { cause: error });
    throw error;
  }
}

/** Refuses an entry that makes the archive no plain tree: a directory that becomes something else (or the reverse), or a path below a non-directory. */
function checkTreeShape(entry: TreeEntry, kinds: Map<string, boolean>, file: string, role: string): void {
  const directory = entry.type === 'directory';
  const before = kinds.get(entry.path);
  if (before !== undefined && before !== directory) {
    throw new InvalidLayerFileError(`${role} ${file} has ${entry.path} both as a directory and as something else; re-create it with one entry per path (tar -cf of a directory tree)`);
  }
  const slash = entry.path.lastIndexOf('/');
  if (slash > 0 && kinds.get(entry.path.slice(0, slash)) === false) {
    throw new InvalidLayerFileError(`${role} ${file} has ${entry.path} below ${entry.path.slice(0, slash)}, which is no directory; re-create it with one entry per path (tar -cf of a directory tree)`);
  }
  kinds.set(entry.path, directory);
}

/** A header as tar-stream decodes it, with the PAX records its types leave out. */
type TarHeader = Omit<tar.Header, 'pax' | 'type'> & { type: tar.Header['type'] | null; pax?: Record<string, string> | null };

/** The tree's record of a header, or null for the tree's root (`./`), which a layer does not carry. */
function treeEntry(header: TarHeader, file: string, role: string): TreeEntry | null {
  const path = normalizePath(header.name, file, role);
  if (path === '') return null;
  const type = header.type ?? null;
  const xattrs = Object.entries(header.pax ?? {})
    .filter(([key]) => key.startsWith(XATTR_PAX_PREFIX))
    .map(([key, value]) => [key.slice(XATTR_PAX_PREFIX.length), value] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const base: Omit<TreeEntry, 'type'> = {
    path,
    mode: (header.mode ?? 0) & 0o7777,
    uid: header.uid ?? 0,
    gid: header.gid ?? 0,
    devmajor: 0,
    devminor: 0,
    size: 0,
    linkname: '',
    xattrs,
    hardlinkTo: null,
  };
  switch (type) {
    case 'file':
    case 'contiguous-file':
      return { ...base, type: 'file', size: header.size ?? 0 };
    case 'link': {
      const target = normalizePath(header.linkname ?? '', file, role);
      if (target === '') throw new InvalidLayerFileError(`${role} ${file}: hard link ${path} has no target`);
      return { ...base, type: 'file', hardlinkTo: target };
    }
    case 'symlink':
      return { ...base, type: 'symlink', linkname: header.linkname ?? '' };
    case 'character-device':
    case 'block-device':
      return { ...base, type, devmajor: header.devmajor ?? 0, devminor: header.devminor ?? 0 };
    case 'directory':
    case 'fifo':
      return { ...base, type };
    default:
      return { ...base, type: 'other', size: header.size ?? 0 };
  }
}

/** `./etc/ssl/` → `etc/ssl`; a path that would leave the tree is refused. */
function normalizePath(name: string, file: string, role: string): string {
  if (name.length > PATH_MAX) throw new InvalidLayerFileError(`${role} ${file} has an entry name longer than ${PATH_MAX} characters`);
  const segments = name.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) throw new InvalidLayerFileError(`${role} ${file} has an entry that climbs out of the tree: ${name}`);
  return segments.join('/');
}

/** Reads an entry's content to its end, copying it to `sink` when there is one; its `sha256:<hex>`. */
async function readContent(content: AsyncIterable<unknown>, sink: Writable | null): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of content) {
      hash.update(chunk as Buffer);
      if (sink && !sink.write(chunk)) await once(sink, 'drain');
    }
    if (sink) await new Promise<void>((resolve, reject) => sink.end((error?: Error | null) => (error ? reject(error) : resolve())));
  } catch (error) {
    sink?.destroy();
    throw error;
  }
  return `sha256:${hash.digest('hex')}`;
}

/** tar-stream's parse failures are plain Errors; these are its messages (extract.js, headers.js). */
function isTarStreamParseError(error: unknown): boolean {
  const message = (error as Error | undefined)?.message ?? '';
  return message === 'Unexpected end of data' || message === 'Header exceeds max size' || message.startsWith('Invalid tar header');
}

async function startsWithGzipMagic(path: string): Promise<boolean> {
  const stream = createReadStream(path, { start: 0, end: 1 });
  const head: Buffer[] = [];
  for await (const chunk of stream) head.push(chunk as Buffer);
  const bytes = Buffer.concat(head);
  return bytes[0] === 0x1f && bytes[1] === 0x8b;
}
