/**
 * A stand-in for a stack release's tarball (`cflinuxfs4.tar.gz` in the cflinuxfs4 package),
 * generated deterministically from a seed and gzipped at level 6 like `tar -czf`: a merged-/usr
 * Ubuntu-like tree owned by root — executables and shared libraries (binary-like content), Python
 * modules (source-like text), documentation, zoneinfo, trusted CA certificates and their bundle,
 * `/home/vcap` for the app user, `/tmp` sticky.
 *
 * `patch` makes the next release of the same stack: the one file `libssl.so.3` differs (its
 * version string), everything else is byte for byte the same, as after a security patch of one
 * package. The tarball's bytes, and so the stack layer's digest, change.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { binaryPiece, TextGenerator } from './droplet-generator.ts';
import { Prng } from './prng.ts';

/** Bump when the output of the generator changes, so cached stacks are rebuilt. */
const STACK_GENERATOR_VERSION = 1;

export interface StackSpec {
  /** Uncompressed (tar) size to aim for. */
  readonly targetBytes: number;
  readonly seed: string;
  /** 0: the release; n > 0: the release with `libssl.so.3` patched n times. */
  readonly patch: number;
}

export interface GeneratedStack {
  readonly path: string;
  readonly patch: number;
  /** Size of the `.tar.gz`: what the registry serves as the stack layer. */
  readonly compressedBytes: number;
  /** Size of the tar inside: what serving the stack uncompressed (a rootfs.tar) costs. */
  readonly uncompressedBytes: number;
  readonly entries: number;
  /** sha256 of the `.tar.gz` (hex): the stack layer's digest. */
  readonly sha256: string;
}

const MTIME = new Date('2024-03-04T05:06:07Z');
const ROOT = { uid: 0, gid: 0, uname: 'root', gname: 'root' } as const;
const VCAP = { uid: 2000, gid: 2000, uname: 'vcap', gname: 'vcap' } as const;
export const PATCHED_FILE = './usr/lib/x86_64-linux-gnu/libssl.so.3';

/** The stack for `spec`, generated into `cacheDir` unless it is already there. */
export async function ensureStack(cacheDir: string, spec: StackSpec, log: (line: string) => void): Promise<GeneratedStack> {
  const key = createHash('sha256').update(JSON.stringify({ v: STACK_GENERATOR_VERSION, spec })).digest('hex').slice(0, 12);
  const path = join(cacheDir, `stack-${(spec.targetBytes / 1e6).toFixed(0)}MB-patch${spec.patch}-${key}.tar.gz`);
  const infoPath = `${path}.json`;
  if (existsSync(path) && existsSync(infoPath)) return JSON.parse(await readFile(infoPath, 'utf8')) as GeneratedStack;
  await mkdir(cacheDir, { recursive: true });
  log(`generating the stack tarball, patch ${spec.patch} (seed ${JSON.stringify(spec.seed)}), into ${path}`);
  const partial = `${path}.partial`;
  const hash = createHash('sha256');
  let compressedBytes = 0;
  let uncompressedBytes = 0;
  const counter = (count: (chunk: Buffer) => void) =>
    new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        count(chunk);
        callback(null, chunk);
      },
    });
  const pack = tar.pack();
  const writing = pipeline(
    pack,
    counter((chunk) => (uncompressedBytes += chunk.length)),
    createGzip({ level: 6 }),
    counter((chunk) => {
      hash.update(chunk);
      compressedBytes += chunk.length;
    }),
    createWriteStream(partial),
  );
  let entries = 0;
  const entry = (header: Partial<Header> & { name: string }, body?: Buffer): Promise<void> => {
    entries += 1;
    return new Promise((resolve, reject) => {
      const done = (error?: Error | null): void => (error ? reject(error) : resolve());
      const full = { ...ROOT, mtime: MTIME, ...header };
      if (body) pack.entry(full, body, done);
      else pack.entry(full, done);
    });
  };
  try {
    await writeStackTree(entry, new Prng(spec.seed), spec);
    pack.finalize();
    await writing;
  } catch (error) {
    pack.destroy(error as Error);
    await writing.catch(() => undefined);
    await rm(partial, { force: true });
    throw error;
  }
  const info: GeneratedStack = { path, patch: spec.patch, compressedBytes, uncompressedBytes, entries, sha256: hash.digest('hex') };
  await rename(partial, path);
  await writeFile(infoPath, `${JSON.stringify(info, null, 2)}\n`);
  log(`  ${(uncompressedBytes / 1e6).toFixed(0)} MB in ${entries} entries → ${(compressedBytes / 1e6).toFixed(1)} MB gzip`);
  return info;
}

type EntryWriter = (header: Partial<Header> & { name: string }, body?: Buffer) => Promise<void>;

