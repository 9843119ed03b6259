/**
 * The header rule that turns a droplet's tar entries into image-layer entries. Diego extracts a
 * droplet into /home/vcap as user vcap; the image must give `docker run` the same tree, and a
 * hostile droplet must not be able to write outside it or smuggle in what Docker would read as a
 * whiteout. The rule is pure apart from a small per-archive state (what extracting the entries so
 * far would have made, see extracted-tree.ts), so it is tested without streams.
 *
 * Every name is bounded (PATH_MAX, and 1 MiB of PAX records an entry) and so is that state (a
 * byte budget), so what a conversion holds does not grow with what a hostile archive sends.
 */
import type { Header } from 'tar-stream';
import { InvalidDropletError } from '../errors/registry-error.ts';
import { ExtractedTree, isDirectoryKind, type BlockedPath } from './extracted-tree.ts';
import type { EntryHeader } from './rewrite-tar.ts';

/** Longest entry name or link target, in bytes: Linux's PATH_MAX, past which no extraction works. */
const MAX_NAME_BYTES = 4096;

/**
 * Most bytes of PAX records (keys and values, as decoded) an entry may carry, the global ones in
 * force included. tar-stream's own bound is 4 MiB a header; real archives use a few hundred bytes.
 */
const MAX_PAX_RECORD_BYTES = 1024 * 1024;

/** Names quoted in error messages are cut here, so a reason stays readable and small. */
const MAX_QUOTED_CHARS = 100;

/** Who owns every entry a rule emits. */
export interface EntryOwner {
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
}

/** Diego extracts droplets as user vcap, so every droplet file is vcap's whatever its header says. */
export const VCAP_OWNER: EntryOwner = { uid: 2000, gid: 2000, uname: 'vcap', gname: 'vcap' };

/** The lifecycle belongs to the platform: root owns it, so the app (user vcap) cannot replace it. */
export const ROOT_OWNER: EntryOwner = { uid: 0, gid: 0, uname: 'root', gname: 'root' };

/** How one kind of archive is re-rooted into a layer. */
export interface EntryRuleOptions {
  /** Where the archive's root lands in the image, with a trailing slash (`home/vcap/`). */
  readonly prefix: string;
  /** Forced on every entry. */
  readonly owner: EntryOwner;
  /** What the archive is called in error messages. */
  readonly archive: string;
  /** A top-level directory no entry may replace with anything but a directory. */
  readonly requiredDirectory?: string;
}

/** Where a droplet holds the staged app; Diego's launcher runs it from there. */
const APP_DIRECTORY = 'app';

/** A droplet, re-rooted where Diego extracts it. */
const DROPLET_RULE: EntryRuleOptions = { prefix: 'home/vcap/', owner: VCAP_OWNER, archive: 'droplet', requiredDirectory: APP_DIRECTORY };

/** A buildpack_app_lifecycle tarball, re-rooted where Diego unpacks the lifecycle bundle. */
export const LIFECYCLE_RULE: EntryRuleOptions = { prefix: 'tmp/lifecycle/', owner: ROOT_OWNER, archive: 'lifecycle tarball' };

/** What a rule remembers within one archive: the paths extracted so far, relative to the prefix. */
export interface EntryRuleState {
  readonly tree: ExtractedTree;
}

/** A fresh state for one archive; `budgetBytes` bounds the heap its remembered paths may take. */
export function createEntryRuleState(options: { budgetBytes?: number } = {}): EntryRuleState {
  return { tree: new ExtractedTree(options.budgetBytes) };
}

/** The droplet rule: `./app/x` → `home/vcap/app/x`, owned by vcap; `null` drops the entry. */
export function rewriteDropletEntry(header: Header, state: EntryRuleState): EntryHeader | null {
  return rewriteArchiveEntry(header, state, DROPLET_RULE);
}

/**
 * Refuses a droplet whose entries, all through, made no `app` directory (an `./app/` entry or
 * entries under it): an empty or degenerate droplet, whose image would have no app to run.
 */
export function checkDropletComplete(state: EntryRuleState): void {
  const standing = state.tree.find([APP_DIRECTORY]);
  if ('kind' in standing && standing.kind !== undefined && isDirectoryKind(standing.kind)) return;
  throw new InvalidDropletError(`droplet has no ${APP_DIRECTORY}/ directory (no ./${APP_DIRECTORY}/ entry and nothing under it), so its image would have no app to run`);
}

