/**
 * One cold conversion, alone in its own process so that its peak RSS is its own: reads the droplet
 * the way the directory source does (1 MiB reads), runs `convertDropletLayers` (what the server
 * runs; `--layers split`, the default, or `single`: DROPLET_LAYERS) into a fresh filesystem
 * blobstore, and prints one JSON line with the layers (or why the droplet was refused), the wall
 * time of the conversion and the process's resource usage. The conversion is the built code in dist/ (`npm run build`), as the
 * server runs it: Node's stripping of src/'s TypeScript would add ~10 MB of RSS the server does
 * not have (this file itself is still stripped, which adds ~15 MB the server does not have either).
 *
 *   node bench/convert-child.ts --droplet D.tgz --store DIR [--level N] [--layers split|single]
 */
import { createReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import type { BlobStore } from '../src/blobstore/blob-store.ts';

const built = (path: string): string => new URL(`../dist/${path}`, import.meta.url).href;
const { FsBlobStore } = (await import(built('blobstore/fs-blob-store.js'))) as typeof import('../src/blobstore/fs-blob-store.ts');
const { convertDropletLayers } = (await import(built('conversion/convert-droplet-layers.js'))) as typeof import('../src/conversion/convert-droplet-layers.ts');
const { capYoungGeneration } = (await import(built('conversion/young-generation.js'))) as typeof import('../src/conversion/young-generation.ts');
// What the server's entry point (src/cli.ts) does at start.
capYoungGeneration();

const { values } = parseArgs({
  options: { droplet: { type: 'string' }, store: { type: 'string' }, level: { type: 'string', default: '1' }, layers: { type: 'string', default: 'split' } },
  strict: true,
});
if (!values.droplet || !values.store || !['split', 'single'].includes(values.layers)) throw new Error('usage: convert-child.ts --droplet D.tgz --store DIR [--level N] [--layers split|single]');

// The filesystem store, watched: a layer's file has all its bytes at 'finish', and is fsynced
// and closed at 'close' (flush: true), so the gap is the time the disk took to make it durable
// (the longest of the layers', written at the same time).
const store = new FsBlobStore({ root: values.store });
let fsyncMs = 0;
const blobs: BlobStore = {
  stage: async (options) => {
    const staged = await store.stage(options);
    let finished = 0;
    staged.writable.once('finish', () => (finished = performance.now()));
    staged.writable.once('close', () => (fsyncMs = Math.max(fsyncMs, finished ? performance.now() - finished : 0)));
    return staged;
  },
  stat: (digest) => store.stat(digest),
  open: (digest, options) => store.open(digest, options),
  put: (digest, bytes) => store.put(digest, bytes),
  delete: (digest) => store.delete(digest),
  sweepStaging: (olderThanMs) => store.sweepStaging(olderThanMs),
  redirectUrl: (digest) => store.redirectUrl(digest),
};

const before = process.resourceUsage();
// What the process holds before converting: its peak RSS less this is what the conversion grew it by.
const rssBeforeBytes = process.memoryUsage().rss;
const started = performance.now();
// The configuration's defaults (CONVERSION_MAX_UNCOMPRESSED_BYTES, CONVERSION_MAX_ENTRIES).
const converting = convertDropletLayers({
  droplet: createReadStream(values.droplet, { highWaterMark: 1024 * 1024 }),
  blobs,
  compressionLevel: Number(values.level),
  limits: { maxUncompressedBytes: 8 * 1024 ** 3, maxEntries: 500_000 },
  splitDeps: values.layers === 'split',
});
// A hostile droplet is measured up to its refusal.
const outcome = await converting.then(
  (layers) => ({ layers }),
  (error: unknown) => {
    if ((error as Error).name !== 'InvalidDropletError') throw error;
    return { refused: (error as Error).message };
  },
);
const wallMs = performance.now() - started;
const usage = process.resourceUsage();
const memory = process.memoryUsage();
process.stdout.write(
  `${JSON.stringify({
    ...outcome,
    wallMs,
    fsyncMs,
    userMs: (usage.userCPUTime - before.userCPUTime) / 1000,
    systemMs: (usage.systemCPUTime - before.systemCPUTime) / 1000,
    maxRssBytes: usage.maxRSS * 1024,
    rssBeforeBytes,
    // what the process holds at the end: V8's heap (JS objects) and memory outside it (Buffers)
    heapTotalBytes: memory.heapTotal,
    heapUsedBytes: memory.heapUsed,
    externalBytes: memory.external,
  })}\n`,
);
