/**
 * Buildpack-like droplets for tests and benches: `deps/<i>/` directories as the buildpack
 * lifecycle leaves them (a sizeable pseudo-runtime in `deps/0`, small supply-buildpack
 * directories after it) and app code beside them, laid out the way `tar -czf droplet -C <dir> .`
 * writes them. Content is pseudo-random but fixed by its seeds, so two droplets built with the
 * same `runtime` have byte-equal `deps/0/` however they differ elsewhere: what a restage or a
 * second app on the same buildpack gives. Streamed, so a bench can write one of hundreds of MB.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import type { EntryHeader } from '../../src/conversion/rewrite-tar.ts';

/** What varies between buildpack droplets. */
export interface BuildpackDropletOptions {
  /** Names the runtime in `deps/0` and seeds its content: equal names, equal `deps/0`. Default `node-22.11.0`. */
  readonly runtime?: string;
  /** Bytes of the runtime's files in `deps/0` (about half a large binary). Default 4 MiB. */
  readonly runtimeBytes?: number;
  /** Supply buildpacks after the runtime's: `deps/1` … `deps/<n>`, a few small files each. Default 1. */
  readonly supplyBuildpacks?: number;
  /** The app's files by path under `app/`; default a small Node server. */
  readonly appFiles?: Readonly<Record<string, string | Buffer>>;
  readonly startCommand?: string;
  /** When staging ran: every entry's mtime, as a restage gives everything new ones. */
  readonly stagedAt?: Date;
}

/** The staging time of a droplet built without one. */
export const DEFAULT_STAGED_AT = new Date('2026-11-02T10:20:30Z');

/** An entry of a generated droplet: its header, and its body produced on demand. */
interface GeneratedEntry {
  readonly header: EntryHeader;
  readonly body?: () => Iterable<Buffer>;
}

const CHUNK_BYTES = 64 * 1024;
const VCAP = { uid: 2000, gid: 2000, uname: 'vcap', gname: 'vcap' };

/** The app's files when none are given. */
export const DEFAULT_APP_FILES: Readonly<Record<string, string>> = {
  'server.js': "require('http').createServer((q, s) => s.end('hi')).listen(process.env.PORT);\n",
  'package.json': '{"name":"app","version":"1.0.0","main":"server.js"}\n',
};

/** A buildpack droplet as a `.tgz` stream. */
export function buildpackDropletStream(options: BuildpackDropletOptions = {}): Readable {
  const pack = tar.pack();
  const writing = (async () => {
    for (const entry of buildpackDropletEntries(options)) {
      const size = entry.header.size ?? 0;
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ ...entry.header, size }, (error) => (error ? reject(error) : resolve()));
        if (entry.body === undefined) {
          sink.end(undefined);
          return;
        }
        const chunks = entry.body()[Symbol.iterator]();
        const writeMore = (): void => {
          for (let next = chunks.next(); !next.done; next = chunks.next()) {
            if (!sink.write(next.value)) {
              sink.once('drain', writeMore);
              return;
            }
          }
          sink.end(undefined);
        };
        writeMore();
      });
    }
    pack.finalize();
  })();
  writing.catch((error: unknown) => pack.destroy(error as Error));
  const gzip = createGzip({ level: 6 });
  // A failure reaches the reader as an error of the stream it reads.
  pipeline(Readable.from(pack), gzip).catch(() => undefined);
  return gzip;
}

