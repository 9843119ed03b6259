/**
 * Remembers Cloud Controller's answers for a short time (AUTH_DECISION_TTL_MS), so a pull's token
 * requests do not each cost a round of CAPI calls; a role granted or revoked shows within that time.
 * At most `maxEntries` are kept (the oldest go first), whatever users ask for.
 */

export interface DecisionCacheOptions {
  readonly ttlMs: number;
  /** How long past `ttlMs` an entry may still be used while Cloud Controller fails (`getStale`); default 0. */
  readonly staleIfErrorMs?: number;
  /** Entries kept at most (default 100 000). */
  readonly maxEntries?: number;
  /** Milliseconds since the epoch; tests move it instead of waiting. */
  readonly now?: () => number;
}

const DEFAULT_MAX_ENTRIES = 100_000;

export class DecisionCache<V> {
  readonly #options: DecisionCacheOptions;
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  #sweptAt = 0;

  constructor(options: DecisionCacheOptions) {
    this.#options = options;
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    return entry && entry.expiresAt > this.#now() ? entry.value : undefined;
  }

  /** An entry that expired no longer than `staleIfErrorMs` ago, for when Cloud Controller cannot be asked again. */
  getStale(key: string): V | undefined {
    const entry = this.#entries.get(key);
    return entry && entry.expiresAt + this.#staleMs() > this.#now() ? entry.value : undefined;
  }

  set(key: string, value: V): void {
    if (this.#options.ttlMs === 0) return;
    const now = this.#now();
    this.#sweep(now);
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: now + this.#options.ttlMs });
    if (this.#entries.size > (this.#options.maxEntries ?? DEFAULT_MAX_ENTRIES)) this.#entries.delete(this.#entries.keys().next().value as string);
  }

  /** Drops entries past their stale time, at most once per TTL, so memory follows recent users only. */
  #sweep(now: number): void {
    if (now - this.#sweptAt < this.#options.ttlMs) return;
    this.#sweptAt = now;
    for (const [key, entry] of this.#entries) if (entry.expiresAt + this.#staleMs() <= now) this.#entries.delete(key);
  }

  #staleMs(): number {
    return this.#options.staleIfErrorMs ?? 0;
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }
}
