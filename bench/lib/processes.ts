/**
 * Processes the bench starts: commands run to completion with a timeout, and daemons (the two
 * registries) started in a process group of their own and stopped by that group's pid, never by
 * name. Every daemon started is remembered, so `stopAll` can end them on any exit path.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time from spawn to exit. */
  readonly ms: number;
}

/** Process groups of the commands running now, so that `stopAll` can end them. */
const commands = new Set<number>();

/**
 * Runs a command to completion in a process group of its own (killed with its children after
 * `timeoutMs`, or by `stopAll`); never rejects on a non-zero exit.
 */
export function runCommand(command: string, args: readonly string[], options: SpawnOptions & { timeoutMs?: number } = {}): Promise<CommandResult> {
  const { timeoutMs = 600_000, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { ...spawnOptions, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const pid = child.pid;
    if (pid !== undefined) commands.add(pid);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => pid !== undefined && signalGroup(pid, 'SIGKILL'), timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      if (pid !== undefined) commands.delete(pid);
    };
    child.once('error', (error) => {
      done();
      reject(error);
    });
    child.once('close', (code, signal) => {
      done();
      resolve({ code, signal, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString(), ms: performance.now() - started });
    });
  });
}

/** Like `runCommand`, but rejects unless the command exits 0. */
export async function mustRun(command: string, args: readonly string[], options: SpawnOptions & { timeoutMs?: number } = {}): Promise<CommandResult> {
  const result = await runCommand(command, args, options);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.code ?? result.signal}):\n${(result.stderr || result.stdout).slice(-4000)}`);
  }
  return result;
}

export interface Daemon {
  readonly name: string;
  readonly pid: number;
  /** Set once it exited. */
  exited: boolean;
  /** The end of its log. */
  logs(): string;
  /** SIGTERM to its process group, SIGKILL after `graceMs`; resolves once the group is gone. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<Daemon>();

/** Starts a daemon as the leader of a new process group, its output going to `logFile`. */
export function startDaemon(name: string, command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; logFile: string }): Daemon {
  const fd = openSync(options.logFile, 'a');
  const child = spawn(command, args, { env: options.env, cwd: options.cwd, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const pid = child.pid ?? -1;
  const daemon: Daemon = {
    name,
    pid,
    exited: false,
    logs: () => {
      try {
        return readFileSync(options.logFile, 'utf8').slice(-8000);
      } catch {
        return '';
      }
    },
    stop: async (graceMs = 10_000) => {
      running.delete(daemon);
      if (pid < 0) return;
      signalGroup(pid, 'SIGTERM');
      for (const deadline = Date.now() + graceMs; groupAlive(pid) && Date.now() < deadline; ) await sleep(50);
      if (groupAlive(pid)) signalGroup(pid, 'SIGKILL');
      for (const deadline = Date.now() + 10_000; groupAlive(pid) && Date.now() < deadline; ) await sleep(50);
    },
  };
  child.once('exit', () => {
    daemon.exited = true;
  });
  child.once('error', () => {
    daemon.exited = true;
  });
  running.add(daemon);
  return daemon;
}

/** Stops every command and daemon still running (on the way out, whatever happened). */
export async function stopAll(): Promise<void> {
  for (const pid of commands) signalGroup(pid, 'SIGKILL');
  commands.clear();
  await Promise.all([...running].map((daemon) => daemon.stop(5_000)));
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A loopback port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

/** Polls `check` until it is true, or fails with `what` (and the daemon's log) after `timeoutMs`. */
export async function waitUntil(what: string, check: () => Promise<boolean>, options: { timeoutMs: number; daemon?: Daemon }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (options.daemon?.exited) throw new Error(`${options.daemon.name} exited while waiting for ${what}:\n${options.daemon.logs()}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${options.daemon ? `:\n${options.daemon.logs()}` : ''}`);
    await sleep(100);
  }
}