// pack writes mtime as a signed 32-bit count of seconds: anything outside would corrupt the header.
const MAX_MTIME_MS = (2 ** 31 - 1) * 1000;

/**
 * Rewrites one entry header under `options.prefix`, or returns `null` for the archive's own root
 * directory (the image already has it). Throws `InvalidDropletError` naming the entry for anything
 * that must not reach an image. The returned header is built fresh, so nothing of the input (PAX
 * records carrying uid/gid, xattrs) leaks into the layer unchecked.
 */
export function rewriteArchiveEntry(header: Header, state: EntryRuleState, options: EntryRuleOptions): EntryHeader | null {
  const { archive } = options;
  checkSizes(header, archive);
  const type = layerEntryType(header, archive);
  // A layer header cuts a name at its NUL: what would be checked is not what Docker unpacks.
  if (header.name.includes('\0')) throw new InvalidDropletError(`${describeEntry(header, archive)} has a NUL byte in its name`);
  if (header.linkname?.includes('\0')) throw new InvalidDropletError(`${describeEntry(header, archive)} has a NUL byte in its link target`);
  const normalised = normalisePath(header.name, archive);
  if ('problem' in normalised) throw new InvalidDropletError(`${describeEntry(header, archive)} ${normalised.problem}`);
  const { components } = normalised;
  const path = components.join('/');
  if (path === '') {
    if (type === 'directory') return null;
    throw new InvalidDropletError(`${describeEntry(header, archive)} names the ${archive} root but is not a directory`);
  }
  if (path === options.requiredDirectory && type !== 'directory') {
    throw new InvalidDropletError(`${describeEntry(header, archive)} replaces the ${archive}'s ${path}/ directory with a ${type === 'link' ? 'hard link' : type}`);
  }
  const name = options.prefix + path;
  const mtimeMs = Math.min(Math.max(header.mtime.getTime(), 0), MAX_MTIME_MS);
  const rewritten: EntryHeader = {
    name: type === 'directory' ? `${name}/` : name,
    type,
    mode: header.mode,
    mtime: new Date(mtimeMs),
    size: type === 'file' ? header.size : 0,
    ...options.owner,
  };
  if (type === 'symlink') {
    if (!header.linkname) throw new InvalidDropletError(`symlink ${quote(header.name)} in the ${archive} has an empty target`);
    // Symlink targets resolve inside the container at run time, as they do on Diego.
    rewritten.linkname = header.linkname;
  }
  if (type === 'link') {
    // The entry's own place first: where it would land matters more than what it points to.
    const standing = state.tree.find(components);
    if ('blockedAt' in standing) throw new InvalidDropletError(`${describeEntry(header, archive)} lies under ${describeBlock(standing, archive)}`);
    rewritten.linkname = hardLinkTarget(header, state, options);
  }
  const refusal = state.tree.place(components, type);
  if (refusal !== undefined) {
    if ('overBudget' in refusal) {
      const budget = state.tree.budgetBytes;
      const shown = budget % 2 ** 20 === 0 ? `${budget / 2 ** 20} MiB` : `${budget} bytes`;
      throw new InvalidDropletError(`${archive} has more paths than a conversion keeps track of (over ${shown} of names and bookkeeping), reached at entry ${quote(header.name)}`);
    }
    // Docker and containerd follow a symlink when unpacking: the entry would land wherever it points.
    throw new InvalidDropletError(`${describeEntry(header, archive)} lies under ${describeBlock(refusal, archive)}`);
  }
  return rewritten;
}

type LayerEntryType = 'file' | 'directory' | 'symlink' | 'link';

