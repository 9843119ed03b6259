import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { RegistryError } from '../../../src/errors/registry-error.ts';
import { BlobStreamSlots } from '../../../src/routes/blob-stream-slots.ts';

function refusal(hold: () => void): RegistryError {
  try {
    hold();
  } catch (error) {
    if (error instanceof RegistryError) return error;
    throw error;
  }
  assert.fail('the slot was given');
}

describe('BlobStreamSlots', () => {
  it('gives a client its slots, then answers 429 with Retry-After; other clients have their own', () => {
    const slots = new BlobStreamSlots(2);
    slots.hold('192.0.2.1', new EventEmitter());
    slots.hold('192.0.2.1', new EventEmitter());
    const refused = refusal(() => slots.hold('192.0.2.1', new EventEmitter()));
    assert.equal(refused.code, 'TOOMANYREQUESTS');
    assert.equal(refused.status, 429);
    assert.ok((refused.retryAfter ?? 0) > 0);
    slots.hold('192.0.2.2', new EventEmitter());
  });

  it('frees a slot once when its response finishes or closes, whichever comes first', () => {
    const slots = new BlobStreamSlots(1);
    const first = new EventEmitter();
    slots.hold('192.0.2.1', first);
    first.emit('finish');
    first.emit('close');
    const second = new EventEmitter();
    slots.hold('192.0.2.1', second);
    refusal(() => slots.hold('192.0.2.1', new EventEmitter()));
    second.emit('close');
    slots.hold('192.0.2.1', new EventEmitter());
  });
});
