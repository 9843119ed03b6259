/**
 * Where apps and droplets come from. The directory source reads a folder; the CAPI source
 * (Cloud Controller v3) reads a foundation. Both answer in Cloud Foundry's own terms so image
 * assembly does not care which one it talks to.
 */
import type { Readable } from 'node:stream';

/** An app found behind a repository name `org/space/app`. */
export interface AppRef {
  readonly guid: string;
  readonly name: string;
  readonly space: { readonly guid: string; readonly name: string };
  readonly org: { readonly guid: string; readonly name: string };
}

/** What the registry needs to know of a droplet (a subset of CAPI's v3 droplet object). */
export interface DropletFacts {
  readonly guid: string;
  readonly appGuid: string;
  /** CAPI droplet states: STAGED, STAGING, FAILED, EXPIRED, … Only STAGED droplets become images. */
  readonly state: string;
  /** `buildpack`, `docker` or `cnb`; only buildpack droplets have a rootfs + droplet shape. */
  readonly lifecycleType: string;
  readonly stack: string | null;
  /** Process type → command; `null` when unknown (then staging_info.yml's start_command is used). */
  readonly processTypes: Readonly<Record<string, string>> | null;
  readonly buildpacks: ReadonlyArray<{ readonly name: string; readonly version?: string | null }>;
  /** ISO 8601 timestamp; becomes the image's `created`. */
  readonly createdAt: string;
  readonly checksum: { readonly type: 'sha256' | 'sha1'; readonly value: string } | null;
}

export interface DropletSource {
  /** The app behind `org/space/app` (repository name components); NAME_UNKNOWN when there is none. */
  findApp(org: string, space: string, app: string): Promise<AppRef>;
  /** The app with this guid (the `/v2/<app-guid>/…` form); NAME_UNKNOWN when there is none. */
  findAppByGuid(appGuid: string): Promise<AppRef>;
  /** The app's current droplet (tag `latest`); MANIFEST_UNKNOWN when it has none. */
  currentDroplet(app: AppRef): Promise<DropletFacts>;
  /** One of the app's droplets by guid; MANIFEST_UNKNOWN when it is not this app's. */
  findDroplet(app: AppRef, dropletGuid: string): Promise<DropletFacts>;
  /**
   * Any droplet by guid, with the app it belongs to, for callers that know only the droplet (the
   * admin API, garbage collection). `null` when Cloud Controller (or the folder) has no such
   * droplet; a source that cannot be reached throws (UNAVAILABLE) rather than answer `null`, so
   * "gone" is never inferred from an outage.
   */
  lookupDroplet(dropletGuid: string): Promise<{ app: AppRef; droplet: DropletFacts } | null>;
  /** The app's STAGED droplets, for `tags/list`. */
  listStagedDroplets(app: AppRef): Promise<DropletFacts[]>;
  /** The droplet's `.tgz` bytes, streamed; checksum verified by the source where it has one. */
  openDroplet(app: AppRef, droplet: DropletFacts, options?: { signal?: AbortSignal }): Promise<Readable>;
}
