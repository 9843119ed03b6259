/**
 * Back-pressure on conversions: at most `concurrency` run in this instance, at most `queue` more
 * wait for a slot; beyond that a request is refused at once (429) instead of piling up work the
 * instance could not finish before clients give up. One app has at most `perApp` of them running or
 * waiting, so a developer pulling every droplet of an app (or one of huge ones) cannot take the
 * instance's conversions from everyone else.
 */
import { RegistryError } from '../errors/registry-error.ts';
import { BoundedSlots } from '../util/bounded-slots.ts';
import { PerKeyLimit } from '../util/per-key-limit.ts';

/** Seconds a refused client is asked to wait: about one small conversion. */
const QUEUE_FULL_RETRY_AFTER = 10;

export interface ConversionLimits {
  readonly concurrency: number;
  readonly queue: number;
  readonly perApp: number;
}

export class ConversionSlots {
  readonly #slots: BoundedSlots;
  readonly #perApp: PerKeyLimit;
  readonly #perAppLimit: number;

  constructor(limits: ConversionLimits) {
    this.#slots = new BoundedSlots({
      concurrency: limits.concurrency,
      queue: limits.queue,
      refusal: (running, waiting) =>
        new RegistryError('TOOMANYREQUESTS', `this instance is converting ${running} droplets and ${waiting} more are waiting; try again later`, {
          retryAfter: QUEUE_FULL_RETRY_AFTER,
        }),
    });
    this.#perApp = new PerKeyLimit(limits.perApp);
    this.#perAppLimit = limits.perApp;
  }

  /** Conversions holding a slot (the in-flight gauge). */
  get running(): number {
    return this.#slots.running;
  }

  /** Conversions waiting for a slot (the queued gauge). */
  get waiting(): number {
    return this.#slots.waiting;
  }

  /** Resolves to the release of a slot for a droplet of `appGuid` once one is free; TOOMANYREQUESTS when the app has its share or the queue is full. */
  async acquire(appGuid: string): Promise<() => void> {
    const releaseApp = this.#perApp.tryTake(appGuid);
    if (!releaseApp) {
      throw new RegistryError('TOOMANYREQUESTS', `${this.#perAppLimit} droplets of this app are being converted or waiting on this instance; try again later`, {
        retryAfter: QUEUE_FULL_RETRY_AFTER,
      });
    }
    try {
      const release = await this.#slots.acquire();
      return () => {
        release();
        releaseApp();
      };
    } catch (error) {
      releaseApp();
      throw error;
    }
  }
}
