/**
 * umoci, an independent OCI image unpacker: it applies the layers of an OCI layout the way the
 * image spec says, so the tests can look at the resulting filesystem (paths, modes, owners)
 * without running a container. Run as root so ownership is kept as recorded in the layers.
 */
import { join } from 'node:path';
import { provisionCommands } from '../requirements.ts';
import { runCommand } from './run-command.ts';

/** Installs umoci when missing; returns why it can't run, or null. */
export function provisionUmoci(): string | null {
  if (process.getuid?.() !== 0) return 'umoci must run as root to keep the owners recorded in the layers';
  return provisionCommands({ umoci: 'umoci' });
}

/** Unpacks `layoutDir:tag` into the runtime bundle `bundleDir` (which must not exist) and returns its rootfs path. */
export async function unpackOciLayout(layoutDir: string, tag: string, bundleDir: string): Promise<string> {
  await runCommand('umoci', ['unpack', '--image', `${layoutDir}:${tag}`, bundleDir]);
  return join(bundleDir, 'rootfs');
}
