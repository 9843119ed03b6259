/**
 * Turns a droplet stream into a complete image in a blobstore: the droplet layer (converted in
 * one streaming pass), the config and the manifest. Used by the service and by the `convert`
 * command alike; recording rows is the caller's business.
 */
import type { Readable } from 'node:stream';
import type { BlobStore } from '../blobstore/blob-store.ts';
import { convertDroplet } from '../conversion/convert-droplet.ts';
import type { LayerDescriptor } from '../conversion/layer-descriptor.ts';
import type { AppRef, DropletFacts } from '../sources/droplet-source.ts';
import { resolveStartCommand, type ImageLayers } from './image-config.ts';
import { buildImage, type BuiltImage } from './image-manifest.ts';

export interface AssembleImageInput {
  readonly app: AppRef;
  readonly droplet: DropletFacts;
  readonly stack: string;
  readonly dropletStream: Readable;
  readonly rootfs: LayerDescriptor;
  readonly lifecycle: LayerDescriptor;
  readonly blobs: BlobStore;
  readonly compressionLevel: number;
  readonly limits?: { readonly maxUncompressedBytes?: number; readonly maxEntries?: number };
  readonly onProgress?: (bytesRead: number) => void;
  /** Told of each blob committed, so a caller can remove them if a later step fails. */
  readonly onCommitted?: (digest: string) => void;
}

export interface AssembledImage extends BuiltImage {
  readonly layers: ImageLayers;
}

export async function assembleImage(input: AssembleImageInput): Promise<AssembledImage> {
  let stagingInfo: { start_command?: unknown } | null = null;
  const dropletLayer = await convertDroplet({
    droplet: input.dropletStream,
    blobs: input.blobs,
    compressionLevel: input.compressionLevel,
    limits: input.limits,
    onProgress: input.onProgress,
    onStagingInfo: (info) => {
      stagingInfo = info;
    },
  });
  input.onCommitted?.(dropletLayer.digest);
  const layers: ImageLayers = { rootfs: input.rootfs, droplet: dropletLayer, lifecycle: input.lifecycle };
  const image = buildImage({ app: input.app, droplet: input.droplet, stack: input.stack, startCommand: resolveStartCommand(input.droplet, stagingInfo), layers });
  await input.blobs.put(image.configDigest, image.configBytes);
  input.onCommitted?.(image.configDigest);
  return { ...image, layers };
}
