/**
 * An operator-supplied layer file (a stack rootfs, a lifecycle tarball) that cannot be used as is:
 * corrupt or truncated gzip, a broken tar, an entry that must not reach an image. A configuration
 * problem, so it names the file and what is wrong with it; droplets fail with `InvalidDropletError`.
 */
export class InvalidLayerFileError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'InvalidLayerFileError';
  }
}
