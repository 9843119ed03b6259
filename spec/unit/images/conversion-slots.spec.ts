/**
 * Back-pressure: a fixed number of conversions at once, a bounded queue, 429 beyond it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../../src/errors/registry-error.ts';
import { ConversionSlots } from '../../../src/images/conversion-slots.ts';

describe('ConversionSlots', () => {
  it('runs `concurrency` at once, queues `queue` more in order and refuses the rest with 429 + Retry-After', async () => {
    const slots = new ConversionSlots({ concurrency: 1, queue: 1 });
    const first = await slots.acquire();
    const order: string[] = [];
    const queued = slots.acquire().then((release) => {
      order.push('queued');
      return release;
    });
    await assert.rejects(slots.acquire(), (error: unknown) => error instanceof RegistryError && error.code === 'TOOMANYREQUESTS' && error.retryAfter !== undefined);
    order.push('released');
    first();
    first(); // a second release of the same slot frees nothing more
    const second = await queued;
    assert.deepEqual(order, ['released', 'queued']);
    await assert.rejects(Promise.all([slots.acquire(), slots.acquire()]), /try again later/);
    second();
  });
});
