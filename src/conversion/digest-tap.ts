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

/** A running sha256 and byte count, fed by hand: for bytes a stage already sees (see reproducible-gzip.ts). */
export interface DigestCounter {
  update(bytes: Buffer): void;
  /** Ends the hash: `update` may not be called after. */
  finish(): void;
  /** `sha256:<hex>` of everything fed; only once finished. */
  digest(): string;
  /** Bytes fed; only once finished. */
  size(): number;
}

/** A fresh sha256 counter. */
export function createDigestCounter(): DigestCounter {
  const hash = createHash('sha256');
  let size = 0;
  let digest: string | null = null;
  const finished = (): string => {
    if (digest === null) throw new Error('the digest has not seen the end of its bytes');
    return digest;
  };
  return {
    update(bytes) {
      hash.update(bytes);
      size += bytes.length;
    },
    finish() {
      digest ??= `sha256:${hash.digest('hex')}`;
    },
    digest: finished,
    size() {
      finished();
      return size;
    },
  };
}

/** A fresh sha256 tap. */
export function createDigestTap(): DigestTap {
  const counter = createDigestCounter();
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      counter.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      counter.finish();
      callback();
    },
  });
  return { stream, digest: () => counter.digest(), size: () => counter.size() };
}
