/**
 * podman, pulling and running through containers/image and containers/storage the way RHEL-family
 * hosts do. Storage (vfs), run state, locks, events and configuration live in a scratch directory
 * removed by `dispose`, so nothing reads or writes the machine's /etc/containers, /var/lib/containers
 * or /run/libpod.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { provisionCommands } from '../requirements.ts';
import { writeContainersConfig } from './containers-config.ts';
import { runCommand, type CommandOptions, type CommandResult } from './run-command.ts';
import { makeScratchDir, removeScratchDir } from './scratch-dir.ts';

/**
 * What `podman run` needs on the test machines: podman asks for nofile and nproc limits above the
 * hard limits there, which the OCI runtime may not raise ("error setting rlimit … operation not
 * permitted"), and the tests need no network.
 */
export const PODMAN_RUN_FLAGS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--network', 'none'];

export interface Podman {
  /** Runs podman with private storage and configuration. Pull with `--tls-verify=false`. */
  podman(args: string[], options?: CommandOptions): Promise<CommandResult>;
  /** Removes containers, images and every file podman wrote. */
  dispose(): Promise<void>;
}

/** Installs podman (with conmon and an OCI runtime) when missing; returns why it can't run, or null. */
export function provisionPodman(): string | null {
  return provisionCommands({ podman: 'podman', conmon: 'conmon' });
}

/** A podman with its own storage and configuration. */
export function createPodman(): Podman {
  const dir = makeScratchDir('podman');
  const config = writeContainersConfig(dir);
  const root = join(dir, 'root');
  const runroot = join(dir, 'runroot');
  const tmp = join(dir, 'libpod');
  mkdirSync(tmp);
  const containersConf = join(dir, 'containers.conf');
  writeFileSync(
    containersConf,
    [
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = ${JSON.stringify(join(dir, 'events.log'))}`,
      'lock_type = "file"',
      `tmp_dir = ${JSON.stringify(tmp)}`,
      `static_dir = ${JSON.stringify(join(root, 'libpod'))}`,
      `volume_path = ${JSON.stringify(join(root, 'volumes'))}`,
      '[network]',
      `network_config_dir = ${JSON.stringify(join(dir, 'networks'))}`,
      '',
    ].join('\n'),
  );
  const storageConf = join(dir, 'storage.conf');
  writeFileSync(storageConf, `[storage]\ndriver = "vfs"\ngraphroot = ${JSON.stringify(root)}\nrunroot = ${JSON.stringify(runroot)}\n`);
  const env = { ...config.env, CONTAINERS_CONF: containersConf, CONTAINERS_STORAGE_CONF: storageConf };
  const podman = (args: string[], options: CommandOptions = {}) =>
    runCommand(
      'podman',
      [
        '--root', root,
        '--runroot', runroot,
        '--storage-driver', 'vfs',
        '--tmpdir', tmp,
        // the OCI runtime's container state, otherwise under /run/runc or /run/crun
        '--runtime-flag', `root=${join(dir, 'runtime')}`,
        ...withPolicy(args, config.policyFile),
      ],
      { ...options, env: { ...env, ...options.env } },
    );
  return {
    podman,
    dispose: async () => {
      try {
        await podman(['rm', '--all', '--force'], { timeoutMs: 60_000 });
      } finally {
        removeScratchDir(dir);
      }
    },
  };
}

/** `podman pull` takes the signature policy as a flag of its own (there is no global one). */
function withPolicy(args: string[], policyFile: string): string[] {
  const [command, ...rest] = args;
  return command === 'pull' ? [command, '--signature-policy', policyFile, ...rest] : args;
}
