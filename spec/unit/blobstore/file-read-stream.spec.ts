/**
 * What a client that stops reading can pin of the registry's memory through one streamed blob: the
 * buffers of the writes not yet flushed to its socket, never more than a few, however large the blob.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { FileReadStream } from '../../../src/blobstore/file-read-stream.ts';

const MiB = 1024 * 1024;

/** A response whose socket never flushes: write callbacks stay pending until it is destroyed. */
class StalledResponse extends EventEmitter {
  destroyed = false;
  readonly pending: Array<(error?: Error | null) => void> = [];
  bytesQueued = 0;

  write(chunk: Buffer, callback: (error?: Error | null) => void): boolean {
    this.bytesQueued += chunk.length;
    this.pending.push(callback);
    return false;
  }

  end(): void {
    assert.fail('a stalled response never ends');
  }

  destroy(): void {
    this.destroyed = true;
    for (const callback of this.pending.splice(0)) callback(new Error('socket destroyed'));
    this.emit('close');
  }
}

describe('FileReadStream to a client that stops reading', () => {
  let dir: string;
  let file: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'file-read-stream-'));
    file = join(dir, 'blob');
    await writeFile(file, Buffer.alloc(16 * MiB, 7));
  });

  after(() => rm(dir, { recursive: true, force: true }));

  it('queues at most 3 MiB for it, and closes the file once the response is dropped', async () => {
    const handle = await open(file);
    const stream = new FileReadStream(handle, { start: 0, end: 16 * MiB - 1 });
    const response = new StalledResponse();
    const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
    stream.writeToStream(response);
    while (response.pending.length < 3) await nextTurn();
    // Give it every chance to read on: a read is one thread-pool round trip.
    for (let i = 0; i < 50; i += 1) {
      await handle.stat();
      await nextTurn();
    }
    assert.equal(response.bytesQueued, 3 * MiB);
    response.destroy();
    await closed;
  });
});