/** A buildpack droplet's `.tgz` bytes. */
export async function buildpackDroplet(options: BuildpackDropletOptions = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of buildpackDropletStream(options)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Writes a buildpack droplet to `path` (as `cf download-droplet` leaves it), streamed; returns its size. */
export async function writeBuildpackDroplet(path: string, options: BuildpackDropletOptions = {}): Promise<number> {
  const out = createWriteStream(path);
  await pipeline(buildpackDropletStream(options), out);
  return out.bytesWritten;
}

/** The droplet's entries in `tar -C <dir> .` order: `./`, `app/`, `deps/`, `profile.d/`, `staging_info.yml`, `tmp/`, `logs/`. */
function* buildpackDropletEntries(options: BuildpackDropletOptions): Generator<GeneratedEntry> {
  const mtime = options.stagedAt ?? DEFAULT_STAGED_AT;
  const runtime = options.runtime ?? 'node-22.11.0';
  const directory = (name: string): GeneratedEntry => directoryEntry(name, mtime);
  const file = (name: string, content: Buffer, mode = 0o644): GeneratedEntry => fileEntry(name, content, mode, mtime);

  yield directory('./');
  yield directory('./app/');
  for (const [path, content] of Object.entries(options.appFiles ?? DEFAULT_APP_FILES)) {
    const parents = path.split('/').slice(0, -1);
    for (let depth = 1; depth <= parents.length; depth += 1) yield directory(`./app/${parents.slice(0, depth).join('/')}/`);
    yield file(`./app/${path}`, Buffer.from(content));
  }
  yield directory('./deps/');
  yield* runtimeEntries(runtime, options.runtimeBytes ?? 4 * 1024 * 1024, mtime);
  for (let index = 1; index <= (options.supplyBuildpacks ?? 1); index += 1) {
    yield directory(`./deps/${index}/`);
    yield file(`./deps/${index}/config.yml`, Buffer.from(`name: supply-${index}\nversion: 1.${index}.0\n`));
    yield directory(`./deps/${index}/bin/`);
    yield file(`./deps/${index}/bin/tool-${index}`, pseudoRandom(`${runtime}/supply-${index}`, 64 * 1024), 0o755);
  }
  yield directory('./profile.d/');
  yield file('./profile.d/000_multi-supply.sh', Buffer.from('export PATH="$DEPS_DIR/0/bin:$PATH"\n'), 0o755);
  const stagingInfo = { detected_buildpack: 'nodejs', start_command: options.startCommand ?? 'node server.js' };
  yield file('./staging_info.yml', Buffer.from(JSON.stringify(stagingInfo)));
  yield directory('./tmp/');
  yield directory('./logs/');
}

/**
 * `deps/0` as a runtime leaves it: a large binary (half of `bytes`), a library tree of small text
 * files (the other half), a `bin/` symlink, a hard link to the binary, a profile script.
 */
function* runtimeEntries(runtime: string, bytes: number, mtime: Date): Generator<GeneratedEntry> {
  const directory = (name: string): GeneratedEntry => directoryEntry(name, mtime);
  const generated = (name: string, size: number, mode = 0o644): GeneratedEntry => ({
    header: { name, type: 'file', mode, mtime, size, ...VCAP },
    body: () => pseudoContent(`${runtime}/${name}`, size),
  });
  yield directory('./deps/0/');
  yield fileEntry('./deps/0/config.yml', Buffer.from(`name: ${runtime}\n`), 0o644, mtime);
  yield directory('./deps/0/node/');
  yield directory('./deps/0/node/bin/');
  const binaryBytes = Math.floor(bytes / 2);
  yield generated('./deps/0/node/bin/node', binaryBytes, 0o755);
  yield { header: { name: './deps/0/node/bin/nodejs', type: 'link', linkname: './deps/0/node/bin/node', mode: 0o755, mtime, ...VCAP } };
  yield directory('./deps/0/node/lib/');
  const libraryFiles = Math.max(1, Math.floor((bytes - binaryBytes) / (16 * 1024)));
  for (let index = 0; index < libraryFiles; index += 1) {
    if (index % 32 === 0) yield directory(`./deps/0/node/lib/pkg-${index / 32}/`);
    const size = Math.min(16 * 1024, bytes - binaryBytes - index * 16 * 1024);
    if (size > 0) yield generated(`./deps/0/node/lib/pkg-${Math.floor(index / 32)}/module-${index}.js`, size);
  }
  yield directory('./deps/0/bin/');
  yield { header: { name: './deps/0/bin/node', type: 'symlink', linkname: '../node/bin/node', mode: 0o777, mtime, ...VCAP } };
  yield directory('./deps/0/profile.d/');
  yield fileEntry('./deps/0/profile.d/node.sh', Buffer.from('export NODE_HOME="$DEPS_DIR/0/node"\n'), 0o755, mtime);
}

function directoryEntry(name: string, mtime: Date): GeneratedEntry {
  return { header: { name, type: 'directory', mode: 0o755, mtime, ...VCAP } };
}

function fileEntry(name: string, content: Buffer, mode: number, mtime: Date): GeneratedEntry {
  return { header: { name, type: 'file', mode, mtime, size: content.length, ...VCAP }, body: () => [content] };
}

/** `size` bytes seeded by `seed`, half random and half repetitive text, so they compress as binaries do (about 2:1). */
function* pseudoContent(seed: string, size: number): Generator<Buffer> {
  const random = keystream(seed);
  const text = Buffer.from(`${createHash('sha256').update(seed).digest('hex')} function exports module require\n`.repeat(64));
  for (let offset = 0; offset < size; offset += CHUNK_BYTES) {
    const length = Math.min(CHUNK_BYTES, size - offset);
    const chunk = Buffer.alloc(length);
    const randomPart = Math.floor(length / 2);
    random.update(Buffer.alloc(randomPart)).copy(chunk, 0);
    for (let at = randomPart; at < length; at += text.length) text.copy(chunk, at, 0, Math.min(text.length, length - at));
    yield chunk;
  }
}

/** `size` random bytes seeded by `seed`. */
function pseudoRandom(seed: string, size: number): Buffer {
  return keystream(seed).update(Buffer.alloc(size));
}

function keystream(seed: string) {
  return createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16));
}
