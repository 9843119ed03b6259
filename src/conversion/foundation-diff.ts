/**
 * What a foundation's customized rootfs (cflinuxfs4-rootfs-setup's `rootfs.tar`: the stack
 * extracted, the foundation's CAs added, `update-ca-certificates` run, tarred again) holds that
 * differs from the stack tarball it was made from: the paths added or changed (content, mode,
 * owner, type, link target, device numbers, extended attributes; never mtime, nor entry order,
 * nor which hard-linked name tar stored first), and the paths removed.
 *
 * Both tarballs are streamed. The stack's entries are indexed (path → a hash of what is there), so
 * memory grows with the entry count, which is bounded, and not with file sizes; the customized
 * tree is compared entry by entry as it streams by, and the content of what differs is copied to
 * a spool directory under its sha256, from where the foundation layer is written. Content that
 * is only known to differ once hashed (a file changed in place to the same size, a new hard link
 * to an unchanged file) is fetched by a second read of the customized tree, only for those paths.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { InvalidLayerFileError } from './invalid-layer-file-error.ts';
import { readTreeTarball, type TreeEntry } from './stack-tree-entries.ts';

/** A path of the customized tree that the foundation layer carries. */
export interface ChangedEntry {
  readonly entry: TreeEntry;
  /** For a file: `sha256:<hex>` of its content, in the spool (through the hard link, for one). */
  readonly contentDigest: string | null;
  /** Names that share one file share this key: the path tar stored the file's content under. */
  readonly fileKey: string | null;
}

export interface FoundationDiff {
  /** Added or changed paths, sorted by path. */
  readonly changed: readonly ChangedEntry[];
  /**
   * Paths of the stack the customized tree removed, or where it replaced a directory by something
   * else or the reverse (a whiteout first makes sure no extractor merges the two), sorted; a removed
   * directory's contents are not listed.
   */
  readonly removed: readonly string[];
}

export interface FoundationDiffOptions {
  readonly stackTarball: string;
  readonly customizedTarball: string;
  /** Where differing contents are copied, each as a file named by its sha256 hex: an empty directory the caller removes. */
  readonly spoolDir: string;
  /** Each tarball is refused past this many entries (what bounds the index's memory). */
  readonly maxEntries: number;
  readonly signal?: AbortSignal | undefined;
}

/** What the stack has at a path, compactly: the index holds one of these per stack entry. */
interface StackRecord {
  /** Hash of everything but the content: type, mode, owner, link target, devices, xattrs, size. */
  readonly shape: string;
  /** `sha256:<hex>` of a file's content; null for anything else. */
  readonly content: string | null;
  readonly directory: boolean;
  /** Whether the customized tree has this path (a directory, if the stack has one). */
  seen: boolean;
  /** Whether the customized tree has a directory here where the stack has none, or the reverse. */
  retyped: boolean;
}

/** Compares the two trees; differing content lands in `spoolDir`. */
export async function diffFoundation(options: FoundationDiffOptions): Promise<FoundationDiff> {
  const stack = await indexStack(options);
  const spool = createSpool(options.spoolDir);
  const changed = new Map<string, ChangedEntry>();
  /** Paths whose content must be fetched by a second read: a file's own path, or a hard link's target. */
  const contentWanted = new Set<string>();
  const customizedRole = 'customized rootfs';

  await readTreeTarball(options.customizedTarball, { maxEntries: options.maxEntries, signal: options.signal, role: customizedRole }, {
    copyContentTo(entry) {
      const known = stack.get(entry.path);
      // Certainly different before the content is read: worth a copy on the way.
      return known === undefined || known.shape !== shapeOf(entry) ? spool.startCopy() : null;
    },
    async visit(entry, ownContent) {
      let content = ownContent;
      let shape = shapeOf(entry);
      let fileKey: string | null = entry.type === 'file' ? entry.path : null;
      if (entry.hardlinkTo !== null) {
        const target = resolveLinkTarget(entry.hardlinkTo, changed, stack, options.customizedTarball, customizedRole);
        ({ content, shape } = target);
        fileKey = entry.hardlinkTo;
      }
      if (ownContent !== null) await spool.finishCopy(ownContent);
      const known = stack.get(entry.path);
      if (known && known.directory !== (entry.type === 'directory')) known.retyped = true;
      else if (known) known.seen = true;
      if (known && known.shape === shape && known.content === content) {
        changed.delete(entry.path);
        return;
      }
      changed.set(entry.path, { entry, contentDigest: content, fileKey });
      if (content !== null && !spool.has(content)) contentWanted.add(fileKey ?? entry.path);
    },
  });

  const stillMissing = [...changed.values()].filter((change) => change.contentDigest !== null && !spool.has(change.contentDigest));
  if (stillMissing.length > 0) await fetchContents(options, spool, contentWanted);
  for (const change of stillMissing) {
    if (!spool.has(change.contentDigest as string)) {
      throw new InvalidLayerFileError(`customized rootfs ${options.customizedTarball} changed while it was read: the content of ${change.entry.path} is not there any more`);
    }
  }

  return { changed: [...changed.values()].sort((a, b) => compare(a.entry.path, b.entry.path)), removed: topmostRemoved(stack) };
}

