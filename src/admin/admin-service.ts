/**
 * What the admin API does, between its routes and the database: the routes check parameters and
 * shape answers, this owns the queries (`db/queries/admin-*.ts`), the blobstore and droplet source
 * look-ups, conversion requests and garbage collection, and says in RegistryErrors what cannot be.
 */
import type { Knex } from 'knex';
import type { BlobStore } from '../blobstore/blob-store.ts';
import { listAdminConversions, type AdminConversionFilter, type AdminConversionRow } from '../db/queries/admin-conversions.ts';
import { deleteDropletImages, findDropletImages, listAdminImages, type AdminImageFilter, type AdminImageRow } from '../db/queries/admin-images.ts';
import { findAdminLayer, findLayerDropletGuids, listAdminLayers, type AdminLayerRow } from '../db/queries/admin-layers.ts';
import { listImportedLayers, type AdminImportedLayerRow } from '../db/queries/admin-rootfs.ts';
import { foundationRecordName } from '../db/queries/imported-layers.ts';
import type { LayerKind } from '../db/tables.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { BaseLayers } from '../images/base-layers.ts';
import type { ImageService } from '../images/image-service.ts';
import type { StorageBudget, StorageUsage } from '../images/storage-budget.ts';
import type { DropletSource } from '../sources/droplet-source.ts';
import type { GcReport } from '../workers/gc-report.ts';

/** The admin API's vocabulary, for its routes (which see the database only through this service). */
export { CONVERSION_STATES, type AdminConversionRow } from '../db/queries/admin-conversions.ts';
export { ADMIN_IMAGE_STATES, type AdminImageRow, type AdminImageState } from '../db/queries/admin-images.ts';
export { LAYER_KINDS, type AdminLayerRow } from '../db/queries/admin-layers.ts';
export type { ConversionState, LayerKind } from '../db/tables.ts';

/** The garbage collector, as `POST /admin/gc` uses it. */
export interface GarbageCollection {
  collect(options: { dryRun: boolean }): Promise<GcReport>;
}

/** What the admin service works with: the database it reports on, the blobstore it checks, the droplet source, the image service that converts, the configured base layers, garbage collection. */
export interface AdminDependencies {
  readonly db: Knex;
  readonly blobs: BlobStore;
  readonly source: DropletSource;
  readonly images: ImageService;
  readonly baseLayers: BaseLayers;
  /** Absent: garbage collection is UNAVAILABLE. */
  readonly gc?: GarbageCollection | undefined;
  /** The blobs' usage against the storage budget; absent: UNAVAILABLE. */
  readonly storage?: Pick<StorageBudget, 'usage'> | undefined;
}

/** Rows to skip and take. */
export interface PageWindow {
  readonly offset: number;
  readonly limit: number;
}

export interface PageOf<T> {
  readonly total: number;
  readonly rows: readonly T[];
}

/** One layer with what only the single-layer view asks: whether the blobstore has it, and which droplets use it. */
export interface AdminLayerDetail {
  readonly layer: AdminLayerRow;
  readonly present: boolean;
  readonly dropletGuids: readonly string[];
}

/** An image, and whether it is on the base new images of its stack are built on now. */
export interface AdminImage extends AdminImageRow {
  readonly baseCurrent: boolean;
}

/** An imported rootfs or lifecycle file, and whether new images are built on it now. */
export interface AdminImportedLayer extends AdminImportedLayerRow {
  readonly current: boolean;
}

/** How a requested conversion went: started now, or one was already under way. */
export type ConversionRequest = 'requested' | 'already-converting';

/** How many droplet guids the single-layer view lists; all of them are one images query away. */
const DROPLET_GUIDS_SHOWN = 100;

export class AdminService {
  readonly #deps: AdminDependencies;

  constructor(deps: AdminDependencies) {
    this.#deps = deps;
  }

