/**
 * Remembers Cloud Controller's answers for a short time (AUTH_DECISION_TTL_MS), so a pull's token
 * requests do not each cost a round of CAPI calls; a role granted or revoked shows within that time.
 */

export interface DecisionCacheOptions {
  readonly ttlMs: number;
  /** Milliseconds since the epoch; tests move it instead of waiting. */
  readonly now?: () => number;
}

export class DecisionCache<V> {
  readonly #options: DecisionCacheOptions;
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  #sweptAt = 0;

  constructor(options: DecisionCacheOptions) {
    this.#options = options;
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt > this.#now()) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  set(key: string, value: V): void {
    if (this.#options.ttlMs === 0) return;
    const now = this.#now();
    this.#sweep(now);
    this.#entries.set(key, { value, expiresAt: now + this.#options.ttlMs });
  }

  /** Drops expired entries, at most once per TTL, so memory follows recent users only. */
  #sweep(now: number): void {
    if (now - this.#sweptAt < this.#options.ttlMs) return;
    this.#sweptAt = now;
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key);
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }
}
