/**
 * What the rest of the registry needs to know about a stored layer blob: enough to write its
 * manifest entry (digest, size, media type) and its image-config `rootfs.diff_ids` entry, without
 * reading the blob again.
 */
export interface LayerDescriptor {
  /** `sha256:<hex>` of the stored (compressed) bytes: the blob's name in the blobstore and manifest. */
  digest: string;
  /** `sha256:<hex>` of the uncompressed tar: what `rootfs.diff_ids` lists. */
  diffId: string;
  /** Stored bytes. */
  size: number;
  /** Bytes of the uncompressed tar. */
  uncompressedSize: number;
  mediaType: string;
}

/** Media type of a gzip-compressed layer: every layer this registry builds, and gzip rootfs files. */
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** Media type of an uncompressed layer: a rootfs file that was shipped as a plain tar. */
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
