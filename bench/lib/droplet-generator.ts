/**
 * Realistic Cloud Foundry droplets for the benchmark, generated deterministically from a seed and
 * streamed straight into gzip (level 6, as the buildpack runner's `tar -czf` writes them), so even
 * the 1 GB droplet never sits in memory. Laid out as a Node.js buildpack droplet:
 *
 *   ./app/…                 the app: source files, static assets, package.json, .profile.d
 *   ./app/node_modules/…    thousands of small files in nested package directories, .bin symlinks
 *   ./deps/0/node/…         the runtime: a large binary, shared libraries, C headers
 *   ./profile.d/, ./deps/0/profile.d/, ./logs/, ./tmp/, ./staging_info.yml
 *
 * Content mimics what compresses how: binaries mix random pages, skewed "machine code" pages,
 * zero padding and string tables (gzip: ~45% of their size); source is JavaScript-like text built
 * from a Zipf-distributed vocabulary (~25%); assets are random bytes, like images and fonts (100%).
 */
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar, { type Header, type Pack } from 'tar-stream';
import { Prng } from './prng.ts';

/** Bump when the output of the generator changes, so cached droplets are rebuilt. */
export const GENERATOR_VERSION = 2;

export interface DropletSpec {
  /** Short label, e.g. `150MB`. */
  readonly label: string;
  /** Uncompressed (tar) size to aim for. */
  readonly targetBytes: number;
  readonly seed: string;
}

export interface GeneratedDroplet {
  readonly label: string;
  readonly path: string;
  /** Size of the `.tgz`. */
  readonly compressedBytes: number;
  /** Size of the tar inside. */
  readonly uncompressedBytes: number;
  readonly entries: number;
  readonly files: number;
  /** sha256 of the `.tgz` (hex). */
  readonly sha256: string;
}

const MTIME = new Date('2024-05-06T07:08:09Z');
/** Every entry is the app user's, as in a droplet the buildpack runner writes. */
const VCAP = { uid: 2000, gid: 2000, uname: 'vcap', gname: 'vcap' } as const;
const MiB = 1024 * 1024;

type EntryHeader = Partial<Header> & { name: string };

/**
 * tar-stream's pack with what the generator needs on top: entries written one after another with
 * back-pressure, and a running count of the tar's size. The count is computed from the entries
 * (header block + body padded to 512 bytes), not measured downstream, so the size budgets that
 * shape the tree see the same numbers on every run, whatever the stream buffering.
 */
class DropletTar {
  readonly pack: Pack = tar.pack();
  bytes = 0;
  entries = 0;

  /** One entry whose whole body is given (small files, directories, links). */
  async entry(header: EntryHeader, body?: Buffer): Promise<void> {
    this.#count(body?.length ?? 0);
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null): void => (error ? reject(error) : resolve());
      if (body) this.pack.entry({ ...VCAP, ...header }, body, done);
      else this.pack.entry({ ...VCAP, ...header }, done);
    });
  }

  /** One entry of `header.size` bytes, its body produced in pieces so it never sits in memory. */
  async streamedEntry(header: EntryHeader & { size: number }, pieces: Iterable<Buffer>): Promise<void> {
    this.#count(header.size);
    await pipeline(Readable.from(pieces), this.pack.entry({ ...VCAP, ...header }));
  }

  #count(size: number): void {
    this.entries += 1;
    this.bytes += 512 + Math.ceil(size / 512) * 512;
  }
}

