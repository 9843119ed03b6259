/**
 * The storage budget's eviction plan on its own: nothing while usage is under the budget; over it,
 * the sweep's blobs count first, then unreferenced blobs deleted early (oldest mark first), then
 * the least recently pulled images, each freeing only what nothing left refers to, stopping at
 * 90 % of the budget. What the collector does with the plan, on real databases, is in
 * spec/integration/workers/storage-budget-eviction.spec.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planEviction, type EvictionInput } from '../../../src/workers/storage-eviction.ts';

const STACK = 'sha256:stack';
const LIFECYCLE = 'sha256:lifecycle';

/** A registry of three images (ids 1–3, droplets d1–d3), each with a layer and a config of its own on the shared base layers. */
function registry(overrides: Partial<EvictionInput> = {}): EvictionInput {
  return {
    budgetBytes: 1_000,
    blobs: [
      { digest: STACK, size: 300 },
      { digest: LIFECYCLE, size: 100 },
      ...[1, 2, 3].flatMap((n) => [
        { digest: `sha256:layer-${n}`, size: 150 },
        { digest: `sha256:config-${n}`, size: 10 },
      ]),
    ],
    images: [1, 2, 3].map((n) => ({ id: n, dropletGuid: `d${n}`, digests: [STACK, LIFECYCLE, `sha256:layer-${n}`, `sha256:config-${n}`] })),
    droplets: new Map([1, 2, 3].map((n) => [`d${n}`, [`sha256:layer-${n}`]])),
    keep: [STACK, LIFECYCLE],
    removing: new Set(),
    sweepable: new Set(),
    candidates: [2, 3, 1],
    ...overrides,
  };
}

describe('the storage budget eviction plan', () => {
  it('evicts nothing and deletes nothing early while usage is under the budget', () => {
    const plan = planEviction(registry({ budgetBytes: 881 }));
    assert.deepEqual(plan, { usedBytes: 880, targetBytes: 792, overBudget: false, evict: [], deleteEarly: [], projectedBytes: 880 });
  });

  it('does nothing without a budget, however much the blobs take', () => {
    const plan = planEviction(registry({ budgetBytes: 0 }));
    assert.equal(plan.overBudget, false);
    assert.deepEqual(plan.evict, []);
  });

  it('at the budget, evicts the least recently pulled images until usage is at most 90 % of it, deleting what they alone used', () => {
    // 880 bytes against 790: down to 711 takes two images of 160 bytes.
    const plan = planEviction(registry({ budgetBytes: 790 }));
    assert.equal(plan.overBudget, true);
    assert.deepEqual(plan.evict, [2, 3], 'in the order given: least recently pulled first');
    assert.deepEqual(plan.deleteEarly, ['sha256:config-2', 'sha256:layer-2', 'sha256:config-3', 'sha256:layer-3']);
    assert.equal(plan.projectedBytes, 560);
  });

  it('evicts one image when that is enough', () => {
    const plan = planEviction(registry({ budgetBytes: 880 }));
    assert.deepEqual({ evict: plan.evict, projected: plan.projectedBytes, target: plan.targetBytes }, { evict: [2], projected: 720, target: 792 });
  });

  it('counts a blob another image still uses as freeing nothing, and frees it with the last image using it', () => {
    const base = registry();
    const images = base.images.map((image) => (image.id === 3 ? { ...image, digests: [STACK, LIFECYCLE, 'sha256:layer-2', 'sha256:config-3'] } : image));
    const blobs = base.blobs.filter((blob) => blob.digest !== 'sha256:layer-3');
    // 730 bytes against 730: image 2 frees only its config (its layer is image 3's too), image 3 then the shared layer and its config.
    const plan = planEviction(registry({ budgetBytes: 730, blobs, images, droplets: new Map([['d1', ['sha256:layer-1']]]) }));
    assert.deepEqual(plan.evict, [2, 3]);
    assert.deepEqual(plan.deleteEarly, ['sha256:config-2', 'sha256:layer-2', 'sha256:config-3']);
    assert.equal(plan.projectedBytes, 560);
  });

  it("keeps a droplet's converted layers while another image of that droplet remains", () => {
    const images = [...registry().images, { id: 4, dropletGuid: 'd2', digests: [STACK, LIFECYCLE, 'sha256:config-4'] }];
    const blobs = [...registry().blobs, { digest: 'sha256:config-4', size: 10 }];
    const plan = planEviction(registry({ budgetBytes: 890, blobs, images, candidates: [2, 3] }));
    assert.deepEqual(plan.evict, [2, 3]);
    assert.deepEqual(plan.deleteEarly, ['sha256:config-2', 'sha256:config-3', 'sha256:layer-3'], "layer-2 stays: d2's row is kept for image 4");
    assert.equal(plan.projectedBytes, 720);
  });

  it("counts the sweep's blobs, then deletes unreferenced blobs early, before evicting any image", () => {
    const blobs = [{ digest: 'sha256:marked-long-ago', size: 20 }, { digest: 'sha256:past-grace', size: 50 }, { digest: 'sha256:marked-lately', size: 10 }, ...registry().blobs];
    // 960 bytes against 960 (target 864): the sweep frees 50, early deletions 20 + 10 reach 880; one image more reaches 720.
    const plan = planEviction(registry({ budgetBytes: 960, blobs, sweepable: new Set(['sha256:past-grace']) }));
    assert.deepEqual(plan.evict, [2]);
    assert.deepEqual(plan.deleteEarly, ['sha256:marked-long-ago', 'sha256:marked-lately', 'sha256:config-2', 'sha256:layer-2']);
    assert.equal(plan.projectedBytes, 720);
  });

  it('deletes early only as many unreferenced blobs as the target needs', () => {
    const blobs = [{ digest: 'sha256:old', size: 150 }, { digest: 'sha256:newer', size: 100 }, ...registry().blobs];
    const plan = planEviction(registry({ budgetBytes: 1_130, blobs }));
    assert.deepEqual({ evict: plan.evict, deleteEarly: plan.deleteEarly }, { evict: [], deleteEarly: ['sha256:old'] }, '1130 - 150 = 980 is under 1017');
  });

  it('counts the images the run removes anyway as gone, and never picks them', () => {
    // 880 against 790 (target 711): image 2's blobs go early (730, then 720), then image 3 is evicted.
    const plan = planEviction(registry({ budgetBytes: 790, removing: new Set([2]) }));
    assert.deepEqual(plan.evict, [3]);
    assert.deepEqual(plan.deleteEarly, ['sha256:layer-2', 'sha256:config-2', 'sha256:config-3', 'sha256:layer-3']);
  });

  it('stops when no candidate is left, even above the target', () => {
    const plan = planEviction(registry({ budgetBytes: 500, candidates: [1] }));
    assert.deepEqual(plan.evict, [1]);
    assert.equal(plan.projectedBytes, 720, 'the images not offered (a held lease, not ready) and the base layers stay');
  });
});
