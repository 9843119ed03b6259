import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { convertDroplet } from '../../../src/conversion/convert-droplet.ts';
import { buildLauncherLayer } from '../../../src/conversion/lifecycle-layer.ts';
import { buildTar, type DropletEntry } from '../../support/build-droplet.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';

/**
 * Deterministic pseudo-random bytes: sha256 in counter mode over `seed`, so the droplet below is
 * the same on every machine and every run.
 */
function prngBytes(seed: string, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let offset = 0, counter = 0; offset < length; offset += 32, counter += 1) {
    createHash('sha256').update(`${seed}:${counter}`).digest().copy(out, offset);
  }
  return out;
}

/** JavaScript-like text from a small vocabulary, chosen by `seed`: compresses like source code. */
function sourceText(seed: string, length: number): Buffer {
  const words = ['const', 'return', 'function', 'await', 'module.exports', 'require(', ');\n', '{\n', '}\n', 'if (', 'else', 'value', 'options', '  ', '=>', 'this.', 'null', 'error'];
  const picks = prngBytes(seed, length);
  let text = '';
  for (let index = 0; text.length < length; index += 1) text += `${words[(picks[index % picks.length] as number) % words.length]} `;
  return Buffer.from(text.slice(0, length));
}

/**
 * A droplet laid out like a buildpack's: a multi-MiB runtime binary (random and compressible
 * stretches, so deflate blocks of every kind occur, and larger than any stream buffer), many small
 * source files in nested directories, a symlink, a hard link and incompressible assets.
 */
async function fixedDroplet(): Promise<Buffer> {
  const entries: DropletEntry[] = [
    { name: './', type: 'directory' },
    { name: './deps/', type: 'directory' },
    { name: './deps/0/', type: 'directory' },
    { name: './deps/0/node/', type: 'directory' },
    {
      name: './deps/0/node/node',
      mode: 0o755,
      content: Buffer.concat([prngBytes('binary-a', 1_200_000), sourceText('binary-strings', 900_000), Buffer.alloc(400_000), prngBytes('binary-b', 700_001)]),
    },
    { name: './app/', type: 'directory' },
    { name: './app/node_modules/', type: 'directory' },
  ];
  for (let pkg = 0; pkg < 40; pkg += 1) {
    entries.push({ name: `./app/node_modules/pkg-${pkg}/`, type: 'directory' });
    for (let file = 0; file < 12; file += 1) {
      entries.push({ name: `./app/node_modules/pkg-${pkg}/file-${file}.js`, content: sourceText(`src-${pkg}-${file}`, 200 + ((pkg * 7919 + file * 104_729) % 9000)) });
    }
  }
  entries.push(
    { name: './app/node_modules/.bin/', type: 'directory' },
    { name: './app/node_modules/.bin/tool', type: 'symlink', linkname: '../pkg-3/file-0.js' },
    { name: './app/node_modules/pkg-0/alias.js', type: 'link', linkname: './app/node_modules/pkg-0/file-1.js' },
    { name: './app/public/', type: 'directory' },
    { name: './app/public/logo.png', content: prngBytes('asset', 300_000) },
    { name: './staging_info.yml', content: '{"detected_buildpack":"nodejs","start_command":"npm start"}' },
  );
  return gzipSync(await buildTar(entries), { level: 6 });
}

/**
 * The layer a fixed droplet converts to, pinned: any change to the conversion that alters the
 * stored bytes (and so the digest every existing image was published under) fails here. A
 * deliberate change of the layer bytes updates these values and says why in docs/performance.md.
 * The diff_id pins the rewritten tar, the digest the compressed layer (zlib as bundled with Node).
 *
 * Changed once, deliberately, when deflate was spread over the cores in 1 MiB blocks
 * (reproducible-gzip.ts): before it, level 1 gave sha256:8c5100fa…0ad0 (2,897,520 bytes) and level 6
 * sha256:7e34e531…e36a (2,717,592 bytes), the same before and after the byte-identical changes
 * (large zlib chunks, hashing inside the gzip stage); the diff_id did not change.
 */
const PINNED: Record<number, { digest: string; diffId: string; size: number }> = {
  1: {
    digest: 'sha256:a0ffff4726922704d66a22100011626c6073020535378daf911698a311b6a7b4',
    diffId: 'sha256:b2a0e7b7b2e29710da5993061fd00e6f4bec0ff876c46b035c0b806aff9253ed',
    size: 2_897_294,
  },
  6: {
    digest: 'sha256:3181345784f98f1afabd9f0e470de70b4f379a34d9e8d01ba8bf526f46a80d73',
    diffId: 'sha256:b2a0e7b7b2e29710da5993061fd00e6f4bec0ff876c46b035c0b806aff9253ed',
    size: 2_719_202,
  },
};

describe('layer digest of a fixed droplet', () => {
  for (const level of [1, 6]) {
    it(`is pinned at level ${level}, whatever the input chunking`, async () => {
      const droplet = await fixedDroplet();
      const whole = await convertDroplet({ droplet: Readable.from([droplet]), blobs: new MemoryBlobStore(), compressionLevel: level });
      const chunks: Buffer[] = [];
      for (let offset = 0; offset < droplet.length; offset += 7_777) chunks.push(droplet.subarray(offset, offset + 7_777));
      const chunked = await convertDroplet({ droplet: Readable.from(chunks), blobs: new MemoryBlobStore(), compressionLevel: level });
      assert.deepEqual(chunked, whole);
      assert.deepEqual({ digest: whole.digest, diffId: whole.diffId, size: whole.size }, PINNED[level]);
    });
  }

  it('leaves the built-in launcher layer, part of every image key, as it was (one block: as one zlib stream)', async () => {
    const layer = await buildLauncherLayer(new MemoryBlobStore(), 1);
    assert.equal(layer.digest, 'sha256:a2cc46bfebd178165d8016d7d762a65fbf52fd46c5e4d38d07e464ff3a15460b');
  });
});
