/**
 * Seeded droplets that attack the conversion: well-formed entries mixed with `..` and absolute
 * paths, hard links escaping, pointing forward or through a symlink, symlink-then-file tricks,
 * whiteouts, devices and fifos, PAX headers huge or malformed, GNU long names, names past PATH_MAX,
 * entries replacing `app`, lying sizes, floods of entries and bombs, then wrapped in sound,
 * truncated, corrupt or no gzip at all, or left empty. Written block by block
 * (`raw-tar.ts`), so nothing a friendly tar writer would fix up gets fixed.
 *
 * Every regular file's body starts with `@path:<its path from the droplet root>\n`
 * (`BODY_MARKER`), so a test can tell from a converted layer alone whether each file landed where
 * the droplet meant it to.
 */
import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { END_OF_ARCHIVE, gnuLongName, padToBlock, paxHeader, paxRecord, rawEntry, rawHeader, type RawHeader } from './raw-tar.ts';
import { SeededRandom } from './seeded-random.ts';

/** Kinds of entries the generator writes; the `bad:` ones must never reach an image as they are. */
export const ENTRY_KINDS = [
  'dir',
  'file',
  'empty-file',
  'big-file',
  'symlink',
  'hardlink-earlier',
  'pax-long-name',
  'gnu-long-name',
  'gnu-long-link',
  'contiguous',
  'pax-junk-records',
  'pax-big-comment',
  'dot-segments',
  'staging-info',
  'entry-flood',
  'huge-mtime',
  'bad:dotdot',
  'bad:absolute',
  'bad:whiteout',
  'bad:char-device',
  'bad:block-device',
  'bad:fifo',
  'bad:unknown-type',
  'bad:hardlink-later',
  'bad:hardlink-escape',
  'bad:hardlink-absolute',
  'bad:hardlink-dir',
  'bad:hardlink-self',
  'bad:hardlink-empty',
  'bad:symlink-empty',
  'bad:symlink-then-file',
  'bad:symlink-then-hardlink',
  'bad:hardlink-through-symlink',
  'bad:pax-path-escape',
  'bad:pax-global-escape',
  'bad:gnu-name-escape',
  'bad:pax-oversized',
  'bad:pax-over-1mib',
  'bad:long-name',
  'bad:pax-size-malformed',
  'bad:size-lies',
  'bad:sparse',
  'bad:root-not-dir',
  'bad:app-not-dir',
  'bad:bad-checksum',
  'bad:nul-in-name',
] as const;

export type EntryKind = (typeof ENTRY_KINDS)[number];

const GOOD_KINDS = ENTRY_KINDS.filter((kind) => !kind.startsWith('bad:'));
const BAD_KINDS = ENTRY_KINDS.filter((kind) => kind.startsWith('bad:'));

/** How the tar is delivered. */
export const WRAPPINGS = ['gzip', 'truncated', 'flipped-byte', 'plain-tar', 'random-bytes', 'empty', 'empty-gzip', 'empty-tar', 'junk-after', 'two-members'] as const;

export type Wrapping = (typeof WRAPPINGS)[number];

/** One generated droplet and what went into it. */
export interface HostileDroplet {
  readonly seed: number;
  readonly bytes: Buffer;
  readonly kinds: readonly EntryKind[];
  readonly wrapping: Wrapping;
  /** Limits to convert it with (random, sometimes none). */
  readonly limits: { maxUncompressedBytes?: number; maxEntries?: number };
}

const SEGMENTS = ['app', 'lib', 'x', 'node_modules', 'café', 'with space', '.hidden', '..dots', 'wh.x', '.whx', 'a'.repeat(60), '日本'];

