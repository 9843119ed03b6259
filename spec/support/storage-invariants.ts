/**
 * What must hold of a registry's database and blobstore after any failure, once it is quiet:
 * no blob in the store without a row (nothing half-written became visible), no row or ready image
 * pointing at a blob the store lacks, every served manifest matching its digest, no image left
 * "converting" and no conversion left "running", and no staged write left behind.
 */
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Knex } from 'knex';
import type { BlobStore } from '../../src/blobstore/blob-store.ts';

export interface StorageUnderTest {
  readonly db: Knex;
  readonly blobs: BlobStore;
  /** The filesystem store's root (`blobs/` and `staging/` in it). */
  readonly fsRoot: string;
}

/** Every broken invariant, in words; empty when all hold. */
export async function storageProblems({ db, blobs, fsRoot }: StorageUnderTest): Promise<string[]> {
  const problems: string[] = [];
  const files = await readdir(join(fsRoot, 'blobs', 'sha256')).catch(() => [] as string[]);
  const rows = new Set((await db('blobs').select('digest')).map((row: { digest: string }) => row.digest));
  for (const hex of files) if (!rows.has(`sha256:${hex}`)) problems.push(`blob sha256:${hex} is in the store without a row`);
  for (const digest of rows) if ((await blobs.stat(digest)) === null) problems.push(`row ${digest} has no blob in the store`);
  const ready = await db('images').where({ state: 'ready' }).select('id', 'manifest', 'manifest_digest');
  for (const image of ready as Array<{ id: number; manifest: Buffer; manifest_digest: string }>) {
    const actual = `sha256:${createHash('sha256').update(image.manifest).digest('hex')}`;
    if (actual !== image.manifest_digest) problems.push(`image ${image.id} serves a manifest that is not ${image.manifest_digest}`);
    const manifest = JSON.parse(image.manifest.toString('utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
    for (const { digest } of [manifest.config, ...manifest.layers]) {
      if ((await blobs.stat(digest)) === null) problems.push(`ready image ${image.id} points at ${digest}, missing from the store`);
    }
  }
  for (const image of await db('images').where({ state: 'converting' }).select('id')) problems.push(`image ${image.id} is still "converting"`);
  for (const run of await db('conversions').where({ state: 'running' }).select('id')) problems.push(`conversion ${run.id} is still "running"`);
  const staged = await readdir(join(fsRoot, 'staging')).catch(() => [] as string[]);
  if (staged.length > 0) problems.push(`staged writes left behind: ${staged.join(', ')}`);
  return problems;
}
