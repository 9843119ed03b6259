/**
 * Tar archives written block by block, for hostile-input tests: every field is the caller's, so a
 * test can write what no well-behaved tar writer would (PAX records with wrong lengths, GNU
 * long-name entries, devices, unknown type flags, bad checksums, sizes that lie).
 */

/** One 512-byte header, fields as they go on disk. */
export interface RawHeader {
  /** Written into the 100-byte name field, cut to fit (long names go in PAX or GNU entries). */
  readonly name: string;
  /** The type flag character: '0' file, '1' hard link, '2' symlink, '3'/'4' devices, '5' directory, '6' fifo, 'x' PAX, 'g' global PAX, 'L'/'K' GNU long names… */
  readonly typeflag: string;
  readonly size?: number;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  /** Seconds since the epoch. */
  readonly mtime?: number;
  readonly linkname?: string;
  /** `posix` writes `ustar\0` `00`, `gnu` writes `ustar  \0`. Default posix. */
  readonly format?: 'posix' | 'gnu';
  /** Adds this to the computed checksum, to write a header a reader must refuse. */
  readonly checksumSkew?: number;
}

const MTIME = Math.floor(new Date('2024-05-06T07:08:09Z').getTime() / 1000);

/** One header block. */
export function rawHeader(fields: RawHeader): Buffer {
  const block = Buffer.alloc(512);
  const octal = (offset: number, length: number, value: number): void => {
    block.write(`${value.toString(8).padStart(length - 1, '0').slice(-(length - 1))}\0`, offset, 'ascii');
  };
  block.write(fields.name, 0, 100, 'utf8');
  octal(100, 8, fields.mode ?? 0o644);
  octal(108, 8, fields.uid ?? 2000);
  octal(116, 8, fields.gid ?? 2000);
  octal(124, 12, fields.size ?? 0);
  octal(136, 12, fields.mtime ?? MTIME);
  block.write(fields.typeflag, 156, 1, 'ascii');
  if (fields.linkname) block.write(fields.linkname, 157, 100, 'utf8');
  if (fields.format === 'gnu') block.write('ustar  \0', 257, 'ascii');
  else block.write('ustar\u000000', 257, 'ascii');
  block.write('vcap', 265, 'ascii');
  block.write('vcap', 297, 'ascii');
  block.fill(' ', 148, 156);
  let checksum = fields.checksumSkew ?? 0;
  for (const byte of block) checksum += byte;
  block.write(`${checksum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}

/** `data` padded with zeros to a whole number of blocks. */
export function padToBlock(data: Buffer): Buffer {
  const rest = data.length % 512;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - rest)]);
}

/** A header and its body, padded. */
export function rawEntry(fields: Omit<RawHeader, 'size'> & { size?: number }, body: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([rawHeader({ size: body.length, ...fields }), padToBlock(body)]);
}

/** A well-formed PAX record: `"<length> <key>=<value>\n"`, the length counting itself. */
export function paxRecord(key: string, value: string): Buffer {
  const rest = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(rest);
  while (String(length).length + Buffer.byteLength(rest) !== length) length = String(length).length + Buffer.byteLength(rest);
  return Buffer.from(`${length}${rest}`);
}

/** A PAX extended header (`x`, or `g` for a global one) carrying `records` as they are. */
export function paxHeader(records: Buffer, global = false): Buffer {
  return rawEntry({ name: global ? 'pax_global_header' : 'PaxHeaders/entry', typeflag: global ? 'g' : 'x' }, records);
}

/** A GNU `././@LongLink` entry giving the next entry's name (`L`) or link target (`K`). */
export function gnuLongName(kind: 'L' | 'K', value: string): Buffer {
  return rawEntry({ name: '././@LongLink', typeflag: kind, format: 'gnu' }, Buffer.from(`${value}\0`));
}

/** The two zero blocks that end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(1024);
