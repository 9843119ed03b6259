/**
 * Back-pressure: at most `concurrency` conversions run in this instance, at most `queue` more
 * wait for a slot; beyond that a request is refused at once (429) instead of piling up work the
 * instance could not finish before clients give up.
 */
import { RegistryError } from '../errors/registry-error.ts';

/** Seconds a refused client is asked to wait: about one small conversion. */
const QUEUE_FULL_RETRY_AFTER = 10;

export class ConversionSlots {
  readonly #concurrency: number;
  readonly #queueLimit: number;
  #running = 0;
  readonly #queue: Array<() => void> = [];

  constructor(limits: { readonly concurrency: number; readonly queue: number }) {
    this.#concurrency = limits.concurrency;
    this.#queueLimit = limits.queue;
  }

  /** Conversions holding a slot (the in-flight gauge). */
  get running(): number {
    return this.#running;
  }

  /** Conversions waiting for a slot (the queued gauge). */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Resolves to the release of a slot once one is free; TOOMANYREQUESTS when the queue is full. */
  async acquire(): Promise<() => void> {
    if (this.#running < this.#concurrency) {
      this.#running += 1;
      return this.#releaser();
    }
    if (this.#queue.length >= this.#queueLimit) {
      throw new RegistryError('TOOMANYREQUESTS', `this instance is converting ${this.#running} droplets and ${this.#queue.length} more are waiting; try again later`, {
        retryAfter: QUEUE_FULL_RETRY_AFTER,
      });
    }
    // The slot passes straight from the releasing conversion to the next in line.
    await new Promise<void>((resolve) => this.#queue.push(resolve));
    return this.#releaser();
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
