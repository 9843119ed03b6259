/**
 * Droplets for tests, built as real `.tgz` bytes the way the buildpack runner's
 * `tar -czf droplet -C <dir> .` lays them out, so no binary fixtures are checked in. Everything is
 * deterministic (fixed mtimes), so tests can compare digests across builds.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

/** One tar entry; defaults: a file, mode 0644 (0755 for directories), owned by vcap, mtime FIXED_MTIME. */
export interface DropletEntry {
  readonly name: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device' | 'block-device';
  readonly content?: string | Buffer;
  readonly mode?: number;
  readonly linkname?: string;
  readonly uid?: number;
  readonly gid?: number;
  readonly mtime?: Date;
  /** Extra PAX records written before the entry. */
  readonly pax?: Record<string, string>;
}

/** The mtime every generated entry has unless told otherwise. */
export const FIXED_MTIME = new Date('2024-05-06T07:08:09Z');

/** An uncompressed tar of `entries`, in order. */
export async function buildTar(entries: readonly DropletEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const uid = entry.uid ?? 2000;
    const gid = entry.gid ?? 2000;
    const header = {
      name: entry.name,
      type,
      mode: entry.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid,
      gid,
      uname: uid === 2000 ? 'vcap' : 'root',
      gname: gid === 2000 ? 'vcap' : 'root',
      mtime: entry.mtime ?? FIXED_MTIME,
      ...(entry.linkname === undefined ? {} : { linkname: entry.linkname }),
      ...(entry.pax === undefined ? {} : { pax: entry.pax }),
    };
    if (type === 'file') pack.entry(header, entry.content ?? '');
    else pack.entry(header).end(undefined);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A droplet (`.tgz` bytes) of `entries`, in order. */
export async function buildDroplet(entries: readonly DropletEntry[]): Promise<Buffer> {
  return gzipSync(await buildTar(entries));
}

/** What varies between the standard droplets tests need. */
export interface StandardDropletOptions {
  readonly startCommand: string;
  readonly detectedBuildpack?: string;
  /** Extra files, by path from the droplet root (`app/lib/x.js`), added after the standard ones. */
  readonly files?: Readonly<Record<string, string | Buffer>>;
}

/** The entries of a realistic buildpack droplet; `standardDroplet` compresses them. */
export function standardDropletEntries(options: StandardDropletOptions): DropletEntry[] {
  const stagingInfo = JSON.stringify({ detected_buildpack: options.detectedBuildpack ?? 'nodejs', start_command: options.startCommand });
  return [
    { name: './', type: 'directory' },
    { name: './app/', type: 'directory' },
    { name: './app/server.js', content: "require('http').createServer((q, s) => s.end('hi')).listen(process.env.PORT);\n" },
    { name: './app/.profile.d/', type: 'directory' },
    { name: './app/.profile.d/x.sh', content: 'export FROM_APP_PROFILE=app\n', mode: 0o755 },
    { name: './profile.d/', type: 'directory' },
    { name: './profile.d/y.sh', content: 'export FROM_PROFILE=droplet\n', mode: 0o755 },
    { name: './deps/', type: 'directory' },
    { name: './tmp/', type: 'directory' },
    { name: './logs/', type: 'directory' },
    { name: './staging_info.yml', content: stagingInfo },
    ...Object.entries(options.files ?? {}).map(([path, content]) => ({ name: `./${path}`, content })),
  ];
}

/** A realistic buildpack droplet: app with a `.profile.d`, `profile.d`, deps/tmp/logs, `staging_info.yml`. */
export async function standardDroplet(options: StandardDropletOptions): Promise<Buffer> {
  return buildDroplet(standardDropletEntries(options));
}

/** Writes droplet bytes to `dir/name` (as `cf download-droplet` leaves them) and returns the path. */
export async function writeDropletFile(dir: string, name: string, bytes: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

/** One entry of a hand-made GNU-format tar. */
export interface GnuTarEntry {
  readonly name: string;
  readonly type: 'file' | 'link';
  readonly content?: string;
  readonly linkname?: string;
}

/**
 * A tar in GNU format, names and link targets over 100 bytes carried by `././@LongLink` entries
 * (types L and K) as GNU tar writes them: tar-stream itself only writes PAX.
 */
export function buildGnuTar(entries: readonly GnuTarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const linkname = entry.linkname ?? '';
    if (Buffer.byteLength(linkname) > 100) blocks.push(...gnuLongName('K', linkname));
    if (Buffer.byteLength(entry.name) > 100) blocks.push(...gnuLongName('L', entry.name));
    const body = Buffer.from(entry.content ?? '');
    blocks.push(gnuHeader({ name: entry.name, typeflag: entry.type === 'link' ? '1' : '0', size: body.length, linkname }));
    blocks.push(...padded(body));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function gnuLongName(typeflag: 'K' | 'L', value: string): Buffer[] {
  const data = Buffer.from(`${value}\0`);
  return [gnuHeader({ name: '././@LongLink', typeflag, size: data.length, linkname: '' }), ...padded(data)];
}

function gnuHeader(fields: { name: string; typeflag: string; size: number; linkname: string }): Buffer {
  const block = Buffer.alloc(512);
  const octal = (offset: number, length: number, value: number): void => {
    block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, 'ascii');
  };
  // Over-long fields are cut, as GNU tar does once it has written the long-name entry.
  block.write(fields.name.slice(0, 100), 0, 100, 'utf8');
  octal(100, 8, 0o644);
  octal(108, 8, 2000);
  octal(116, 8, 2000);
  octal(124, 12, fields.size);
  octal(136, 12, Math.floor(FIXED_MTIME.getTime() / 1000));
  block.write(fields.typeflag, 156, 'ascii');
  block.write(fields.linkname.slice(0, 100), 157, 100, 'utf8');
  block.write('ustar  \0', 257, 'ascii');
  block.write('vcap', 265, 'ascii');
  block.write('vcap', 297, 'ascii');
  block.fill(' ', 148, 156);
  let checksum = 0;
  for (const byte of block) checksum += byte;
  block.write(`${checksum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}

function padded(data: Buffer): Buffer[] {
  const rest = data.length % 512;
  return rest === 0 ? [data] : [data, Buffer.alloc(512 - rest)];
}
