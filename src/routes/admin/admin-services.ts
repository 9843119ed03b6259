/**
 * What the admin endpoints work with, handed over by `main` through `createServer`: the database
 * they report on, the blobstore they check, the droplet source they look droplets up in, the
 * image service that converts, the configured base layers and garbage collection.
 */
import type { Request } from '@hapi/hapi';
import type { Knex } from 'knex';
import type { OriginSettings } from '../../auth/registry-origin.ts';
import type { BlobStore } from '../../blobstore/blob-store.ts';
import type { BaseLayers } from '../../images/base-layers.ts';
import type { ImageService } from '../../images/image-service.ts';
import type { DropletSource } from '../../sources/droplet-source.ts';
import type { GcReport } from '../../workers/gc-report.ts';
import { requestOrigin } from '../request-origin.ts';

/** The garbage collector, as `POST /admin/gc` uses it. */
export interface GarbageCollection {
  collect(options: { dryRun: boolean }): Promise<GcReport>;
}

export interface AdminServices {
  readonly db: Knex;
  readonly blobs: BlobStore;
  readonly source: DropletSource;
  readonly images: ImageService;
  readonly baseLayers: BaseLayers;
  /** Absent: `POST /admin/gc` answers 503. */
  readonly gc?: GarbageCollection | undefined;
  /** How the registry names itself in links (PUBLIC_URL, else the request's Host). */
  readonly origin: OriginSettings;
}

/** The registry's URL as the caller reached it, for the links of an answer. */
export function baseUrl(request: Request, services: AdminServices): string {
  return requestOrigin(request, services.origin).url;
}

/** A timestamp in answers: ISO 8601, or null. */
export function isoTime(at: Date | null): string | null {
  return at === null ? null : at.toISOString();
}
