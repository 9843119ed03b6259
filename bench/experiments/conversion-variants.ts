/**
 * A measurement prototype, not production code: the droplet conversion pipeline re-assembled from
 * src/conversion with the changes docs/performance.md proposed, measured before src/ changed (they
 * are in src/ now: `chunk=262144,coalesce=262144,parallel` is close to what convertDroplet does;
 * `today` is the pipeline as it was before them). Kept for A/B runs of further variants. Runs one
 * variant on one droplet and prints its wall and CPU time, peak RSS and the layer's digest and
 * diff_id (compare them across variants: the same digest means byte-identical layers).
 *
 *   node_modules/.bin/node bench/experiments/conversion-variants.ts DROPLET.tgz VARIANT [LEVEL] [OUT]
 *
 * VARIANT is a comma-separated list of:
 *   today          convertDroplet's stages as they were (gunzip → tar rewrite → sha256 → gzip → sha256 → file)
 *   chunk=N        zlib chunkSize N bytes for gunzip and gzip (default 16384, zlib's)
 *   coalesce=N     batch the rewritten tar into writes of at least N bytes before hashing and gzip
 *   parallel       pigz-style gzip: 1 MiB blocks deflated on the thread pool, cores + 1 in flight
 * e.g. `today`, `chunk=262144,coalesce=262144`, `chunk=262144,coalesce=262144,parallel`.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, crc32, createGunzip, createGzip, deflateRaw } from 'node:zlib';
import { createEntryRuleState, rewriteDropletEntry } from '../../src/conversion/droplet-entry-rules.ts';
import { createTarRewrite } from '../../src/conversion/rewrite-tar.ts';

const [droplet, variant = 'today', levelArg = '1', out = join(tmpdir(), `conversion-variant-${process.pid}.tar.gz`)] = process.argv.slice(2);
if (!droplet) {
  process.stderr.write('usage: conversion-variants.ts DROPLET.tgz VARIANT [LEVEL] [OUT]\n');
  process.exit(2);
}
const level = Number(levelArg);
const MiB = 1024 * 1024;
const option = (name: string): number | undefined => {
  const match = new RegExp(`(?:^|,)${name}=(\\d+)`).exec(variant);
  return match ? Number(match[1]) : undefined;
};
const chunkSize = option('chunk') ?? 16 * 1024;
const coalesceBytes = option('coalesce');
const parallel = /(?:^|,)parallel(?:,|$)/.test(variant);

/** A pass-through sha256 and byte count (what src/conversion/digest-tap.ts does). */
function digestTap(): { stream: Transform; digest: () => string } {
  const hash = createHash('sha256');
  return {
    stream: new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        callback(null, chunk);
      },
    }),
    digest: () => `sha256:${hash.digest('hex')}`,
  };
}

/** Batches small writes into chunks of at least `size` bytes, copied into one buffer each. */
function coalesce(size: number): Transform {
  let buffer = Buffer.allocUnsafe(size);
  let used = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (used === 0 && chunk.length >= size) {
        callback(null, chunk);
        return;
      }
      if (used + chunk.length > buffer.length) {
        const bigger = Buffer.allocUnsafe(used + chunk.length);
        buffer.copy(bigger, 0, 0, used);
        buffer = bigger;
      }
      chunk.copy(buffer, used);
      used += chunk.length;
      if (used >= size) {
        const full = buffer.subarray(0, used);
        buffer = Buffer.allocUnsafe(size);
        used = 0;
        callback(null, full);
      } else callback();
    },
    flush(callback) {
      callback(null, used > 0 ? buffer.subarray(0, used) : undefined);
    },
  });
}

/**
 * pigz-style gzip: the input cut into fixed `blockSize` blocks, each deflated independently on the
 * thread pool (primed with the previous block's last 32 KiB as dictionary, ended with a sync flush
 * so the pieces join into one deflate stream; the last one ends it), written in order behind a
 * fixed gzip header; CRC-32 and length computed here for the trailer. Block boundaries depend only
 * on offsets, so the output depends only on the input and the level.
 */
function parallelGzip(level: number, blockSize: number, inFlight: number): Transform {
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, level === 1 ? 4 : level === 9 ? 2 : 0, 3]);
  const queue: Array<Promise<Buffer>> = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let crc = 0;
  let total = 0;
  let tail: Buffer | undefined;
  let started = false;
  const deflateBlock = (block: Buffer, last: boolean): void => {
    crc = crc32(block, crc);
    total += block.length;
    const dictionary = tail;
    const window = 32 * 1024;
    tail = Buffer.from(block.length >= window || !tail ? block.subarray(-window) : Buffer.concat([tail, block]).subarray(-window));
    queue.push(
      new Promise((resolve, reject) => {
        deflateRaw(block, { level, memLevel: 8, windowBits: 15, ...(dictionary ? { dictionary } : {}), finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH }, (error, result) =>
          error ? reject(error) : resolve(result),
        );
      }),
    );
  };
  const emit = async (stream: Transform, keep: number): Promise<void> => {
    if (!started) {
      stream.push(header);
      started = true;
    }
    while (queue.length > keep) stream.push(await (queue.shift() as Promise<Buffer>));
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= blockSize) {
        let all = Buffer.concat(pending, pendingBytes);
        while (all.length >= blockSize) {
          deflateBlock(all.subarray(0, blockSize), false);
          all = all.subarray(blockSize);
        }
        pending = all.length > 0 ? [all] : [];
        pendingBytes = all.length;
      }
      emit(this, inFlight).then(() => callback(), callback);
    },
    flush(callback) {
      deflateBlock(Buffer.concat(pending, pendingBytes), true);
      emit(this, 0)
        .then(() => {
          const trailer = Buffer.alloc(8);
          trailer.writeUInt32LE(crc >>> 0, 0);
          trailer.writeUInt32LE(total % 2 ** 32, 4);
          callback(null, trailer);
        })
        .catch(callback);
    },
  });
}

const state = createEntryRuleState();
const diffId = digestTap();
const digest = digestTap();
const stages: Array<NodeJS.ReadableStream | NodeJS.WritableStream> = [
  createReadStream(droplet, { highWaterMark: MiB }),
  createGunzip({ chunkSize }),
  createTarRewrite((header) => rewriteDropletEntry(header, state)),
];
if (coalesceBytes) stages.push(coalesce(coalesceBytes));
stages.push(diffId.stream);
stages.push(parallel ? parallelGzip(level, MiB, availableParallelism() + 1) : createGzip({ level, memLevel: 8, windowBits: 15, chunkSize }));
stages.push(digest.stream, createWriteStream(out, { flush: true }));

const started = performance.now();
await pipeline(stages as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream]);
const wallMs = performance.now() - started;
const usage = process.resourceUsage();
process.stdout.write(
  `${JSON.stringify({
    variant,
    level,
    wallMs: Math.round(wallMs),
    cpuMs: Math.round((usage.userCPUTime + usage.systemCPUTime) / 1000),
    systemMs: Math.round(usage.systemCPUTime / 1000),
    maxRssMB: Math.round((usage.maxRSS * 1024) / 1e6),
    digest: digest.digest(),
    diffId: diffId.digest(),
  })}\n`,
);
if (process.argv[5] === undefined) await rm(out, { force: true });
