/**
 * Back-pressure for work that costs something scarce (a conversion's CPU, Cloud Controller's rate
 * limit): at most `concurrency` holders at once, at most `queue` more waiting in order; beyond that
 * `acquire` is refused at once with the caller's error instead of piling up work and memory.
 */

export interface BoundedSlotsOptions {
  readonly concurrency: number;
  readonly queue: number;
  /** The error a caller gets when every slot is taken and the queue is full. */
  readonly refusal: (running: number, waiting: number) => Error;
}

export class BoundedSlots {
  readonly #options: BoundedSlotsOptions;
  #running = 0;
  readonly #queue: Array<() => void> = [];

  constructor(options: BoundedSlotsOptions) {
    this.#options = options;
  }

  /** Holders of a slot (an in-flight gauge). */
  get running(): number {
    return this.#running;
  }

  /** Callers waiting for a slot (a queued gauge). */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Resolves to the release of a slot once one is free; rejects with the refusal when the queue is full. */
  async acquire(): Promise<() => void> {
    if (this.#running < this.#options.concurrency) {
      this.#running += 1;
      return this.#releaser();
    }
    if (this.#queue.length >= this.#options.queue) throw this.#options.refusal(this.#running, this.#queue.length);
    // The slot passes straight from the releasing holder to the next in line.
    await new Promise<void>((resolve) => this.#queue.push(resolve));
    return this.#releaser();
  }

  /** Runs `work` holding a slot. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await work();
    } finally {
      release();
    }
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queue.shift();
      if (next) next();
      else this.#running -= 1;
    };
  }
}
