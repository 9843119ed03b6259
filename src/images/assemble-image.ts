/**
 * A droplet's image in two steps: `convertDropletStream` turns the droplet into its layers (one
 * streaming pass; they depend only on the droplet), and `assembleImage` puts them on a base
 * (stack, foundation, lifecycle) with the config and manifest. A rebase is the second step alone.
 * Used by the service and by the `convert` command alike; recording rows is the caller's business.
 */
import type { Readable } from 'node:stream';
import type { BlobStore } from '../blobstore/blob-store.ts';
import { convertDroplet, type ConversionLimits } from '../conversion/convert-droplet.ts';
import type { DropletLayer } from '../conversion/droplet-layer.ts';
import type { LayerDescriptor } from '../conversion/layer-descriptor.ts';
import type { AppRef, DropletFacts } from '../sources/droplet-source.ts';
import { resolveStartCommand, type ImageLayers } from './image-config.ts';
import { buildImage, type BuiltImage } from './image-manifest.ts';

/** What a droplet was converted into. */
export interface ConvertedDroplet {
  /** Bottom → top. */
  readonly layers: readonly DropletLayer[];
  /** staging_info.yml's start_command; null when it has none. */
  readonly startCommand: string | null;
}

export interface ConvertDropletStreamInput {
  readonly dropletStream: Readable;
  readonly blobs: BlobStore;
  readonly compressionLevel: number;
  /** One layer per buildpack's deps/<i> directory and one for the rest, or the droplet in one layer. */
  readonly splitDeps: boolean;
  readonly limits?: ConversionLimits | undefined;
  readonly onProgress?: ((bytesRead: number) => void) | undefined;
  /** Told of each blob this conversion committed, so a caller can remove them if a later step fails. */
  readonly onCommitted?: ((digest: string) => void) | undefined;
}

export async function convertDropletStream(input: ConvertDropletStreamInput): Promise<ConvertedDroplet> {
  let startCommand: string | null = null;
  const layer = await convertDroplet({
    droplet: input.dropletStream,
    blobs: input.blobs,
    compressionLevel: input.compressionLevel,
    limits: input.limits,
    onProgress: input.onProgress,
    onStagingInfo: (info) => {
      if (typeof info.start_command === 'string') startCommand = info.start_command;
    },
  });
  input.onCommitted?.(layer.digest);
  return { layers: [{ ...layer, role: 'app' }], startCommand };
}

/** What an image of a stack is built on, below and above the droplet's layers. */
export interface ImageBase {
  readonly stack: LayerDescriptor;
  readonly foundation: LayerDescriptor | null;
  readonly lifecycle: LayerDescriptor;
}

export interface AssembleImageInput {
  readonly app: AppRef;
  readonly droplet: DropletFacts;
  /** The stack's name. */
  readonly stack: string;
  readonly base: ImageBase;
  readonly converted: ConvertedDroplet;
  readonly blobs: BlobStore;
  /** Told of the config blob once committed. */
  readonly onCommitted?: ((digest: string) => void) | undefined;
}

export interface AssembledImage extends BuiltImage {
  readonly layers: ImageLayers;
}

/** The droplet's layers on the base: config and manifest built, the config stored. */
export async function assembleImage(input: AssembleImageInput): Promise<AssembledImage> {
  const { base, converted } = input;
  const layers: ImageLayers = { stack: base.stack, foundation: base.foundation, droplet: converted.layers, lifecycle: base.lifecycle };
  const startCommand = resolveStartCommand(input.droplet, converted.startCommand);
  const image = buildImage({ app: input.app, droplet: input.droplet, stack: input.stack, startCommand, layers });
  await input.blobs.put(image.configDigest, image.configBytes);
  input.onCommitted?.(image.configDigest);
  return { ...image, layers };
}
