import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { retryAfterSeconds, upstreamDetail } from '../../../../src/sources/capi/upstream-errors.ts';

describe('retryAfterSeconds', () => {
  it("turns CC's epoch Retry-After into a delay, and keeps a delay as is", () => {
    const now = Date.UTC(2026, 0, 1);
    assert.equal(retryAfterSeconds(String(now / 1000 + 42), now), 42);
    assert.equal(retryAfterSeconds('30', now), 30);
  });

  it('falls back to a default and stays within bounds', () => {
    assert.equal(retryAfterSeconds(undefined), 10);
    assert.equal(retryAfterSeconds('soon'), 10);
    assert.equal(retryAfterSeconds('999999'), 3600);
    const now = Date.UTC(2026, 0, 1);
    assert.equal(retryAfterSeconds(String(now / 1000 - 5), now), 1, 'a reset already past means retry now-ish');
  });
});

describe('upstreamDetail', () => {
  it("reads CAPI's and UAA's error bodies", () => {
    assert.equal(upstreamDetail({ errors: [{ title: 'CF-ResourceNotFound', detail: 'App not found', code: 10010 }] }, 404), 'CF-ResourceNotFound: App not found');
    assert.equal(upstreamDetail('{"error":"unauthorized","error_description":"Bad credentials"}', 401), 'Bad credentials');
    assert.equal(upstreamDetail('<html>502 Bad Gateway</html>', 502), 'HTTP 502');
  });
});