/** `text` as a JSON string, cut short when long: a hostile name must not make a megabyte-long reason. */
function quote(text: string): string {
  if (text.length <= MAX_QUOTED_CHARS) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, MAX_QUOTED_CHARS))}… (${Buffer.byteLength(text)} bytes)`;
}

function describeEntry(header: Header, archive: string): string {
  return `${archive} entry ${quote(header.name)}`;
}

/** The ancestor extraction would stop at, as the end of "… lies under …". */
function describeBlock(blocked: BlockedPath, archive: string): string {
  if (blocked.blockerKind === 'symlink') return `the symlink ${quote(blocked.blockedAt)} earlier in the ${archive}`;
  const kind = blocked.blockerKind === 'link' ? 'hard link' : 'file';
  return `${quote(blocked.blockedAt)}, which is a ${kind} (not a directory) at that point of the ${archive}`;
}

/** Bounds what one entry's names and PAX records may make anything hold (checked before any other work on them). */
function checkSizes(header: Header, archive: string): void {
  const nameBytes = Buffer.byteLength(header.name);
  if (nameBytes > MAX_NAME_BYTES) throw new InvalidDropletError(`${describeEntry(header, archive)} has a name of ${nameBytes} bytes, over the limit of ${MAX_NAME_BYTES} (PATH_MAX)`);
  const linkBytes = header.linkname ? Buffer.byteLength(header.linkname) : 0;
  if (linkBytes > MAX_NAME_BYTES) {
    throw new InvalidDropletError(`${describeEntry(header, archive)} has a link target of ${linkBytes} bytes, over the limit of ${MAX_NAME_BYTES} (PATH_MAX)`);
  }
  const paxBytes = paxRecordBytes(header.pax);
  if (paxBytes > MAX_PAX_RECORD_BYTES) {
    throw new InvalidDropletError(`${describeEntry(header, archive)} has ${paxBytes} bytes of PAX extended header records, over the limit of ${MAX_PAX_RECORD_BYTES} (1 MiB)`);
  }
}

/** The decoded size of an entry's PAX records: their keys and values, in bytes. */
function paxRecordBytes(pax: unknown): number {
  if (typeof pax !== 'object' || pax === null) return 0;
  let bytes = 0;
  for (const [key, value] of Object.entries(pax)) bytes += Buffer.byteLength(key) + Buffer.byteLength(String(value));
  return bytes;
}

function layerEntryType(header: Header, archive: string): LayerEntryType {
  // PAX sparse files keep a map in their records and a packed body; copied as is they would unpack wrong.
  const { pax } = header;
  if (typeof pax === 'object' && pax !== null && Object.keys(pax).some((key) => key.startsWith('GNU.sparse.'))) {
    throw new InvalidDropletError(`${describeEntry(header, archive)} is a sparse file, which cannot be rewritten into a layer`);
  }
  switch (header.type) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
    case 'symlink':
    case 'link':
      return header.type;
    case 'character-device':
    case 'block-device':
    case 'fifo':
      throw new InvalidDropletError(`${describeEntry(header, archive)} is a ${header.type.replace('-', ' ')}; only files, directories and links are allowed`);
    default:
      throw new InvalidDropletError(`${describeEntry(header, archive)} has an unsupported tar entry type`);
  }
}

function hardLinkTarget(header: Header, state: EntryRuleState, options: EntryRuleOptions): string {
  const { archive } = options;
  if (!header.linkname) throw new InvalidDropletError(`hard link ${quote(header.name)} in the ${archive} has an empty target`);
  const link = `hard link ${quote(header.name)} points to ${quote(header.linkname)}`;
  const target = normalisePath(header.linkname, archive);
  if ('problem' in target) throw new InvalidDropletError(`${link}, which ${target.problem}`);
  const standing = state.tree.find(target.components);
  // Extraction resolves the target's parents too: through a symlink the link would be to a file outside the layer.
  if ('blockedAt' in standing) throw new InvalidDropletError(`${link}, which lies under ${describeBlock(standing, archive)}`);
  // A hard link can only be created to something already extracted; Docker's extraction fails otherwise.
  if (standing.kind === undefined) throw new InvalidDropletError(`${link} which is not earlier in the ${archive}`);
  if (isDirectoryKind(standing.kind)) throw new InvalidDropletError(`${link}, which is a directory`);
  return options.prefix + target.components.join('/');
}

type NormalisedPath = { components: string[] } | { problem: string };

/**
 * `./app//x/./y` → `app/x/y`. Absolute paths and paths climbing above the root are refused, as is
 * any component starting with `.wh.`: Docker reads those as whiteouts and would delete files of the
 * layers below instead of creating the entry.
 */
function normalisePath(raw: string, archive: string): NormalisedPath {
  if (raw.startsWith('/')) return { problem: 'is an absolute path' };
  const components: string[] = [];
  for (const component of raw.split('/')) {
    if (component === '' || component === '.') continue;
    if (component === '..') {
      if (components.pop() === undefined) return { problem: `escapes the ${archive} through ".."` };
      continue;
    }
    components.push(component);
  }
  if (components.some((component) => component.startsWith('.wh.'))) {
    return { problem: 'has a path component starting with ".wh.", which Docker reads as a whiteout' };
  }
  return { components };
}
