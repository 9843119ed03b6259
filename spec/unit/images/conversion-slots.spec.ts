/**
 * Back-pressure: a fixed number of conversions at once, a bounded queue, 429 beyond it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../../src/errors/registry-error.ts';
import { ConversionSlots } from '../../../src/images/conversion-slots.ts';

describe('ConversionSlots', () => {
  it('runs `concurrency` at once, queues `queue` more in order and refuses the rest with 429 + Retry-After', async () => {
    const slots = new ConversionSlots({ concurrency: 1, queue: 1, perApp: 9 });
    const first = await slots.acquire('app');
    const order: string[] = [];
    const queued = slots.acquire('app').then((release) => {
      order.push('queued');
      return release;
    });
    await assert.rejects(slots.acquire('app'), (error: unknown) => error instanceof RegistryError && error.code === 'TOOMANYREQUESTS' && error.retryAfter !== undefined);
    order.push('released');
    first();
    first(); // a second release of the same slot frees nothing more
    const second = await queued;
    assert.deepEqual(order, ['released', 'queued']);
    await assert.rejects(Promise.all([slots.acquire('app'), slots.acquire('app')]), /try again later/);
    second();
  });

  it('gives one app at most `perApp` of the slots and the queue, and frees its share with each release', async () => {
    const slots = new ConversionSlots({ concurrency: 1, queue: 4, perApp: 2 });
    const first = await slots.acquire('hog');
    const waiting = slots.acquire('hog');
    await assert.rejects(slots.acquire('hog'), (error: unknown) => error instanceof RegistryError && error.code === 'TOOMANYREQUESTS' && /2 droplets of this app/.test(error.message));
    const other = slots.acquire('other');
    assert.equal(slots.waiting, 2, "the other app still queues");
    first();
    (await waiting)();
    (await other)();
    (await slots.acquire('hog'))();
  });
});
