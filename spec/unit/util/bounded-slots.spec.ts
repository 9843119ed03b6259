import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoundedSlots } from '../../../src/util/bounded-slots.ts';

describe('BoundedSlots', () => {
  it('runs work holding a slot, queues callers in order and refuses with the given error past the queue', async () => {
    const slots = new BoundedSlots({ concurrency: 1, queue: 1, refusal: (running, waiting) => new Error(`full: ${running} running, ${waiting} waiting`) });
    let release!: () => void;
    const first = slots.run(() => new Promise<string>((resolve) => (release = () => resolve('first'))));
    const second = slots.run(async () => 'second');
    await assert.rejects(slots.run(async () => 'third'), /full: 1 running, 1 waiting/);
    assert.equal(slots.running, 1);
    assert.equal(slots.waiting, 1);
    release();
    assert.deepEqual(await Promise.all([first, second]), ['first', 'second']);
    assert.equal(slots.running, 0);
  });

  it('frees the slot when the work fails', async () => {
    const slots = new BoundedSlots({ concurrency: 1, queue: 0, refusal: () => new Error('full') });
    await assert.rejects(slots.run(async () => Promise.reject(new Error('broken'))), /broken/);
    assert.equal(await slots.run(async () => 'ok'), 'ok');
  });
});
