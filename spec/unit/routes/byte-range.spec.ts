import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../../src/errors/registry-error.ts';
import { parseByteRange } from '../../../src/routes/byte-range.ts';

describe('parseByteRange', () => {
  it('serves the whole blob without a header, with several ranges, and for headers RFC 9110 says to ignore', () => {
    for (const header of [undefined, 'bytes=0-1,5-6', 'items=0-1', 'bytes=5-4', 'bytes=-', 'bytes=abc', 'rubbish']) {
      assert.equal(parseByteRange(header, 100), undefined, header);
    }
  });

  it('reads first-last, open-ended and suffix ranges', () => {
    assert.deepEqual(parseByteRange('bytes=0-9', 100), { start: 0, end: 9 });
    assert.deepEqual(parseByteRange('bytes=90-', 100), { start: 90, end: 99 });
    assert.deepEqual(parseByteRange('bytes=-10', 100), { start: 90, end: 99 });
    assert.deepEqual(parseByteRange('bytes=-1000', 100), { start: 0, end: 99 });
    assert.deepEqual(parseByteRange('bytes=50-1000', 100), { start: 50, end: 99 });
  });

  it('refuses unsatisfiable ranges with 416 and the size in Content-Range', () => {
    for (const header of ['bytes=100-', 'bytes=100-200', 'bytes=-0']) {
      assert.throws(
        () => parseByteRange(header, 100),
        (error: unknown) => error instanceof RegistryError && error.status === 416 && (error.detail as { contentRange: string }).contentRange === 'bytes */100',
        header,
      );
    }
  });
});
