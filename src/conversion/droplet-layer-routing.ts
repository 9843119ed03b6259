/**
 * Which layer of a split droplet each entry goes to. What buildpack `i` supplied lives under
 * `deps/<i>/` (the buildpack lifecycle's DEPS_DIR layout): each such directory becomes a layer of
 * its own, timestamps normalised to CNB's fixed instant and owners and modes kept, so equal
 * dependencies give byte-equal layers (one digest) across restages and across apps. Everything
 * else (`app/`, `profile.d/`, `staging_info.yml`, `tmp/`, `logs/`, the `deps/` entry itself…) is
 * the app layer, mtimes kept. Layers go bottom → top: deps by index, then app.
 *
 * Ancestors. A deps layer starts with one directory entry, `home/vcap/deps/` (vcap, 0755, the
 * fixed instant), the same in every app, so extractors that apply the layer on its own make it
 * vcap's; the app layer above carries the droplet's real `deps/` entry, which wins (an upper
 * layer's directory entry does in an overlay filesystem, and it is applied last elsewhere).
 * `home/` and `home/vcap/` are left out, as they are of the single layer: they belong to the
 * rootfs (the droplet's own root entry is dropped), and an entry for them would replace the
 * rootfs's in extractors that apply layers into one directory.
 *
 * Hard links. A tar hard link names an earlier entry of the same archive, and extractors that
 * apply each layer into a directory of its own (Docker's overlay2) cannot link to another layer.
 * So a link goes into the layer of its target instead. Into a lower layer (a link in `app/` to a
 * file of `deps/0`) nothing else is needed: its directories, made implicitly there, are those of
 * the layer above. Into a higher layer (a link in `deps/0` to a file of `app/` or `deps/1`) the
 * link also gets its directories inside `deps/<i>/` as entries there (vcap, the fixed instant, and
 * the mode the droplet gave them; 0755 until it gives one, and a copy of its entry follows when it
 * gives another): made implicitly they would be root's and hide the real ones below. Such a link makes its
 * target's layer depend on more than its own directory: real droplets hardly have any.
 *
 * Some droplets cannot be split faithfully: a path written twice where one of the writes is a link
 * moved to another layer, so the layer order would pick the wrong write. They are refused with an
 * error that says so; the single-layer conversion takes them.
 */
import { InvalidDropletError } from '../errors/registry-error.ts';
import { VCAP_OWNER } from './droplet-entry-rules.ts';
import type { EntryHeader } from './rewrite-tar.ts';

/**
 * Deps directories that become layers of their own: `deps/0` … `deps/31`, named in decimal
 * without leading zeros. Any other (a 33rd buildpack, `deps/007`, `deps/cache`) stays in the app
 * layer, so a droplet cannot make a conversion hold more than 33 layers in flight.
 */
export const MAX_DEPS_LAYERS = 32;

/** Every timestamp in a deps layer: CNB's choice (1980-01-01T00:00:01Z, the earliest a zip can carry). */
export const DEPS_LAYER_MTIME = new Date('1980-01-01T00:00:01Z');

/** The app layer's key; a deps layer's key is its index (`'0'`, `'1'` …). */
export const APP_LAYER = 'app';

const DEPS_PREFIX = 'home/vcap/deps/';
export const DROPLET_PREFIX = 'home/vcap/';
const DEFAULT_DIRECTORY_MODE = 0o755;
const DEPS_INDEX = /^(?:0|[1-9][0-9]?)$/;

/**
 * Heap bytes the router's notes may take (links moved to another layer, directories made for
 * them and copies of their entries, deps directories with a mode other than 0755): none in real
 * droplets, bounded for hostile ones.
 */
const NOTES_BUDGET_BYTES = 16 * 1024 * 1024;
/** A note's heap cost apart from its key's characters (map slot, object), as in extracted-tree.ts. */
const NOTE_OVERHEAD_BYTES = 128;

/** Where one entry goes. */
export interface RoutedDropletEntry {
  /** `APP_LAYER` or a deps index. */
  readonly layer: string;
  readonly header: EntryHeader;
  /** Directory entries the layer needs before this one. */
  readonly before: readonly EntryHeader[];
  /** Copies of this directory entry for higher layers that made it for a link (see `route`). */
  readonly copies: readonly LayerEntry[];
}

