/**
 * Runs one piece of work per key at a time in this process: concurrent callers for the same key
 * share the first caller's promise (nixery's single-flight per layer key).
 */
export class SingleFlight<T> {
  readonly #inFlight = new Map<string, Promise<T>>();

  run(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.#inFlight.get(key);
    if (running) return running;
    const promise = work().finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, promise);
    return promise;
  }

  /** Keys with work under way. */
  get size(): number {
    return this.#inFlight.size;
  }

  /** Settles when all work under way now has settled (graceful shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#inFlight.values()]);
  }
}
