import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapConcurrently } from '../../../src/util/map-concurrently.ts';

describe('mapConcurrently', () => {
  it('keeps at most `limit` calls in flight and answers in the order of the items', async () => {
    let inFlight = 0;
    let most = 0;
    const results = await mapConcurrently([5, 1, 4, 2, 3, 0], 2, async (item) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight -= 1;
      return item * 10;
    });
    assert.deepEqual(results, [50, 10, 40, 20, 30, 0]);
    assert.equal(most, 2);
  });

  it('rejects with the first failure and starts no item after it', async () => {
    const started: number[] = [];
    await assert.rejects(
      mapConcurrently([1, 2, 3, 4, 5], 1, async (item) => {
        started.push(item);
        if (item === 2) throw new Error('no');
        return item;
      }),
      /no/,
    );
    assert.deepEqual(started, [1, 2]);
  });
});