/** An entry for another layer. */
export interface LayerEntry {
  readonly layer: string;
  readonly header: EntryHeader;
}

/** What the router remembers about one path. */
interface PathNote {
  /** The layer a hard link at this path went to, when not its own. */
  movedTo?: string | undefined;
  /** The mode of this deps directory, when not 0755. */
  directoryMode?: number | undefined;
  /** Layers this directory was written into for a link moved up, with the mode last written there. */
  ancestorIn?: Map<string, number>;
}

/** Bottom → top: deps by index, then app. */
export function layerRank(layer: string): number {
  return layer === APP_LAYER ? MAX_DEPS_LAYERS : Number(layer);
}

/** Routes the rewritten entries of one droplet. */
export class DropletLayerRouter {
  readonly #splitDeps: boolean;
  readonly #notes = new Map<string, PathNote>();
  readonly #started = new Set<string>();
  #chargedBytes = 0;

  constructor(options: { readonly splitDeps: boolean }) {
    this.#splitDeps = options.splitDeps;
  }

  /** The layer whose own content `path` (a layer path, no trailing slash) is. */
  layerOf(path: string): string {
    if (!this.#splitDeps || !path.startsWith(DEPS_PREFIX)) return APP_LAYER;
    const rest = path.slice(DEPS_PREFIX.length);
    const slash = rest.indexOf('/');
    const name = slash === -1 ? rest : rest.slice(0, slash);
    return DEPS_INDEX.test(name) && Number(name) < MAX_DEPS_LAYERS ? name : APP_LAYER;
  }

  /**
   * Routes one entry, as the droplet rule rewrote it; `replaced`: whether something stood at its
   * path before it (see ExtractedTree.lastPlaceReplaced). Throws when the split cannot express it.
   */
  route(header: EntryHeader, replaced: boolean): RoutedDropletEntry {
    if (!this.#splitDeps) return { layer: APP_LAYER, header, before: [], copies: [] };
    const path = header.name.endsWith('/') ? header.name.slice(0, -1) : header.name;
    const own = this.layerOf(path);
    const layer = header.type === 'link' && header.linkname !== undefined ? this.#holderOf(header.linkname) : own;
    this.#refuseShadowed(path, header, own, layer, replaced);

    // Whatever lands in a deps layer is normalized, a hard link moved there from app/ too: else its staging time would change the layer on every restage.
    if (own !== APP_LAYER || layer !== APP_LAYER) header.mtime = DEPS_LAYER_MTIME;
    const before: EntryHeader[] = [];
    if (layer !== APP_LAYER && !this.#started.has(layer)) {
      this.#started.add(layer);
      before.push(directoryHeader(DEPS_PREFIX, DEFAULT_DIRECTORY_MODE));
    }
    if (layerRank(layer) > layerRank(own)) before.push(...this.#directoriesFor(path, own, layer));
    const copies = header.type === 'directory' ? this.#copiesOf(path, header) : [];
    this.#remember(path, header, own, layer);
    return { layer, header, before, copies };
  }

  /** Whether a deps layer has been started: until then everything is in the app layer, as in one layer. */
  get splitSoFar(): boolean {
    return this.#started.size > 0;
  }

  /** The layer holding the entry at `path` now. */
  #holderOf(path: string): string {
    return this.#notes.get(path)?.movedTo ?? this.layerOf(path);
  }

  #refuseShadowed(path: string, header: EntryHeader, own: string, layer: string, replaced: boolean): void {
    const note = this.#notes.get(path);
    const rank = layerRank(layer);
    const shown = JSON.stringify(`./${path.slice(DROPLET_PREFIX.length)}`);
    const why = 'so the layers would show the earlier one; split droplet layers cannot express it (give the path one entry)';
    if (note?.movedTo !== undefined && layerRank(note.movedTo) > rank) {
      throw new InvalidDropletError(`droplet entry ${shown} replaces a hard link that went into a higher layer, its target's, ${why}`);
    }
    if (header.type !== 'directory' && note?.ancestorIn !== undefined && [...note.ancestorIn.keys()].some((holder) => layerRank(holder) > rank)) {
      throw new InvalidDropletError(`droplet entry ${shown} replaces a directory a hard link needed in a higher layer, its target's, ${why}`);
    }
    if (replaced && rank < layerRank(own) && note?.movedTo === undefined) {
      throw new InvalidDropletError(`hard link ${shown} replaces an earlier entry but goes into a lower layer, its target's, ${why}`);
    }
  }

  /** The directories from `deps/<own>/` down to the parent of `path`, for a link moved up into `layer`. */
  #directoriesFor(path: string, own: string, layer: string): EntryHeader[] {
    const root = `${DEPS_PREFIX}${own}`;
    if (!path.startsWith(`${root}/`)) return [];
    const directories: EntryHeader[] = [];
    let directory = root;
    for (const component of ['', ...path.slice(root.length + 1).split('/').slice(0, -1)]) {
      if (component !== '') directory = `${directory}/${component}`;
      const note = this.#note(directory);
      note.ancestorIn ??= new Map();
      if (note.ancestorIn.has(layer)) continue;
      const mode = note.directoryMode ?? DEFAULT_DIRECTORY_MODE;
      note.ancestorIn.set(layer, mode);
      directories.push(directoryHeader(`${directory}/`, mode));
    }
    return directories;
  }

