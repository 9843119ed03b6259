/**
 * Private directories for daemons and their data. Removing one also ends processes that escaped
 * the daemon's process group but still work inside it (dockerd starts containerd in a session of its
 * own, containerd starts shims the same way) and unmounts what the daemon mounted there, so that
 * nothing started by a test outlives it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Creates a fresh directory under the system temp dir. Kept short: unix socket paths are limited to 107 bytes. */
export function makeScratchDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `dr-${prefix}-`));
}

/** Kills leftover processes working in `dir`, unmounts everything under it, then deletes it. */
export function removeScratchDir(dir: string): void {
  for (const pid of processesUsing(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const mountPoint of mountsUnder(dir)) {
    try {
      execFileSync('umount', ['--lazy', mountPoint], { stdio: 'ignore' });
    } catch {
      // unmounted together with its parent
    }
  }
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Processes whose command line or working directory mentions `dir`. */
export function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const cwd = safeReadlink(`/proc/${pid}/cwd`);
      if (cmdline.includes(dir) || cwd === dir || cwd.startsWith(`${dir}/`)) pids.push(pid);
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

/** Mount points at or below `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => unescapeMountPath(line.split(' ')[4] ?? ''))
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

function safeReadlink(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}
