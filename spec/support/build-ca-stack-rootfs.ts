/**
 * A small stand-in for a stack tarball (cflinuxfs4.tar.gz) in which the real Debian
 * `update-ca-certificates` runs in a chroot, as cflinuxfs4-rootfs-setup runs it: statically linked
 * busybox for the shell and the tools the script calls, the host's openssl (for `openssl rehash`)
 * with the shared libraries `ldd` lists, the script itself, a few of Debian's Mozilla CA
 * certificates with their `/etc/ca-certificates.conf`, and `/etc/ssl/certs` as the script leaves
 * it after a first run (a stack ships it populated). Some applets are hard links, as packages make
 * them, and `home/vcap` belongs to vcap (2000), so owners and links are exercised too.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BUSYBOX_BINARY } from './build-busybox-rootfs.ts';
import { provisionCommands } from './requirements.ts';

/** Where the real script is and where the certificates it reads are, on Debian and in the tree. */
const UPDATE_CA_CERTIFICATES = '/usr/sbin/update-ca-certificates';
const MOZILLA_CERTS = '/usr/share/ca-certificates/mozilla';

/** How many of the host's Mozilla CAs the tree takes: enough for a bundle, few enough to stay small. */
const MOZILLA_CERT_COUNT = 12;

/** Applets the script (and the set-up steps) call; `sh` and `find` are hard links, the rest symlinks. */
const APPLETS = ['[', 'basename', 'cat', 'chmod', 'echo', 'find', 'ln', 'ls', 'mkdir', 'mktemp', 'mv', 'readlink', 'rm', 'sed', 'sh', 'sort', 'test', 'touch', 'wc'];
const HARD_LINKED = new Set(['sh', 'find']);

/** Why the tree cannot be built and the set-up steps run here (root, chroot, GNU tar, busybox-static, openssl, the script…), or null. */
export function caStackRootfsProblem(): string | null {
  if (process.getuid?.() !== 0) return 'needs root: chroot, and files owned by other users';
  const missing = provisionCommands({ chroot: 'coreutils', mknod: 'coreutils', timeout: 'coreutils', find: 'findutils', openssl: 'openssl', 'update-ca-certificates': 'ca-certificates', ldd: 'libc-bin', tar: 'tar', busybox: 'busybox-static' });
  if (missing) return missing;
  if (!existsSync(MOZILLA_CERTS)) return `needs Debian's Mozilla CA certificates in ${MOZILLA_CERTS} (package ca-certificates)`;
  return null;
}

/** Makes the stack tree in `dir` (an empty directory) and runs `update-ca-certificates` in it once, as building the stack does. */
export function buildCaStackTree(dir: string): void {
  const at = (path: string) => join(dir, path);
  for (const path of ['bin', 'etc/ssl/certs', 'usr/bin', 'usr/sbin', 'usr/local/share/ca-certificates', 'usr/share/ca-certificates/mozilla', 'home/vcap', 'tmp']) {
    mkdirSync(at(path), { recursive: true });
  }
  chmodSync(at('tmp'), 0o1777);
  // The script sends openssl's output to /dev/null, and the chroot mounts no /dev: the stack ships the node.
  mkdirSync(at('dev'));
  execFileSync('mknod', ['-m', '666', at('dev/null'), 'c', '1', '3']);
  chownSync(at('home/vcap'), 2000, 2000);
  writeFileSync(at('etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nvcap:x:2000:2000::/home/vcap:/bin/sh\n');
  writeFileSync(at('etc/group'), 'root:x:0:\nvcap:x:2000:\n');
  writeFileSync(at('etc/os-release'), 'NAME="CA stack stand-in"\n');
  writeFileSync(at('home/vcap/.profile'), '# vcap\n');
  chownSync(at('home/vcap/.profile'), 2000, 2000);

  copyFileSync(BUSYBOX_BINARY, at('bin/busybox'));
  chmodSync(at('bin/busybox'), 0o755);
  for (const applet of APPLETS) {
    if (HARD_LINKED.has(applet)) linkSync(at('bin/busybox'), at(`bin/${applet}`));
    else symlinkSync('busybox', at(`bin/${applet}`));
  }
  copyWithLibraries('/usr/bin/openssl', dir);
  copyFileSync(UPDATE_CA_CERTIFICATES, at('usr/sbin/update-ca-certificates'));
  chmodSync(at('usr/sbin/update-ca-certificates'), 0o755);

  const certificates = readdirSync(MOZILLA_CERTS).filter((name) => name.endsWith('.crt')).sort().slice(0, MOZILLA_CERT_COUNT);
  for (const name of certificates) copyFileSync(join(MOZILLA_CERTS, name), at(`usr/share/ca-certificates/mozilla/${name}`));
  writeFileSync(at('etc/ca-certificates.conf'), certificates.map((name) => `mozilla/${name}\n`).join(''));

  execFileSync('chroot', [dir, '/usr/sbin/update-ca-certificates', '-f'], { env: { PATH: '/bin:/usr/bin:/usr/sbin', TMPDIR: '/tmp' }, stdio: 'pipe' });
}

/** Copies an executable and the shared libraries (and loader) `ldd` lists into the same paths under `dir`. */
function copyWithLibraries(executable: string, dir: string): void {
  const libraries = execFileSync('ldd', [executable], { encoding: 'utf8' })
    .split('\n')
    .map((line) => /(\/\S+) \(0x/.exec(line)?.[1])
    .filter((path): path is string => path !== undefined);
  for (const path of [executable, ...libraries]) {
    const target = join(dir, path);
    if (existsSync(target)) continue;
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(realpathSync(path), target);
    chmodSync(target, 0o755);
  }
}
