/**
 * The pre-warmer against the CAPI + UAA simulator, inside a registry built in-process, on
 * PostgreSQL and PGlite: staged droplets become images before any pull, the cursor misses nothing
 * and repeats nothing (same second, restarts, CAPI failures), droplets that cannot become images
 * are skipped. Rounds are driven with `runOnce()` so every assertion follows a known round.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { waitFor } from '../../support/clients/wait-for.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import type { TestRegistry } from '../../support/test-registry.ts';
import { conversionsLogged, prewarmerOf, startPrewarmWorld, type PrewarmWorld } from './prewarm-world.ts';

/** The `prewarm.warmed` log lines: one per warm, with its outcome. */
function warms(registry: TestRegistry): Array<{ app: string; droplet: string; outcome: string; trigger: string }> {
  return registry.logs.filter((line) => line.event === 'prewarm.warmed') as never;
}

for (const db of eachDatabase()) {
  describe(`pre-warmer (${db.name})`, { skip: await db.skipReason() }, () => {
    let world: PrewarmWorld;
    let database: TestDatabase | undefined;
    let opened: TestRegistry[];

    /** A registry on this test's database; closed after the test unless the test closed it. */
    const open = async (options: { dataDir?: string; env?: Record<string, string> } = {}): Promise<TestRegistry> => {
      const registry = await world.openRegistry({ databaseUrl: database?.url, ...options });
      opened.push(registry);
      return registry;
    };
    /** Stops a registry but keeps its data directory (and PGlite database) for a restart. */
    const shutDown = async (registry: TestRegistry): Promise<void> => {
      opened.splice(opened.indexOf(registry), 1);
      await registry.close({ keepData: true });
    };

    beforeEach(async () => {
      world = await startPrewarmWorld();
      database = db.name === 'postgres' ? await db.create() : undefined;
      opened = [];
    });

    afterEach(async () => {
      for (const registry of opened) await registry.close();
      await database?.cleanup();
      await world.stop();
    });

    it('on first start, warms the current droplets of the most recently updated apps and replays no earlier event', async () => {
      world.cf.foundation.advanceTime(10);
      const older = world.push('older');
      world.cf.foundation.advanceTime(10);
      const newer = world.push('newer');
      const registry = await open({ env: { PREWARM_INITIAL_APPS: '2' } });
      const prewarmer = prewarmerOf(registry);

      assert.equal(await prewarmer.runOnce(), 'initialized');
      assert.deepEqual(
        warms(registry).map(({ droplet, outcome, trigger }) => ({ droplet, outcome, trigger })).sort((a, b) => a.droplet.localeCompare(b.droplet)),
        [older, newer].map((droplet) => ({ droplet: droplet.guid, outcome: 'converted', trigger: 'initial' })).sort((a, b) => a.droplet.localeCompare(b.droplet)),
      );
      assert.equal(world.cf.requests.count('GET /v3/apps'), 1, 'one page of apps, not the whole foundation');

      assert.equal(await prewarmer.runOnce(), 'followed');
      assert.deepEqual(prewarmer.counters, { eventsSeen: 0, conversions: 2, alreadyReady: 0, skipped: 0, failures: 0, givenUp: 0, lastLagSeconds: null });
    });

    it('once started, converts a freshly staged droplet before any pull, so the pull converts nothing', async () => {
      const registry = await open();
      const prewarmer = prewarmerOf(registry);
      await prewarmer.runOnce(); // the first start, so the push below comes after "now"
      prewarmer.start();
      world.cf.foundation.advanceTime(1);
      const droplet = world.push('fresh');

      await waitFor('the pre-warmer to convert the new droplet', () => prewarmer.counters.conversions === 1, { timeoutMs: 30_000, details: () => JSON.stringify(registry.logs.slice(-5)) });
      assert.deepEqual(
        warms(registry).map(({ droplet: guid, outcome, trigger }) => ({ guid, outcome, trigger })),
        [{ guid: droplet.guid, outcome: 'converted', trigger: 'event' }],
      );
      assert.equal(conversionsLogged(registry), 1);
      assert.equal(prewarmer.counters.eventsSeen, 2, 'build.staged and droplet.mapped, one warm');

      const pull = await registry.registry.server.inject({ method: 'GET', url: '/v2/acme/development/fresh/manifests/latest' });
      assert.equal(pull.statusCode, 200, pull.payload);
      assert.equal(conversionsLogged(registry), 1, 'the pull found the image ready');
    });

    it('handles every event of a second, including those that arrive after a round has read that second', async () => {
      const registry = await open();
      const prewarmer = prewarmerOf(registry);
      await prewarmer.runOnce();
      world.cf.foundation.advanceTime(1);
      const first = ['one', 'two', 'three'].map((name) => world.push(name));

      await prewarmer.runOnce();
      assert.deepEqual(
        warms(registry).map((line) => line.droplet).sort(),
        first.map((droplet) => droplet.guid).sort(),
      );
      const late = world.push('four'); // the same second as the three before
      await prewarmer.runOnce();
      await prewarmer.runOnce();

      assert.deepEqual(warms(registry).at(-1), { ...warms(registry).at(-1), droplet: late.guid, outcome: 'converted' });
      assert.deepEqual(prewarmer.counters, { ...prewarmer.counters, eventsSeen: 8, conversions: 4, alreadyReady: 0 });
    });

    it('resumes from its cursor after a restart: an event staged meanwhile is converted, none twice', async () => {
      const first = await open();
      await prewarmerOf(first).runOnce();
      world.cf.foundation.advanceTime(1);
      const before = world.push('before-restart');
      await prewarmerOf(first).runOnce();
      assert.equal(prewarmerOf(first).counters.conversions, 1);
      await shutDown(first);

      const sameSecond = world.push('same-second-while-stopped');
      world.cf.foundation.advanceTime(1);
      const later = world.push('later-while-stopped');
      const second = await open({ dataDir: first.dataDir });
      const prewarmer = prewarmerOf(second);
      assert.equal(await prewarmer.runOnce(), 'followed', 'the cursor survived the restart');

      assert.deepEqual(warms(second).map((line) => line.droplet).sort(), [sameSecond.guid, later.guid].sort());
      assert.ok(!warms(second).some((line) => line.droplet === before.guid), 'the droplet converted before the restart is not warmed again');
      assert.deepEqual(prewarmer.counters, { ...prewarmer.counters, eventsSeen: 4, conversions: 2, alreadyReady: 0 });
    });

    it('skips droplets that cannot become images (docker, cnb, a stack without rootfs) and events naming none, and moves on', async () => {
      const registry = await open();
      const prewarmer = prewarmerOf(registry);
      await prewarmer.runOnce();
      world.cf.foundation.advanceTime(1);
      const docker = world.push('pushed-docker', { lifecycle: 'docker' });
      const cnb = world.push('pushed-cnb', { lifecycle: 'cnb' });
      const unknownStack = world.push('pushed-on-cflinuxfs5', { stack: 'cflinuxfs5' });
      const buildpack = world.push('pushed-buildpack');
      // An event of a shape this code does not know: no droplet guid in its data.
      const app = world.cf.foundation.app(buildpack.appGuid);
      world.cf.foundation.recordEvent({
        type: 'audit.app.droplet.mapped',
        actor: world.cf.foundation.defaultActor,
        target: { guid: buildpack.appGuid, type: 'app', name: app?.name ?? '' },
        data: { request: {} },
        spaceGuid: world.seeded.spaces.development.guid,
        orgGuid: world.seeded.org.guid,
      });

      await prewarmer.runOnce();
      const outcomes = Object.fromEntries(warms(registry).map((line) => [line.droplet, line.outcome]));
      assert.deepEqual(outcomes, { [docker.guid]: 'skipped', [cnb.guid]: 'skipped', [unknownStack.guid]: 'skipped', [buildpack.guid]: 'converted' });
      const skippedLevels = registry.logs.filter((line) => line.event === 'prewarm.warmed' && line.outcome === 'skipped').map((line) => line.level);
      assert.deepEqual(skippedLevels, [30, 30, 30], 'skipped droplets are logged at info');

      await prewarmer.runOnce();
      assert.equal(warms(registry).length, 4, 'skipped events are not retried');
      assert.ok(registry.events.includes('prewarm.skipped'), 'the event without a droplet is logged and passed over');
      assert.deepEqual(prewarmer.counters, { ...prewarmer.counters, eventsSeen: 9, skipped: 4, conversions: 1, failures: 0 });
    });

    it('when Cloud Controller answers 503 for a while, retries later and loses nothing', async () => {
      const registry = await open();
      const prewarmer = prewarmerOf(registry);
      await prewarmer.runOnce();
      world.cf.foundation.advanceTime(1);
      const early = world.push('early');
      world.cf.foundation.advanceTime(1);
      const late = world.push('late');

      world.cf.faults.failNext(2, 503, { route: 'GET /v3/audit_events' });
      await assert.rejects(prewarmer.runOnce(), { code: 'UNAVAILABLE' });
      await assert.rejects(prewarmer.runOnce(), { code: 'UNAVAILABLE' });
      assert.equal(prewarmer.counters.conversions, 0);

      // The event list answers now, but one droplet lookup fails: that one is retried next round.
      world.cf.faults.failNext(1, 503, { route: 'GET /v3/droplets/:guid' });
      await prewarmer.runOnce();
      assert.deepEqual(prewarmer.counters, { ...prewarmer.counters, conversions: 1, failures: 1 });
      assert.equal(warms(registry).filter((line) => line.outcome === 'failed').length, 1);

      await prewarmer.runOnce();
      await prewarmer.runOnce();
      const converted = warms(registry).filter((line) => line.outcome === 'converted').map((line) => line.droplet);
      assert.deepEqual(converted.sort(), [early.guid, late.guid].sort(), 'each droplet converted exactly once');
      assert.deepEqual(prewarmer.counters, { ...prewarmer.counters, eventsSeen: 4, conversions: 2, alreadyReady: 0, failures: 1 });
    });

    it('gives an event up after repeated failures, so one broken droplet does not hold the cursor', async () => {
      const registry = await open();
      const prewarmer = prewarmerOf(registry);
      await prewarmer.runOnce();
      world.cf.foundation.advanceTime(1);
      const broken = world.push('broken');
      world.cf.faults.failNext(1000, 503, { server: 'blobstore' });

      for (let round = 0; round < 100 && prewarmer.counters.givenUp === 0; round += 1) await prewarmer.runOnce();
      assert.equal(prewarmer.counters.givenUp, 2, "both of the push's events are given up");
      const attempts = prewarmer.counters.failures;
      assert.ok(registry.events.includes('prewarm.given_up'));

      world.cf.faults.reset();
      world.cf.foundation.advanceTime(1);
      const next = world.push('next');
      await prewarmer.runOnce();
      assert.equal(prewarmer.counters.failures, attempts, 'the given-up droplet is not tried again');
      assert.deepEqual(warms(registry).at(-1), { ...warms(registry).at(-1), droplet: next.guid, outcome: 'converted' });
      assert.ok(!warms(registry).some((line) => line.droplet === broken.guid && line.outcome === 'converted'));
    });

    if (db.name === 'postgres') {
      it('leads alone among instances sharing the database; a follower takes over when the leader stops', async () => {
        const leader = await open();
        const follower = await open();
        assert.equal(await prewarmerOf(leader).runOnce(), 'initialized');
        assert.equal(await prewarmerOf(follower).runOnce(), 'follower');
        world.cf.foundation.advanceTime(1);
        world.push('while-led-by-the-first');
        await Promise.all([prewarmerOf(leader).runOnce(), prewarmerOf(follower).runOnce()]);
        assert.equal(prewarmerOf(leader).counters.conversions, 1);
        assert.equal(prewarmerOf(follower).counters.conversions + conversionsLogged(follower), 0, 'the follower did nothing');
        assert.ok(leader.events.includes('leadership.gained') && !follower.events.includes('leadership.gained'));

        await shutDown(leader);
        world.cf.foundation.advanceTime(1);
        const afterHandOver = world.push('after-hand-over');
        assert.equal(await prewarmerOf(follower).runOnce(), 'followed', 'the cursor the first leader left is used');
        assert.ok(follower.events.includes('leadership.gained'));
        assert.deepEqual(warms(follower).map(({ droplet, outcome }) => ({ droplet, outcome })), [{ droplet: afterHandOver.guid, outcome: 'converted' }]);
      });

      it('when the leader’s database session dies, another instance takes over and the old leader follows', async () => {
        const leader = await open();
        const follower = await open();
        assert.equal(await prewarmerOf(leader).runOnce(), 'initialized');
        await leader.registry.db.raw(
          "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and granted and pid <> pg_backend_pid() and database = (select oid from pg_database where datname = current_database())",
        );
        await waitFor('the follower to take over', async () => (await prewarmerOf(follower).runOnce()) === 'followed', { timeoutMs: 30_000 });
        await waitFor('the old leader to notice', () => !prewarmerOf(leader).isLeader, { timeoutMs: 30_000 });
        assert.equal(await prewarmerOf(leader).runOnce(), 'follower');
        assert.ok(leader.events.includes('leadership.lost'));
      });
    }
  });
}
