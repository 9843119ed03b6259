/**
 * Counts pulls in memory and writes them to the database every few seconds in one statement:
 * the pull path (manifests, blobs) never waits on a database write, and garbage collection and
 * the admin API still learn when each image and layer was last pulled.
 *
 * @remarks
 * Counts of a flush that failed are kept and added to the next one. Those not yet flushed when
 * the process dies are lost: a few seconds of pull statistics, which only delays an image's
 * garbage collection by no more than that.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { addPulls } from '../db/queries/pulls.ts';

export interface PullRecorderOptions {
  readonly db: Knex;
  /** How often counted pulls are written. */
  readonly flushIntervalMs: number;
  readonly logger: Logger;
}

export class PullRecorder {
  readonly #options: PullRecorderOptions;
  #images = new Map<number, number>();
  #layers = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  /** The flush under way (or the last one), so flushes never overlap. */
  #flushing: Promise<void> = Promise.resolve();

  constructor(options: PullRecorderOptions) {
    this.#options = options;
  }

  /** A manifest of image `imageId` was served. */
  manifestPulled(imageId: number): void {
    this.#images.set(imageId, (this.#images.get(imageId) ?? 0) + 1);
  }

  /** A blob was downloaded (blobs that are not layers, such as configs, are not counted in the database). */
  blobPulled(digest: string): void {
    this.#layers.set(digest, (this.#layers.get(digest) ?? 0) + 1);
  }

  /** Flushes every `flushIntervalMs` until `stop()`. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.flush(), this.#options.flushIntervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and writes what is still counted. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  /** Writes the pulls counted so far (after the flush under way, if any); failures are logged, the counts kept for the next flush. */
  flush(): Promise<void> {
    const next = this.#flushing.then(() => this.#write());
    this.#flushing = next;
    return next;
  }

  async #write(): Promise<void> {
    if (this.#images.size === 0 && this.#layers.size === 0) return;
    const images = this.#images;
    const layers = this.#layers;
    this.#images = new Map();
    this.#layers = new Map();
    try {
      await addPulls(this.#options.db, { images, layers });
    } catch (error) {
      for (const [id, pulls] of images) this.#images.set(id, (this.#images.get(id) ?? 0) + pulls);
      for (const [digest, pulls] of layers) this.#layers.set(digest, (this.#layers.get(digest) ?? 0) + pulls);
      this.#options.logger.warn({ event: 'pulls.flush_failed', err: error }, 'could not record pull counts; they are kept for the next attempt');
    }
  }
}
