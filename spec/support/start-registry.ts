/**
 * Runs the built registry as a real process (`node dist/cli.js serve`), the way operators run it,
 * so end-to-end tests exercise the compiled output, its start-up, configuration from the
 * environment and shutdown on SIGTERM. Each instance has its own port and data directory.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { configEnvironmentVariables } from '../../src/config/load-config.ts';
import { spawnDetached } from './clients/detached-process.ts';
import { runCommand } from './clients/run-command.ts';
import { makeScratchDir, removeScratchDir } from './clients/scratch-dir.ts';
import { waitFor } from './clients/wait-for.ts';
import { freePort } from './free-port.ts';

export interface RunningRegistry {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT`, the registry part of image references. */
  host: string;
  /** The end of what the registry logged. */
  logs(): string;
  /** SIGKILL to the process group, at once: a crash, with no graceful shutdown (`stop` still cleans up). */
  kill(): void;
  /** SIGTERM, SIGKILL after a grace period, then removes the data directory. */
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  /** Configuration on top of PORT, HOST, DATA_DIR and LOG_LEVEL, e.g. DROPLETS_DIR and STACKS. */
  env?: Record<string, string>;
}

export const REPOSITORY_ROOT = resolve(import.meta.dirname, '..', '..');
const NODE = join(REPOSITORY_ROOT, 'node_modules', '.bin', 'node');
export const CLI = join(REPOSITORY_ROOT, 'dist', 'cli.js');

/**
 * Configuration variables read by the registry: taken from the caller only, never inherited from
 * the environment the tests happen to run in.
 */
const CONFIGURATION = new Set(configEnvironmentVariables());

/** Builds `dist/` when it is missing (`npm test` builds first; a single spec run may not have). */
export async function ensureServerBuilt(): Promise<void> {
  if (!existsSync(CLI)) await runCommand('npm', ['run', 'build'], { cwd: REPOSITORY_ROOT, timeoutMs: 600_000 });
}

/** Starts the registry and waits until `GET /v2/` answers: 200, or 401 with AUTH=uaa. */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<RunningRegistry> {
  await ensureServerBuilt();
  const dataDir = makeScratchDir('registry');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !CONFIGURATION.has(key)));
  Object.assign(env, { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(dataDir, 'data'), LOG_LEVEL: 'info' }, options.env);
  const server = spawnDetached(NODE, [CLI, 'serve'], { env, cwd: REPOSITORY_ROOT, logFile: join(dataDir, 'registry.log') });
  const stop = async () => {
    try {
      await server.stop(10_000);
    } finally {
      removeScratchDir(dataDir);
    }
  };
  try {
    await waitFor(`the registry to answer GET ${url}/v2/`, async () => [200, 401].includes((await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(5_000) })).status), {
      timeoutMs: 120_000,
      abort: () => (server.exit ? `the registry exited (${JSON.stringify(server.exit)})` : null),
      details: server.logs,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, host, logs: server.logs, kill: () => process.kill(-server.pid, 'SIGKILL'), stop };
}

