/**
 * The simulator's constant latency (`startCfSimulator({ latencyMs })`), shown without timing
 * assertions: with a latency far longer than the test, a CAPI or UAA request is recorded (it
 * arrived) and still unanswered once the simulator has seen it, while the blobstore, which a plain
 * number does not delay, answers; stopping the simulator releases held requests. How long a request
 * is held is not asserted: only a clock could show that, and a clock on a shared machine flakes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCfSimulator, type CfSimulator, type SimulatedServer } from '../../support/cf-simulator/index.ts';
import { capiGet, startSeeded } from './simulator-client.ts';

/** Far longer than the test runs: a request held this long is unanswered for the whole test. */
const HOLD_MS = 10 * 60_000;

describe('cf-simulator latency', () => {
  let cf: CfSimulator;
  const held: Array<Promise<'answered' | 'dropped'>> = [];

  before(async () => {
    ({ cf } = await startSeeded({ latencyMs: HOLD_MS }));
  });
  after(async () => {
    await cf.stop();
    // Stopping drops the held requests: their fetches fail rather than hang.
    assert.deepEqual(await Promise.all(held), held.map(() => 'dropped'));
  });

  /** Sends a request that is not awaited, and waits until `server` has recorded it. */
  async function sendHeld(server: SimulatedServer, url: string, init: RequestInit = {}): Promise<void> {
    const before = cf.requests.list(server).length;
    held.push(fetch(url, init).then(() => 'answered' as const, () => 'dropped' as const));
    await until(() => cf.requests.list(server).length > before);
  }

  it('holds CAPI requests: recorded, in flight, unanswered', async () => {
    await sendHeld('capi', `${cf.capiUrl}/v3/info`);
    await sendHeld('capi', `${cf.capiUrl}/`);
    const requests = cf.requests.list('capi');
    assert.deepEqual(requests.map((request) => request.status), [null, null]);
    assert.equal(cf.requests.maxInFlight('capi'), 2);
  });

  it('holds UAA requests too', async () => {
    await sendHeld('uaa', `${cf.uaaUrl}/token_keys`);
    assert.deepEqual(cf.requests.list('uaa').map((request) => request.status), [null]);
  });

  it('does not hold the blobstore when latencyMs is a number', async () => {
    // An unsigned link: the blobstore refuses it (403) at once, past the front door.
    const response = await fetch(`${cf.blobstoreUrl}/read/cc-droplets/ab/cd/guid/sha1`);
    assert.equal(response.status, 403);
    await response.arrayBuffer();
  });
});

describe('cf-simulator latency per server', () => {
  it('holds only the servers given a latency, and refuses a negative one', async () => {
    const cf = await startCfSimulator({ latencyMs: { uaa: HOLD_MS } });
    const held = fetch(`${cf.uaaUrl}/token_keys`).then(() => 'answered', () => 'dropped');
    try {
      await until(() => cf.requests.list('uaa').length === 1);
      const capi = await capiGet(cf, '/');
      assert.equal(capi.status, 200);
      assert.deepEqual(cf.requests.list('uaa').map((request) => request.status), [null]);
    } finally {
      await cf.stop();
    }
    assert.equal(await held, 'dropped');
    await assert.rejects(startCfSimulator({ latencyMs: -1 }), /latencyMs of capi/);
  });
});

/** Polls `condition` (the simulator runs in this process, so it turns true within a few turns of the event loop). */
async function until(condition: () => boolean): Promise<void> {
  for (let attempt = 0; !condition(); attempt += 1) {
    if (attempt > 1_000) throw new Error('the simulator never recorded the request');
    await sleep(10);
  }
}
