/**
 * A private containerd for end-to-end tests, driven with `ctr`: Kubernetes nodes and Docker
 * Engine ≥ 29 pull through containerd's resolver, whose request sequence differs from Docker's
 * classic one. Root, state, sockets and plugin dirs live in one scratch directory removed on stop;
 * the CRI plugin is disabled (it would want CNI and a node), and the native snapshotter is used
 * because it works on any filesystem.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { provisionCommands } from '../requirements.ts';
import { spawnDetached } from './detached-process.ts';
import { runCommand, type CommandOptions, type CommandResult } from './run-command.ts';
import { makeScratchDir, removeScratchDir } from './scratch-dir.ts';
import { waitFor } from './wait-for.ts';

export interface Containerd {
  /** Runs `ctr` against this containerd (namespace `default`, native snapshotter). */
  ctr(args: string[], options?: CommandOptions): Promise<CommandResult>;
  /** Stops containerd and its shims and removes all its files. */
  stop(): Promise<void>;
}

/** Installs containerd (with ctr) and runc when missing; returns why it can't run, or null. */
export function provisionContainerd(): string | null {
  return provisionCommands({ containerd: 'containerd', ctr: 'containerd', runc: 'runc' });
}

/** Starts containerd with a private configuration and waits until `ctr version` answers. */
export async function startContainerd(): Promise<Containerd> {
  const dir = makeScratchDir('containerd');
  const socket = join(dir, 'containerd.sock');
  const configFile = join(dir, 'config.toml');
  mkdirSync(join(dir, 'opt'));
  writeFileSync(
    configFile,
    [
      'version = 2',
      `root = ${JSON.stringify(join(dir, 'root'))}`,
      `state = ${JSON.stringify(join(dir, 'state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = ${JSON.stringify(socket)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(`${socket}.ttrpc`)}`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${JSON.stringify(join(dir, 'opt'))}`,
      '',
    ].join('\n'),
  );
  const daemon = spawnDetached('containerd', ['--config', configFile], { logFile: join(dir, 'containerd.log') });
  const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERD_SNAPSHOTTER: 'native', CONTAINERD_NAMESPACE: 'default' };
  delete env.CONTAINERD_ADDRESS;
  const ctr = (args: string[], options: CommandOptions = {}) =>
    runCommand('ctr', ['--address', socket, ...args], { ...options, env: { ...env, ...options.env } });
  const stop = async () => {
    try {
      await daemon.stop();
    } finally {
      removeScratchDir(dir);
    }
  };
  try {
    await waitFor('containerd to answer `ctr version`', async () => (await ctr(['version'], { timeoutMs: 10_000 }), true), {
      timeoutMs: 60_000,
      abort: () => (daemon.exit ? `containerd exited (${JSON.stringify(daemon.exit)})` : null),
      details: daemon.logs,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { ctr, stop };
}
