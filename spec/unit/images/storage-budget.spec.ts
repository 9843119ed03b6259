/**
 * The storage budget on a migrated embedded database: usage is the sum of every blob row
 * (unreferenced ones included), a conversion is refused at or over the budget with a 503, a
 * Retry-After, a warning naming usage and budget and a counted refusal, and never without a
 * budget. The refusal through the HTTP API is in spec/integration/images/storage-budget.spec.ts.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Knex } from 'knex';
import { RegistryError } from '../../../src/errors/registry-error.ts';
import { StorageBudget } from '../../../src/images/storage-budget.ts';
import { createLogger } from '../../../src/logger.ts';
import { RegistryMetrics } from '../../../src/metrics/registry-metrics.ts';
import { createMigratedPglite } from '../../support/migrated-pglite.ts';

let db: Knex;

before(async () => {
  db = await createMigratedPglite();
});

after(() => db?.destroy());

async function addBlob(name: string, size: number, unreferencedSince: Knex.Raw | null = null): Promise<void> {
  await db('blobs').insert({ digest: `sha256:${name.padEnd(64, '0')}`, size, media_type: 'application/octet-stream', unreferenced_since: unreferencedSince });
}

function budgetOf(budgetBytes: number) {
  const lines: Array<{ level: number; event?: string; usedBytes?: number; budgetBytes?: number; msg: string }> = [];
  const metrics = new RegistryMetrics();
  const budget = new StorageBudget({ db, budgetBytes, metrics: metrics.storage, logger: createLogger('info', { destination: { write: (line: string) => void lines.push(JSON.parse(line)) } }) });
  metrics.storage.observe(budget);
  return { budget, lines, metrics };
}

/** The value of an unlabelled metric in the text exposition. */
async function metricValue(metrics: RegistryMetrics, name: string): Promise<number> {
  const line = (await metrics.text()).split('\n').find((row) => row.startsWith(`droplet_registry_${name} `));
  assert.ok(line, `${name} is exposed`);
  return Number(line.split(' ')[1]);
}

describe('the storage budget', () => {
  beforeEach(async () => {
    await db('blobs').delete();
  });

  it('measures every blob, those unreferenced and waiting out the grace period included', async () => {
    await addBlob('a', 1_000);
    await addBlob('b', 24, db.raw('now()'));
    const { budget, metrics } = budgetOf(5_000);
    assert.deepEqual(await budget.usage(), { usedBytes: 1_024, blobCount: 2, budgetBytes: 5_000 });
    assert.equal(await metricValue(metrics, 'storage_used_bytes'), 1_024);
    assert.equal(await metricValue(metrics, 'storage_blobs'), 2);
    assert.equal(await metricValue(metrics, 'storage_budget_bytes'), 5_000);
  });

  it('reads the usage again once told to forget it', async () => {
    const { budget } = budgetOf(5_000);
    assert.equal((await budget.usage()).usedBytes, 0);
    await addBlob('a', 4_000);
    budget.forget();
    assert.equal((await budget.usage()).usedBytes, 4_000);
  });

  it('lets a conversion start below the budget', async () => {
    await addBlob('a', 4_999);
    const { budget, lines, metrics } = budgetOf(5_000);
    await budget.assertRoomForConversion();
    assert.deepEqual(lines, []);
    assert.equal(await metricValue(metrics, 'storage_conversions_refused_total'), 0);
  });

  it('refuses a conversion at the budget with a 503 and a Retry-After, logs usage and budget, and counts it', async () => {
    await addBlob('a', 3_000);
    await addBlob('b', 2_000, db.raw('now()'));
    const { budget, lines, metrics } = budgetOf(5_000);
    await assert.rejects(budget.assertRoomForConversion(), (error: unknown) => {
      assert.ok(error instanceof RegistryError);
      assert.equal(error.code, 'UNAVAILABLE');
      assert.equal(error.status, 503);
      assert.equal(error.retryAfter, 60);
      assert.match(error.message, /storage budget is used up/);
      return true;
    });
    assert.deepEqual(
      lines.map(({ level, event, usedBytes, budgetBytes }) => ({ level, event, usedBytes, budgetBytes })),
      [{ level: 40, event: 'storage.budget_exceeded', usedBytes: 5_000, budgetBytes: 5_000 }],
    );
    assert.match(lines[0]?.msg ?? '', /take 5000 bytes, the storage budget \(STORAGE_BUDGET_BYTES\) is 5000/);
    assert.equal(await metricValue(metrics, 'storage_conversions_refused_total'), 1);
  });

  it('never refuses without a budget, and reports none', async () => {
    await addBlob('a', Number.MAX_SAFE_INTEGER);
    const { budget, lines, metrics } = budgetOf(0);
    await budget.assertRoomForConversion();
    assert.deepEqual(lines, []);
    assert.equal(await metricValue(metrics, 'storage_budget_bytes'), 0);
    assert.equal((await budget.usage()).budgetBytes, 0);
  });
});
