/**
 * What the directory source read from a path (a directory's listing, a small file's text), kept
 * while one `stat` says the path has not changed since: warm pulls stop re-reading the droplets
 * folder on every request, and a droplet added, removed or renamed (which changes its directory),
 * or a `current` file rewritten in place (which changes the file), is still seen on the very next
 * request.
 *
 * @remarks
 * Change is judged by inode, size and the nanosecond mtime and ctime. File systems stamp those
 * with a coarse clock (a few ms, a second on some), so a change made in the same tick as the read
 * would leave the stamps as they were: a value read less than `RACY_MS` after the path last
 * changed is not kept (git's "racily clean" rule), and the path is read again next time.
 */
import { stat } from 'node:fs/promises';

/** How long after its last change a path must have been read for the value to be kept, by default. */
const RACY_MS = 2_000;

interface CachedRead<T> {
  readonly signature: string;
  readonly value: T;
}

/** Values derived from paths by `read`, reused while the path's stat is unchanged. Bounded: oldest entries go first. */
export class UnchangedPathCache<T> {
  readonly #read: (path: string) => Promise<T>;
  readonly #maxEntries: number;
  readonly #racyMs: number;
  readonly #entries = new Map<string, CachedRead<T>>();

  /** `racyMs`: see above; only tests change it. */
  constructor(read: (path: string) => Promise<T>, options: { maxEntries: number; racyMs?: number }) {
    this.#read = read;
    this.#maxEntries = options.maxEntries;
    this.#racyMs = options.racyMs ?? RACY_MS;
  }

  /** `read(path)`, or what it gave last time if the path has not changed since. Rejects as `stat` or `read` do (ENOENT …). */
  async get(path: string): Promise<T> {
    const startedMs = Date.now();
    const stats = await stat(path, { bigint: true });
    const signature = `${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
    const cached = this.#entries.get(path);
    if (cached?.signature === signature) return cached.value;
    const value = await this.#read(path);
    const changedMs = Number((stats.mtimeNs > stats.ctimeNs ? stats.mtimeNs : stats.ctimeNs) / 1_000_000n);
    this.#entries.delete(path);
    if (startedMs - changedMs >= this.#racyMs) {
      this.#entries.set(path, { signature, value });
      if (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
    }
    return value;
  }
}