/** The droplet for `seed`: the same seed always gives the same bytes. */
export function generateHostileDroplet(seed: number): HostileDroplet {
  const random = new SeededRandom(seed);
  const writer = new EntryWriter(random);
  if (random.chance(0.5)) writer.push(rawEntry({ name: random.pick(['./', '.', '']) || './', typeflag: '5', mode: 0o755 }));
  const kinds: EntryKind[] = [];
  const count = random.int(1, 12);
  // Half the droplets are all good entries; in the others bad ones sit among real content.
  const hostile = random.chance(0.5);
  for (let i = 0; i < count; i += 1) {
    const kind = !hostile || random.chance(0.6) ? random.pick(GOOD_KINDS) : random.pick(BAD_KINDS);
    if ((kind === 'bad:pax-oversized' || kind === 'bad:pax-over-1mib' || kind === 'big-file' || kind === 'entry-flood') && random.chance(0.6)) continue; // costly: rarer
    kinds.push(kind);
    writer.write(kind);
  }
  if (random.chance(0.9)) writer.push(END_OF_ARCHIVE);
  const tar = writer.bytes();
  const wrapping = random.chance(0.7) ? 'gzip' : random.pick(WRAPPINGS);
  const limits: HostileDroplet['limits'] = {};
  if (random.chance(0.3)) limits.maxEntries = random.int(2, 60);
  if (random.chance(0.3)) limits.maxUncompressedBytes = random.int(1024, 4 * 1024 * 1024);
  return { seed, bytes: wrap(tar, wrapping, random), kinds, wrapping, limits };
}

function wrap(tar: Buffer, wrapping: Wrapping, random: SeededRandom): Buffer {
  const gzip = gzipSync(tar, { level: random.pick([1, 6, 9]) });
  switch (wrapping) {
    case 'gzip':
      return gzip;
    case 'truncated':
      return gzip.subarray(0, random.int(0, gzip.length - 1));
    case 'flipped-byte': {
      const copy = Buffer.from(gzip);
      const at = random.int(0, copy.length - 1);
      copy[at] = (copy[at] as number) ^ random.int(1, 255);
      return copy;
    }
    case 'plain-tar':
      return tar;
    case 'random-bytes':
      return random.bytes(random.int(1, 4096));
    case 'empty':
      return Buffer.alloc(0);
    case 'empty-gzip':
      return gzipSync(Buffer.alloc(0));
    case 'empty-tar':
      return gzipSync(END_OF_ARCHIVE);
    case 'junk-after':
      return Buffer.concat([gzip, random.bytes(random.int(1, 64))]);
    case 'two-members':
      return Buffer.concat([gzip, gzipSync(Buffer.concat([rawEntry({ name: './app/second-member', typeflag: '0' }, body('app/second-member')), END_OF_ARCHIVE]))]);
  }
}

/**
 * The long-PAX-names attack: `count` empty files under `./app/`, each named by a distinct PAX
 * `path` record of `pathBytes` bytes (900 × 1 MiB by default: ~1 MB of gzip, 945 MB of tar). Each
 * record is written straight into one buffer, megabyte strings being slow to build.
 */
export async function longPaxPathDroplet(count = 900, pathBytes = 1024 * 1024): Promise<Buffer> {
  function* blocks(): Generator<Buffer> {
    yield rawEntry({ name: './app/', typeflag: '5' });
    const rest = ' path=\n'.length + pathBytes;
    let length = rest;
    while (String(length).length + rest !== length) length = String(length).length + rest;
    for (let i = 0; i < count; i += 1) {
      const record = Buffer.alloc(length, 'p');
      record.write(`${length} path=./app/${i}-`, 'ascii');
      record[length - 1] = 0x0a;
      yield rawHeader({ name: 'PaxHeaders/entry', typeflag: 'x', size: length });
      yield padToBlock(record);
      yield rawEntry({ name: 'decoy', typeflag: '0' });
    }
    yield END_OF_ARCHIVE;
  }
  return Buffer.concat(await Readable.from(blocks()).pipe(createGzip({ level: 9 })).toArray());
}

/**
 * A file entry whose whole name reaches the reader: behind a PAX `path` record when it does not
 * fit the header's 100 bytes (nested generated paths can grow past them), as its body says it is.
 */
function fullyNamedEntry(fields: Omit<RawHeader, 'size'>, content: Buffer): Buffer {
  const entry = rawEntry(fields, content);
  return Buffer.byteLength(fields.name) > 100 ? Buffer.concat([paxHeader(paxRecord('path', fields.name)), entry]) : entry;
}

/** What a generated file's body starts with, before the path it was written for and a newline. */
export const BODY_MARKER = '@path:';

/** The body of a regular file: its path first, so a layer shows where each file went. */
function body(path: string, filler: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([Buffer.from(`${BODY_MARKER}${path}\n`), filler]);
}

class EntryWriter {
  readonly #random: SeededRandom;
  readonly #blocks: Buffer[] = [];
  /** Paths (from the droplet root, normalised) of files written so far, for hard links. */
  readonly #files: string[] = [];
  readonly #dirs: string[] = ['app'];
  #serial = 0;

