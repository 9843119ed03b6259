/**
 * A private Docker engine for end-to-end tests: no engine runs on the test machines, and a shared
 * one would mix state between runs. Everything it writes (images, containers, its managed
 * containerd, its key file, the CLI's config) lives in one scratch directory removed on stop.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { provisionCommands } from '../requirements.ts';
import { spawnDetached } from './detached-process.ts';
import { runCommand, type CommandOptions, type CommandResult } from './run-command.ts';
import { makeScratchDir, removeScratchDir } from './scratch-dir.ts';
import { waitFor } from './wait-for.ts';

export interface Dockerd {
  /** Runs the docker CLI against this engine. */
  docker(args: string[], options?: CommandOptions): Promise<CommandResult>;
  /** Stops the engine, its containerd and shims, and removes all its files. */
  stop(): Promise<void>;
}

/** Installs Docker's engine when missing; returns why it can't run, or null. */
export function provisionDockerd(): string | null {
  return provisionCommands({ dockerd: 'docker.io', containerd: 'containerd', runc: 'runc' });
}

/**
 * The CLI packaged with the engine. Machines may carry a newer stand-alone client earlier on PATH;
 * it would work too (API negotiation), but the packaged one is the pair Debian tests together.
 */
const DOCKER_CLI = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

/** Starts dockerd (vfs storage, no networking set-up) and waits until it answers `docker info`. */
export async function startDockerd(): Promise<Dockerd> {
  const dir = makeScratchDir('dockerd');
  const socket = join(dir, 'docker.sock');
  const configFile = join(dir, 'daemon.json');
  mkdirSync(join(dir, 'cli'));
  // dockerd 20.10 otherwise writes its identity key to /etc/docker/key.json.
  writeFileSync(configFile, JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') }));
  const env = cleanEnv();
  const daemon = spawnDetached(
    'dockerd',
    [
      '--config-file', configFile,
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '--storage-driver=vfs',
      '--data-root', join(dir, 'data'),
      '--exec-root', join(dir, 'exec'),
      '--pidfile', join(dir, 'dockerd.pid'),
      '-H', `unix://${socket}`,
    ],
    { env, logFile: join(dir, 'dockerd.log') },
  );
  const cliEnv = { ...env, DOCKER_CONFIG: join(dir, 'cli') };
  const docker = (args: string[], options: CommandOptions = {}) =>
    runCommand(DOCKER_CLI, ['-H', `unix://${socket}`, ...args], { ...options, env: { ...cliEnv, ...options.env } });
  const stop = async () => {
    try {
      await daemon.stop();
    } finally {
      removeScratchDir(dir);
    }
  };
  try {
    await waitFor('dockerd to answer `docker info`', async () => (await docker(['info'], { timeoutMs: 10_000 }), true), {
      timeoutMs: 120_000,
      abort: () => (daemon.exit ? `dockerd exited (${JSON.stringify(daemon.exit)})` : null),
      details: daemon.logs,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { docker, stop };
}

/** The caller's environment without anything that would point the CLI at another engine. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of ['DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_CONFIG']) delete env[key];
  return env;
}
