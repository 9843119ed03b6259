/**
 * What a droplet becomes here: one droplet on one rootfs with one lifecycle is one image, so a
 * restage or a patched rootfs is a new image (its key says which). A droplet that cannot become an
 * image here is MANIFEST_UNKNOWN, with the reason.
 */
import type { LayerDescriptor } from '../conversion/layer-descriptor.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { DropletFacts } from '../sources/droplet-source.ts';
import type { BaseLayers } from './base-layers.ts';
import type { ImageKey } from './image-records.ts';

export interface ImageTarget {
  readonly key: ImageKey;
  readonly stack: string;
  readonly rootfs: LayerDescriptor;
  readonly lifecycle: LayerDescriptor;
}

export function imageTarget(droplet: DropletFacts, baseLayers: BaseLayers): ImageTarget {
  const { stack } = droplet;
  if (droplet.lifecycleType !== 'buildpack') throw notConvertible(droplet, `droplet ${droplet.guid} has the ${droplet.lifecycleType} lifecycle; only buildpack droplets become images`);
  if (droplet.state !== 'STAGED') throw notConvertible(droplet, `droplet ${droplet.guid} is ${droplet.state}, not STAGED`);
  if (!stack) throw notConvertible(droplet, `droplet ${droplet.guid} names no stack`);
  const rootfs = baseLayers.rootfs.get(stack);
  if (!rootfs) throw notConvertible(droplet, `stack ${stack} of droplet ${droplet.guid} has no rootfs configured in this registry`);
  const { lifecycle } = baseLayers;
  return { key: { dropletGuid: droplet.guid, rootfsDigest: rootfs.digest, lifecycleDigest: lifecycle.digest }, stack, rootfs, lifecycle };
}

function notConvertible(droplet: DropletFacts, reason: string): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', reason, { detail: { droplet: droplet.guid, reason } });
}
