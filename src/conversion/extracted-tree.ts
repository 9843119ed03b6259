/**
 * What extracting an archive's entries so far would have made on disk, the way Docker and
 * containerd extract a layer: an entry replaces what was at its path (a directory over a directory
 * keeps the directory's contents, anything else removes them), parents missing from the archive
 * are made as directories, and a symlink in the parent path is followed. The entry rules ask it
 * what only earlier entries can tell: whether an entry or a hard link's target lies under a
 * symlink, whether that target exists and is no directory, whether the droplet has its `app`.
 *
 * A hostile archive decides what goes in, so the tree is compact and bounded: one map entry per
 * path (`<parent id>/<name>` → id and kind), each charged what it costs on the heap against a fixed
 * budget, and a walk costs one lookup per path component whatever the archive did before.
 */

/** What is at a path. `implicit-directory`: made only as the parent of a later entry. */
export type ExtractedKind = 'file' | 'directory' | 'implicit-directory' | 'symlink' | 'link';

/** An ancestor of a path that extraction stops at: a symlink it would follow, or no directory. */
export interface BlockedPath {
  /** The ancestor, as a normalised path. */
  readonly blockedAt: string;
  readonly blockerKind: 'symlink' | 'file' | 'link';
}

/** Where a path stands: what is there (`undefined`: nothing), or the ancestor extraction stops at. */
export type PathStanding = { readonly kind: ExtractedKind | undefined } | BlockedPath;

/** Why `place` did not record a path. */
export type PlaceRefusal = BlockedPath | { readonly overBudget: true };

/**
 * How many bytes of heap the remembered paths of one archive may take: what bounds the memory a
 * hostile archive can make a conversion hold, whatever its entry count and name lengths
 * (docs/performance.md, "Memory of a conversion"). Real droplets stay below it: even 500,000
 * entries (CONVERSION_MAX_ENTRIES' default) of a node_modules tree are charged ~43 MB.
 */
const EXTRACTED_TREE_BUDGET_BYTES = 48 * 1024 * 1024;

/**
 * Heap bytes of one map entry apart from its key's characters: the key string's header and the
 * map's slots and buckets, with the slack of a table that grows by doubling (measured on Node 24
 * after a full GC: 40–75 bytes, with keys of 10–4,000 characters).
 */
const ENTRY_OVERHEAD_BYTES = 64;

const KINDS: readonly ExtractedKind[] = ['file', 'directory', 'implicit-directory', 'symlink', 'link'];
const KIND_SLOTS = 8;
const ROOT_ID = 0;

/** The extraction of one archive so far, rooted at the archive's root (always a directory). */
export class ExtractedTree {
  /** `<parent id>/<name>` → `id * KIND_SLOTS + kind index`. */
  readonly #nodes = new Map<string, number>();
  readonly #budgetBytes: number;
  #nextId = ROOT_ID + 1;
  #chargedBytes = 0;
  #lastPlaceReplaced = false;
  #lastPlaceDroppedDirectory = false;

  constructor(budgetBytes: number = EXTRACTED_TREE_BUDGET_BYTES) {
    this.#budgetBytes = budgetBytes;
  }

  /** What the remembered paths may take, in bytes of heap. */
  get budgetBytes(): number {
    return this.#budgetBytes;
  }

  /** Bytes charged to the budget so far. */
  get chargedBytes(): number {
    return this.#chargedBytes;
  }

  /** Whether the last `place` put its entry where something (an entry or a parent) already stood. */
  get lastPlaceReplaced(): boolean {
    return this.#lastPlaceReplaced;
  }

  /** Whether the last `place` put a non-directory where a directory stood, dropping what was under it. */
  get lastPlaceDroppedDirectory(): boolean {
    return this.#lastPlaceDroppedDirectory;
  }

  /** What is at `components` (a normalised path, `[]` for the root) now. */
  find(components: readonly string[]): PathStanding {
    let parent = ROOT_ID;
    for (const [index, name] of components.entries()) {
      const value = this.#nodes.get(childKey(parent, name));
      if (value === undefined) return { kind: undefined };
      const kind = kindOf(value);
      if (index === components.length - 1) return { kind };
      const blocked = blockedAt(components, index, kind);
      if (blocked !== undefined) return blocked;
      parent = idOf(value);
    }
    return { kind: 'directory' };
  }

  /**
   * Records an entry of `kind` at `components` (not the root), making missing parents implicit
   * directories. Records nothing and says why when a parent is a symlink or no directory, or when
   * the path would take the tree past its budget.
   */
  place(components: readonly string[], kind: Exclude<ExtractedKind, 'implicit-directory'>): PlaceRefusal | undefined {
    this.#lastPlaceReplaced = false;
    this.#lastPlaceDroppedDirectory = false;
    let parent = ROOT_ID;
    for (const [index, name] of components.entries()) {
      const key = childKey(parent, name);
      const value = this.#nodes.get(key);
      const last = index === components.length - 1;
      if (value === undefined) {
        if (!this.#charge(key)) return { overBudget: true };
        const id = this.#newId();
        this.#nodes.set(key, encode(id, last ? kind : 'implicit-directory'));
        parent = id;
        continue;
      }
      const existing = kindOf(value);
      if (last) {
        // A directory over a directory keeps its contents; anything else starts afresh under a new
        // id, so the entries that were under the old one can no longer be found.
        const keepsContents = kind === 'directory' && isDirectoryKind(existing);
        this.#nodes.set(key, encode(keepsContents ? idOf(value) : this.#newId(), kind));
        this.#lastPlaceReplaced = true;
        this.#lastPlaceDroppedDirectory = isDirectoryKind(existing) && !keepsContents;
        return undefined;
      }
      const blocked = blockedAt(components, index, existing);
      if (blocked !== undefined) return blocked;
      parent = idOf(value);
    }
    return undefined;
  }

  #newId(): number {
    const id = this.#nextId;
    this.#nextId += 1;
    return id;
  }

  /** Charges a new key's heap cost; false when that would pass the budget. */
  #charge(key: string): boolean {
    // V8 stores a string with any character above U+00FF in two bytes a character.
    const bytes = ENTRY_OVERHEAD_BYTES + key.length * (/[^\u0000-\u00ff]/.test(key) ? 2 : 1);
    if (this.#chargedBytes + bytes > this.#budgetBytes) return false;
    this.#chargedBytes += bytes;
    return true;
  }
}

/**
 * The map key of `name` under the node `parent`. Built with `join`, which copies into a fresh
 * string: `+` could give a string that points into the entry's whole name (V8 slices), and keep
 * it alive at a cost the budget does not see.
 */
function childKey(parent: number, name: string): string {
  return [parent, name].join('/');
}

function encode(id: number, kind: ExtractedKind): number {
  return id * KIND_SLOTS + KINDS.indexOf(kind);
}

function idOf(value: number): number {
  return Math.floor(value / KIND_SLOTS);
}

function kindOf(value: number): ExtractedKind {
  return KINDS[value % KIND_SLOTS] as ExtractedKind;
}

/** Whether extraction made a directory there, from an entry or as a parent. */
export function isDirectoryKind(kind: ExtractedKind): boolean {
  return kind === 'directory' || kind === 'implicit-directory';
}

/** The standing of a path whose ancestor `components[0..index]` is of `kind`, if that stops extraction. */
function blockedAt(components: readonly string[], index: number, kind: ExtractedKind): BlockedPath | undefined {
  if (isDirectoryKind(kind)) return undefined;
  return { blockedAt: components.slice(0, index + 1).join('/'), blockerKind: kind as 'symlink' | 'file' | 'link' };
}
