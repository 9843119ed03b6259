import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImageKey, ImageState } from '../../../src/db/queries/images.ts';
import { ReadyImageCache } from '../../../src/images/ready-image-cache.ts';

function key(dropletGuid: string): ImageKey {
  return { dropletGuid, stackDigest: `sha256:${'1'.repeat(64)}`, foundationDigest: '', lifecycleDigest: `sha256:${'2'.repeat(64)}` };
}

function ready(id: number, state: ImageState['state'] = 'ready'): ImageState {
  return { id, appGuid: 'app', state, manifestDigest: `sha256:${String(id).repeat(64).slice(0, 64)}`, manifest: Buffer.from(`{"id":${id}}`), error: null, retryable: true, leaseHeld: false };
}

/** A cache on a clock the test moves. */
function cacheAt(options: { maxImages?: number; ttlMs?: number } = {}) {
  const clock = { now: 1_000_000 };
  return { cache: new ReadyImageCache({ ...options, now: () => clock.now }), clock };
}

describe('ReadyImageCache', () => {
  it('answers a ready image by key and by manifest digest until its TTL is up', () => {
    const { cache, clock } = cacheAt({ ttlMs: 60_000 });
    const image = ready(1);
    cache.rememberImage(key('d1'), 'app', image);
    assert.equal(cache.image(key('d1'))?.manifestDigest, image.manifestDigest);
    assert.equal(cache.imageByManifest('app', image.manifestDigest as string)?.id, 1);
    assert.equal(cache.imageByManifest('other-app', image.manifestDigest as string), undefined, 'another app’s repository does not see it');
    clock.now += 59_999;
    assert.ok(cache.image(key('d1')), 'reading it does not extend its life');
    clock.now += 1;
    assert.equal(cache.image(key('d1')), undefined);
    assert.equal(cache.imageByManifest('app', image.manifestDigest as string), undefined);
  });

  it('keeps nothing that is not ready', () => {
    const { cache } = cacheAt();
    cache.rememberImage(key('d1'), 'app', ready(1, 'converting'));
    cache.rememberImage(key('d2'), 'app', ready(2, 'failed'));
    cache.rememberManifest('app', ready(3, 'converting'));
    assert.equal(cache.image(key('d1')), undefined);
    assert.equal(cache.image(key('d2')), undefined);
    assert.equal(cache.imageByManifest('app', ready(3).manifestDigest as string), undefined);
  });

  it('forgets a droplet’s images on evictDroplet, and those found by digest alone, keeping the others', () => {
    const { cache } = cacheAt();
    cache.rememberImage(key('d1'), 'app', ready(1));
    cache.rememberImage(key('d2'), 'app', ready(2));
    cache.rememberManifest('app', ready(3));
    cache.evictDroplet('d1');
    assert.equal(cache.image(key('d1')), undefined);
    assert.equal(cache.imageByManifest('app', ready(1).manifestDigest as string), undefined);
    assert.equal(cache.imageByManifest('app', ready(3).manifestDigest as string), undefined);
    assert.equal(cache.image(key('d2'))?.id, 2);
  });

  it('keeps blob sizes per app until their TTL is up', () => {
    const { cache, clock } = cacheAt({ ttlMs: 60_000 });
    const digest = `sha256:${'a'.repeat(64)}`;
    cache.rememberBlobSize('app', digest, 123);
    assert.equal(cache.blobSize('app', digest), 123);
    assert.equal(cache.blobSize('other-app', digest), undefined);
    clock.now += 60_000;
    assert.equal(cache.blobSize('app', digest), undefined);
  });

  it('tells of every lookup and whether it hit', () => {
    const lookups: string[] = [];
    const cache = new ReadyImageCache({ onLookup: (lookup, hit) => lookups.push(`${lookup}:${hit ? 'hit' : 'miss'}`) });
    const image = ready(1);
    cache.image(key('d1'));
    cache.rememberImage(key('d1'), 'app', image);
    cache.image(key('d1'));
    cache.imageByManifest('app', image.manifestDigest as string);
    cache.blobSize('app', `sha256:${'a'.repeat(64)}`);
    assert.deepEqual(lookups, ['image:miss', 'image:hit', 'manifest:hit', 'blob_size:miss']);
  });

  it('drops the least recently used image beyond its bound', () => {
    const { cache } = cacheAt({ maxImages: 2 });
    cache.rememberImage(key('d1'), 'app', ready(1));
    cache.rememberImage(key('d2'), 'app', ready(2));
    assert.ok(cache.image(key('d1')));
    cache.rememberImage(key('d3'), 'app', ready(3));
    assert.ok(cache.image(key('d1')));
    assert.equal(cache.image(key('d2')), undefined);
    assert.ok(cache.image(key('d3')));
  });
});
