/**
 * The pre-warmer's own logic with stand-ins for Cloud Controller (audit events, apps and their
 * current droplets, filtered and ordered as CC does), the image service, the leadership and the
 * table its cursor is kept in: how many droplets it warms at once, rounds that never overlap,
 * giving a droplet up after exactly MAX_ATTEMPTS failures, stopping, and the first start's edge
 * cases. End to end on PostgreSQL and PGlite against the CF simulator (the cursor over seconds
 * and restarts, skipped droplets, CAPI failures, two instances) is spec/integration/workers/prewarmer.spec.ts.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import type { Knex } from 'knex';
import { RegistryError } from '../../../src/errors/registry-error.ts';
import { createLogger } from '../../../src/logger.ts';
import type { LeaderElection } from '../../../src/workers/leader-election.ts';
import { Prewarmer } from '../../../src/workers/prewarmer.ts';
import type { CapiReader } from '../../../src/workers/staging-events.ts';
import { waitFor } from '../../support/clients/wait-for.ts';

const CAPI_URL = 'https://api.sys.example.com';
const MAX_ATTEMPTS = 20;

interface AuditEvent {
  guid: string;
  type: string;
  created_at: string;
  target: { guid: string; type: 'app' };
  data: Record<string, unknown>;
}

/** Cloud Controller as the pre-warmer reads it. */
class FakeCloudController implements Pick<CapiReader, 'get' | 'listFirstPages'> {
  readonly events: AuditEvent[] = [];
  /** Apps, most recently updated first, with their current droplet (null: none; 'fails': the lookup fails). */
  readonly apps: Array<{ guid: string; currentDroplet: string | null | 'fails' }> = [];
  /** `created_ats[gte]` of each audit event list asked for. */
  readonly eventQueries: string[] = [];
  /** The next this many audit event lists fail as CC being down does. */
  failEventLists = 0;
  #second = Date.parse('2025-03-01T09:00:00Z');
  #next = 0;

  /** CC's clock moves on a second. */
  tick(): void {
    this.#second += 1000;
  }

  /** `cf push`: the build staged, and its droplet made current. */
  push(appGuid: string, dropletGuid: string): void {
    this.record('audit.app.build.staged', appGuid, { droplet_guid: dropletGuid });
    this.record('audit.app.droplet.mapped', appGuid, { request: { droplet_guid: dropletGuid } });
  }

