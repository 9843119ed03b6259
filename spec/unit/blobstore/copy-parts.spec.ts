import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { copyPartRanges } from '../../../src/blobstore/copy-parts.ts';

describe('copyPartRanges', () => {
  it('covers the object with consecutive inclusive ranges, the last one short', () => {
    assert.deepEqual(copyPartRanges(25, 10), [
      { start: 0, end: 9 },
      { start: 10, end: 19 },
      { start: 20, end: 24 },
    ]);
  });

  it('makes one range of an object no bigger than a part', () => {
    assert.deepEqual(copyPartRanges(10, 10), [{ start: 0, end: 9 }]);
  });

  it('refuses more than the 10,000 parts S3 allows, and empty or impossible sizes', () => {
    assert.equal(copyPartRanges(10_000 * 7, 7).length, 10_000);
    assert.throws(() => copyPartRanges(10_000 * 7 + 1, 7), RangeError);
    assert.throws(() => copyPartRanges(0, 7), RangeError);
    assert.throws(() => copyPartRanges(7, 0), RangeError);
  });
});
