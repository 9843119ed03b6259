/**
 * What a hostile droplet can make a conversion hold: the peak RSS growth of one conversion (the
 * bench's child, bench/convert-child.ts) of each of the worst droplets the entry rules' bounds
 * allow (src/conversion/droplet-entry-rules.ts): as many entries as CONVERSION_MAX_ENTRIES lets
 * through, each named with the longest name allowed, and the attack those bounds answer, 900
 * entries with distinct 1 MiB PAX paths. Both are generated once into bench/.cache.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { convertOnce, type ConversionRun } from './conversion.ts';

interface HostileSpec {
  readonly label: string;
  readonly entries: number;
  /** Bytes of each entry's name, `./app/<n>-` included. */
  readonly nameBytes: number;
}

/** Bump when the droplets change, so cached ones are rebuilt. */
const GENERATOR_VERSION = 2;

const EPOCH = new Date(0);

const HOSTILE_SPECS: readonly HostileSpec[] = [
  { label: '500,000 entries, 16-byte names', entries: 499_999, nameBytes: 16 },
  { label: '500,000 entries, 4,096-byte names', entries: 500_000, nameBytes: 4096 },
  { label: '900 entries, 1 MiB PAX paths', entries: 900, nameBytes: 1024 * 1024 },
];

export interface HostileDropletInfo {
  readonly label: string;
  readonly path: string;
  readonly compressedBytes: number;
  readonly uncompressedBytes: number;
  readonly entries: number;
}

export interface HostileMemoryResult {
  readonly droplet: HostileDropletInfo;
  readonly run: ConversionRun;
}

/** Converts each hostile droplet once (at `level`) and reports its run. */
export async function measureHostileMemory(options: { cacheDir: string; scratch: string; level: number; log: (line: string) => void }): Promise<HostileMemoryResult[]> {
  const results: HostileMemoryResult[] = [];
  for (const spec of HOSTILE_SPECS) {
    const droplet = await ensureHostileDroplet(options.cacheDir, spec, options.log);
    const run = await convertOnce(droplet.path, options.level, options.scratch);
    options.log(`  ${spec.label}: peak RSS ${mb(run.maxRssBytes)} MB, +${mb(run.maxRssBytes - run.rssBeforeBytes)} MB; ${run.refused ? `refused: ${run.refused}` : 'converted'}`);
    results.push({ droplet, run });
  }
  return results;
}

async function ensureHostileDroplet(cacheDir: string, spec: HostileSpec, log: (line: string) => void): Promise<HostileDropletInfo> {
  const key = createHash('sha256').update(JSON.stringify({ v: GENERATOR_VERSION, spec })).digest('hex').slice(0, 12);
  const path = join(cacheDir, `hostile-${key}.tgz`);
  const infoPath = `${path}.json`;
  if (existsSync(path) && existsSync(infoPath)) return JSON.parse(await readFile(infoPath, 'utf8')) as HostileDropletInfo;
  await mkdir(cacheDir, { recursive: true });
  log(`generating the hostile droplet "${spec.label}" into ${path}`);
  const partial = `${path}.partial`;
  let uncompressedBytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      uncompressedBytes += chunk.length;
      callback(null, chunk);
    },
  });
  const pack = tar.pack();
  const writing = pipeline(pack, meter, createGzip({ level: 9 }), createWriteStream(partial));
  /** Entries one after another, with back-pressure; fixed owner and mtime, so the bytes never vary. */
  const entry = (header: Partial<Header> & { name: string }): Promise<void> =>
    new Promise((resolve, reject) => pack.entry({ mode: 0o644, mtime: EPOCH, uid: 2000, gid: 2000, uname: 'vcap', gname: 'vcap', ...header }, (error) => (error ? reject(error) : resolve())));
  try {
    await entry({ name: './app/', type: 'directory', mode: 0o755 });
    for (let i = 0; i < spec.entries; i += 1) {
      const name = `./app/${i}-`;
      await entry({ name: name + 'n'.repeat(spec.nameBytes - name.length), type: 'file' });
    }
    pack.finalize();
    await writing;
  } catch (error) {
    pack.destroy(error as Error);
    await writing.catch(() => undefined);
    await rm(partial, { force: true });
    throw error;
  }
  const info: HostileDropletInfo = { label: spec.label, path, compressedBytes: (await stat(partial)).size, uncompressedBytes, entries: spec.entries + 1 };
  await rename(partial, path);
  await writeFile(infoPath, `${JSON.stringify(info, null, 2)}\n`);
  return info;
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(0);
}