async function writeStackTree(entry: EntryWriter, prng: Prng, spec: StackSpec): Promise<void> {
  const text = new TextGenerator(prng);
  const target = spec.targetBytes;
  let written = 0;
  const dirs = new Set<string>();
  const names = new Set<string>();
  const dir = async (path: string, owner: object = ROOT, mode = 0o755): Promise<void> => {
    if (dirs.has(path)) return;
    const parent = path.slice(0, path.lastIndexOf('/', path.length - 2) + 1);
    if (parent.length > 0 && parent !== path) await dir(parent);
    dirs.add(path);
    written += 512;
    await entry({ name: path, type: 'directory', mode, ...owner });
  };
  const file = async (wanted: string, body: Buffer, mode = 0o644): Promise<void> => {
    let path = wanted;
    for (let n = 2; names.has(path); n += 1) path = `${wanted}.${n}`;
    names.add(path);
    await dir(path.slice(0, path.lastIndexOf('/') + 1));
    written += 512 + Math.ceil(body.length / 512) * 512;
    await entry({ name: path, type: 'file', mode }, body);
  };
  const symlink = async (path: string, linkname: string): Promise<void> => {
    await dir(path.slice(0, path.lastIndexOf('/') + 1));
    written += 512;
    await entry({ name: path, type: 'symlink', mode: 0o777, linkname });
  };
  const binary = (size: number): Buffer => {
    const pieces: Buffer[] = [];
    for (let left = size; left > 0; left -= 1 << 20) pieces.push(binaryPiece(prng, text, Math.min(1 << 20, left)));
    return Buffer.concat(pieces);
  };
  const fill = async (share: number, write: () => Promise<void>): Promise<void> => {
    for (const start = written; written - start < target * share; ) await write();
  };

  await dir('./');
  for (const [link, to] of [['bin', 'usr/bin'], ['sbin', 'usr/sbin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64']] as const) await symlink(`./${link}`, to);
  await dir('./home/vcap/', VCAP);
  await dir('./tmp/', ROOT, 0o1777);
  await dir('./root/', ROOT, 0o700);
  await dir('./var/log/');
  await file('./etc/passwd', Buffer.from('root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nvcap:x:2000:2000::/home/vcap:/bin/bash\n'));
  await file('./etc/group', Buffer.from('root:x:0:\nnogroup:x:65534:\nvcap:x:2000:\n'));
  await file('./etc/os-release', Buffer.from('PRETTY_NAME="Ubuntu 22.04.5 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nVERSION_CODENAME=jammy\n'));
  await file('./etc/hostname', Buffer.from('localhost\n'));

  // The patched library comes first, so the rest of the tree is the same whatever the patch.
  const libssl = binary(prng.logInt(600_000, 800_000));
  libssl.write(`OpenSSL 3.0.2 15 Mar 2022 (Library: OpenSSL 3.0.2-0ubuntu1.${18 + spec.patch})`.padEnd(80, '\0'), 4096, 'latin1');
  await file(PATCHED_FILE, libssl);

  // Trusted CAs: PEM files and their bundle (what update-ca-certificates makes).
  const pems: Buffer[] = [];
  for (let i = 0; i < 140; i += 1) {
    const der = prng.bytes(prng.int(800, 1_600)).toString('base64').replace(/.{64}/g, '$&\n');
    const pem = Buffer.from(`-----BEGIN CERTIFICATE-----\n${der}\n-----END CERTIFICATE-----\n`);
    pems.push(pem);
    await file(`./usr/share/ca-certificates/mozilla/${text.identifier()}_Root_CA_${i}.crt`, pem);
  }
  await file('./etc/ssl/certs/ca-certificates.crt', Buffer.concat(pems));

  await fill(0.4, () => file(`./usr/lib/x86_64-linux-gnu/lib${text.identifier()}.so.${prng.int(0, 9)}`, binary(prng.logInt(20_000, 6_000_000))));
  await fill(0.2, () => file(`./usr/${prng.chance(0.8) ? 'bin' : 'sbin'}/${text.identifier().toLowerCase()}`, binary(prng.logInt(10_000, 3_000_000)), 0o755));
  await fill(0.2, () => file(`./usr/lib/python3/dist-packages/${text.identifier().toLowerCase()}/${text.identifier()}.py`, text.source(prng.logInt(500, 80_000))));
  await fill(0.1, async () => {
    const pkg = text.identifier().toLowerCase();
    await file(`./usr/share/doc/${pkg}/copyright`, text.prose(prng.logInt(500, 30_000)));
    // Debian's changelogs ship gzipped: incompressible.
    await file(`./usr/share/doc/${pkg}/changelog.Debian.gz`, prng.bytes(prng.logInt(300, 20_000)));
  });
  await fill(0.05, () => file(`./usr/share/zoneinfo/${text.identifier()}/${text.identifier()}`, binary(prng.logInt(100, 3_000))));
}
