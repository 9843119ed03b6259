/**
 * A long-running process (a daemon, the registry) started in a process group of its own, so the
 * test can stop it and everything it forked by signalling the group it created, never by name.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from './wait-for.ts';

export interface DetachedProcess {
  pid: number;
  /** Set once the process has exited: how it ended. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  /** The end of what the process wrote to stdout and stderr. */
  logs(): string;
  /** SIGTERM to the group, SIGKILL after `graceMs`, then waits until the group is empty. */
  stop(graceMs?: number): Promise<void>;
}

export interface DetachedOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where stdout and stderr go (a file, so a daemon never blocks on a full pipe). */
  logFile: string;
}

const LOG_TAIL_CHARS = 20_000;

/** Starts `command args` as the leader of a new session and process group (setsid). */
export function spawnDetached(command: string, args: string[], options: DetachedOptions): DetachedProcess {
  const logFd = openSync(options.logFile, 'a');
  const child = spawn(command, args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    detached: true,
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  const exited = once(child, 'exit').catch(() => undefined);
  const handle: DetachedProcess = {
    pid: child.pid ?? -1,
    exit: null,
    logs: () => {
      try {
        return readFileSync(options.logFile, 'utf8').slice(-LOG_TAIL_CHARS);
      } catch {
        return '';
      }
    },
    stop: async (graceMs = 15_000) => {
      if (handle.pid < 0) return;
      signalGroup(handle.pid, 'SIGTERM');
      if (!handle.exit) await Promise.race([exited, sleep(graceMs)]);
      signalGroup(handle.pid, 'SIGKILL');
      await waitFor(`process group ${handle.pid} to end`, () => !groupAlive(handle.pid), { timeoutMs: 30_000 });
    },
  };
  child.on('error', () => {
    handle.exit = { code: null, signal: null };
  });
  child.on('exit', (code, signal) => {
    handle.exit = { code, signal };
  });
  return handle;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is already empty
  }
}

/** Whether any process of the group `pgid` is still alive. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
