/**
 * Warm pulls answered from memory: a ready image's manifest never changes (its key names the
 * droplet, rootfs and lifecycle it was built from, and the build is reproducible), nor does the
 * size of a blob under its digest, so once the database has said "ready" there is nothing to ask it
 * again on the next pull. The database round trip was a third of a warm manifest request's time
 * (docs/performance.md).
 *
 * @remarks
 * Images do go away: garbage collection deletes them (and their blobs, after a grace period of an
 * hour or more), and an operator may delete a droplet's images through the admin API. So entries
 * live at most `ttlMs` (a minute by default), after which the database is asked again; `evictDroplet`
 * drops a droplet's entries at once where this process knows of a deletion. Another instance's
 * deletion is seen here when the entry expires, which is well within the blobs' grace period, so a
 * manifest answered from here still leads to blobs that are there. Bounded: the least recently
 * used entries go first.
 */
import type { ImageKey, ImageState } from '../db/queries/images.ts';

/** How big and how fresh the cache is. */
export interface ReadyImageCacheOptions {
  /** Most images (and, separately, most blob sizes) kept; default 2,000 and 20,000. */
  readonly maxImages?: number;
  readonly maxBlobSizes?: number;
  /** Longest an entry is used before the database is asked again; default 60 s. */
  readonly ttlMs?: number;
  /** The clock, for tests. */
  readonly now?: () => number;
  /** Told of every lookup and whether it hit (for /metrics: a falling hit rate means warm pulls ask the database again). */
  readonly onLookup?: (lookup: ReadyImageLookup, hit: boolean) => void;
}

/** What was looked up: an image by its key (pulls by tag), by manifest digest, a blob's size. */
export type ReadyImageLookup = 'image' | 'manifest' | 'blob_size';

/** Ready images by key and by (app, manifest digest), and blob sizes by (app, digest), for a while. */
export class ReadyImageCache {
  readonly #images: ExpiringLru<CachedImage>;
  readonly #byManifest: ExpiringLru<CachedImage>;
  readonly #blobSizes: ExpiringLru<number>;
  readonly #onLookup: (lookup: ReadyImageLookup, hit: boolean) => void;

  constructor(options: ReadyImageCacheOptions = {}) {
    this.#onLookup = options.onLookup ?? (() => undefined);
    const ttlMs = options.ttlMs ?? 60_000;
    const now = options.now ?? Date.now;
    this.#images = new ExpiringLru(options.maxImages ?? 2_000, ttlMs, now);
    this.#byManifest = new ExpiringLru(options.maxImages ?? 2_000, ttlMs, now);
    this.#blobSizes = new ExpiringLru(options.maxBlobSizes ?? 20_000, ttlMs, now);
  }

  /** The ready image of this key, if it was seen ready within the TTL. */
  image(key: ImageKey): ImageState | undefined {
    return this.#counted('image', this.#images.get(imageKeyString(key)));
  }

  /** The ready image of this app with this manifest digest, if it was seen within the TTL. */
  imageByManifest(appGuid: string, manifestDigest: string): ImageState | undefined {
    return this.#counted('manifest', this.#byManifest.get(`${appGuid}\n${manifestDigest}`));
  }

  /** Remembers a ready image of `appGuid` (anything not ready, or without a manifest, is ignored). */
  rememberImage(key: ImageKey, appGuid: string, image: ImageState): void {
    if (image.state !== 'ready' || !image.manifestDigest) return;
    const entry = { ...image, dropletGuid: key.dropletGuid };
    this.#images.set(imageKeyString(key), entry);
    this.#byManifest.set(`${appGuid}\n${image.manifestDigest}`, entry);
  }

  /** Remembers a ready image found by its manifest digest (its droplet unknown here). */
  rememberManifest(appGuid: string, image: ImageState): void {
    if (image.state !== 'ready' || !image.manifestDigest) return;
    this.#byManifest.set(`${appGuid}\n${image.manifestDigest}`, { ...image, dropletGuid: null });
  }

  /** Size of a blob of one of the app's ready images, if it was seen within the TTL. */
  blobSize(appGuid: string, digest: string): number | undefined {
    return this.#counted('blob_size', this.#blobSizes.get(`${appGuid}\n${digest}`));
  }

  rememberBlobSize(appGuid: string, digest: string, size: number): void {
    this.#blobSizes.set(`${appGuid}\n${digest}`, size);
  }

  /**
   * Forgets the images of a droplet: they were deleted or are being converted again. Blob sizes
   * stay until they expire: a deleted image's blobs outlive it by the collector's grace period.
   */
  evictDroplet(dropletGuid: string): void {
    this.#images.deleteWhere((image) => image.dropletGuid === dropletGuid);
    // Images found by digest alone may be this droplet's too.
    this.#byManifest.deleteWhere((image) => image.dropletGuid === dropletGuid || image.dropletGuid === null);
  }

  #counted<T>(lookup: ReadyImageLookup, found: T | undefined): T | undefined {
    this.#onLookup(lookup, found !== undefined);
    return found;
  }
}

/** A ready image and its droplet, when known. */
type CachedImage = ImageState & { readonly dropletGuid: string | null };

function imageKeyString(key: ImageKey): string {
  return `${key.dropletGuid}\n${key.stackDigest}\n${key.foundationDigest}\n${key.lifecycleDigest}`;
}

/** A Map kept in least-recently-used order, with entries that expire `ttlMs` after they were set. */
class ExpiringLru<V> {
  readonly #entries = new Map<string, { readonly value: V; readonly expires: number }>();
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(max: number, ttlMs: number, now: () => number) {
    this.#max = max;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.expires <= this.#now()) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expires: this.#now() + this.#ttlMs });
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
  }

  deleteWhere(matches: (value: V) => boolean): void {
    for (const [key, entry] of this.#entries) if (matches(entry.value)) this.#entries.delete(key);
  }
}
