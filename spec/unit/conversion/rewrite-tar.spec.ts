import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { createEntryRuleState, rewriteDropletEntry } from '../../../src/conversion/droplet-entry-rules.ts';
import { createTarRewrite, TarParseError, type TarEntryRule, type TarRewriteOptions } from '../../../src/conversion/rewrite-tar.ts';
import { InvalidDropletError } from '../../../src/errors/registry-error.ts';
import { buildGnuTar, buildTar } from '../../support/build-droplet.ts';
import { names, readTar } from './read-tar.ts';

function dropletRule(): TarEntryRule {
  const state = createEntryRuleState();
  return (header) => rewriteDropletEntry(header, state);
}

async function rewriteBytes(input: Buffer | Buffer[], rule: TarEntryRule = dropletRule(), options?: TarRewriteOptions): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(
    Readable.from(Array.isArray(input) ? input : [input]),
    createTarRewrite(rule, options),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(chunks);
}

/** Lets the event loop run until `count()` stops moving: how far a stream gets with nobody reading. */
async function settled(count: () => number): Promise<number> {
  for (;;) {
    const before = count();
    for (let turn = 0; turn < 20; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    if (count() === before) return before;
  }
}

describe('createTarRewrite', () => {
  it('streams every body through unchanged under the rewritten names', async () => {
    const big = randomBytes(3 * 1024 * 1024 + 17);
    const input = await buildTar([
      { name: './', type: 'directory' },
      { name: './app/', type: 'directory' },
      { name: './app/blob.bin', content: big },
      { name: './app/empty', content: '' },
      { name: './staging_info.yml', content: '{"start_command":"x"}' },
    ]);
    const entries = await readTar(await rewriteBytes(input));
    assert.deepEqual(names(entries), ['home/vcap/app/', 'home/vcap/app/blob.bin', 'home/vcap/app/empty', 'home/vcap/staging_info.yml']);
    assert.ok(entries[1]?.content.equals(big));
    assert.equal(entries[2]?.content.length, 0);
    assert.equal(entries[3]?.content.toString(), '{"start_command":"x"}');
  });

  it('does not depend on how the input is chunked', async () => {
    const input = await buildTar([
      { name: './app/a', content: randomBytes(70_000) },
      { name: './app/b', content: 'hello' },
    ]);
    const whole = await rewriteBytes(input);
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < input.length; offset += 333) chunks.push(input.subarray(offset, offset + 333));
    assert.ok((await rewriteBytes(chunks)).equals(whole));
  });

  it('keeps names over 100 bytes that arrive in PAX headers', async () => {
    const long = `./app/${'n'.repeat(120)}/${'f'.repeat(140)}.txt`;
    const input = await buildTar([
      { name: long, content: 'long' },
      { name: './app/hard', type: 'link', linkname: long },
      { name: './app/sym', type: 'symlink', linkname: `/opt/${'t'.repeat(150)}` },
    ]);
    const entries = await readTar(await rewriteBytes(input));
    assert.equal(entries[0]?.header.name, `home/vcap/app/${'n'.repeat(120)}/${'f'.repeat(140)}.txt`);
    assert.equal(entries[0]?.content.toString(), 'long');
    assert.equal(entries[1]?.header.linkname, `home/vcap/app/${'n'.repeat(120)}/${'f'.repeat(140)}.txt`);
    assert.equal(entries[2]?.header.linkname, `/opt/${'t'.repeat(150)}`);
  });

  it('keeps names over 100 bytes that arrive in GNU long-name entries', async () => {
    const long = `app/${'g'.repeat(180)}`;
    const input = buildGnuTar([
      { name: long, type: 'file', content: 'gnu' },
      { name: `app/${'h'.repeat(130)}`, type: 'link', linkname: long },
    ]);
    const entries = await readTar(await rewriteBytes(input));
    assert.deepEqual(names(entries), [`home/vcap/${long}`, `home/vcap/app/${'h'.repeat(130)}`]);
    assert.equal(entries[0]?.content.toString(), 'gnu');
    assert.equal(entries[1]?.header.type, 'link');
    assert.equal(entries[1]?.header.linkname, `home/vcap/${long}`);
  });

  it('keeps non-ASCII names', async () => {
    const entries = await readTar(await rewriteBytes(await buildTar([{ name: './app/café-☕.txt', content: 'x' }])));
    assert.deepEqual(names(entries), ['home/vcap/app/café-☕.txt']);
  });

  it('turns an empty input, or one with only the root entry, into a valid empty tar', async () => {
    const fromNothing = await rewriteBytes(Buffer.alloc(0));
    const fromRoot = await rewriteBytes(await buildTar([{ name: './', type: 'directory' }]));
    for (const output of [fromNothing, fromRoot]) {
      assert.ok(output.equals(Buffer.alloc(1024)), 'two zero blocks, the tar end-of-archive marker');
      assert.deepEqual(await readTar(output), []);
    }
  });

  it('lets an observer see the body of an emitted entry', async () => {
    const seen: string[] = [];
    const input = await buildTar([
      { name: './app/a', content: 'not this' },
      { name: './staging_info.yml', content: '{"start_command":"rackup"}' },
    ]);
    await rewriteBytes(input, dropletRule(), {
      observe: (header) => (header.name === 'home/vcap/staging_info.yml' ? (chunk) => seen.push(chunk.toString()) : undefined),
    });
    assert.equal(seen.join(''), '{"start_command":"rackup"}');
  });

  it('fails with the rule’s error', async () => {
    const input = await buildTar([{ name: './app/ok' }, { name: '../evil', content: 'x' }]);
    await assert.rejects(rewriteBytes(input), (error: unknown) => error instanceof InvalidDropletError && /"\.\.\/evil" escapes/.test(error.message));
  });

  it('reports a tar cut in the middle of an entry as truncated', async () => {
    const input = await buildTar([{ name: './app/a', content: randomBytes(5000) }]);
    await assert.rejects(rewriteBytes(input.subarray(0, 2048)), (error: unknown) => error instanceof TarParseError && error.reason === 'truncated');
  });

  it('reports bytes that are not tar headers as corrupt', async () => {
    await assert.rejects(rewriteBytes(Buffer.alloc(1024, 'x')), (error: unknown) => error instanceof TarParseError && error.reason === 'corrupt');
  });

  it('reports an extended header over 4 MiB', async () => {
    const input = await buildTar([{ name: './app/a', pax: { comment: 'c'.repeat(5 * 1024 * 1024) } }]);
    await assert.rejects(rewriteBytes(input), (error: unknown) => error instanceof TarParseError && error.reason === 'oversized-header');
  });

  describe('with a reader that stops reading', () => {
    it('stops pulling a large body', async () => {
      const body = Buffer.alloc(64 * 1024);
      const bodies = 1024; // 64 MiB
      const header = (await buildTar([{ name: './app/big', content: Buffer.alloc(0) }])).subarray(0, 512);
      // Same header with the size field set to 64 MiB.
      const sized = Buffer.from(header);
      sized.write(`${(body.length * bodies).toString(8).padStart(11, '0')}\0`, 124, 'ascii');
      sized.fill(' ', 148, 156);
      let checksum = 0;
      for (const byte of sized) checksum += byte;
      sized.write(`${checksum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');

      let pulled = 0;
      let sent = 0;
      const source = new Readable({
        read() {
          const chunk = sent === 0 ? sized : sent <= bodies ? body : sent === bodies + 1 ? Buffer.alloc(1024) : null;
          sent += 1;
          if (chunk) pulled += chunk.length;
          this.push(chunk);
        },
      });
      const rewrite = createTarRewrite(dropletRule());
      source.pipe(rewrite);
      const stalledAt = await settled(() => pulled);
      assert.ok(stalledAt < 4 * 1024 * 1024, `pulled ${stalledAt} bytes with nobody reading`);

      let out = 0;
      for await (const chunk of rewrite) out += (chunk as Buffer).length;
      assert.equal(out, 512 + body.length * bodies + 1024);
    });

    it('stops pulling a flood of empty entries', async () => {
      const batch = (await buildTar(Array.from({ length: 1000 }, (_, index) => ({ name: `./app/d${index}/`, type: 'directory' as const })))).subarray(
        0,
        1000 * 512,
      );
      const batches = 40; // 40,000 entries, 20 MiB of headers
      let pulled = 0;
      let sent = 0;
      const source = new Readable({
        read() {
          const chunk = sent < batches ? batch : sent === batches ? Buffer.alloc(1024) : null;
          sent += 1;
          if (chunk) pulled += chunk.length;
          this.push(chunk);
        },
      });
      const rewrite = createTarRewrite(dropletRule());
      source.pipe(rewrite);
      const stalledAt = await settled(() => pulled);
      assert.ok(stalledAt < 4 * 1024 * 1024, `pulled ${stalledAt} bytes with nobody reading`);

      let out = 0;
      for await (const chunk of rewrite) out += (chunk as Buffer).length;
      assert.equal(out, batches * batch.length + 1024);
    });
  });
});
