/**
 * The periodic garbage collection worker on node:test's fake clock, with a stand-in collector and
 * leadership: it collects one interval after the start and every interval after, only while this
 * instance leads, never two runs at once, goes on after a failed run, and stops cleanly. That the
 * registry starts and stops it is in spec/integration/workers/garbage-collector.spec.ts.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { createLogger } from '../../../src/logger.ts';
import type { GcReport } from '../../../src/workers/gc-report.ts';
import { GcWorker } from '../../../src/workers/gc-worker.ts';
import type { LeaderElection } from '../../../src/workers/leader-election.ts';

const INTERVAL_MS = 60_000;

const REPORT: GcReport = {
  dryRun: false,
  startedAt: '2025-03-01T09:00:00.000Z',
  durationMs: 12,
  imagesRemoved: [],
  blobsRemoved: [],
  bytesFreed: 0,
  blobsMarked: 0,
  blobsPending: 0,
  blobsDeferred: 0,
  lookupFailures: 0,
  storage: null,
};

interface World {
  readonly worker: GcWorker;
  /** The `dryRun` of each collection, in order. */
  readonly collections: boolean[];
  readonly lines: Array<{ level: number; event?: string; msg: string }>;
  /** Whether this instance leads; what `check()` does. */
  leads: boolean | (() => Promise<boolean>);
  resigned: number;
  /** What each collection does; resolves by default. */
  collect: () => Promise<GcReport>;
}

function world(): World {
  const lines: World['lines'] = [];
  const state = {
    collections: [] as boolean[],
    lines,
    leads: true as World['leads'],
    resigned: 0,
    collect: async () => REPORT,
  };
  const leadership = {
    check: () => (typeof state.leads === 'function' ? state.leads() : Promise.resolve(state.leads)),
    resign: async () => void (state.resigned += 1),
    get isLeader() {
      return state.leads === true;
    },
  } as unknown as LeaderElection;
  const worker = new GcWorker({
    collector: {
      collect: (options) => {
        state.collections.push(options.dryRun);
        return state.collect();
      },
    },
    leadership,
    intervalMs: INTERVAL_MS,
    logger: createLogger('info', { destination: { write: (line: string) => void lines.push(JSON.parse(line)) } }),
  });
  return Object.assign(state, { worker });
}

/** Lets what the timers started run to its end (promises, not timers). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function passIntervals(count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    mock.timers.tick(INTERVAL_MS);
    await settle();
  }
}

describe('the garbage collection worker', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  it('collects for real one interval after the start, not at it, then every interval', async () => {
    const w = world();
    w.worker.start();
    await settle();
    mock.timers.tick(INTERVAL_MS - 1);
    await settle();
    assert.deepEqual(w.collections, [], 'a restart adds no collection to the start-up');
    mock.timers.tick(1);
    await settle();
    assert.deepEqual(w.collections, [false]);
    await passIntervals(3);
    assert.deepEqual(w.collections, [false, false, false, false]);
    await w.worker.stop();
  });

  it('says when it collects, once, however often started', async () => {
    const w = world();
    w.worker.start();
    w.worker.start();
    await passIntervals(1);
    assert.equal(w.collections.length, 1, 'one schedule');
    assert.deepEqual(
      w.lines.filter((line) => line.event === 'gc.scheduled').map((line) => line.msg),
      ['garbage collection every 60000 ms (on one instance at a time)'],
    );
    await w.worker.stop();
  });

  it('collects only while this instance leads', async () => {
    const w = world();
    w.leads = false;
    w.worker.start();
    await passIntervals(3);
    assert.deepEqual(w.collections, []);
    w.leads = true;
    await passIntervals(1);
    assert.deepEqual(w.collections, [false], 'a follower that takes over collects at its next interval');
    await w.worker.stop();
  });

  it('never runs two collections at once: the next interval counts from the end of a long one', async () => {
    const w = world();
    let finish: (report: GcReport) => void = () => undefined;
    w.collect = () => new Promise<GcReport>((resolve) => (finish = resolve));
    w.worker.start();
    await passIntervals(1);
    await passIntervals(5);
    assert.equal(w.collections.length, 1, 'still the first one');
    finish(REPORT);
    await settle();
    w.collect = async () => REPORT;
    mock.timers.tick(INTERVAL_MS - 1);
    await settle();
    assert.equal(w.collections.length, 1);
    mock.timers.tick(1);
    await settle();
    assert.equal(w.collections.length, 2);
    await w.worker.stop();
  });

  it('logs a failed collection, and a database it cannot ask about leadership, and collects again at the next interval', async () => {
    const w = world();
    w.collect = () => Promise.reject(new Error('the blobstore refused a delete'));
    w.worker.start();
    await passIntervals(1);
    w.leads = () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.5:5432'));
    await passIntervals(1);
    w.leads = true;
    w.collect = async () => REPORT;
    await passIntervals(1);
    assert.deepEqual(w.collections, [false, false], 'the run after the failures went ahead');
    assert.deepEqual(
      w.lines.filter((line) => line.event === 'gc.failed').map((line) => [line.level, line.msg]),
      [
        [40, 'garbage collection failed (the blobstore refused a delete); the next run tries again'],
        [40, 'garbage collection failed (connect ECONNREFUSED 10.0.0.5:5432); the next run tries again'],
      ],
    );
    await w.worker.stop();
  });

  describe('stopping', () => {
    it('lets the collection under way finish, then gives leadership up, and collects no more', async () => {
      const w = world();
      let finish: (report: GcReport) => void = () => undefined;
      w.collect = () => new Promise<GcReport>((resolve) => (finish = resolve));
      w.worker.start();
      await passIntervals(1);
      let stopped = false;
      const stopping = w.worker.stop().then(() => (stopped = true));
      await settle();
      assert.equal(stopped, false, 'waits for the collection');
      assert.equal(w.resigned, 0, 'still leads while collecting');
      finish(REPORT);
      await stopping;
      assert.equal(w.resigned, 1);
      await passIntervals(5);
      assert.equal(w.collections.length, 1);
    });

    it('before the first collection, collects nothing and gives leadership up', async () => {
      const w = world();
      w.worker.start();
      await w.worker.stop();
      await passIntervals(3);
      assert.deepEqual(w.collections, []);
      assert.equal(w.resigned, 1);
    });

    it('for good: a start after the stop schedules nothing', async () => {
      const w = world();
      w.worker.start();
      await w.worker.stop();
      w.worker.start();
      await passIntervals(3);
      assert.deepEqual(w.collections, []);
    });
  });
});
