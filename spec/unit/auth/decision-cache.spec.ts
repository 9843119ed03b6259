import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DecisionCache } from '../../../src/auth/decision-cache.ts';

describe('decision cache', () => {
  it('keeps a decision for its TTL only', () => {
    let now = 0;
    const cache = new DecisionCache<string>({ ttlMs: 60_000, now: () => now });
    cache.set('user-1 app-1', 'granted');
    now = 59_999;
    assert.equal(cache.get('user-1 app-1'), 'granted');
    assert.equal(cache.get('user-2 app-1'), undefined);
    now = 60_000;
    assert.equal(cache.get('user-1 app-1'), undefined);
  });

  it('offers an expired decision for a failing Cloud Controller within the stale window only', () => {
    let now = 0;
    const cache = new DecisionCache<string>({ ttlMs: 60_000, staleIfErrorMs: 300_000, now: () => now });
    cache.set('user-1 app-1', 'granted');
    now = 60_000 + 299_999;
    assert.equal(cache.get('user-1 app-1'), undefined, 'expired for a healthy Cloud Controller');
    assert.equal(cache.getStale('user-1 app-1'), 'granted');
    cache.set('user-2 app-1', 'forbidden');
    now += 1;
    assert.equal(cache.getStale('user-1 app-1'), undefined);
    const strict = new DecisionCache<string>({ ttlMs: 60_000, now: () => now });
    strict.set('user-1 app-1', 'granted');
    now += 60_000;
    assert.equal(strict.getStale('user-1 app-1'), undefined, 'no stale window by default');
  });

  it('keeps nothing with a TTL of 0', () => {
    const cache = new DecisionCache<string>({ ttlMs: 0 });
    cache.set('user-1 app-1', 'granted');
    assert.equal(cache.get('user-1 app-1'), undefined);
  });
});

describe('decision cache memory', () => {
  it('keeps at most maxEntries entries, the oldest going first', () => {
    const cache = new DecisionCache<string>({ ttlMs: 60_000, maxEntries: 2, now: () => 0 });
    cache.set('a', '1');
    cache.set('b', '2');
    cache.set('c', '3');
    assert.deepEqual([cache.get('a'), cache.get('b'), cache.get('c')], [undefined, '2', '3']);
  });
});
