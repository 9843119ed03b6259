import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoginThrottle } from '../../../src/auth/login-throttle.ts';

function throttleAt(start: number, limit = 3, windowMs = 60_000) {
  const clock = { now: start };
  return { clock, throttle: new LoginThrottle({ limit, windowMs, now: () => clock.now }) };
}

describe('login throttle', () => {
  it('lets a key fail up to the limit, then refuses it until the oldest failure leaves the window', () => {
    const { clock, throttle } = throttleAt(0);
    for (const at of [0, 10_000, 20_000]) {
      clock.now = at;
      assert.equal(throttle.retryAfter(['user:alice']), 0);
      throttle.recordFailure(['user:alice']);
    }
    clock.now = 30_000;
    assert.equal(throttle.retryAfter(['user:alice']), 30, 'the failure at 0 s leaves the window at 60 s');
    clock.now = 60_001;
    assert.equal(throttle.retryAfter(['user:alice']), 0);
    throttle.recordFailure(['user:alice']);
    assert.equal(throttle.retryAfter(['user:alice']), 10, 'sliding: the failures at 10 s, 20 s and now are still in the window');
  });

  it('counts each key on its own and refuses when any key is over the limit', () => {
    const { throttle } = throttleAt(0, 2);
    throttle.recordFailure(['user:alice', 'address:10.0.0.1']);
    throttle.recordFailure(['user:bob', 'address:10.0.0.1']);
    assert.equal(throttle.retryAfter(['user:alice', 'address:10.0.0.2']), 0);
    assert.ok(throttle.retryAfter(['user:carol', 'address:10.0.0.1']) > 0, 'the address failed twice, for two users');
  });

  it('forgets a key, e.g. once its user logged in', () => {
    const { throttle } = throttleAt(0, 1);
    throttle.recordFailure(['user:alice']);
    assert.ok(throttle.retryAfter(['user:alice']) > 0);
    throttle.forget('user:alice');
    assert.equal(throttle.retryAfter(['user:alice']), 0);
  });

  it('is off with a limit of 0', () => {
    const { throttle } = throttleAt(0, 0);
    for (let i = 0; i < 10; i += 1) throttle.recordFailure(['user:alice']);
    assert.equal(throttle.retryAfter(['user:alice']), 0);
  });
});

describe('login throttle memory', () => {
  it('keeps at most maxKeys keys, forgetting the least recently failed first', () => {
    const throttle = new LoginThrottle({ limit: 1, windowMs: 60_000, maxKeys: 2, now: () => 0 });
    throttle.recordFailure(['user:a']);
    throttle.recordFailure(['user:b']);
    throttle.recordFailure(['user:a']);
    throttle.recordFailure(['user:c']);
    assert.equal(throttle.retryAfter(['user:b']), 0, 'b failed least recently and was forgotten');
    assert.equal(throttle.retryAfter(['user:a']), 60);
    assert.equal(throttle.retryAfter(['user:c']), 60);
  });
});
