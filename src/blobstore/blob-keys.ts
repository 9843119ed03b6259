/**
 * The blobstore key layout, in one place (distribution's paths.go):
 *
 *   blobs/sha256/<64 hex>   committed content, addressed by its digest
 *   staging/<uuid>          a write in progress; moved under blobs/ only when complete
 */
import { randomUUID } from 'node:crypto';

const DIGEST = /^sha256:([a-f0-9]{64})$/;

/** `blobs/sha256/<hex>` for a `sha256:<hex>` digest; throws on anything else. */
export function blobKey(digest: string): string {
  const match = DIGEST.exec(digest);
  if (!match) throw new TypeError(`not a sha256 digest: ${JSON.stringify(digest)}`);
  return `blobs/sha256/${match[1]}`;
}

/** A fresh `staging/<uuid>` key. */
export function newStagingKey(): string {
  return `staging/${randomUUID()}`;
}

export const STAGING_PREFIX = 'staging/';

const STAGING_KEY = /^staging\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Whether `key` is one `newStagingKey` makes: a sweep deletes only those, never what else lies
 * under `staging/` (another registry's blobs under a prefix `staging`, an operator's objects).
 */
export function isStagingKey(key: string): boolean {
  return STAGING_KEY.test(key);
}
export const BLOBS_PREFIX = 'blobs/sha256/';
