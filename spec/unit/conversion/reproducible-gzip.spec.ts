import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { createReproducibleGzip } from '../../../src/conversion/reproducible-gzip.ts';

async function gzip(chunks: Buffer[], level: number): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    createReproducibleGzip(level),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(out);
}

function split(data: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += size) chunks.push(data.subarray(offset, offset + size));
  return chunks;
}

// Compressible and incompressible stretches, like a real layer.
const DATA = Buffer.concat([randomBytes(150_000), Buffer.alloc(300_000, 'layer '), randomBytes(70_000)]);

describe('createReproducibleGzip', () => {
  it('writes a gzip header with mtime 0 and no file name', async () => {
    const bytes = await gzip([DATA], 1);
    assert.deepEqual([...bytes.subarray(0, 3)], [0x1f, 0x8b, 8], 'gzip magic, deflate');
    assert.equal(bytes[3], 0, 'no flags: no name, comment or extra field');
    assert.deepEqual([...bytes.subarray(4, 8)], [0, 0, 0, 0], 'mtime 0');
  });

  it('gives the same bytes for the same input, however it is chunked', async () => {
    for (const level of [1, 6, 9]) {
      const reference = await gzip([DATA], level);
      assert.ok((await gzip([DATA], level)).equals(reference), `level ${level}, same chunks`);
      for (const size of [1000, 4096, 65_536]) {
        assert.ok((await gzip(split(DATA, size), level)).equals(reference), `level ${level}, ${size}-byte chunks`);
      }
      assert.ok(gunzipSync(reference).equals(DATA));
    }
  });

  it('refuses level 0, whose stored blocks follow the input chunking, and levels zlib does not have', () => {
    for (const level of [0, 10, -1, 1.5]) assert.throws(() => createReproducibleGzip(level), RangeError, String(level));
  });
});
