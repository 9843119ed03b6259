/**
 * Slows down password guessing: failed logins are counted per key (a username, a client address)
 * in a sliding window; a key with LOGIN_FAILURES_LIMIT failures in the window is refused without
 * asking UAA until the oldest of them leaves the window. Counted in this process's memory only:
 * with N instances behind the router an attacker gets up to N times the limit, and a restart
 * forgets — UAA's own lockout stays the last line. At most `maxKeys` keys are kept (the least
 * recently failed go first), so a flood of made-up usernames cannot grow memory without end.
 */

export interface LoginThrottleOptions {
  /** Failures per key within the window; 0 turns throttling off. */
  readonly limit: number;
  readonly windowMs: number;
  /** Keys remembered at most (default 100 000: a few tens of MB at worst). */
  readonly maxKeys?: number;
  /** Milliseconds since the epoch; tests move it instead of waiting. */
  readonly now?: () => number;
}

const DEFAULT_MAX_KEYS = 100_000;

export class LoginThrottle {
  readonly #options: LoginThrottleOptions;
  /** Per key, the times of its latest failures (at most `limit` of them: older ones cannot matter). */
  readonly #failures = new Map<string, number[]>();
  #sweptAt = 0;

  constructor(options: LoginThrottleOptions) {
    this.#options = options;
  }

  /** Seconds until every key may try again; 0 when all may now. */
  retryAfter(keys: readonly string[]): number {
    const { limit, windowMs } = this.#options;
    if (limit === 0) return 0;
    const now = this.#now();
    let waitMs = 0;
    for (const key of keys) {
      const times = this.#recent(key, now);
      if (times.length >= limit) waitMs = Math.max(waitMs, (times[0] as number) + windowMs - now);
    }
    return waitMs > 0 ? Math.ceil(waitMs / 1000) : 0;
  }

  recordFailure(keys: readonly string[]): void {
    if (this.#options.limit === 0) return;
    const now = this.#now();
    this.#sweep(now);
    const maxKeys = this.#options.maxKeys ?? DEFAULT_MAX_KEYS;
    for (const key of keys) {
      const times = [...this.#recent(key, now), now];
      // Deleted first so the key moves to the end: the map stays ordered by latest failure.
      this.#failures.delete(key);
      this.#failures.set(key, times.slice(-this.#options.limit));
      if (this.#failures.size > maxKeys) this.#failures.delete(this.#failures.keys().next().value as string);
    }
  }

  /** Clears a key (a user who finally got their password right). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  #recent(key: string, now: number): number[] {
    return (this.#failures.get(key) ?? []).filter((time) => time > now - this.#options.windowMs);
  }

  /** Drops keys with no failure in the window, at most once per window, so memory follows recent abuse only. */
  #sweep(now: number): void {
    if (now - this.#sweptAt < this.#options.windowMs) return;
    this.#sweptAt = now;
    for (const [key, times] of this.#failures) {
      if ((times.at(-1) ?? 0) <= now - this.#options.windowMs) this.#failures.delete(key);
    }
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }
}
