import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createTarSplit, TarOutput } from '../../../src/conversion/split-tar.ts';
import { buildTar } from '../../support/build-droplet.ts';
import { readTar } from './read-tar.ts';

async function collect(readable: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of readable) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('createTarSplit', () => {
  it('writes each entry to the output its route names, with the entries it asks for before it', async () => {
    const outputs = { a: new TarOutput(), b: new TarOutput() };
    const split = createTarSplit((header) => {
      if (header.name.startsWith('skip')) return null;
      const output = header.name.startsWith('a') ? outputs.a : outputs.b;
      const before = header.name === 'b/2' ? [{ name: 'made/', type: 'directory' as const, mode: 0o755, mtime: new Date(0) }] : [];
      return { output, header: { ...header, name: `out/${header.name}` }, before };
    });
    const input = await buildTar([{ name: 'a/1', content: 'one' }, { name: 'b/2', content: 'two' }, { name: 'skip/3', content: 'x' }, { name: 'a/4', content: 'four' }]);
    const [a, b] = await Promise.all([collect(outputs.a.readable), collect(outputs.b.readable), pipeline(Readable.from([input]), split)]);
    assert.deepEqual(
      (await readTar(a)).map((entry) => [entry.header.name, entry.content.toString()]),
      [
        ['out/a/1', 'one'],
        ['out/a/4', 'four'],
      ],
    );
    assert.deepEqual(
      (await readTar(b)).map((entry) => [entry.header.name, entry.content.toString()]),
      [
        ['made/', ''],
        ['out/b/2', 'two'],
      ],
    );
  });

  it('holds the input while the reader of the entry’s output is behind, and goes on once it reads', async () => {
    const slow = new TarOutput();
    const fast = new TarOutput();
    const split = createTarSplit((header) => ({ output: header.name === 'slow' ? slow : fast, header, before: [] }));
    const body = Buffer.alloc(8 * 1024 * 1024, 1);
    const input = await buildTar([{ name: 'fast', content: 'small' }, { name: 'slow', content: body }, { name: 'fast-after', content: 'after' }]);
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < input.length; offset += 64 * 1024) chunks.push(input.subarray(offset, offset + 64 * 1024));
    const source = Readable.from(chunks);
    const fastBytes = collect(fast.readable);
    const splitting = pipeline(source, split);
    for (let turn = 0; turn < 200; turn += 1) await nextTurn();
    assert.ok(slow.readable.readableLength < 1024 * 1024, `the unread output holds ${slow.readable.readableLength} bytes`);
    assert.ok(source.readableEnded === false, 'the input is held');
    const slowBytes = await collect(slow.readable);
    await splitting;
    assert.equal((await readTar(slowBytes))[0]?.content.length, body.length);
    assert.deepEqual((await readTar(await fastBytes)).map((entry) => entry.header.name), ['fast', 'fast-after']);
  });
});
