/**
 * `forEachBounded`, which keeps background work (droplet lookups, warms) from flooding Cloud
 * Controller or the blobstore: never more than `limit` tasks at once, each item once and in order,
 * no new item once stopped.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forEachBounded } from '../../../src/workers/for-each-bounded.ts';

/** A task that records starts and the most in flight, finishing when the test says so. */
function controlledTask(): {
  task: (item: number) => Promise<void>;
  started: number[];
  finished: number[];
  mostAtOnce: () => number;
  finishOne: () => void;
} {
  const started: number[] = [];
  const finished: number[] = [];
  const waiting: Array<() => void> = [];
  let inFlight = 0;
  let most = 0;
  return {
    started,
    finished,
    mostAtOnce: () => most,
    finishOne: () => waiting.shift()?.(),
    task: async (item) => {
      started.push(item);
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise<void>((resolve) => waiting.push(resolve));
      inFlight -= 1;
      finished.push(item);
    },
  };
}

/** Lets every promise that can settle settle. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('forEachBounded', () => {
  it('runs at most `limit` tasks at once, and that many while there is work', async () => {
    const items = Array.from({ length: 10 }, (_, i) => i);
    const { task, started, finished, mostAtOnce, finishOne } = controlledTask();
    let done = false;
    const run = forEachBounded(items, 3, task, () => false).then(() => (done = true));
    await settle();
    assert.deepEqual(started, [0, 1, 2], 'the first three at once');
    while (finished.length < items.length) {
      finishOne();
      await settle();
      const inFlight = started.length - finished.length;
      assert.equal(inFlight, Math.min(3, items.length - finished.length), `after ${finished.length} finished`);
    }
    await run;
    assert.equal(done, true);
    assert.equal(mostAtOnce(), 3);
    assert.deepEqual(started, items, 'each item once, started in order');
  });

  it('runs one at a time with a limit of 1, or below 1, instead of nothing', async () => {
    for (const limit of [1, 0, -2]) {
      const { task, started, mostAtOnce, finishOne } = controlledTask();
      const run = forEachBounded([1, 2, 3], limit, task, () => false);
      for (let i = 0; i < 3; i += 1) {
        await settle();
        finishOne();
      }
      await run;
      assert.deepEqual(started, [1, 2, 3], `limit ${limit}`);
      assert.equal(mostAtOnce(), 1, `limit ${limit}`);
    }
  });

  it('starts no more tasks than there are items, and none for no items', async () => {
    const { task, started, mostAtOnce, finishOne } = controlledTask();
    const run = forEachBounded([0, 1], 50, task, () => false);
    await settle();
    finishOne();
    finishOne();
    await run;
    assert.deepEqual(started, [0, 1]);
    assert.equal(mostAtOnce(), 2);

    let called = false;
    await forEachBounded([], 4, async () => void (called = true), () => false);
    assert.equal(called, false);
  });

  it('takes no new item once stopped, and resolves only after the tasks under way have finished', async () => {
    const { task, started, finished, finishOne } = controlledTask();
    let stopped = false;
    let done = false;
    const run = forEachBounded([1, 2, 3, 4, 5, 6], 2, task, () => stopped).then(() => (done = true));
    await settle();
    stopped = true;
    finishOne();
    await settle();
    assert.deepEqual(started, [1, 2], 'nothing new after the stop');
    assert.equal(done, false, 'item 2 is still under way');
    finishOne();
    await run;
    assert.deepEqual(finished, [1, 2]);
  });

  it('takes nothing when stopped from the start', async () => {
    const started: number[] = [];
    await forEachBounded([1, 2, 3], 2, async (item) => void started.push(item), () => true);
    assert.deepEqual(started, []);
  });

  it("rejects with a task's failure (tasks are meant to handle their own)", async () => {
    await assert.rejects(
      forEachBounded([1, 2, 3], 1, async (item) => {
        if (item === 2) throw new Error('droplet 2 could not be looked up');
      }, () => false),
      { message: 'droplet 2 could not be looked up' },
    );
  });
});
