/**
 * A request body read up to a limit, for routes that take theirs unread (`output: 'stream'`).
 * hapi's own reading answers a body over its limit only after reading the rest of it (one that
 * never ends holds the connection until REQUEST_TIMEOUT_MS); here the answer is 413 at once, and
 * hapi closes the connection, since the body was left unread.
 */
import type { Readable } from 'node:stream';
import { RegistryError } from '../errors/registry-error.ts';

/** The body of up to `maxBytes`; 413 `SIZE_INVALID` for a larger one, or one whose Content-Length says so. */
export async function readBoundedBody(body: Readable, contentLength: string | undefined, maxBytes: number): Promise<Buffer> {
  if (contentLength !== undefined && Number(contentLength) > maxBytes) throw bodyTooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  // Left undestroyed when given up on: destroying a request closes its connection before the 413 goes out.
  for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw bodyTooLarge(maxBytes);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function bodyTooLarge(maxBytes: number): RegistryError {
  return new RegistryError('SIZE_INVALID', `request body larger than ${maxBytes} bytes`, { status: 413, detail: { limit: maxBytes } });
}
