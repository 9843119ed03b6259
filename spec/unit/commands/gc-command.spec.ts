import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatGcReport } from '../../../src/commands/gc-command.ts';
import type { GcReport } from '../../../src/workers/gc-report.ts';

const EMPTY: GcReport = {
  dryRun: false,
  startedAt: '2026-12-05T00:00:00Z',
  durationMs: 12,
  imagesRemoved: [],
  blobsRemoved: [],
  bytesFreed: 0,
  blobsMarked: 0,
  blobsPending: 0,
  blobsDeferred: 0,
  lookupFailures: 0,
  storage: null,
};

describe('formatGcReport', () => {
  it('says nothing of storage without a budget', () => {
    assert.doesNotMatch(formatGcReport(EMPTY), /storage/);
  });

  it('shows usage against the budget, and what eviction did when over it', () => {
    const under = formatGcReport({ ...EMPTY, storage: { budgetBytes: 10 * 2 ** 30, usedBytes: 2 ** 30, overBudget: false, targetBytes: 9 * 2 ** 30, blobsRemovedEarly: 0 } });
    assert.match(under, /^storage: 1\.0 GiB used of a 10\.0 GiB budget$/m);
    assert.doesNotMatch(under, /evicted/);
    const over = formatGcReport({
      ...EMPTY,
      dryRun: true,
      imagesRemoved: [
        { imageId: 1, dropletGuid: 'd1', appGuid: 'a1', state: 'ready', manifestDigest: null, reason: 'over-budget' },
        { imageId: 2, dropletGuid: 'd2', appGuid: 'a2', state: 'failed', manifestDigest: null, reason: 'failed' },
      ],
      storage: { budgetBytes: 10 * 2 ** 30, usedBytes: 11 * 2 ** 30, overBudget: true, targetBytes: 9 * 2 ** 30, blobsRemovedEarly: 3 },
    });
    assert.match(over, /^storage: 11\.0 GiB used of a 10\.0 GiB budget: over it, freeing down to 9\.0 GiB$/m);
    assert.match(over, /images evicted \(least recently pulled first\): 1; blobs to remove before their grace period: 3/);
  });
});
