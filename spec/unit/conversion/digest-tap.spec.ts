import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { createDigestTap } from '../../../src/conversion/digest-tap.ts';

describe('createDigestTap', () => {
  it('passes the bytes through and gives their sha256 digest and size once they have all gone by', async () => {
    const data = randomBytes(200_000);
    const tap = createDigestTap();
    const out: Buffer[] = [];
    await pipeline(
      Readable.from([data.subarray(0, 1000), data.subarray(1000)]),
      tap.stream,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          out.push(chunk);
          callback();
        },
      }),
    );
    assert.ok(Buffer.concat(out).equals(data));
    assert.equal(tap.digest(), `sha256:${createHash('sha256').update(data).digest('hex')}`);
    assert.equal(tap.size(), data.length);
  });

  it('digests an empty stream as the sha256 of nothing', async () => {
    const tap = createDigestTap();
    await pipeline(Readable.from([]), tap.stream, new Writable({ write: (_chunk, _encoding, callback) => callback() }));
    assert.equal(tap.digest(), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(tap.size(), 0);
  });

  it('refuses to give a digest of a stream that has not ended', () => {
    const tap = createDigestTap();
    tap.stream.write(Buffer.from('partial'));
    assert.throws(() => tap.digest(), /has not seen the end/);
    assert.throws(() => tap.size(), /has not seen the end/);
  });
});
