/**
 * What each key (a client address, an app) holds at once, up to a limit: the fairness half of a
 * shared resource's back-pressure, so one client or app cannot take all of it. Memory follows the
 * keys holding something now.
 */
export class PerKeyLimit {
  readonly #limit: number;
  readonly #held = new Map<string, number>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** How much `key` holds now. */
  held(key: string): number {
    return this.#held.get(key) ?? 0;
  }

  /** One more for `key`, with its release (a second call releases nothing); `undefined` when `key` holds the limit. */
  tryTake(key: string): (() => void) | undefined {
    const held = this.held(key);
    if (held >= this.#limit) return undefined;
    this.#held.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.held(key) - 1;
      if (left <= 0) this.#held.delete(key);
      else this.#held.set(key, left);
    };
  }
}