  /**
   * A deps directory's entry arriving after a link moved up made the directory in a higher layer,
   * with another mode: that layer's directory would hide this one's mode, so it gets a copy. Each
   * copy is charged to the notes' budget, so entries given again and again cannot multiply the output.
   */
  #copiesOf(path: string, header: EntryHeader): LayerEntry[] {
    const made = this.#notes.get(path)?.ancestorIn;
    if (made === undefined) return [];
    const mode = header.mode ?? DEFAULT_DIRECTORY_MODE;
    const copies: LayerEntry[] = [];
    for (const [layer, written] of made) {
      if (written === mode) continue;
      this.#charge(NOTE_OVERHEAD_BYTES, path);
      made.set(layer, mode);
      copies.push({ layer, header: directoryHeader(header.name, mode) });
    }
    return copies;
  }

  #remember(path: string, header: EntryHeader, own: string, layer: string): void {
    if (layer !== own) this.#note(path).movedTo = layer;
    else {
      const note = this.#notes.get(path);
      if (note !== undefined) note.movedTo = undefined;
    }
    if (header.type === 'directory' && own !== APP_LAYER) {
      const mode = header.mode ?? DEFAULT_DIRECTORY_MODE;
      if (mode !== DEFAULT_DIRECTORY_MODE) this.#note(path).directoryMode = mode;
      else {
        const note = this.#notes.get(path);
        if (note !== undefined) note.directoryMode = undefined;
      }
    }
  }

  /** The note of `path`, made (and charged to the budget) when missing. */
  #note(path: string): PathNote {
    let note = this.#notes.get(path);
    if (note === undefined) {
      // V8 stores a string with any character above U+00FF in two bytes a character.
      this.#charge(NOTE_OVERHEAD_BYTES + path.length * (/[^\u0000-\u00ff]/.test(path) ? 2 : 1), path);
      note = {};
      this.#notes.set(path, note);
    }
    return note;
  }

  #charge(bytes: number, path: string): void {
    this.#chargedBytes += bytes;
    if (this.#chargedBytes > NOTES_BUDGET_BYTES) {
      throw new InvalidDropletError(
        `droplet has more hard links across deps layers and unusual deps directory modes than a conversion keeps track of (over ${NOTES_BUDGET_BYTES / 2 ** 20} MiB of names), reached at ${JSON.stringify(`./${path.slice(DROPLET_PREFIX.length)}`)}`,
      );
    }
  }
}

function directoryHeader(name: string, mode: number): EntryHeader {
  return { name, type: 'directory', mode, mtime: DEPS_LAYER_MTIME, size: 0, ...VCAP_OWNER };
}
