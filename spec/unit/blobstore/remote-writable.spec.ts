import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { RemoteWritable } from '../../../src/blobstore/remote-writable.ts';

/** A request body that is read as a server would, and the store's answer, settled by the test. */
function fakeRequest() {
  const sink = new PassThrough();
  const received: Buffer[] = [];
  sink.on('data', (chunk: Buffer) => received.push(chunk));
  const answer = Promise.withResolvers<void>();
  return { sink, received, answer, writable: new RemoteWritable(sink, answer.promise) };
}

describe('RemoteWritable', () => {
  it('finishes only once the store has acknowledged the whole write', async () => {
    const { sink, received, answer, writable } = fakeRequest();
    writable.end(Buffer.from('staged bytes'));
    await once(sink, 'end');
    assert.equal(Buffer.concat(received).toString(), 'staged bytes');
    assert.equal(writable.writableFinished, false, 'sent is not stored');

    answer.resolve();
    await finished(writable);
    assert.equal(writable.bytesWritten, 'staged bytes'.length);
  });

  it('fails with the store’s error when the store refuses the write', async () => {
    const { answer, writable } = fakeRequest();
    writable.write(Buffer.from('partial'));
    const refused = new Error('401 Unauthorized');
    answer.reject(refused);
    await assert.rejects(finished(writable), refused);
  });

  it('aborts the request when destroyed, and closes only once the store has answered', async () => {
    const { sink, answer, writable } = fakeRequest();
    writable.write(Buffer.from('abandoned'));
    const sinkClosed = new Promise((resolve) => sink.once('close', resolve));
    writable.destroy();
    await sinkClosed;
    assert.ok(sink.errored, 'the request was aborted');
    assert.equal(writable.closed, false, 'the store has not answered yet');

    answer.reject(new Error('socket hang up'));
    await once(writable, 'close');
    assert.equal(writable.writableFinished, false);
  });
});
