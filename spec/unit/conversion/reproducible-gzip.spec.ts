import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createReproducibleGzip, GzipBlockBudget, type ReproducibleGzipOptions } from '../../../src/conversion/reproducible-gzip.ts';
import { provisionCommands, skipOrFail } from '../../support/requirements.ts';

async function gzip(chunks: Buffer[], level: number, options: ReproducibleGzipOptions = {}): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    createReproducibleGzip(level, options),
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

const MiB = 1024 * 1024;
// Compressible and incompressible stretches across several 1 MiB blocks, like a real layer; the
// repeated text straddles block boundaries, where only the dictionary lets deflate reach back.
const DATA = Buffer.concat([randomBytes(700_000), Buffer.alloc(1_500_000, 'layer '), randomBytes(300_000), Buffer.alloc(600_000, 'tar '), randomBytes(1234)]);

describe('createReproducibleGzip', () => {
  it('writes a gzip header with mtime 0 and no file name', async () => {
    const bytes = await gzip([DATA], 1);
    assert.deepEqual([...bytes.subarray(0, 3)], [0x1f, 0x8b, 8], 'gzip magic, deflate');
    assert.equal(bytes[3], 0, 'no flags: no name, comment or extra field');
    assert.deepEqual([...bytes.subarray(4, 8)], [0, 0, 0, 0], 'mtime 0');
  });

  it('gives the same bytes for the same input, however it is chunked and however many blocks deflate at once', async () => {
    for (const level of [1, 6, 9]) {
      const reference = await gzip([DATA], level);
      assert.ok(gunzipSync(reference).equals(DATA), `level ${level} round-trips`);
      for (const size of [1000, 65_536, MiB + 1]) {
        assert.ok((await gzip(split(DATA, size), level)).equals(reference), `level ${level}, ${size}-byte chunks`);
      }
      for (const blocksInFlight of [1, 2, 8]) {
        assert.ok((await gzip(split(DATA, 300_000), level, { blocksInFlight })).equals(reference), `level ${level}, ${blocksInFlight} blocks in flight`);
      }
    }
  });

  it('compresses about as well as one zlib stream, the blocks reaching back across their boundaries', async () => {
    const ours = await gzip([DATA], 6);
    const single = gzipSync(DATA, { level: 6 });
    assert.ok(Math.abs(ours.length - single.length) / single.length < 0.005, `${ours.length} bytes against zlib's ${single.length}`);
  });

  it('writes exactly what one zlib gzip stream writes for input under one block', async () => {
    const small = DATA.subarray(0, 300_000);
    for (const level of [1, 6, 9]) assert.ok((await gzip(split(small, 7000), level)).equals(gzipSync(small, { level })), `level ${level}`);
    assert.ok((await gzip([], 1)).equals(gzipSync(Buffer.alloc(0), { level: 1 })), 'empty input');
  });

  it('ends a stream whose length is a whole number of blocks', async () => {
    const exact = DATA.subarray(0, 2 * MiB);
    assert.ok(gunzipSync(await gzip(split(exact, 100_000), 1)).equals(exact));
  });

  it('hands every input byte to onInput once, in order', async () => {
    const seen = createHash('sha256');
    let bytes = 0;
    await gzip(split(DATA, 50_000), 1, {
      onInput: (block) => {
        seen.update(block);
        bytes += block.length;
      },
    });
    assert.equal(bytes, DATA.length);
    assert.equal(seen.digest('hex'), createHash('sha256').update(DATA).digest('hex'));
  });

  it('writes a stream that gzip -t and gunzip accept', async (t) => {
    const missing = provisionCommands({ gzip: 'gzip', gunzip: 'gzip' });
    if (missing) {
      skipOrFail(t, missing);
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'block-gzip-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'layer.tar.gz');
    await writeFile(path, await gzip(split(DATA, 200_000), 1));
    execFileSync('gzip', ['-t', path]);
    assert.ok(execFileSync('gunzip', ['-c', path], { maxBuffer: 64 * MiB }).equals(DATA));
  });

  it('gives several streams sharing one budget of blocks the bytes each gives alone, even when one of them breaks', async () => {
    const reference = await gzip([DATA], 6);
    for (const blocks of [1, 3]) {
      const budget = new GzipBlockBudget(blocks);
      const broken = createReproducibleGzip(6, { budget });
      broken.on('error', () => undefined);
      broken.write(DATA.subarray(0, 2 * MiB + 10));
      broken.destroy(new Error('the layer beside it failed'));
      const outputs = await Promise.all([0, 1, 2].map((index) => gzip(split(DATA, 100_000 + index * 77_777), 6, { budget })));
      for (const output of outputs) assert.ok(output.equals(reference), `${blocks} blocks shared`);
    }
  });

  it('refuses level 0 and levels zlib does not have, and no blocks in flight', () => {
    for (const level of [0, 10, -1, 1.5]) assert.throws(() => createReproducibleGzip(level), RangeError, String(level));
    assert.throws(() => createReproducibleGzip(1, { blocksInFlight: 0 }), RangeError);
    assert.throws(() => new GzipBlockBudget(0), RangeError);
  });
});
