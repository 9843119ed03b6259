/**
 * How many blobs one client is streamed at once. A streamed blob holds an open file, up to a few
 * MiB of buffers and a connection until the client has read it; without a cap one client asking
 * for hundreds (and reading none) holds all of that. Counted per client address, and freed when
 * the response ends, however it ends.
 */
import { RegistryError } from '../errors/registry-error.ts';
import { PerKeyLimit } from '../util/per-key-limit.ts';

/** Seconds a refused client is asked to wait: a stream of a blob is over within seconds. */
const RETRY_AFTER_SECONDS = 1;

/** The part of a response a slot follows: Node's `http.ServerResponse` (hapi's injected ones emit only `finish`). */
interface ResponseEnd {
  once(event: 'finish' | 'close', listener: () => void): unknown;
}

export class BlobStreamSlots {
  readonly #perClient: number;
  readonly #streams: PerKeyLimit;

  constructor(perClient: number) {
    this.#perClient = perClient;
    this.#streams = new PerKeyLimit(perClient);
  }

  /** Takes one of `client`'s slots until `response` ends; 429 `TOOMANYREQUESTS` when it holds them all. */
  hold(client: string, response: ResponseEnd): void {
    const release = this.#streams.tryTake(client);
    if (!release) {
      throw new RegistryError('TOOMANYREQUESTS', `at most ${this.#perClient} blobs are streamed to one client at once; try again when one is done`, {
        retryAfter: RETRY_AFTER_SECONDS,
        detail: { limit: this.#perClient },
      });
    }
    response.once('finish', release);
    response.once('close', release);
  }
}
