/**
 * Where a conversion's error came from — the droplet source or the registry's blobstore — so a
 * failure is counted under the right reason. Errors are marked where they appear: rejected
 * blobstore calls, and 'error' events of the droplet download and of staged writes. A failed
 * pipeline hands the first error to every other stream, which emit it later: the first mark wins.
 */
import type { EventEmitter } from 'node:events';

export type ErrorOrigin = 'source' | 'blobstore';

export class ErrorOrigins {
  readonly #origins = new WeakMap<object, ErrorOrigin>();

  /** Records that `error` appeared at `origin`, unless it was seen elsewhere first. */
  mark(error: unknown, origin: ErrorOrigin): void {
    if (typeof error === 'object' && error !== null && !this.#origins.has(error)) this.#origins.set(error, origin);
  }

  /** Marks every error `stream` emits as coming from `origin`. */
  watch(stream: EventEmitter, origin: ErrorOrigin): void {
    stream.on('error', (error: unknown) => this.mark(error, origin));
  }

  /** Where `error`, or the first marked error of its `cause` chain, came from. */
  originOf(error: unknown): ErrorOrigin | undefined {
    let current = error;
    for (let depth = 0; typeof current === 'object' && current !== null && depth < 10; depth += 1) {
      const origin = this.#origins.get(current);
      if (origin) return origin;
      current = (current as { cause?: unknown }).cause;
    }
    return undefined;
  }
}