  record(type: string, appGuid: string, data: Record<string, unknown>): void {
    this.events.push({ guid: `event-${(this.#next += 1)}`, type, created_at: new Date(this.#second).toISOString().replace('.000Z', 'Z'), target: { guid: appGuid, type: 'app' }, data });
  }

  async get<T>(path: string, params: Record<string, string> = {}): Promise<T | null> {
    if (path === '/v3/audit_events' && params.order_by === '-created_at') {
      return { resources: this.events.slice(-Number(params.per_page)).reverse() } as T;
    }
    if (path === '/v3/apps') return { resources: this.apps.slice(0, Number(params.per_page)).map(({ guid }) => ({ guid })) } as T;
    const current = /^\/v3\/apps\/([^/]+)\/relationships\/current_droplet$/.exec(path);
    const app = current && this.apps.find((candidate) => candidate.guid === current[1]);
    if (app?.currentDroplet === 'fails') throw new RegistryError('UNAVAILABLE', 'Cloud Controller answered 502 to GET /v3/apps/:guid/relationships/current_droplet');
    if (app) return { data: app.currentDroplet === null ? null : { guid: app.currentDroplet } } as T;
    return null;
  }

  async listFirstPages<T>(path: string, params: Record<string, string> = {}): Promise<{ resources: T[]; included: Record<string, unknown[]>; complete: boolean }> {
    assert.equal(path, '/v3/audit_events');
    const since = params['created_ats[gte]'] ?? '';
    this.eventQueries.push(since);
    if (this.failEventLists > 0) {
      this.failEventLists -= 1;
      throw new RegistryError('UNAVAILABLE', 'Cloud Controller answered 503 to GET /v3/audit_events');
    }
    const types = (params.types ?? '').split(',');
    const resources = this.events.filter((event) => types.includes(event.type) && Date.parse(event.created_at) >= Date.parse(since));
    return { resources: resources as T[], included: {}, complete: true };
  }
}

/** The image service: warms as `outcome` says for each droplet, counting warms in flight. */
class FakeImages {
  readonly warmed: string[] = [];
  outcome: (dropletGuid: string) => Promise<'converted' | 'ready'> = async () => 'converted';
  inFlight = 0;
  mostAtOnce = 0;

  async warmDroplet(_appGuid: string, dropletGuid: string): Promise<'converted' | 'ready'> {
    this.warmed.push(dropletGuid);
    this.inFlight += 1;
    this.mostAtOnce = Math.max(this.mostAtOnce, this.inFlight);
    try {
      return await this.outcome(dropletGuid);
    } finally {
      this.inFlight -= 1;
    }
  }
}

interface World {
  readonly cc: FakeCloudController;
  readonly images: FakeImages;
  readonly lines: Array<{ level: number; event?: string; msg: string }>;
  readonly leadership: { leads: boolean; resigned: number };
  prewarmer(options?: { concurrency?: number; initialApps?: number; intervalMs?: number }): Prewarmer;
}

/**
 * The `prewarm_cursors` table, as much of knex as the cursor's queries use (one row per Cloud
 * Controller, read with `where().first()`, written with an upsert; `handled_guids` is jsonb, sent
 * as JSON text and read back as an array). Shared by every instance of a foundation, as the
 * database is.
 */
function cursorTable(): Knex {
  const rows = new Map<string, { capi_url: string; resume_at: Date; handled_guids: string[] }>();
  const table = (name: string) => {
    assert.equal(name, 'prewarm_cursors');
    let capiUrl = '';
    const query = {
      where: (condition: { capi_url: string }) => ((capiUrl = condition.capi_url), query),
      first: async () => {
        const row = rows.get(capiUrl);
        return row && { resume_at: new Date(row.resume_at), handled_guids: [...row.handled_guids] };
      },
      insert: (values: { capi_url: string; resume_at: Date; handled_guids: string }) => ({
        onConflict: () => ({
          merge: async () => void rows.set(values.capi_url, { capi_url: values.capi_url, resume_at: new Date(values.resume_at), handled_guids: JSON.parse(values.handled_guids) as string[] }),
        }),
      }),
    };
    return query;
  };
  return Object.assign(table, { fn: { now: () => new Date() } }) as unknown as Knex;
}

/** A foundation and the parts of one instance; prewarmers made by it share them (and `db`, when given, with other worlds). */
function world(db: Knex = cursorTable()): World & { readonly db: Knex } {
  const cc = new FakeCloudController();
  const images = new FakeImages();
  const lines: World['lines'] = [];
  const leadership = { leads: true, resigned: 0 };
  const election = {
    check: async () => leadership.leads,
    resign: async () => void (leadership.resigned += 1),
    get isLeader() {
      return leadership.leads;
    },
  } as unknown as LeaderElection;
  const logger = createLogger('info', { destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
  return {
    db,
    cc,
    images,
    lines,
    leadership,
    prewarmer: (options = {}) =>
      new Prewarmer({
        db,
        capi: cc as unknown as CapiReader,
        capiUrl: CAPI_URL,
        images,
        leadership: election,
        logger,
        intervalMs: options.intervalMs ?? 60_000,
        concurrency: options.concurrency ?? 4,
        initialApps: options.initialApps ?? 0,
      }),
  };
}

/** A pre-warmer past its first start, following the events staged from the next second on. */
async function following(w: World, options: { concurrency?: number; intervalMs?: number } = {}): Promise<Prewarmer> {
  const prewarmer = w.prewarmer(options);
  assert.equal(await prewarmer.runOnce(), 'initialized');
  w.cc.tick();
  return prewarmer;
}

describe('the pre-warmer', () => {
  afterEach(() => mock.timers.reset());

  it('as a follower, asks Cloud Controller nothing and warms nothing', async () => {
    const w = world();
    w.leadership.leads = false;
    w.cc.push('app-1', 'droplet-1');
    const prewarmer = w.prewarmer({ initialApps: 10 });
    assert.equal(await prewarmer.runOnce(), 'follower');
    assert.deepEqual(w.cc.eventQueries, []);
    assert.deepEqual(w.images.warmed, []);
    assert.equal(prewarmer.isLeader, false);
  });

  describe('on its first start', () => {
    it('with no staging event ever, follows from the beginning, so the first droplet ever staged is warmed', async () => {
      const w = world();
      const prewarmer = w.prewarmer();
      assert.equal(await prewarmer.runOnce(), 'initialized');
      assert.deepEqual(w.images.warmed, []);
      w.cc.push('app-1', 'first-droplet');
      assert.equal(await prewarmer.runOnce(), 'followed');
      assert.deepEqual(w.images.warmed, ['first-droplet']);
    });

    it('warms the current droplets of the recent apps, passing over apps without one and counting a failed lookup, then follows', async () => {
      const w = world();
      w.cc.apps.push({ guid: 'app-1', currentDroplet: 'droplet-1' }, { guid: 'never-staged', currentDroplet: null }, { guid: 'lookup-fails', currentDroplet: 'fails' }, { guid: 'app-4', currentDroplet: 'droplet-4' });
      const prewarmer = w.prewarmer({ initialApps: 4 });
      assert.equal(await prewarmer.runOnce(), 'initialized');
      assert.deepEqual(w.images.warmed.sort(), ['droplet-1', 'droplet-4']);
      assert.deepEqual(prewarmer.counters, { eventsSeen: 0, conversions: 2, alreadyReady: 0, skipped: 0, failures: 1, givenUp: 0, lastLagSeconds: null });
      const failed = w.lines.filter((line) => line.event === 'prewarm.warmed' && (line as { outcome?: string }).outcome === 'failed');
      assert.deepEqual(failed.map((line) => line.msg), ['could not find the current droplet of app lookup-fails: Cloud Controller answered 502 to GET /v3/apps/:guid/relationships/current_droplet']);
      assert.equal(await prewarmer.runOnce(), 'followed', 'the cursor was recorded despite the failure');
    });
  });

  it('warms at most `concurrency` droplets at once', async () => {
    const w = world();
    const prewarmer = await following(w, { concurrency: 2 });
    for (let i = 1; i <= 7; i += 1) w.cc.push(`app-${i}`, `droplet-${i}`);
    w.images.outcome = () => new Promise((resolve) => setImmediate(() => resolve('converted')));
    await prewarmer.runOnce();
    assert.equal(w.images.warmed.length, 7, 'each droplet once, though two events name it');
    assert.equal(w.images.mostAtOnce, 2);
    assert.equal(prewarmer.counters.eventsSeen, 14);
  });

  it('never runs two rounds at once: a round asked for meanwhile starts after the one under way, from its cursor', async () => {
    const w = world();
    const prewarmer = await following(w);
    w.cc.push('app-1', 'droplet-1');
    const pending: Array<() => void> = [];
    w.images.outcome = () => new Promise((resolve) => pending.push(() => resolve('converted')));
    const first = prewarmer.runOnce();
    const second = prewarmer.runOnce();
    await waitFor('the first round to warm', () => w.images.warmed.length > 0, { intervalMs: 1, timeoutMs: 5_000 });
    await new Promise((resolve) => setImmediate(resolve));
    const queriesWhileWarming = w.cc.eventQueries.length;
    assert.deepEqual(w.images.warmed, ['droplet-1'], 'one warm under way, the second round waiting');
    for (const finish of pending.splice(0)) finish();
    assert.deepEqual(await Promise.all([first, second]), ['followed', 'followed']);
    assert.equal(w.cc.eventQueries.length, queriesWhileWarming + 1, 'the second round read the events only after the first had ended');
    assert.deepEqual(w.images.warmed, ['droplet-1'], 'and so did not warm the droplet again');
  });

  it('gives a droplet up after exactly 20 failed rounds, its events with it, and warms a new droplet of the app', async () => {
    const w = world();
    const prewarmer = await following(w);
    w.cc.push('app-1', 'broken');
    w.images.outcome = async (droplet) => {
      if (droplet === 'broken') throw new Error('the droplet download failed');
      return 'converted';
    };
    for (let round = 1; round < MAX_ATTEMPTS; round += 1) await prewarmer.runOnce();
    assert.deepEqual({ failures: prewarmer.counters.failures, givenUp: prewarmer.counters.givenUp }, { failures: MAX_ATTEMPTS - 1, givenUp: 0 }, 'still retried');
    await prewarmer.runOnce();
    assert.deepEqual({ failures: prewarmer.counters.failures, givenUp: prewarmer.counters.givenUp, eventsSeen: prewarmer.counters.eventsSeen }, { failures: MAX_ATTEMPTS, givenUp: 2, eventsSeen: 2 });
    assert.deepEqual(
      w.lines.filter((line) => line.event === 'prewarm.given_up').map((line) => line.msg),
      ['giving up pre-warming droplet broken of app app-1 after 20 failed attempts; its first pull will convert it'],
    );
    await prewarmer.runOnce();
    assert.equal(prewarmer.counters.failures, MAX_ATTEMPTS, 'not tried again');

    w.cc.tick();
    w.cc.push('app-1', 'fixed');
    await prewarmer.runOnce();
    assert.equal(w.images.warmed.at(-1), 'fixed');
    assert.equal(prewarmer.counters.conversions, 1);
  });

  it('skips a droplet deleted before its warm (NAME_UNKNOWN) for good, and retries one that failed for want of a backing service', async () => {
    const w = world();
    const prewarmer = await following(w);
    w.cc.push('app-1', 'deleted');
    w.cc.push('app-2', 'unlucky');
    let blobstoreUp = false;
    w.images.outcome = async (droplet) => {
      if (droplet === 'deleted') throw new RegistryError('NAME_UNKNOWN', 'droplet deleted is gone');
      if (!blobstoreUp) throw new RegistryError('UNAVAILABLE', 'the blobstore is unavailable');
      return 'converted';
    };
    await prewarmer.runOnce();
    blobstoreUp = true;
    await prewarmer.runOnce();
    assert.deepEqual(w.images.warmed, ['deleted', 'unlucky', 'unlucky']);
    assert.deepEqual({ ...prewarmer.counters, lastLagSeconds: null }, { eventsSeen: 4, conversions: 1, alreadyReady: 0, skipped: 1, failures: 1, givenUp: 0, lastLagSeconds: null });
  });

  it("reports the lag between the last event's time and its handling, never below zero when CC's clock is ahead", async () => {
    const w = world();
    const prewarmer = await following(w);
    w.cc.push('app-1', 'droplet-1');
    const stagedAt = Date.parse(w.cc.events.at(-1)?.created_at ?? '');
    mock.timers.enable({ apis: ['Date'], now: stagedAt + 42_400 });
    await prewarmer.runOnce();
    assert.equal(prewarmer.counters.lastLagSeconds, 42);

    w.cc.tick();
    w.cc.push('app-2', 'droplet-2');
    mock.timers.setTime(stagedAt - 5_000);
    await prewarmer.runOnce();
    assert.equal(prewarmer.counters.lastLagSeconds, 0);
  });

  describe('stopping', () => {
    it('lets the warm under way finish, starts no other, records the cursor and gives leadership up', async () => {
      const w = world();
      const prewarmer = await following(w, { concurrency: 1 });
      for (let i = 1; i <= 3; i += 1) w.cc.push(`app-${i}`, `droplet-${i}`);
      const pending: Array<() => void> = [];
      w.images.outcome = () => new Promise((resolve) => pending.push(() => resolve('converted')));
      const round = prewarmer.runOnce();
      await waitFor('the first warm to start', () => w.images.warmed.length > 0, { intervalMs: 1, timeoutMs: 5_000 });
      let stopped = false;
      const stopping = prewarmer.stop().then(() => (stopped = true));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(stopped, false, 'waits for the warm under way');
      assert.equal(w.leadership.resigned, 0);
      for (const finish of pending.splice(0)) finish();
      await stopping;
      assert.equal(await round, 'followed');
      assert.deepEqual(w.images.warmed, ['droplet-1'], 'no warm started after the stop');
      assert.equal(w.leadership.resigned, 1);

      const successor = world(w.db);
      successor.cc.events.push(...w.cc.events);
      const next = successor.prewarmer();
      assert.equal(await next.runOnce(), 'followed', 'the next leader resumes from the recorded cursor');
      assert.deepEqual(successor.images.warmed, ['droplet-2', 'droplet-3']);
    });

    it('refuses rounds after it, which would take leadership with nobody left to give it up', async () => {
      const w = world();
      const prewarmer = w.prewarmer();
      await prewarmer.stop();
      await assert.rejects(prewarmer.runOnce(), { message: 'the pre-warmer has been stopped' });
      assert.deepEqual(w.cc.eventQueries, []);
    });
  });

  it('once started, runs a round at once and then every interval, logging a failed round and trying again', async () => {
    const w = world();
    const prewarmer = await following(w, { intervalMs: 5 });
    w.cc.push('app-1', 'droplet-1');
    w.cc.failEventLists = 2;
    prewarmer.start();
    try {
      await waitFor('the droplet to be warmed after two failed rounds', () => w.images.warmed.length === 1, { intervalMs: 5, timeoutMs: 4_000 });
    } finally {
      await prewarmer.stop();
    }
    assert.deepEqual(
      w.lines.filter((line) => line.event === 'prewarm.round_failed').map((line) => [line.level, line.msg]),
      Array.from({ length: 2 }, () => [40, 'pre-warming round failed (Cloud Controller answered 503 to GET /v3/audit_events); trying again in 5 ms']),
    );
    assert.equal(w.leadership.resigned, 1);
  });
});
