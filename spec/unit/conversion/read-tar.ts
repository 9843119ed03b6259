/**
 * Reads a tar (or a stored gzip layer) back into headers and contents, so conversion tests assert
 * on what `docker pull` would unpack rather than on bytes.
 */
import { gunzipSync } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import type { MemoryBlobStore } from '../../support/memory-blob-store.ts';

/** One entry read back: its header and its whole body. */
export interface ReadEntry {
  readonly header: Header;
  readonly content: Buffer;
}

/** Every entry of an uncompressed tar, in order. */
export async function readTar(bytes: Buffer): Promise<ReadEntry[]> {
  const extract = tar.extract();
  extract.end(bytes);
  const entries: ReadEntry[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    entries.push({ header: entry.header, content: Buffer.concat(chunks) });
  }
  return entries;
}

/** Every entry of a committed gzip layer. */
export async function readLayer(blobs: MemoryBlobStore, digest: string): Promise<ReadEntry[]> {
  return readTar(gunzipSync(blobs.bytes(digest)));
}

/** Entry names, in order. */
export function names(entries: readonly ReadEntry[]): string[] {
  return entries.map((entry) => entry.header.name);
}
