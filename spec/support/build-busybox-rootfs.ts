/**
 * A tiny stand-in for the cflinuxfs4 rootfs, so end-to-end tests can run converted images without
 * downloading a 400 MB stack: Debian's statically linked busybox, the applets a droplet's start
 * command and the launcher use, and the `vcap` user (2000:2000) with its home, as on cflinuxfs4.
 * Debian's busybox has no `bash` applet, so the image has no bash and the launcher's sh fallback
 * is what runs. Entries are sorted, with fixed owners and mtimes, so one machine always builds the
 * same bytes.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar, { type Header } from 'tar-stream';

/** Where busybox-static installs its binary on Debian. */
export const BUSYBOX_BINARY = '/bin/busybox';

const MTIME = new Date('2024-01-01T00:00:00Z');
const VCAP = 2000;

/** Applets linked into `bin/`: what start commands, profile scripts and the launcher call. */
const APPLETS = [
  '[', 'ash', 'awk', 'basename', 'cat', 'chmod', 'cp', 'cut', 'date', 'dirname', 'echo', 'env', 'expr',
  'false', 'find', 'grep', 'gzip', 'head', 'hostname', 'httpd', 'id', 'kill', 'ln', 'ls', 'mkdir',
  'mktemp', 'mv', 'nc', 'printf', 'ps', 'pwd', 'readlink', 'rm', 'sed', 'seq', 'sh', 'sleep', 'sort',
  'stat', 'tail', 'tar', 'test', 'touch', 'tr', 'true', 'uname', 'uniq', 'wc', 'wget', 'which',
  'whoami', 'xargs',
];

type Entry = Partial<Header> & { name: string; content?: Buffer };

/** Writes the rootfs as a gzipped tarball at `path`. */
export async function buildBusyboxRootfs(path: string): Promise<void> {
  const entries = await rootfsEntries();
  const pack = tar.pack();
  const writing = pipeline(pack, createGzip({ level: 6 }), createWriteStream(path));
  for (const { content, ...header } of entries) {
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve());
      if (content) pack.entry(header, content, done);
      else pack.entry(header, done);
    });
  }
  pack.finalize();
  await writing;
}

async function rootfsEntries(): Promise<Entry[]> {
  const busybox = await staticBusybox();
  const entries: Entry[] = [
    directory('bin'),
    file('bin/busybox', busybox, 0o755),
    ...APPLETS.map((applet) => symlink(`bin/${applet}`, 'busybox')),
    directory('etc'),
    file('etc/group', Buffer.from('root:x:0:\nvcap:x:2000:\n'), 0o644),
    file('etc/passwd', Buffer.from('root:x:0:0:root:/root:/bin/sh\nvcap:x:2000:2000::/home/vcap:/bin/sh\n'), 0o644),
    directory('home'),
    directory('home/vcap', 0o755, VCAP),
    directory('home/vcap/app', 0o755, VCAP),
    directory('root', 0o700),
    directory('tmp', 0o1777),
    directory('usr'),
    directory('usr/bin'),
    symlink('usr/bin/env', '/bin/busybox'),
    directory('usr/local'),
    directory('usr/local/bin'),
    directory('var'),
    directory('var/tmp', 0o1777),
  ];
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The busybox binary, which must be statically linked: the image has no dynamic loader, so a
 * dynamic one fails every `docker run` with "exec …: no such file or directory". Debian's
 * `busybox` package (dynamic) and `busybox-static` install to the same path; as root the static
 * one is installed over the other.
 */
async function staticBusybox(): Promise<Buffer> {
  let binary = existsSync(BUSYBOX_BINARY) ? await readFile(BUSYBOX_BINARY) : undefined;
  if ((!binary || hasProgramInterpreter(binary)) && process.getuid?.() === 0) {
    execFileSync('apt-get', ['install', '-y', '-qq', 'busybox-static'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000 });
    binary = await readFile(BUSYBOX_BINARY);
  }
  if (!binary || hasProgramInterpreter(binary)) {
    throw new Error(`${BUSYBOX_BINARY} must be a statically linked busybox (Debian package busybox-static) to build the test rootfs`);
  }
  return binary;
}

/** Whether a 64-bit little-endian ELF file names a program interpreter (PT_INTERP): it is dynamically linked. */
function hasProgramInterpreter(elf: Buffer): boolean {
  const PT_INTERP = 3;
  const headersAt = Number(elf.readBigUInt64LE(0x20));
  const headerSize = elf.readUInt16LE(0x36);
  const headerCount = elf.readUInt16LE(0x38);
  for (let index = 0; index < headerCount; index++) {
    if (elf.readUInt32LE(headersAt + index * headerSize) === PT_INTERP) return true;
  }
  return false;
}

function directory(name: string, mode = 0o755, owner = 0): Entry {
  return { name, type: 'directory', mode, uid: owner, gid: owner, mtime: MTIME };
}

function file(name: string, content: Buffer, mode: number): Entry {
  return { name, type: 'file', mode, uid: 0, gid: 0, mtime: MTIME, size: content.length, content };
}

function symlink(name: string, target: string): Entry {
  return { name, type: 'symlink', linkname: target, mode: 0o777, uid: 0, gid: 0, mtime: MTIME };
}
