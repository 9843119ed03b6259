/**
 * A pass-through stage that reports the running byte count after each chunk: progress on the
 * compressed input, and the decompression-bomb limit on the gunzipped tar. Throwing from
 * `onBytes` fails the stream (and so the whole pipeline) with that error.
 */
import { Transform } from 'node:stream';

/** A meter calling `onBytes(total)` as bytes flow through. */
export function createByteMeter(onBytes: (total: number) => void): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      try {
        onBytes(total);
      } catch (error) {
        callback(error as Error);
        return;
      }
      callback(null, chunk);
    },
  });
}
