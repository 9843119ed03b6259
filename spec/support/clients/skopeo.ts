/**
 * skopeo, the containers/image client (the same library podman, buildah and CRI-O pull with):
 * copies images out of the registry into OCI layouts that the tests then unpack and inspect.
 * Plain HTTP is allowed towards the registry (`--tls-verify=false`); its files live in a scratch
 * directory removed by `dispose`.
 */
import { provisionCommands } from '../requirements.ts';
import { writeContainersConfig } from './containers-config.ts';
import { runCommand, type CommandOptions, type CommandResult } from './run-command.ts';
import { makeScratchDir, removeScratchDir } from './scratch-dir.ts';

export interface Skopeo {
  /** Runs skopeo with the private policy and configuration. */
  skopeo(args: string[], options?: CommandOptions): Promise<CommandResult>;
  /** `skopeo copy docker://<image> oci:<layoutDir>:<tag>`; `image` is `host:port/name:tag`. */
  copyToOciLayout(image: string, layoutDir: string, tag: string): Promise<void>;
  /** The image's config (`skopeo inspect --config`); `image` is `host:port/name:tag` or `oci:DIR:tag`. */
  inspectConfig(image: string): Promise<ImageConfig>;
  /** The repository's tags (`skopeo list-tags`); `repository` is `host:port/name`. */
  listTags(repository: string): Promise<string[]>;
  dispose(): void;
}

/** The parts of an OCI image config that the tests look at. */
export interface ImageConfig {
  architecture: string;
  os: string;
  config: {
    User?: string;
    WorkingDir?: string;
    Entrypoint?: string[];
    Cmd?: string[];
    Env?: string[];
    Labels?: Record<string, string>;
  };
  rootfs: { type: string; diff_ids: string[] };
}

/** Installs skopeo when missing; returns why it can't run, or null. */
export function provisionSkopeo(): string | null {
  return provisionCommands({ skopeo: 'skopeo' });
}

/** A skopeo with its own configuration directory. */
export function createSkopeo(): Skopeo {
  const dir = makeScratchDir('skopeo');
  const config = writeContainersConfig(dir);
  const skopeo = (args: string[], options: CommandOptions = {}) =>
    runCommand('skopeo', ['--policy', config.policyFile, '--tmpdir', dir, ...args], {
      ...options,
      env: { ...config.env, ...options.env },
    });
  return {
    skopeo,
    copyToOciLayout: async (image, layoutDir, tag) => {
      await skopeo(['copy', '--src-tls-verify=false', `docker://${image}`, `oci:${layoutDir}:${tag}`]);
    },
    inspectConfig: async (image) => {
      const args = image.startsWith('oci:') ? [image] : ['--tls-verify=false', `docker://${image}`];
      return JSON.parse((await skopeo(['inspect', '--config', ...args])).stdout) as ImageConfig;
    },
    listTags: async (repository) => {
      const { stdout } = await skopeo(['list-tags', '--tls-verify=false', `docker://${repository}`]);
      return (JSON.parse(stdout) as { Tags: string[] }).Tags;
    },
    dispose: () => removeScratchDir(dir),
  };
}