  constructor(random: SeededRandom) {
    this.#random = random;
    this.push(rawEntry({ name: './app/', typeflag: '5', mode: 0o755 }));
  }

  push(block: Buffer): void {
    this.#blocks.push(block);
  }

  bytes(): Buffer {
    return Buffer.concat(this.#blocks);
  }

  /** A fresh normalised path under a directory already written. */
  #freshPath(): string {
    this.#serial += 1;
    return `${this.#random.pick(this.#dirs)}/${this.#random.pick(SEGMENTS)}-${this.#serial}`;
  }

  /** How the droplet spells a normalised path: `./` in front or not. */
  #spell(path: string): string {
    return this.#random.chance(0.7) ? `./${path}` : path;
  }

  #file(path: string, fields: Partial<RawHeader> = {}, filler?: Buffer): void {
    this.push(fullyNamedEntry({ name: this.#spell(path), typeflag: '0', mode: this.#random.pick([0o644, 0o755, 0o4755, 0o600]), ...fields }, body(path, filler)));
    this.#files.push(path);
  }

  write(kind: EntryKind): void {
    const random = this.#random;
    switch (kind) {
      case 'dir': {
        const path = this.#freshPath();
        this.push(rawEntry({ name: `${this.#spell(path)}${random.chance(0.8) ? '/' : ''}`, typeflag: '5', mode: 0o755 }));
        this.#dirs.push(path);
        return;
      }
      case 'file':
        return this.#file(this.#freshPath(), {}, random.bytes(random.int(0, 2000)));
      case 'empty-file': {
        const path = this.#freshPath();
        this.push(rawEntry({ name: this.#spell(path), typeflag: '0' }));
        return;
      }
      case 'big-file':
        return this.#file(this.#freshPath(), {}, Buffer.alloc(random.int(256 * 1024, 6 * 1024 * 1024)));
      case 'symlink': {
        const target = random.pick(['/etc', '../../..', 'server.js', '/home/vcap/app', './x/../y', '/proc/self/root']);
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: '2', linkname: target }));
        return;
      }
      case 'hardlink-earlier': {
        if (this.#files.length === 0) this.#file(this.#freshPath());
        const target = random.pick(this.#files);
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: '1', linkname: this.#spell(target) }));
        return;
      }
      case 'pax-long-name': {
        const path = `${this.#freshPath()}/${'long-'.repeat(random.int(20, 60))}`.replace(/\/$/, '');
        this.push(paxHeader(Buffer.concat([paxRecord('path', this.#spell(path)), paxRecord('mtime', '1700000000.5')])));
        this.push(rawEntry({ name: 'decoy-short-name', typeflag: '0' }, body(path)));
        this.#files.push(path);
        return;
      }
      case 'gnu-long-name': {
        const path = `${this.#freshPath()}-${'g'.repeat(random.int(100, 300))}`;
        this.push(gnuLongName('L', this.#spell(path)));
        this.push(rawEntry({ name: this.#spell(path).slice(0, 100), typeflag: '0', format: 'gnu' }, body(path)));
        this.#files.push(path);
        return;
      }
      case 'gnu-long-link': {
        const target = `${this.#freshPath()}-${'t'.repeat(120)}`;
        this.push(gnuLongName('L', this.#spell(target)));
        this.push(rawEntry({ name: target.slice(0, 100), typeflag: '0', format: 'gnu' }, body(target)));
        this.#files.push(target);
        this.push(gnuLongName('K', this.#spell(target)));
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: '1', linkname: target.slice(0, 100), format: 'gnu' }));
        return;
      }
      case 'contiguous':
        return this.#file(this.#freshPath(), { typeflag: '7' });
      case 'pax-junk-records': {
        // Records a reader must skip: no length, a length past the end, unknown keys, a record without '='.
        const junk = random.pick(['garbage without a length\n', '99999 comment=runs past the end\n', '5 x\n', '0 zero=length\n', '12 mtime=abc\n', 'abc def=ghi\n']);
        this.push(paxHeader(Buffer.concat([paxRecord('comment', 'hello'), Buffer.from(junk)])));
        return this.#file(this.#freshPath());
      }
      case 'pax-big-comment':
        this.push(paxHeader(paxRecord('comment', 'c'.repeat(random.int(10_000, 1_000_000)))));
        return this.#file(this.#freshPath());
      case 'dot-segments': {
        const path = this.#freshPath();
        const [dir, name] = [path.slice(0, path.lastIndexOf('/')), path.slice(path.lastIndexOf('/') + 1)];
        const spelled = random.pick([`${dir}/./${name}`, `${dir}//${name}`, `${dir}/sub/../${name}`, `./${dir}/./sub/.././${name}`]);
        this.push(fullyNamedEntry({ name: spelled, typeflag: '0' }, body(path)));
        this.#files.push(path);
        return;
      }
      case 'staging-info': {
        const content = random.pick(['{"start_command":"./run"}', 'not json', '[1,2]', `{"start_command":"${'x'.repeat(2000)}"}`]);
        this.push(rawEntry({ name: './staging_info.yml', typeflag: '0' }, Buffer.from(content)));
        this.#files.push('staging_info.yml');
        return;
      }
      case 'entry-flood': {
        const dir = this.#freshPath();
        this.push(rawEntry({ name: `${dir}/`, typeflag: '5' }));
        this.#dirs.push(dir);
        for (let i = 0, n = random.int(50, 400); i < n; i += 1) this.push(rawEntry({ name: `${dir}/e${i}`, typeflag: '0' }));
        return;
      }
      case 'huge-mtime':
        return this.#file(this.#freshPath(), { mtime: random.pick([0, 0o77777777777, 2 ** 31 + 5]) });
      case 'bad:dotdot':
        return this.#file(random.pick(['../escaped', 'app/../../escaped', './../../../../etc/cron.d/x', 'app/x/../../../y']), {});
      case 'bad:absolute':
        this.push(rawEntry({ name: random.pick(['/etc/passwd', '/home/vcap/app/x', '//etc/shadow']), typeflag: '0' }, body('absolute')));
        return;
      case 'bad:whiteout':
        this.push(rawEntry({ name: random.pick(['./app/.wh..wh..opq', './.wh.app', './app/.wh.server.js']), typeflag: random.pick(['0', '5', '2']), linkname: 'x' }));
        return;
      case 'bad:char-device':
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: '3' }));
        return;
      case 'bad:block-device':
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: '4' }));
        return;
      case 'bad:fifo':
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: '6' }));
        return;
      case 'bad:unknown-type':
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: random.pick(['V', 'Z', 'S', 'M', 'N', '9']) }, random.bytes(random.int(0, 100))));
        return;
      case 'bad:hardlink-later': {
        const later = this.#freshPath();
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: '1', linkname: this.#spell(later) }));
        return this.#file(later);
      }
      case 'bad:hardlink-escape':
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: '1', linkname: random.pick(['../../etc/shadow', 'app/../../x']) }));
        return;
      case 'bad:hardlink-absolute':
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: '1', linkname: '/etc/shadow' }));
        return;
      case 'bad:hardlink-dir':
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: '1', linkname: this.#spell(random.pick(this.#dirs)) }));
        return;
      case 'bad:hardlink-self': {
        const path = this.#freshPath();
        this.push(rawEntry({ name: this.#spell(path), typeflag: '1', linkname: this.#spell(path) }));
        return;
      }
      case 'bad:hardlink-empty':
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: '1' }));
        return;
      case 'bad:symlink-empty':
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: '2' }));
        return;
      case 'bad:symlink-then-file': {
        // Docker and containerd resolve a parent that is a symlink: the file would land in the rootfs's /etc.
        const link = this.#freshPath();
        this.push(rawEntry({ name: this.#spell(link), typeflag: '2', linkname: random.pick(['/etc', '../../../etc', '/']) }));
        this.push(rawEntry({ name: this.#spell(`${link}/passwd`), typeflag: '0' }, body(`${link}/passwd`)));
        return;
      }
      case 'bad:symlink-then-hardlink': {
        if (this.#files.length === 0) this.#file(this.#freshPath());
        const link = this.#freshPath();
        this.push(rawEntry({ name: this.#spell(link), typeflag: '2', linkname: '/etc' }));
        this.push(rawEntry({ name: this.#spell(`${link}/shadow`), typeflag: '1', linkname: this.#spell(random.pick(this.#files)) }));
        return;
      }
      case 'bad:hardlink-through-symlink': {
        // dir/f is extracted, then dir becomes a symlink: extraction resolves the link's target through it.
        const dir = this.#freshPath();
        this.push(rawEntry({ name: `${this.#spell(dir)}/`, typeflag: '5' }));
        this.push(rawEntry({ name: this.#spell(`${dir}/f`), typeflag: '0' }, body(`${dir}/f`)));
        this.push(rawEntry({ name: this.#spell(dir), typeflag: '2', linkname: random.pick(['/etc', '../../../etc']) }));
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: '1', linkname: this.#spell(`${dir}/f`) }));
        return;
      }
      case 'bad:pax-path-escape': {
        // A PAX record overriding a harmless header: `path` for any entry, `linkpath` for a hard link's target.
        const key = random.pick(['path', 'linkpath']);
        this.push(paxHeader(paxRecord(key, random.pick(['../../etc/passwd', '/etc/passwd', 'app/.wh.x']))));
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: key === 'path' ? random.pick(['0', '1']) : '1', linkname: 'app' }));
        return;
      }
      case 'bad:pax-global-escape':
        this.push(paxHeader(paxRecord('path', '../../../etc/profile.d/evil.sh'), true));
        this.push(paxHeader(paxRecord('comment', 'takes its path from the global header')));
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: '0' }, Buffer.from('evil')));
        return;
      case 'bad:gnu-name-escape': {
        const name = `${'../'.repeat(40)}etc/${'p'.repeat(random.int(1, 80))}`;
        this.push(gnuLongName('L', name));
        this.push(rawEntry({ name: 'innocent', typeflag: '0', format: 'gnu' }, Buffer.from('evil')));
        return;
      }
      case 'bad:pax-oversized':
        this.push(paxHeader(paxRecord('comment', 'o'.repeat(4 * 1024 * 1024 + random.int(1, 1000)))));
        return this.#file(this.#freshPath());
      case 'bad:pax-over-1mib':
        // Under tar-stream's own 4 MiB bound, over the conversion's 1 MiB.
        this.push(paxHeader(paxRecord('comment', 'm'.repeat(random.int(1024 * 1024, 4 * 1024 * 1024 - 100)))));
        return this.#file(this.#freshPath());
      case 'bad:long-name': {
        // Past PATH_MAX, as an entry's name or a link's target.
        const key = random.pick(['path', 'linkpath']);
        this.push(paxHeader(paxRecord(key, `${this.#spell(this.#freshPath())}-${'l'.repeat(random.int(4096, 20_000))}`)));
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: key === 'path' ? '0' : random.pick(['1', '2']), linkname: 'app' }));
        return;
      }
      case 'bad:pax-size-malformed':
        this.push(paxHeader(paxRecord('size', random.pick(['abc', '-5', ' ', 'NaN']))));
        return this.#file(this.#freshPath());
      case 'bad:size-lies': {
        // The header claims more (or less) than the body that follows it.
        const path = this.#freshPath();
        const content = body(path, random.bytes(random.int(0, 900)));
        this.push(Buffer.concat([rawEntry({ name: this.#spell(path), typeflag: '0', size: content.length + random.pick([-600, -1, 1, 513, 100_000]) }).subarray(0, 512), content]));
        return;
      }
      case 'bad:sparse':
        this.push(paxHeader(Buffer.concat([paxRecord('GNU.sparse.major', '1'), paxRecord('GNU.sparse.minor', '0'), paxRecord('GNU.sparse.name', 'app/sparse')])));
        this.push(rawEntry({ name: './app/GNUSparseFile.0/sparse', typeflag: '0' }, Buffer.from('1\n0\n4\n')));
        return;
      case 'bad:root-not-dir':
        this.push(rawEntry({ name: random.pick(['.', './', 'app/..']), typeflag: random.pick(['0', '2']), linkname: 'x' }));
        return;
      case 'bad:app-not-dir':
        // Normalises to `app` itself: the app directory would become a file or a link.
        this.push(rawEntry({ name: random.pick(['./app/sub/..', 'app', './app/.', 'app//']), typeflag: random.pick(['0', '1', '2']), linkname: 'staging_info.yml' }));
        return;
      case 'bad:bad-checksum':
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: '0', checksumSkew: random.int(1, 500) }));
        return;
      case 'bad:nul-in-name':
        this.push(paxHeader(paxRecord(random.pick(['path', 'linkpath']), random.pick(['app/x\u0000/../../../../etc/passwd', 'app/x\u0000y', '\u0000evil']))));
        this.push(rawEntry({ name: this.#spell(this.#freshPath()), typeflag: random.pick(['0', '2']), linkname: 'target' }));
        return;
    }
  }
}
