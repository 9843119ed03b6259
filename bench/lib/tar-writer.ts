/**
 * A minimal streaming ustar writer (PAX records only for names ustar cannot hold), writing into a
 * Writable with back-pressure, so a 1 GB droplet is generated without ever being held in memory.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';

export interface TarHeader {
  readonly name: string;
  readonly type: 'file' | 'directory' | 'symlink';
  readonly size?: number;
  readonly mode: number;
  readonly mtime: number;
  readonly linkname?: string;
  readonly uid?: number;
  readonly gid?: number;
}

const TYPEFLAG = { file: '0', directory: '5', symlink: '2' } as const;
const VCAP = 2000;

export class TarWriter {
  readonly #out: Writable;
  #bytes = 0;
  #entries = 0;

  constructor(out: Writable) {
    this.#out = out;
  }

  /** Bytes of tar written so far (the droplet's uncompressed size once finished). */
  get bytes(): number {
    return this.#bytes;
  }

  get entries(): number {
    return this.#entries;
  }

  /** One entry whose whole body is given (small files, directories, links). */
  async entry(header: TarHeader, body?: Buffer): Promise<void> {
    const size = body?.length ?? 0;
    await this.begin({ ...header, size });
    if (body && size > 0) await this.write(body);
    await this.end(size);
  }

  /** Starts an entry of `header.size` bytes; write exactly that many with `write`, then `end`. */
  async begin(header: TarHeader): Promise<void> {
    this.#entries += 1;
    const { name, prefix } = splitName(header.name);
    if (name === null) await this.#pax({ path: header.name });
    if (header.linkname !== undefined && Buffer.byteLength(header.linkname) > 100) await this.#pax({ linkpath: header.linkname });
    await this.write(
      ustarHeader({
        name: name ?? header.name.slice(-99),
        prefix: name === null ? '' : prefix,
        mode: header.mode,
        uid: header.uid ?? VCAP,
        gid: header.gid ?? VCAP,
        size: header.type === 'file' ? (header.size ?? 0) : 0,
        mtime: header.mtime,
        typeflag: TYPEFLAG[header.type],
        linkname: (header.linkname ?? '').slice(0, 100),
      }),
    );
  }

  /** Ends an entry of `size` body bytes (pads to the 512-byte block). */
  async end(size: number): Promise<void> {
    const rest = size % 512;
    if (rest !== 0) await this.write(Buffer.alloc(512 - rest));
  }

  async write(chunk: Buffer): Promise<void> {
    this.#bytes += chunk.length;
    if (!this.#out.write(chunk)) await once(this.#out, 'drain');
  }

  /** The two zero blocks that end an archive. */
  async finish(): Promise<void> {
    await this.write(Buffer.alloc(1024));
  }

  async #pax(records: Record<string, string>): Promise<void> {
    let body = '';
    for (const [key, value] of Object.entries(records)) {
      const line = ` ${key}=${value}\n`;
      const base = Buffer.byteLength(line);
      let length = base + String(base).length;
      if (String(length).length !== String(base).length) length = base + String(length).length;
      body += `${length}${line}`;
    }
    const bytes = Buffer.from(body);
    await this.write(ustarHeader({ name: 'PaxHeader', prefix: '', mode: 0o644, uid: 0, gid: 0, size: bytes.length, mtime: 0, typeflag: 'x', linkname: '' }));
    await this.write(bytes);
    await this.end(bytes.length);
  }
}

/** ustar's name/prefix split at a slash; `name: null` when the path does not fit. */
function splitName(path: string): { name: string | null; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  for (let at = path.indexOf('/'); at !== -1; at = path.indexOf('/', at + 1)) {
    const prefix = path.slice(0, at);
    const name = path.slice(at + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name.length > 0) return { name, prefix };
  }
  return { name: null, prefix: '' };
}

interface UstarFields {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
}

function ustarHeader(fields: UstarFields): Buffer {
  const block = Buffer.alloc(512);
  const octal = (offset: number, length: number, value: number): void => {
    block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, 'ascii');
  };
  block.write(fields.name, 0, 100, 'utf8');
  octal(100, 8, fields.mode);
  octal(108, 8, fields.uid);
  octal(116, 8, fields.gid);
  octal(124, 12, fields.size);
  octal(136, 12, fields.mtime);
  block.write(fields.typeflag, 156, 'ascii');
  block.write(fields.linkname, 157, 100, 'utf8');
  block.write('ustar\u000000', 257, 'ascii');
  const owner = fields.uid === VCAP ? 'vcap' : 'root';
  block.write(owner, 265, 'ascii');
  block.write(owner, 297, 'ascii');
  block.write(fields.prefix, 345, 155, 'utf8');
  block.fill(' ', 148, 156);
  let checksum = 0;
  for (const byte of block) checksum += byte;
  block.write(`${checksum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}
