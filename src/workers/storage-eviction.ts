/**
 * What garbage collection does when the registry's blobs take the storage budget or more: which
 * blobs it deletes before their grace period and which images it evicts, least recently pulled
 * first, to bring usage under `EVICTION_TARGET` of the budget. Pure: the collector loads the
 * figures and carries the plan out.
 *
 * @remarks
 * Usage counts every blob, unreferenced ones waiting out the grace period included (they take
 * the disk). Space is freed in the order that costs clients least: the blobs the run's sweep
 * deletes anyway; then the blobs no image references any more (oldest mark first: only a client
 * in the middle of pulling an image already removed may still want them); then whole images,
 * each freeing only the blobs nothing left references (a layer shared with another image, or
 * kept as a droplet's converted layer while an image of that droplet remains, or a base layer of
 * the running configuration, frees nothing). It stops as soon as usage is at the target, so the
 * grace period is skipped only as far as the budget needs.
 */

/** Over the budget, collection evicts down to this share of it, so the next few conversions do not hit the budget again at once. */
export const EVICTION_TARGET = 0.9;

export interface EvictionInput {
  readonly budgetBytes: number;
  /** Every blob with its size, in the order blobs nothing references are best deleted early. */
  readonly blobs: ReadonlyArray<{ readonly digest: string; readonly size: number }>;
  /** Every image with the digests it refers to. */
  readonly images: ReadonlyArray<{ readonly id: number; readonly dropletGuid: string; readonly digests: readonly string[] }>;
  /** Each droplet's converted layers: referenced while an image of the droplet remains. */
  readonly droplets: ReadonlyMap<string, readonly string[]>;
  /** Digests always referenced (the running configuration's base layers). */
  readonly keep: readonly string[];
  /** Images the run removes for other reasons. */
  readonly removing: ReadonlySet<number>;
  /** Blobs the run's sweep deletes anyway (unreferenced past the grace period). */
  readonly sweepable: ReadonlySet<string>;
  /** Images that may be evicted, least recently pulled first. */
  readonly candidates: readonly number[];
}

export interface EvictionPlan {
  /** Bytes of every blob before the run. */
  readonly usedBytes: number;
  /** What eviction brings usage down to (never above the budget). */
  readonly targetBytes: number;
  /** Usage is at or over the budget: the run frees space down to the target. */
  readonly overBudget: boolean;
  /** Images to evict, in order. */
  readonly evict: readonly number[];
  /** Blobs to delete without waiting out the grace period, in order. */
  readonly deleteEarly: readonly string[];
  /** Usage once the sweep, the early deletions and the evictions are done. */
  readonly projectedBytes: number;
}

export function planEviction(input: EvictionInput): EvictionPlan {
  const sizes = new Map(input.blobs.map((blob) => [blob.digest, blob.size]));
  const usedBytes = [...sizes.values()].reduce((sum, size) => sum + size, 0);
  const targetBytes = Math.floor(input.budgetBytes * EVICTION_TARGET);
  const overBudget = input.budgetBytes > 0 && usedBytes >= input.budgetBytes;
  if (!overBudget) return { usedBytes, targetBytes, overBudget, evict: [], deleteEarly: [], projectedBytes: usedBytes };

  const references = new ReferenceCounts(input);
  for (const id of input.removing) references.release(id);
  let projectedBytes = usedBytes;
  for (const digest of input.sweepable) if (references.isUnreferenced(digest)) projectedBytes -= sizes.get(digest) ?? 0;

  const deleteEarly: string[] = [];
  for (const { digest, size } of input.blobs) {
    if (projectedBytes <= targetBytes) break;
    if (input.sweepable.has(digest) || !references.isUnreferenced(digest)) continue;
    deleteEarly.push(digest);
    projectedBytes -= size;
  }
  const evict: number[] = [];
  for (const id of input.candidates) {
    if (projectedBytes <= targetBytes) break;
    if (input.removing.has(id)) continue;
    evict.push(id);
    for (const digest of references.release(id)) {
      const size = sizes.get(digest);
      if (size === undefined) continue;
      deleteEarly.push(digest);
      projectedBytes -= size;
    }
  }
  return { usedBytes, targetBytes, overBudget, evict, deleteEarly, projectedBytes };
}

/** How many live things refer to each digest: images, droplets with an image left, the keep list. */
class ReferenceCounts {
  readonly #counts = new Map<string, number>();
  readonly #imagesOfDroplet = new Map<string, number>();
  readonly #images: Map<number, { readonly dropletGuid: string; readonly digests: readonly string[] }>;
  readonly #droplets: ReadonlyMap<string, readonly string[]>;
  readonly #released = new Set<number>();

  constructor(input: EvictionInput) {
    this.#images = new Map(input.images.map((image) => [image.id, image]));
    this.#droplets = input.droplets;
    for (const image of input.images) {
      this.#imagesOfDroplet.set(image.dropletGuid, (this.#imagesOfDroplet.get(image.dropletGuid) ?? 0) + 1);
      this.#add(image.digests);
    }
    // A droplet with no image at all loses its row in this run: its layers count for nothing.
    for (const [dropletGuid, digests] of input.droplets) if (this.#imagesOfDroplet.has(dropletGuid)) this.#add(digests);
    this.#add(input.keep);
  }

  isUnreferenced(digest: string): boolean {
    return (this.#counts.get(digest) ?? 0) === 0;
  }

  /** Drops the image's references (and its droplet's, with its last image); returns the digests nothing refers to any more. */
  release(imageId: number): string[] {
    const image = this.#images.get(imageId);
    if (!image || this.#released.has(imageId)) return [];
    this.#released.add(imageId);
    const freed = this.#remove(image.digests);
    const left = (this.#imagesOfDroplet.get(image.dropletGuid) ?? 1) - 1;
    this.#imagesOfDroplet.set(image.dropletGuid, left);
    if (left === 0) freed.push(...this.#remove(this.#droplets.get(image.dropletGuid) ?? []));
    return freed;
  }

  #add(digests: readonly string[]): void {
    for (const digest of new Set(digests)) this.#counts.set(digest, (this.#counts.get(digest) ?? 0) + 1);
  }

  #remove(digests: readonly string[]): string[] {
    const freed: string[] = [];
    for (const digest of new Set(digests)) {
      const left = (this.#counts.get(digest) ?? 1) - 1;
      this.#counts.set(digest, left);
      if (left === 0) freed.push(digest);
    }
    return freed;
  }
}
