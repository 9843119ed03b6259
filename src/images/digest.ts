/** sha256 digests in the OCI `algorithm:hex` form. */
import { createHash } from 'node:crypto';

/** `sha256:<hex>` of the bytes. */
export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Does the string have the OCI digest grammar (`algorithm:encoded`), whatever the algorithm? */
export function isDigestShaped(value: string): boolean {
  return /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(value);
}

/** Is it a sha256 digest this registry can hold (`sha256:` + 64 lower-case hex)? */
export function isSha256Digest(value: string): boolean {
  return /^sha256:[a-f0-9]{64}$/.test(value);
}
