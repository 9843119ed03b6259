/**
 * A pass-through stage that hashes and counts what flows through it, so a layer's digest, diff_id
 * and sizes come out of the one pass that writes it (nixery's `io.MultiWriter(shasum, …)`).
 */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

/** A tap and what it found. */
export interface DigestTap {
  /** Put this in the pipeline. */
  readonly stream: Transform;
  /** `sha256:<hex>` of everything that went through; only once the stream has ended. */
  digest(): string;
  /** Bytes that went through; only once the stream has ended. */
  size(): number;
}

/** A fresh sha256 tap. */
export function createDigestTap(): DigestTap {
  const hash = createHash('sha256');
  let size = 0;
  let digest: string | null = null;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      digest = `sha256:${hash.digest('hex')}`;
      callback();
    },
  });
  const ended = (): string => {
    if (digest === null) throw new Error('the digest tap has not seen the end of its stream');
    return digest;
  };
  return {
    stream,
    digest: ended,
    size() {
      ended();
      return size;
    },
  };
}
