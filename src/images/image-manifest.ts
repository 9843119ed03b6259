/**
 * The OCI image manifest of a droplet image. Its bytes are produced once, stored, and served
 * byte-identically by tag and by digest; the digest is of exactly these bytes.
 */
import type { LayerDescriptor } from '../conversion/layer-descriptor.ts';
import { sha256Digest } from './digest.ts';
import { buildImageConfig, imageLayerList, type ImageConfigInput } from './image-config.ts';
import { OCI_CONFIG, OCI_MANIFEST } from './media-types.ts';

export interface BuiltImage {
  readonly configBytes: Buffer;
  readonly configDigest: string;
  readonly manifestBytes: Buffer;
  readonly manifestDigest: string;
}

function descriptor(layer: LayerDescriptor): object {
  return { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
}

/** Config and manifest bytes for an image; the same input always gives the same bytes. */
export function buildImage(input: ImageConfigInput): BuiltImage {
  const configBytes = Buffer.from(JSON.stringify(buildImageConfig(input)));
  const configDigest = sha256Digest(configBytes);
  const { layers } = input;
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: configBytes.length },
    layers: imageLayerList(layers).map(descriptor),
    annotations: {
      'org.opencontainers.image.created': input.droplet.createdAt,
      'org.opencontainers.image.title': input.app.name,
      'org.opencontainers.image.revision': input.droplet.guid,
    },
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { configBytes, configDigest, manifestBytes, manifestDigest: sha256Digest(manifestBytes) };
}
