import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { RegistryError } from '../../../src/errors/registry-error.ts';
import { readBoundedBody } from '../../../src/routes/bounded-body.ts';

describe('readBoundedBody', () => {
  it('reads a body up to the limit', async () => {
    const body = await readBoundedBody(Readable.from([Buffer.from('grant_type='), Buffer.from('password')]), undefined, 19);
    assert.equal(body.toString(), 'grant_type=password');
  });

  it('refuses a body past the limit with 413 SIZE_INVALID, leaving the rest unread', async () => {
    let pulled = 0;
    const endless = new Readable({
      read() {
        pulled += 1;
        this.push(Buffer.alloc(1024));
      },
    });
    await assert.rejects(readBoundedBody(endless, undefined, 4096), (error: unknown) => error instanceof RegistryError && error.code === 'SIZE_INVALID' && error.status === 413);
    assert.ok(pulled < 10, `read ${pulled} KiB of an endless body`);
    assert.equal(endless.destroyed, false, 'the request is left for the server to close after answering');
  });

  it('refuses a body whose Content-Length is over the limit before reading any of it', async () => {
    const body = new Readable({
      read() {
        assert.fail('read');
      },
    });
    await assert.rejects(readBoundedBody(body, String(10 * 1024 ** 3), 1024 * 1024), (error: unknown) => error instanceof RegistryError && error.status === 413);
  });
});