/** Reads the stack tarball into its index. */
async function indexStack(options: FoundationDiffOptions): Promise<Map<string, StackRecord>> {
  const index = new Map<string, StackRecord>();
  await readTreeTarball(options.stackTarball, { maxEntries: options.maxEntries, signal: options.signal, role: 'stack tarball' }, {
    visit(entry, content) {
      if (entry.hardlinkTo !== null) {
        const target = index.get(entry.hardlinkTo);
        if (!target || target.directory) {
          throw new InvalidLayerFileError(`stack tarball ${options.stackTarball}: hard link ${entry.path} points at ${entry.hardlinkTo}, which is no file before it`);
        }
        index.set(entry.path, { ...target, seen: false, retyped: false });
        return;
      }
      index.set(entry.path, { shape: shapeOf(entry), content, directory: entry.type === 'directory', seen: false, retyped: false });
    },
  });
  return index;
}

/** What a hard link of the customized tree shares: its target's changed record, or else the stack's (the target was the same there). */
function resolveLinkTarget(
  target: string,
  changed: ReadonlyMap<string, ChangedEntry>,
  stack: ReadonlyMap<string, StackRecord>,
  file: string,
  role: string,
): { content: string | null; shape: string } {
  const change = changed.get(target);
  if (change) {
    if (change.entry.type !== 'file') throw new InvalidLayerFileError(`${role} ${file}: a hard link points at ${target}, which is no file`);
    return { content: change.contentDigest, shape: shapeOf(change.entry) };
  }
  const known = stack.get(target);
  if (!known?.seen || known.directory) throw new InvalidLayerFileError(`${role} ${file}: a hard link points at ${target}, which is no file before it`);
  return { content: known.content, shape: known.shape };
}

/** Reads the customized tree again for the contents the first read could not know to keep. */
async function fetchContents(options: FoundationDiffOptions, spool: Spool, paths: ReadonlySet<string>): Promise<void> {
  await readTreeTarball(options.customizedTarball, { maxEntries: options.maxEntries, signal: options.signal, role: 'customized rootfs' }, {
    copyContentTo: (entry) => (paths.has(entry.path) ? spool.startCopy() : null),
    async visit(entry, content) {
      if (content !== null && paths.has(entry.path)) await spool.finishCopy(content);
    },
  });
}

/** Removed (or retyped) stack paths with no removed ancestor: one whiteout hides a whole subtree. */
function topmostRemoved(stack: ReadonlyMap<string, StackRecord>): string[] {
  const gone = (path: string): boolean => {
    const record = stack.get(path);
    return record !== undefined && (record.retyped || !record.seen);
  };
  const removed: string[] = [];
  for (const path of stack.keys()) {
    if (!gone(path)) continue;
    let ancestor = path;
    let hidden = false;
    for (let slash = ancestor.lastIndexOf('/'); slash > 0 && !hidden; slash = ancestor.lastIndexOf('/')) {
      ancestor = ancestor.slice(0, slash);
      hidden = gone(ancestor) && stack.get(ancestor)?.directory === true;
    }
    if (!hidden) removed.push(path);
  }
  return removed.sort(compare);
}

/** Everything but the content, hashed: two entries with the same shape and content are the same to a container. */
function shapeOf(entry: TreeEntry): string {
  const described = JSON.stringify([entry.type, entry.mode, entry.uid, entry.gid, entry.linkname, entry.devmajor, entry.devminor, entry.size, entry.xattrs]);
  return createHash('sha256').update(described).digest('base64');
}

/** Byte order of paths (as UTF-16 code units), the same on every machine. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Contents kept on disk under their sha256, each once. */
interface Spool {
  /** A fresh file to copy a content into, until `finishCopy` names it. */
  startCopy(): Writable;
  /** Names the last started copy after its digest (or drops it, when that content is already kept). */
  finishCopy(contentDigest: string): Promise<void>;
  has(contentDigest: string): boolean;
}

function createSpool(dir: string): Spool {
  const kept = new Set<string>();
  let pending: string | null = null;
  let copies = 0;
  return {
    startCopy() {
      pending = join(dir, `copy-${(copies += 1)}`);
      return createWriteStream(pending);
    },
    async finishCopy(contentDigest) {
      const copy = pending;
      pending = null;
      if (copy === null) return;
      if (kept.has(contentDigest)) {
        await rm(copy, { force: true });
        return;
      }
      await rename(copy, spooledPath(dir, contentDigest));
      kept.add(contentDigest);
    },
    has: (contentDigest) => kept.has(contentDigest),
  };
}

/** Where the spool keeps a content. */
export function spooledPath(dir: string, contentDigest: string): string {
  return join(dir, contentDigest.slice('sha256:'.length));
}

/** The spooled content's size, for a tar header. */
export async function spooledSize(dir: string, contentDigest: string): Promise<number> {
  return (await stat(spooledPath(dir, contentDigest))).size;
}
