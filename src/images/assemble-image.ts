/**
 * A droplet's image in two steps: `convertDropletStream` turns the droplet into its layers (one
 * streaming pass; they depend only on the droplet), and `assembleImage` puts them on a base
 * (stack, foundation, lifecycle) with the config and manifest. A rebase is the second step alone.
 * Used by the service and by the `convert` command alike; recording rows is the caller's business.
 */
import type { Readable } from 'node:stream';
import type { BlobStore } from '../blobstore/blob-store.ts';
import { convertDropletLayers } from '../conversion/convert-droplet-layers.ts';
import type { ConversionLimits } from '../conversion/convert-droplet.ts';
import type { DropletLayer } from '../conversion/droplet-layer.ts';
import type { LayerDescriptor } from '../conversion/layer-descriptor.ts';
import type { AppRef, DropletFacts } from '../sources/droplet-source.ts';
import { resolveStartCommand, type ImageLayers } from './image-config.ts';
import { buildImage, type BuiltImage } from './image-manifest.ts';
import { OCI_CONFIG } from './media-types.ts';

/** What a droplet was converted into. */
export interface ConvertedDroplet {
  /** Bottom → top. */
  readonly layers: readonly DropletLayer[];
  /** staging_info.yml's start_command; null when it has none. */
  readonly startCommand: string | null;
}

/** A blob a conversion wrote, so a caller can undo it if a later step fails. */
export interface CommittedBlob {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  /** A deps layer: another app's conversion may have found it in the store meanwhile and rely on it. */
  readonly shared: boolean;
}

export interface ConvertDropletStreamInput {
  readonly dropletStream: Readable;
  readonly blobs: BlobStore;
  readonly compressionLevel: number;
  /** One layer per buildpack's deps/<i> directory and one for the rest, or the droplet in one layer. */
  readonly splitDeps: boolean;
  readonly limits?: ConversionLimits | undefined;
  readonly onProgress?: ((bytesRead: number) => void) | undefined;
  /** Told of each blob this conversion wrote (not of those the store already had). */
  readonly onCommitted?: ((blob: CommittedBlob) => void) | undefined;
}

export async function convertDropletStream(input: ConvertDropletStreamInput): Promise<ConvertedDroplet> {
  let startCommand: string | null = null;
  const layers = await convertDropletLayers({
    droplet: input.dropletStream,
    blobs: input.blobs,
    compressionLevel: input.compressionLevel,
    splitDeps: input.splitDeps,
    limits: input.limits,
    onProgress: input.onProgress,
    onStagingInfo: (info) => {
      if (typeof info.start_command === 'string') startCommand = info.start_command;
    },
    onLayerStored: (layer, outcome) => {
      if (outcome === 'committed') input.onCommitted?.({ digest: layer.digest, size: layer.size, mediaType: layer.mediaType, shared: layer.role === 'deps' });
    },
  });
  return { layers, startCommand };
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
  readonly onCommitted?: ((blob: CommittedBlob) => void) | undefined;
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
  input.onCommitted?.({ digest: image.configDigest, size: image.configBytes.length, mediaType: OCI_CONFIG, shared: false });
  return { ...image, layers };
}