  listLayers(filter: { kind?: LayerKind | undefined }, page: PageWindow): Promise<PageOf<AdminLayerRow>> {
    return listAdminLayers(this.#deps.db, filter, page);
  }

  /** BLOB_UNKNOWN when the registry has no such layer; UNAVAILABLE when the blobstore cannot say whether it has the blob. */
  async layer(digest: string): Promise<AdminLayerDetail> {
    const layer = await findAdminLayer(this.#deps.db, digest);
    if (!layer) throw new RegistryError('BLOB_UNKNOWN', `no layer ${digest} in this registry`, { detail: { digest } });
    const [present, dropletGuids] = await Promise.all([this.#isPresent(digest), findLayerDropletGuids(this.#deps.db, digest, DROPLET_GUIDS_SHOWN)]);
    return { layer, present, dropletGuids };
  }

  async listImages(filter: AdminImageFilter, page: PageWindow): Promise<PageOf<AdminImage>> {
    const { total, rows } = await listAdminImages(this.#deps.db, filter, page);
    return { total, rows: rows.map((image) => this.#withBaseCurrent(image)) };
  }

  /** The droplet's images, newest first; MANIFEST_UNKNOWN when it has none. */
  async dropletImages(dropletGuid: string): Promise<readonly AdminImage[]> {
    const images = await findDropletImages(this.#deps.db, dropletGuid);
    if (images.length === 0) throw new RegistryError('MANIFEST_UNKNOWN', `no image of droplet ${dropletGuid} in this registry`, { detail: { droplet_guid: dropletGuid } });
    return images.map((image) => this.#withBaseCurrent(image));
  }

  /** Whether the image is on the base new images of its stack are built on now (else its next pull by tag rebases it). */
  #withBaseCurrent(image: AdminImageRow): AdminImage {
    const { stacks, lifecycle } = this.#deps.baseLayers;
    const base = stacks.get(image.stack);
    const baseCurrent =
      base !== undefined && base.stack.digest === image.stackDigest && (base.foundation?.digest ?? null) === image.foundationDigest && lifecycle.digest === image.lifecycleDigest;
    return { ...image, baseCurrent };
  }

  /**
   * Converts the droplet in the background. MANIFEST_UNKNOWN when the droplet source does not
   * know it; CONFLICT when it cannot become an image here, or its image is ready and not `force`d.
   */
  async convertDroplet(dropletGuid: string, options: { force: boolean }): Promise<ConversionRequest> {
    const found = await this.#deps.source.lookupDroplet(dropletGuid);
    if (!found) throw new RegistryError('MANIFEST_UNKNOWN', `droplet ${dropletGuid} not found in the droplet source`, { detail: { droplet_guid: dropletGuid } });
    let outcome;
    try {
      outcome = await this.#deps.images.convertDropletNow(found.app, found.droplet, options);
    } catch (error) {
      // The droplet is there but cannot become an image here (not STAGED, docker, no rootfs for its stack).
      if (error instanceof RegistryError && error.code === 'MANIFEST_UNKNOWN') throw new RegistryError('CONFLICT', error.message, { detail: error.detail });
      throw error;
    }
    if (outcome === 'ready') {
      throw new RegistryError('CONFLICT', `the image of droplet ${dropletGuid} is ready; add force=true to convert it again`, { detail: { droplet_guid: dropletGuid, state: 'ready' } });
    }
    return outcome === 'requested' ? 'requested' : 'already-converting';
  }

  /** Removes the droplet's images; MANIFEST_UNKNOWN when it has none, CONFLICT while one is being converted. */
  async deleteDropletImages(dropletGuid: string): Promise<ReadonlyArray<{ id: number; state: string; manifestDigest: string | null }>> {
    const result = await deleteDropletImages(this.#deps.db, dropletGuid);
    if (result.outcome === 'absent') throw new RegistryError('MANIFEST_UNKNOWN', `no image of droplet ${dropletGuid} in this registry`, { detail: { droplet_guid: dropletGuid } });
    if (result.outcome === 'busy') {
      throw new RegistryError('CONFLICT', `droplet ${dropletGuid} is being converted; delete its images once the conversion has ended`, {
        detail: { droplet_guid: dropletGuid, converting_image_ids: result.imageIds },
      });
    }
    // This instance's warm-pull cache forgets them now; other instances' entries expire within a minute.
    this.#deps.images.forgetDroplet(dropletGuid);
    return result.images;
  }

  listConversions(filter: AdminConversionFilter, page: PageWindow): Promise<PageOf<AdminConversionRow>> {
    return listAdminConversions(this.#deps.db, filter, page);
  }

  async listImportedLayers(filter: { kind?: AdminImportedLayerRow['kind'] | undefined }, page: PageWindow): Promise<PageOf<AdminImportedLayer>> {
    const { total, rows } = await listImportedLayers(this.#deps.db, filter, page);
    const { stacks, lifecycle } = this.#deps.baseLayers;
    // The version new images are built on: the layer configured now for that stack (or the lifecycle).
    const current = (imported: AdminImportedLayerRow): boolean => {
      if (imported.kind === 'lifecycle') return lifecycle.digest === imported.layerDigest;
      if (imported.kind === 'rootfs') return stacks.get(imported.name)?.stack.digest === imported.layerDigest;
      // A foundation is recorded against its stack's tarball: `<stack>@<stack digest>`.
      const current = [...stacks].find(([name, base]) => foundationRecordName(name, base.stack.digest) === imported.name);
      return current?.[1].foundation?.digest === imported.layerDigest;
    };
    return { total, rows: rows.map((imported) => ({ ...imported, current: current(imported) })) };
  }

  /** UNAVAILABLE when this registry has no garbage collector. */
  async collectGarbage(options: { dryRun: boolean }): Promise<GcReport> {
    if (!this.#deps.gc) throw new RegistryError('UNAVAILABLE', 'garbage collection is not available in this registry');
    return this.#deps.gc.collect(options);
  }

  /** What the registry's blobs take against the storage budget (at most a few seconds old); UNAVAILABLE when this registry has no budget reader. */
  async storageUsage(): Promise<StorageUsage> {
    if (!this.#deps.storage) throw new RegistryError('UNAVAILABLE', 'storage usage is not available in this registry');
    return this.#deps.storage.usage();
  }

  async #isPresent(digest: string): Promise<boolean> {
    try {
      return (await this.#deps.blobs.stat(digest)) !== null;
    } catch (error) {
      throw new RegistryError('UNAVAILABLE', `the blobstore did not answer whether it has ${digest}: ${(error as Error).message}`, { retryAfter: 5, cause: error });
    }
  }
}
