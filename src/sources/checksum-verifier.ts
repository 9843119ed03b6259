/**
 * Verifies a droplet's checksum while it streams, so a corrupt or tampered download fails its
 * conversion (and nothing is committed) without reading the droplet twice.
 */
import { createHash } from 'node:crypto';
import { pipeline, Transform, type Readable } from 'node:stream';
import { InvalidDropletError } from '../errors/registry-error.ts';

/** A pass-through that errors at the end when the bytes' digest is not `expected.value`. */
export function createChecksumVerifier(expected: { type: 'sha256' | 'sha1'; value: string }, what: string): Transform {
  const hash = createHash(expected.type);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      const actual = hash.digest('hex');
      if (actual === expected.value.toLowerCase()) callback();
      else callback(new InvalidDropletError(`${what} does not match its ${expected.type} checksum: expected ${expected.value}, got ${actual}`));
    },
  });
}

/** `stream` checked against `expected` when there is a checksum; read errors reach the consumer. */
export function verifyChecksum(stream: Readable, expected: { type: 'sha256' | 'sha1'; value: string } | null, what: string): Readable {
  if (!expected) return stream;
  const verifier = createChecksumVerifier(expected, what);
  pipeline(stream, verifier, () => {}); // errors are delivered by destroying `verifier`
  return verifier;
}
