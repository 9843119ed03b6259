/**
 * Back-pressure on conversions: at most `concurrency` run in this instance, at most `queue` more
 * wait for a slot; beyond that a request is refused at once (429) instead of piling up work the
 * instance could not finish before clients give up.
 */
import { RegistryError } from '../errors/registry-error.ts';
import { BoundedSlots } from '../util/bounded-slots.ts';

/** Seconds a refused client is asked to wait: about one small conversion. */
const QUEUE_FULL_RETRY_AFTER = 10;

export class ConversionSlots extends BoundedSlots {
  constructor(limits: { readonly concurrency: number; readonly queue: number }) {
    super({
      ...limits,
      refusal: (running, waiting) =>
        new RegistryError('TOOMANYREQUESTS', `this instance is converting ${running} droplets and ${waiting} more are waiting; try again later`, {
          retryAfter: QUEUE_FULL_RETRY_AFTER,
        }),
    });
  }
}
