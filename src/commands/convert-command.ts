/**
 * `droplet-registry convert`: one droplet + one rootfs → an OCI image layout (a directory) or a
 * `docker load`/`podman load` archive (a `.tar` file), without a server or a database.
 */
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FsBlobStore } from '../blobstore/fs-blob-store.ts';
import { importLayerFile } from '../conversion/import-layer-file.ts';
import { buildLauncherLayer, buildLifecycleLayerFromTarball } from '../conversion/lifecycle-layer.ts';
import { assembleImage, convertDropletStream } from '../images/assemble-image.ts';
import { packLoadArchive, writeOciLayout } from '../images/image-layout.ts';
import { verifyChecksum } from '../sources/checksum-verifier.ts';
import { toRepositoryComponent } from '../sources/repository-names.ts';
import type { AppRef, DropletFacts } from '../sources/droplet-source.ts';
import { createProgress } from './progress.ts';

export interface ConvertOptions {
  readonly droplet: string;
  readonly rootfs: string;
  readonly output: string;
  readonly dropletJson?: string;
  readonly startCommand?: string;
  readonly stack?: string;
  readonly app?: string;
  readonly tag?: string;
  readonly lifecycle?: string;
  readonly compressionLevel: number;
  /** A layer per buildpack's deps/<i> directory and one for the rest, or the droplet in one layer. */
  readonly splitDeps: boolean;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Runs the conversion; on failure nothing is left at `output`. Returns what was written. */
export async function convertCommand(options: ConvertOptions): Promise<string> {
  const output = resolve(options.output);
  const archive = output.endsWith('.tar');
  await checkOutput(output, archive);
  const workDir = archive ? await mkdtemp(join(dirname(output), '.droplet-registry-')) : output;
  try {
    const droplet = await dropletFacts(options);
    const app = appRef(options);
    const stack = options.stack ?? droplet.stack ?? 'cflinuxfs4';
    const blobs = new FsBlobStore({ root: workDir });
    const rootfs = await importLayerFile(options.rootfs, blobs);
    const lifecycle = options.lifecycle
      ? await buildLifecycleLayerFromTarball(options.lifecycle, blobs, options.compressionLevel)
      : await buildLauncherLayer(blobs, options.compressionLevel);
    const progress = createProgress(`converting ${basename(options.droplet)}`, (await stat(options.droplet)).size);
    const converted = await convertDropletStream({
      dropletStream: verifyChecksum(createReadStream(options.droplet, { highWaterMark: 1024 * 1024 }), droplet.checksum, `droplet ${droplet.guid}`),
      blobs,
      compressionLevel: options.compressionLevel,
      splitDeps: options.splitDeps,
      onProgress: (bytes) => progress.update(bytes),
    });
    const image = await assembleImage({ app, droplet, stack, base: { stack: rootfs, foundation: null, lifecycle }, converted, blobs });
    const tag = options.tag ?? `${toRepositoryComponent(app.name) ?? 'app'}:${droplet.guid}`;
    await writeOciLayout(workDir, image, tag.slice(tag.lastIndexOf(':') + 1));
    if (archive) await packLoadArchive(workDir, image, tag, output);
    progress.finish(`${image.manifestDigest} written to ${output}`);
    return image.manifestDigest;
  } catch (error) {
    await rm(output, { recursive: true, force: true });
    throw error;
  } finally {
    if (archive) await rm(workDir, { recursive: true, force: true });
  }
}

async function checkOutput(output: string, archive: boolean): Promise<void> {
  const existing = await stat(output).catch(() => undefined);
  if (archive) {
    if (existing) throw new UsageError(`--output ${output} exists; remove it or choose another file`);
    await mkdir(dirname(output), { recursive: true });
  } else if (existing && (!existing.isDirectory() || (await readdir(output)).length > 0)) {
    throw new UsageError(`--output ${output} must be a new or empty directory (or a file name ending in .tar for an archive)`);
  }
}

/** The droplet's facts: from `--droplet-json` (a CAPI v3 droplet) when given, else from the file name. */
async function dropletFacts(options: ConvertOptions): Promise<DropletFacts> {
  const fromName = /^(?:droplet_)?(.+?)\.(?:tgz|tar\.gz)$/.exec(basename(options.droplet))?.[1] ?? basename(options.droplet);
  const json = options.dropletJson ? (JSON.parse(await readFile(options.dropletJson, 'utf8')) as Record<string, unknown>) : {};
  const processTypes = (json.process_types as Record<string, string> | undefined) ?? null;
  const created = (json.created_at as string | undefined) ?? (await stat(options.droplet)).mtime.toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    guid: (json.guid as string | undefined) ?? fromName,
    appGuid: '',
    state: 'STAGED',
    lifecycleType: 'buildpack',
    stack: (json.stack as string | undefined) ?? null,
    processTypes: options.startCommand !== undefined ? { ...processTypes, web: options.startCommand } : processTypes,
    buildpacks: (json.buildpacks as DropletFacts['buildpacks'] | undefined) ?? [],
    createdAt: created,
    checksum: (json.checksum as DropletFacts['checksum'] | undefined) ?? null,
  };
}

function appRef(options: ConvertOptions): AppRef {
  const name = options.app ?? 'app';
  return { guid: '', name, space: { guid: '', name: '' }, org: { guid: '', name: '' } };
}
