/**
 * The header rule that turns a droplet's tar entries into image-layer entries. Diego extracts a
 * droplet into /home/vcap as user vcap; the image must give `docker run` the same tree, and a
 * hostile droplet must not be able to write outside it or smuggle in what Docker would read as a
 * whiteout. The rule is pure apart from a small per-archive state (the entries seen so far, which a
 * hard link may point to), so it is tested without streams.
 */
import type { Header } from 'tar-stream';
import { InvalidDropletError } from '../errors/registry-error.ts';
import type { EntryHeader } from './rewrite-tar.ts';

/** Who owns every entry a rule emits. */
export interface EntryOwner {
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
}

/** Diego extracts droplets as user vcap, so every droplet file is vcap's whatever its header says. */
const VCAP_OWNER: EntryOwner = { uid: 2000, gid: 2000, uname: 'vcap', gname: 'vcap' };

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
}

/** A droplet, re-rooted where Diego extracts it. */
const DROPLET_RULE: EntryRuleOptions = { prefix: 'home/vcap/', owner: VCAP_OWNER, archive: 'droplet' };

/** A buildpack_app_lifecycle tarball, re-rooted where Diego unpacks the lifecycle bundle. */
export const LIFECYCLE_RULE: EntryRuleOptions = { prefix: 'tmp/lifecycle/', owner: ROOT_OWNER, archive: 'lifecycle tarball' };

/**
 * What a rule remembers within one archive: every path emitted so far (relative to the prefix, to
 * keep it small: about 100 bytes an entry) and its type, and which of them are symlinks now.
 */
export interface EntryRuleState {
  readonly emitted: Map<string, string>;
  /** Paths whose latest entry is a symlink: nothing may be extracted through them. */
  readonly symlinks: Set<string>;
}

/** A fresh state for one archive. */
export function createEntryRuleState(): EntryRuleState {
  return { emitted: new Map(), symlinks: new Set() };
}

/** The droplet rule: `./app/x` → `home/vcap/app/x`, owned by vcap; `null` drops the entry. */
export function rewriteDropletEntry(header: Header, state: EntryRuleState): EntryHeader | null {
  return rewriteArchiveEntry(header, state, DROPLET_RULE);
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
  const type = layerEntryType(header, archive);
  // A layer header cuts a name at its NUL: what would be checked is not what Docker unpacks.
  if (header.name.includes('\0')) throw new InvalidDropletError(`${describeEntry(header, archive)} has a NUL byte in its name`);
  if (header.linkname?.includes('\0')) throw new InvalidDropletError(`${describeEntry(header, archive)} has a NUL byte in its link target`);
  const normalised = normalisePath(header.name, archive);
  if ('problem' in normalised) throw new InvalidDropletError(`${describeEntry(header, archive)} ${normalised.problem}`);
  const path = normalised.components.join('/');
  const symlinkAbove = symlinkAncestor(normalised.components, state);
  if (symlinkAbove !== undefined) {
    // Docker and containerd follow the symlink when unpacking: the entry would land wherever it points.
    throw new InvalidDropletError(`${describeEntry(header, archive)} lies under the symlink ${JSON.stringify(symlinkAbove)} earlier in the ${archive}`);
  }
  if (path === '') {
    if (type === 'directory') return null;
    throw new InvalidDropletError(`${describeEntry(header, archive)} names the ${archive} root but is not a directory`);
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
    if (!header.linkname) throw new InvalidDropletError(`symlink ${JSON.stringify(header.name)} in the ${archive} has an empty target`);
    // Symlink targets resolve inside the container at run time, as they do on Diego.
    rewritten.linkname = header.linkname;
  }
  if (type === 'link') rewritten.linkname = hardLinkTarget(header, state, options);
  state.emitted.set(path, type);
  // A later entry of the same path replaces the symlink, as on extraction.
  if (type === 'symlink') state.symlinks.add(path);
  else state.symlinks.delete(path);
  return rewritten;
}

/** A directory above the entry that the archive made a symlink (the outermost), if any. */
function symlinkAncestor(components: readonly string[], state: EntryRuleState): string | undefined {
  if (state.symlinks.size === 0) return undefined;
  let ancestor = '';
  for (const component of components.slice(0, -1)) {
    ancestor = ancestor === '' ? component : `${ancestor}/${component}`;
    if (state.symlinks.has(ancestor)) return ancestor;
  }
  return undefined;
}

type LayerEntryType = 'file' | 'directory' | 'symlink' | 'link';

function describeEntry(header: Header, archive: string): string {
  return `${archive} entry ${JSON.stringify(header.name)}`;
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
  if (!header.linkname) throw new InvalidDropletError(`hard link ${JSON.stringify(header.name)} in the ${options.archive} has an empty target`);
  const link = `hard link ${JSON.stringify(header.name)} points to ${JSON.stringify(header.linkname)}`;
  const target = normalisePath(header.linkname, options.archive);
  if ('problem' in target) throw new InvalidDropletError(`${link}, which ${target.problem}`);
  const targetPath = target.components.join('/');
  const targetType = targetPath === '' ? 'directory' : state.emitted.get(targetPath);
  // A hard link can only be created to something already extracted; Docker's extraction fails otherwise.
  if (targetType === undefined) throw new InvalidDropletError(`${link} which is not earlier in the ${options.archive}`);
  if (targetType === 'directory') throw new InvalidDropletError(`${link}, which is a directory`);
  return options.prefix + targetPath;
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