/** The droplet for `spec`, generated into `cacheDir` unless it is already there. */
export async function ensureDroplet(cacheDir: string, spec: DropletSpec, log: (line: string) => void): Promise<GeneratedDroplet> {
  const key = createHash('sha256').update(JSON.stringify({ v: GENERATOR_VERSION, spec })).digest('hex').slice(0, 12);
  const path = join(cacheDir, `droplet-${spec.label}-${key}.tgz`);
  const infoPath = `${path}.json`;
  if (existsSync(path) && existsSync(infoPath)) return JSON.parse(await readFile(infoPath, 'utf8')) as GeneratedDroplet;
  await mkdir(cacheDir, { recursive: true });
  log(`generating the ${spec.label} droplet (seed ${JSON.stringify(spec.seed)}) into ${path}`);
  const started = performance.now();
  const partial = `${path}.partial`;
  const hash = createHash('sha256');
  let compressedBytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      compressedBytes += chunk.length;
      callback(null, chunk);
    },
  });
  let uncompressedBytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      uncompressedBytes += chunk.length;
      callback(null, chunk);
    },
  });
  const tar = new DropletTar();
  const writing = pipeline(tar.pack, meter, createGzip({ level: 6 }), tap, createWriteStream(partial));
  let files = 0;
  try {
    files = await writeDropletTree(tar, new Prng(spec.seed), spec.targetBytes);
    tar.pack.finalize();
    await writing;
  } catch (error) {
    tar.pack.destroy(error as Error);
    await writing.catch(() => undefined);
    await rm(partial, { force: true });
    throw error;
  }
  const info: GeneratedDroplet = {
    label: spec.label,
    path,
    compressedBytes,
    uncompressedBytes,
    entries: tar.entries,
    files,
    sha256: hash.digest('hex'),
  };
  await rename(partial, path);
  await writeFile(infoPath, `${JSON.stringify(info, null, 2)}\n`);
  log(`  ${(uncompressedBytes / 1e6).toFixed(0)} MB in ${tar.entries} entries → ${(compressedBytes / 1e6).toFixed(0)} MB gzip, in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return info;
}

/** Writes the whole droplet; returns the number of regular files. */
async function writeDropletTree(tar: DropletTar, prng: Prng, target: number): Promise<number> {
  const text = new TextGenerator(prng);
  const dirs = new Set<string>();
  let files = 0;
  const dir = async (path: string): Promise<void> => {
    if (dirs.has(path)) return;
    const parent = path.slice(0, path.lastIndexOf('/', path.length - 2) + 1);
    if (parent.length > 0 && parent !== path) await dir(parent);
    dirs.add(path);
    await tar.entry({ name: path, type: 'directory', mode: 0o755, mtime: MTIME });
  };
  const paths = new Set<string>();
  /** `path`, or `path` with a counter before its extension when a file already has that name. */
  const unique = (path: string): string => {
    let candidate = path;
    for (let n = 2; paths.has(candidate); n += 1) candidate = path.replace(/(\.[a-z0-9.]+)?$/, (ext) => `-${n}${ext}`);
    paths.add(candidate);
    return candidate;
  };
  const file = async (wanted: string, body: Buffer, mode = 0o644): Promise<void> => {
    const path = unique(wanted);
    await dir(path.slice(0, path.lastIndexOf('/') + 1));
    files += 1;
    await tar.entry({ name: path, type: 'file', mode, mtime: MTIME }, body);
  };
  const symlink = async (path: string, linkname: string): Promise<void> => {
    await dir(path.slice(0, path.lastIndexOf('/') + 1));
    await tar.entry({ name: path, type: 'symlink', mode: 0o777, mtime: MTIME, linkname });
  };
  /** A large file written in 1 MiB pieces. */
  const bigFile = async (wanted: string, size: number, piece: (n: number) => Buffer, mode = 0o755): Promise<void> => {
    const path = unique(wanted);
    await dir(path.slice(0, path.lastIndexOf('/') + 1));
    files += 1;
    await tar.streamedEntry({ name: path, type: 'file', mode, mtime: MTIME, size }, (function* () {
      for (let left = size; left > 0; left -= MiB) yield piece(Math.min(MiB, left));
    })());
  };

  const budget = { runtime: target * 0.4, modules: target * 0.45, source: target * 0.08, assets: target * 0.07 };
  await dir('./');

  // The app: package.json, source, static assets, node_modules, .profile.d.
  await file('./app/package.json', Buffer.from(`${JSON.stringify({ name: 'bench-app', version: '1.0.0', main: 'server.js', scripts: { start: 'node server.js' }, engines: { node: '20.x' } }, null, 2)}\n`));
  await file('./app/server.js', text.source(2_000));
  const sourceDirs = ['controllers', 'models', 'views', 'routes', 'services', 'lib', 'utils', 'middleware', 'config', 'jobs'];
  for (let start = tar.bytes; tar.bytes - start < budget.source; ) {
    const sub = `${prng.pick(sourceDirs)}/${prng.chance(0.5) ? `${text.identifier()}/` : ''}`;
    await file(`./app/src/${sub}${text.identifier()}${prng.chance(0.3) ? '.ts' : '.js'}`, text.source(prng.logInt(300, 40_000)));
  }
  for (let start = tar.bytes; tar.bytes - start < budget.assets; ) {
    const ext = prng.pick(['png', 'jpg', 'woff2', 'webp', 'gz']);
    await file(`./app/public/assets/${prng.pick(['img', 'fonts', 'media'])}/${text.identifier()}-${prng.next().toString(16)}.${ext}`, prng.bytes(prng.logInt(2_000, 2 * MiB)));
  }
  await writeNodeModules(prng, text, budget.modules, tar, file, symlink);
  await file('./app/.profile.d/app-env.sh', Buffer.from('export NODE_ENV=production\n'), 0o755);

  // The buildpack's dependencies: the runtime binary, shared libraries, headers.
  await file('./deps/0/config.yml', Buffer.from('name: nodejs\nversion: 1.8.30\nconfig: {}\n'));
  const runtimeStart = tar.bytes;
  const main = Math.min(budget.runtime * 0.9, 96 * MiB);
  await bigFile('./deps/0/node/bin/node', Math.round(main), (n) => binaryPiece(prng, text, n));
  await symlink('./deps/0/node/bin/npm', '../lib/node_modules/npm/bin/npm-cli.js');
  await symlink('./deps/0/node/bin/npx', '../lib/node_modules/npm/bin/npx-cli.js');
  for (let i = 0; i < 60; i += 1) await file(`./deps/0/node/include/node/${text.identifier()}.h`, text.source(prng.logInt(1_000, 60_000)));
  for (let i = 0; tar.bytes - runtimeStart < budget.runtime; i += 1) {
    const size = Math.min(prng.logInt(MiB, 32 * MiB), Math.max(64 * 1024, budget.runtime - (tar.bytes - runtimeStart)));
    await bigFile(`./deps/0/node/lib/lib${text.identifier()}.so.${prng.int(1, 9)}`, Math.round(size), (n) => binaryPiece(prng, text, n));
  }
  await file('./deps/0/profile.d/nodejs.sh', Buffer.from('export PATH="$DEPS_DIR/0/node/bin:$PATH"\nexport NODE_HOME="$DEPS_DIR/0/node"\n'), 0o755);

  await file('./profile.d/0000_nodejs.sh', Buffer.from('export NODE_OPTIONS="--max-old-space-size=256"\n'), 0o755);
  await dir('./logs/');
  await dir('./tmp/');
  await file('./staging_info.yml', Buffer.from('{"detected_buildpack":"nodejs","start_command":"npm start"}'));
  return files;
}

type FileWriter = (path: string, body: Buffer, mode?: number) => Promise<void>;
type LinkWriter = (path: string, linkname: string) => Promise<void>;

/** `app/node_modules`: packages of a dozen to a hundred small files, some nested, `.bin` links. */
async function writeNodeModules(prng: Prng, text: TextGenerator, budget: number, tar: DropletTar, file: FileWriter, symlink: LinkWriter): Promise<void> {
  const start = tar.bytes;
  const names = new Set<string>();
  const uniqueName = (): string => {
    for (;;) {
      const base = prng.chance(0.6) ? text.identifier().toLowerCase() : `${text.identifier().toLowerCase()}-${text.identifier().toLowerCase()}`;
      const name = prng.chance(0.15) ? `@${text.identifier().toLowerCase()}/${base}` : base;
      if (!names.has(name)) {
        names.add(name);
        return name;
      }
    }
  };
  const writePackage = async (root: string, name: string, depth: number): Promise<void> => {
    const dir = `${root}/${name}`;
    const version = `${prng.int(0, 12)}.${prng.int(0, 30)}.${prng.int(0, 20)}`;
    await file(`${dir}/package.json`, text.packageJson(name, version));
    await file(`${dir}/LICENSE`, LICENSE);
    if (prng.chance(0.8)) await file(`${dir}/README.md`, text.prose(prng.logInt(400, 20_000)));
    await file(`${dir}/index.js`, text.source(prng.logInt(100, 3_000)));
    const count = prng.logInt(1, 80);
    const subdirs = ['lib', 'dist', 'src', 'lib/internal', 'dist/esm', 'dist/cjs', 'types'];
    for (let i = 0; i < count; i += 1) {
      const sub = prng.pick(subdirs);
      const base = text.identifier();
      const roll = prng.float();
      if (sub === 'types' || roll < 0.12) await file(`${dir}/${sub}/${base}.d.ts`, text.source(prng.logInt(100, 20_000)));
      else if (roll < 0.2) await file(`${dir}/${sub}/${base}.js.map`, text.sourceMap(prng.logInt(200, 60_000)));
      else await file(`${dir}/${sub}/${base}.js`, text.source(prng.chance(0.02) ? prng.logInt(60_000, 1_500_000) : prng.logInt(100, 60_000)));
    }
    if (prng.chance(0.1)) {
      await file(`${dir}/bin/cli.js`, text.source(prng.logInt(200, 5_000)), 0o755);
      const bin = name.slice(name.lastIndexOf('/') + 1);
      await symlink(`${root}/.bin/${bin}`, `../${name}/bin/cli.js`);
    }
    if (depth === 0 && prng.chance(0.08)) {
      for (let n = prng.int(1, 3); n > 0; n -= 1) await writePackage(`${dir}/node_modules`, uniqueName(), depth + 1);
    }
  };
  while (tar.bytes - start < budget) await writePackage('./app/node_modules', uniqueName(), 0);
}

/** Runtime-binary-like bytes: 4 KiB pages of random data, skewed "code", zero padding, strings. */
export function binaryPiece(prng: Prng, text: TextGenerator, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let at = 0; at < size; at += 4096) {
    const n = Math.min(4096, size - at);
    const roll = prng.float();
    if (roll < 0.18) prng.bytes(n).copy(out, at);
    else if (roll < 0.55) {
      const raw = prng.bytes(n);
      for (let i = 0; i < n; i += 1) out[at + i] = OPCODES[raw[i] as number] as number;
    } else if (roll < 0.75) {
      // zero padding with sparse relocations
      for (let i = 0; i < n; i += 64) if (prng.chance(0.1)) out.writeUInt32LE(prng.next(), at + Math.min(i, n - 4));
    } else text.symbols(n).copy(out, at);
  }
  return out;
}

/** 256 → ~40 byte values, a few of them frequent: the skew of x86 machine code. */
const OPCODES = (() => {
  const common = [0x48, 0x89, 0x8b, 0x00, 0xff, 0xe8, 0x0f, 0x85, 0x84, 0xc3, 0x41, 0x4c, 0x24, 0x83, 0x31, 0xc0, 0x74, 0x75, 0xeb, 0x44, 0x8d, 0x05, 0x01, 0x10, 0x20, 0x08, 0x45, 0x49, 0x4d, 0x39, 0x3b, 0x66, 0x90, 0xcc, 0xb8, 0xba, 0xbe, 0xbf, 0x50, 0x5d];
  const table = new Uint8Array(256);
  for (let i = 0; i < 256; i += 1) table[i] = common[Math.min(common.length - 1, Math.floor(Math.pow(common.length, i / 256)) - 1)] as number;
  return table;
})();

const LICENSE = Buffer.from(`MIT License

Copyright (c) the authors

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions: the above copyright notice and this
permission notice shall be included in all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
`);

const SYLLABLES = ['get', 'set', 'make', 'to', 'from', 'parse', 'read', 'write', 'load', 'save', 'is', 'has', 'on', 'off', 'map', 'list', 'node', 'item', 'key', 'value', 'data', 'buf', 'str', 'num', 'err', 'req', 'res', 'ctx', 'opt', 'conf', 'http', 'url', 'path', 'file', 'dir', 'stream', 'pipe', 'async', 'sync', 'wrap', 'bind', 'call', 'emit', 'handle', 'route', 'user', 'auth', 'token', 'cache', 'store', 'query', 'model', 'view', 'render', 'state', 'event', 'time', 'date', 'json', 'yaml', 'css', 'html', 'text', 'line', 'char', 'byte', 'size', 'len', 'count', 'index', 'first', 'last', 'next', 'prev', 'util', 'helper', 'core', 'base', 'lite', 'fast', 'deep', 'merge', 'clone', 'equal', 'find', 'filter', 'reduce', 'sort', 'group', 'chunk', 'debounce', 'throttle', 'promise', 'retry', 'log', 'debug', 'warn', 'error', 'config', 'env', 'proc', 'os', 'net', 'socket', 'server', 'client'];
const KEYWORDS = ['const', 'let', 'return', 'if', 'else', 'function', 'await', 'async', 'new', 'this', 'typeof', 'null', 'undefined', 'true', 'false', 'throw', 'for', 'of', 'in', 'export', 'import', 'module.exports', 'require'];
const WORDS = ['the', 'a', 'to', 'of', 'and', 'is', 'in', 'that', 'it', 'for', 'this', 'with', 'as', 'be', 'on', 'not', 'by', 'are', 'or', 'can', 'from', 'an', 'if', 'will', 'when', 'which', 'options', 'function', 'returns', 'value', 'object', 'string', 'array', 'default', 'use', 'install', 'module', 'package', 'example', 'npm', 'callback', 'error', 'promise', 'stream', 'buffer', 'argument', 'property', 'method', 'instance', 'type', 'number', 'boolean', 'event', 'listener', 'request', 'response', 'server', 'client', 'file', 'path', 'directory', 'version', 'license', 'MIT', 'see', 'also', 'note', 'usage', 'API', 'supported', 'browser', 'Node.js'];

/** JavaScript-like text, prose, JSON and symbol tables from a Zipf-distributed vocabulary. */
export class TextGenerator {
  readonly #prng: Prng;
  readonly #identifiers: string[];

  constructor(prng: Prng) {
    this.#prng = prng;
    this.#identifiers = [];
    for (let i = 0; i < 4000; i += 1) {
      const parts = prng.int(1, 3);
      let id = prng.pick(SYLLABLES);
      for (let p = 1; p < parts; p += 1) {
        const next = prng.pick(SYLLABLES);
        id += next[0]!.toUpperCase() + next.slice(1);
      }
      this.#identifiers.push(id);
    }
  }

  identifier(): string {
    return this.#prng.zipf(this.#identifiers);
  }

  /** `size` bytes of JavaScript-like source; identifiers repeat within a file, as in real code. */
  source(size: number): Buffer {
    const prng = this.#prng;
    const local: string[] = [];
    for (let i = 0; i < 24; i += 1) local.push(this.identifier());
    const id = (): string => (prng.chance(0.75) ? prng.zipf(local) : this.identifier());
    const lines: string[] = [`'use strict';`, ''];
    let length = 16;
    let depth = 0;
    while (length < size) {
      const indent = '  '.repeat(depth);
      let line: string;
      const roll = prng.float();
      if (roll < 0.08) line = `${indent}const ${id()} = require('${id().toLowerCase()}');`;
      else if (roll < 0.16 && depth < 4) {
        line = `${indent}${prng.chance(0.3) ? 'async ' : ''}function ${id()}(${id()}, ${id()}) {`;
        depth += 1;
      } else if (roll < 0.26 && depth > 0) {
        depth -= 1;
        line = `${'  '.repeat(depth)}}`;
      } else if (roll < 0.36) line = `${indent}if (${id()}.${id()} === ${prng.chance(0.5) ? prng.int(0, 255) : `'${id()}'`}) return ${id()};`;
      else if (roll < 0.5) line = `${indent}${id()}.${id()} = ${id()}(${id()}, ${prng.chance(0.5) ? `'${prng.zipf(WORDS)}'` : prng.int(0, 4096)});`;
      else if (roll < 0.6) line = `${indent}// ${this.#words(prng.int(3, 12))}`;
      else if (roll < 0.7) line = `${indent}return { ${id()}: ${id()}, ${id()}: ${id()}.${id()} };`;
      else if (roll < 0.8) line = `${indent}${prng.pick(KEYWORDS)} ${id()} = await ${id()}.${id()}(${id()});`;
      else if (roll < 0.9) line = `${indent}for (const ${id()} of ${id()}) ${id()}.push(${id()});`;
      else line = '';
      lines.push(line);
      length += line.length + 1;
    }
    return Buffer.from(lines.join('\n')).subarray(0, size);
  }

  /** README-like prose. */
  prose(size: number): Buffer {
    const parts: string[] = [`# ${this.identifier()}\n`];
    let length = parts[0]!.length;
    while (length < size) {
      const roll = this.#prng.float();
      const part = roll < 0.1 ? `\n## ${this.#words(3)}\n\n` : roll < 0.2 ? `\n\`\`\`js\nconst ${this.identifier()} = require('${this.identifier()}');\n\`\`\`\n` : `${this.#words(this.#prng.int(6, 20))}.\n`;
      parts.push(part);
      length += part.length;
    }
    return Buffer.from(parts.join('')).subarray(0, size);
  }

  packageJson(name: string, version: string): Buffer {
    const dependencies: Record<string, string> = {};
    for (let n = this.#prng.logInt(1, 12) - 1; n > 0; n -= 1) dependencies[this.identifier().toLowerCase()] = `^${this.#prng.int(0, 9)}.${this.#prng.int(0, 20)}.0`;
    const body = { name, version, description: this.#words(8), main: 'index.js', license: 'MIT', repository: { type: 'git', url: `git+https://example.invalid/${name}.git` }, dependencies };
    return Buffer.from(`${JSON.stringify(body, null, 2)}\n`);
  }

  /** A source map: one long line of base64-VLQ-like mappings. */
  sourceMap(size: number): Buffer {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const head = `{"version":3,"file":"${this.identifier()}.js","sources":["../src/${this.identifier()}.ts"],"names":[],"mappings":"`;
    const chars: string[] = [head];
    let length = head.length;
    while (length < size) {
      let segment = '';
      for (let i = this.#prng.int(4, 7); i > 0; i -= 1) segment += alphabet[this.#prng.zipf(INDICES64)];
      const part = `${segment}${this.#prng.chance(0.15) ? ';' : ','}`;
      chars.push(part);
      length += part.length;
    }
    return Buffer.from(chars.join('')).subarray(0, size);
  }

  /** A string table: NUL-separated mangled symbol names. */
  symbols(size: number): Buffer {
    const parts: string[] = [];
    let length = 0;
    while (length < size) {
      const part = `_ZN${this.identifier().length}${this.identifier()}${this.identifier()}Ev\0`;
      parts.push(part);
      length += part.length;
    }
    return Buffer.from(parts.join('')).subarray(0, size);
  }

  #words(n: number): string {
    const words: string[] = [];
    for (let i = 0; i < n; i += 1) words.push(this.#prng.zipf(WORDS));
    return words.join(' ');
  }
}

const INDICES64 = Array.from({ length: 64 }, (_, i) => i);
