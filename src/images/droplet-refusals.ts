/** Why a droplet does not become an image of an app, as the client is told (MANIFEST_UNKNOWN: asking again gives the same answer). */
import { RegistryError } from '../errors/registry-error.ts';
import type { DropletFacts } from '../sources/droplet-source.ts';

/** MANIFEST_UNKNOWN for a droplet that cannot become an image (a retry would fail the same way). */
export function conversionFailed(droplet: DropletFacts, reason: string | null): RegistryError {
  const message = `droplet ${droplet.guid} cannot be converted: ${reason ?? 'unknown reason'}`;
  return new RegistryError('MANIFEST_UNKNOWN', message, { detail: { droplet: droplet.guid, reason } });
}

/**
 * MANIFEST_UNKNOWN for a droplet whose guid this registry knows as another app's droplet (the
 * directory source reads guids from file names; Cloud Controller's are unique). Its images and
 * layers are never served to, nor built for, this app; the other app is not named.
 */
export function dropletOfAnotherApp(droplet: DropletFacts): RegistryError {
  const reason = 'its guid is that of another app’s droplet in this registry; droplet guids must be unique (in a droplets folder, rename one of the files)';
  return new RegistryError('MANIFEST_UNKNOWN', `droplet ${droplet.guid} cannot become an image of this app: ${reason}`, { detail: { droplet: droplet.guid, reason } });
}
