/**
 * Row types of the registry's tables, as `createDatabase` returns them on both drivers: column
 * names unchanged, int8/bigint → `number`, timestamptz → `Date`, bytea → `Buffer`.
 * The schema itself is in `migrations/`.
 */

/** A committed blob (`blobs/sha256/<hex>` in the blobstore). */
export interface DbBlobRow {
  digest: string;
  size: number;
  media_type: string;
  created_at: Date;
  /** When garbage collection first found no image referencing it; deleted once that lasts the grace period. */
  unreferenced_since: Date | null;
}

export type LayerKind = 'rootfs' | 'foundation' | 'droplet' | 'lifecycle';

/** A layer blob, with its uncompressed identity (`diff_id`) and pull statistics. */
export interface DbLayerRow {
  digest: string;
  diff_id: string;
  kind: LayerKind;
  uncompressed_size: number;
  created_at: Date;
  last_pulled_at: Date | null;
  pull_count: number;
}

/** A rootfs, foundation or lifecycle file already imported, keyed by path, size and mtime. */
export interface DbImportedLayerRow {
  id: number;
  kind: 'rootfs' | 'foundation' | 'lifecycle';
  /** Stack name for a rootfs, `'lifecycle'` for the lifecycle. */
  name: string;
  path: string;
  file_size: number;
  file_mtime_ms: number;
  layer_digest: string;
  imported_at: Date;
}

export type ImageState = 'converting' | 'ready' | 'failed';

/** An image of one droplet on one base (stack, foundation, lifecycle); `manifest` holds the exact bytes served. */
export interface DbImageRow {
  id: number;
  droplet_guid: string;
  stack_digest: string;
  /** '' when the stack is used without a foundation layer. */
  foundation_digest: string;
  lifecycle_digest: string;
  app_guid: string;
  stack: string;
  state: ImageState;
  manifest_digest: string | null;
  manifest: Buffer | null;
  config_digest: string | null;
  error: string | null;
  /** False when the droplet itself is at fault: a new attempt would fail the same way. */
  retryable: boolean;
  attempts: number;
  instance: string | null;
  created_at: Date;
  updated_at: Date;
  converted_at: Date | null;
  conversion_ms: number | null;
  /** Last manifest pull (counted in memory, written every few seconds); garbage collection's retention starts here. */
  last_pulled_at: Date | null;
  pull_count: number;
}

/** What a droplet was converted into; its images on any base are assembled from these layers. */
export interface DbDropletRow {
  droplet_guid: string;
  app_guid: string;
  /** Bottom → top: `{digest, diffId, size, uncompressedSize, mediaType, role, depsIndex?}`. */
  layers: unknown;
  start_command: string | null;
  converted_at: Date;
}

/** A blob referenced by an image's manifest. */
export interface DbImageBlobRow {
  image_id: number;
  digest: string;
  position: number;
}

export type ConversionState = 'running' | 'succeeded' | 'failed';

/** One conversion attempt. */
export interface DbConversionRow {
  id: string;
  image_id: number;
  instance: string;
  state: ConversionState;
  error: string | null;
  started_at: Date;
  finished_at: Date | null;
  bytes_in: number | null;
  bytes_out: number | null;
}
