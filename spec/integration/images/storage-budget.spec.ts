/**
 * The storage budget through the HTTP API, on the real composition (CAPI simulator, filesystem
 * blobstore, PostgreSQL and PGlite): a registry whose blobs take its budget refuses a conversion
 * with 503 UNAVAILABLE, a Retry-After and a warning naming usage and budget; `/metrics` and
 * `GET /admin/storage` show usage against the budget (and no budget when none is set); `POST /admin/gc` (dry, then real) evicts the
 * least recently pulled image first and makes room, after which the refused droplet converts and
 * the evicted image's next pull converts it again. The budget is set from the bytes a first
 * registry on the same database converted, so no size is assumed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServerInjectResponse } from '@hapi/hapi';
import type { Knex } from 'knex';
import { eachDatabase, type DatabaseVariant, type TestDatabase } from '../../support/test-database.ts';
import type { TestRegistry } from '../../support/test-registry.ts';
import { startPrewarmWorld, type PrewarmWorld } from '../workers/prewarm-world.ts';

type Json = Record<string, any>;

const usedBytes = async (db: Knex): Promise<number> => Number((await db('blobs').sum({ bytes: 'size' }).first())?.bytes ?? 0);

/** The value of a metric sample (`name{labels}`) in the text exposition; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((row) => row.startsWith(`droplet_registry_${series} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

for (const variant of eachDatabase()) {
  describe(`the storage budget through the HTTP API on ${variant.name}`, { skip: await variant.skipReason() }, () => {
    let world: PrewarmWorld;
    let database: TestDatabase | undefined;

    before(async () => {
      world = await startPrewarmWorld();
      database = variant.name === 'postgres' ? await (variant as DatabaseVariant).create() : undefined;
    });

    after(async () => {
      await database?.cleanup();
      await world?.stop();
    });

    const open = (env: Record<string, string>, dataDir?: string): Promise<TestRegistry> =>
      world.openRegistry({ databaseUrl: database?.url, dataDir, env: { GC_INTERVAL_MS: '0', ...(database ? { DATABASE_SCHEMA: database.schema } : {}), ...env } });
    const adminToken = () => world.cf.uaa.issueToken({ clientId: 'cf', username: world.seeded.users.admin.username });
    const pull = (registry: TestRegistry, app: string) => registry.registry.server.inject({ method: 'GET', url: `/v2/acme/development/${app}/manifests/latest` });

    it('refuses conversions at the budget with 503, shows usage in /metrics and the admin API, and garbage collection evicts the least recently pulled image to make room', async (t) => {
      // A registry without a budget converts two apps; the one pulled three days ago is the least recently pulled.
      const first = await open({});
      const old = world.push('budget-old');
      const recent = world.push('budget-recent');
      for (const app of ['budget-old', 'budget-recent']) assert.equal((await pull(first, app)).statusCode, 200);
      await first.registry.pulls.flush();
      const unbudgeted = await first.registry.server.inject({ method: 'GET', url: '/admin/storage', headers: { authorization: `bearer ${adminToken()}` } });
      assert.deepEqual(JSON.parse(unbudgeted.payload), {
        used_bytes: await usedBytes(first.registry.db),
        blob_count: Number((await first.registry.db('blobs').count({ n: '*' }).first())?.n),
        budget_bytes: null,
        available_bytes: null,
        over_budget: false,
      });
      const misspelt = await first.registry.server.inject({ method: 'GET', url: '/admin/storage?budget=1', headers: { authorization: `bearer ${adminToken()}` } });
      assert.equal(misspelt.statusCode, 400);
      assert.equal(JSON.parse(misspelt.payload).errors[0].code, 'PARAMETER_INVALID');
      await first.registry.db('images').where({ droplet_guid: old.guid }).update({ last_pulled_at: first.registry.db.raw(`now() - interval '3 days'`) });
      const budget = await usedBytes(first.registry.db);
      await first.close({ keepData: true });

      // The same database and blobstore with a budget of exactly what is there: at the budget.
      const test = await open({ STORAGE_BUDGET_BYTES: String(budget) }, first.dataDir);
      t.after(() => test.close());
      const { server, db } = test.registry;
      const admin = async (method: string, url: string): Promise<Json> => {
        const res = await server.inject({ method, url, headers: { authorization: `bearer ${adminToken()}` } });
        assert.equal(res.statusCode, 200, `${method} ${url}: ${res.payload}`);
        return JSON.parse(res.payload) as Json;
      };
      const metrics = async () => (await server.inject({ method: 'GET', url: '/metrics' })).payload;
      const blobCount = Number((await db('blobs').count({ n: '*' }).first())?.n);

      const fresh = world.push('budget-new');
      const refused: ServerInjectResponse = await pull(test, 'budget-new');
      assert.equal(refused.statusCode, 503, refused.payload);
      assert.equal(refused.headers['retry-after'], '60');
      const [error] = (JSON.parse(refused.payload) as { errors: Json[] }).errors;
      assert.equal(error?.code, 'UNAVAILABLE');
      assert.match(String(error?.message), /storage budget is used up/);
      const warning = test.logs.find((line) => line.event === 'storage.budget_exceeded');
      assert.deepEqual([warning?.level, warning?.usedBytes, warning?.budgetBytes], [40, budget, budget], 'a warning names usage and budget');
      assert.match(String(warning?.msg), new RegExp(`take ${budget} bytes, the storage budget \\(STORAGE_BUDGET_BYTES\\) is ${budget}`));

      assert.deepEqual(await admin('GET', '/admin/storage'), { used_bytes: budget, blob_count: blobCount, budget_bytes: budget, available_bytes: 0, over_budget: true });
      const before = await metrics();
      assert.equal(sample(before, 'storage_used_bytes'), budget);
      assert.equal(sample(before, 'storage_budget_bytes'), budget);
      assert.equal(sample(before, 'storage_blobs'), blobCount);
      assert.equal(sample(before, 'storage_conversions_refused_total'), 1);

      const dry = await admin('POST', '/admin/gc');
      assert.equal(dry.images_removed[0]?.droplet_guid, old.guid, 'the least recently pulled image goes first');
      assert.ok((dry.images_removed as Json[]).every((image) => image.reason === 'over-budget'));
      assert.deepEqual([dry.storage.over_budget, dry.storage.used_bytes, dry.storage.budget_bytes], [true, budget, budget]);
      assert.equal(await usedBytes(db), budget, 'a dry run removes nothing');

      const real = await admin('POST', '/admin/gc?dry_run=false');
      const summary = (report: Json) => [(report.images_removed as Json[]).map((image) => [image.droplet_guid, image.reason]), report.blobs_removed, report.storage];
      assert.deepEqual(summary(real), summary(dry), 'the dry run listed exactly what the real run removed');
      assert.equal(real.storage.blobs_removed_early, real.blobs_removed.length, 'every blob went without waiting out the grace period');
      const evicted = (real.images_removed as Json[]).map((image) => image.droplet_guid as string);
      assert.equal(await db('images').where({ droplet_guid: old.guid }).first(), undefined);
      if (!evicted.includes(recent.guid)) assert.ok(await db('images').where({ droplet_guid: recent.guid, state: 'ready' }).first(), 'the recently pulled image stays');

      const room = await admin('GET', '/admin/storage');
      assert.equal(room.over_budget, false);
      assert.ok(room.used_bytes <= Math.floor(budget * 0.9), `${room.used_bytes} is under 90 % of ${budget}`);
      assert.equal(sample(await metrics(), 'gc_images_removed_total{reason="over-budget"}'), evicted.length);

      const converted = await pull(test, 'budget-new');
      assert.equal(converted.statusCode, 200, `with room again, the refused droplet converts: ${converted.payload}`);
      assert.ok(await db('images').where({ droplet_guid: fresh.guid, state: 'ready' }).first());
      const again = await pull(test, 'budget-old');
      assert.equal(again.statusCode, 200, `the evicted image's next pull converts it again: ${again.payload}`);
    });
  });
}
