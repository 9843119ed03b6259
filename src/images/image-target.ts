/**
 * What a droplet becomes here: one droplet on one base (its stack's layer, the foundation's, the
 * lifecycle) is one image, so a restage or a new base is a new image (its key says which). The
 * droplet's own layers depend on the droplet alone: a new base reuses them (a rebase). A droplet
 * that cannot become an image here is MANIFEST_UNKNOWN, with the reason.
 */
import { RegistryError } from '../errors/registry-error.ts';
import type { DropletFacts } from '../sources/droplet-source.ts';
import type { ImageBase } from './assemble-image.ts';
import type { BaseLayers } from './base-layers.ts';
import type { ImageKey } from './image-records.ts';

export interface ImageTarget {
  readonly key: ImageKey;
  /** The stack's name. */
  readonly stack: string;
  readonly base: ImageBase;
}

export function imageTarget(droplet: DropletFacts, baseLayers: BaseLayers): ImageTarget {
  const { stack } = droplet;
  if (droplet.lifecycleType !== 'buildpack') throw notConvertible(droplet, `droplet ${droplet.guid} has the ${droplet.lifecycleType} lifecycle; only buildpack droplets become images`);
  if (droplet.state !== 'STAGED') throw notConvertible(droplet, `droplet ${droplet.guid} is ${droplet.state}, not STAGED`);
  if (!stack) throw notConvertible(droplet, `droplet ${droplet.guid} names no stack`);
  const stackBase = baseLayers.stacks.get(stack);
  if (!stackBase) throw notConvertible(droplet, `stack ${stack} of droplet ${droplet.guid} has no rootfs configured in this registry`);
  const base: ImageBase = { ...stackBase, lifecycle: baseLayers.lifecycle };
  return { key: imageKey(droplet.guid, base), stack, base };
}

export function imageKey(dropletGuid: string, base: ImageBase): ImageKey {
  return { dropletGuid, stackDigest: base.stack.digest, foundationDigest: base.foundation?.digest ?? '', lifecycleDigest: base.lifecycle.digest };
}

function notConvertible(droplet: DropletFacts, reason: string): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', reason, { detail: { droplet: droplet.guid, reason } });
}
