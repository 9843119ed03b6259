import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { RegistryError } from '../../../src/errors/registry-error.ts';
import { CapiChangeFeed } from '../../../src/sources/capi/capi-change-feed.ts';
import type { SourceChange } from '../../../src/sources/source-changes.ts';

interface Event {
  guid: string;
  created_at: string;
  type: string;
  target: { guid: string };
}

/** Cloud Controller's audit events endpoint, as the feed calls it. */
class FakeCapi {
  events: Event[] = [];
  queries: Array<Record<string, string>> = [];
  down = false;
  /** Lists stop short of everything (more pages than CAPI_MAX_PAGES). */
  truncated = false;

  async get<T>(_path: string, params: Record<string, string>): Promise<T> {
    this.queries.push(params);
    if (this.down) throw new RegistryError('UNAVAILABLE', 'Cloud Controller is unavailable');
    const newest = [...this.events].sort((a, b) => b.created_at.localeCompare(a.created_at)).slice(0, 1);
    return { resources: newest } as T;
  }

  async listFirstPages<T>(_path: string, params: Record<string, string>): Promise<{ resources: T[]; included: Record<string, unknown[]>; complete: boolean }> {
    this.queries.push(params);
    if (this.down) throw new RegistryError('UNAVAILABLE', 'Cloud Controller is unavailable');
    const since = params['created_ats[gte]'] as string;
    const resources = this.events.filter((event) => event.created_at >= since).sort((a, b) => a.created_at.localeCompare(b.created_at));
    return { resources: resources as T[], included: {}, complete: !this.truncated };
  }
}

let serial = 0;
function event(type: string, at: string, target = 'app-1'): Event {
  return { guid: `event-${(serial += 1)}`, created_at: at, type, target: { guid: target } };
}

function feedOver(intervalMs = 1_000) {
  const capi = new FakeCapi();
  const clock = { now: 1_000_000 };
  const feed = new CapiChangeFeed({ capi, intervalMs, logger: pino({ level: 'silent' }), now: () => clock.now });
  const changes: SourceChange[] = [];
  feed.onChange((change) => changes.push(change));
  return { capi, clock, feed, changes };
}

describe('CapiChangeFeed', () => {
  it('starts from the newest event by Cloud Controller’s clock, then reports what follows as changes', async () => {
    const { capi, clock, feed, changes } = feedOver();
    capi.events.push(event('audit.app.droplet.mapped', '2026-12-05T10:00:00Z'));
    await feed.catchUp();
    assert.deepEqual(changes, [], 'what happened before the first read is already in what Cloud Controller answers');
    capi.events.push(
      event('audit.app.droplet.mapped', '2026-12-05T10:00:05Z', 'app-1'),
      event('audit.app.update', '2026-12-05T10:00:06Z', 'app-2'),
      event('audit.space.update', '2026-12-05T10:00:07Z', 'space-1'),
    );
    clock.now += 1_000;
    await feed.catchUp();
    assert.deepEqual(changes, [{ kind: 'current-droplet', appGuid: 'app-1' }, { kind: 'app', appGuid: 'app-2' }, { kind: 'names' }]);
    assert.equal(capi.queries.at(-1)?.['created_ats[gte]'], '2026-12-05T09:59:50Z', 'ten seconds before the newest event seen');
  });

  it('reads Cloud Controller at most once per interval, however many lookups ask', async () => {
    const { capi, clock, feed } = feedOver(1_000);
    await Promise.all(Array.from({ length: 20 }, () => feed.catchUp()));
    clock.now += 999;
    await Promise.all(Array.from({ length: 20 }, () => feed.catchUp()));
    assert.equal(capi.queries.length, 1);
    clock.now += 1;
    await Promise.all(Array.from({ length: 20 }, () => feed.catchUp()));
    assert.equal(capi.queries.length, 2);
  });

  it('reports each event once, also those of the second it resumes from', async () => {
    const { capi, clock, feed, changes } = feedOver();
    await feed.catchUp();
    capi.events.push(event('audit.app.droplet.mapped', '2026-12-05T10:00:05Z', 'app-1'));
    clock.now += 1_000;
    await feed.catchUp();
    // Another event of the same second shows up only now.
    capi.events.push(event('audit.app.droplet.mapped', '2026-12-05T10:00:05Z', 'app-2'));
    clock.now += 1_000;
    await feed.catchUp();
    assert.deepEqual(
      changes.map((change) => (change.kind === 'current-droplet' ? change.appGuid : change.kind)),
      ['app-1', 'app-2'],
    );
    assert.equal(capi.queries.at(-1)?.['created_ats[gte]'], '2026-12-05T09:59:55Z');
  });

  it('reports an event that shows up late with an earlier second (a transaction committing late)', async () => {
    const { capi, clock, feed, changes } = feedOver();
    await feed.catchUp();
    capi.events.push(event('audit.app.droplet.mapped', '2026-12-05T10:00:09Z', 'app-1'));
    clock.now += 1_000;
    await feed.catchUp();
    capi.events.push(event('audit.app.droplet.mapped', '2026-12-05T10:00:03Z', 'app-2'));
    clock.now += 1_000;
    await feed.catchUp();
    assert.deepEqual(
      changes.map((change) => (change.kind === 'current-droplet' ? change.appGuid : change.kind)),
      ['app-1', 'app-2'],
    );
  });

  it('starts afresh from the newest event after reads keep failing, saying anything may have changed', async () => {
    const { capi, clock, feed, changes } = feedOver(1_000);
    await feed.catchUp();
    capi.down = true;
    for (let i = 0; i < 3; i += 1) {
      clock.now += 1_000;
      await assert.rejects(feed.catchUp());
    }
    capi.down = false;
    capi.events.push(event('audit.app.update', '2026-12-05T11:00:00Z'));
    clock.now += 1_000;
    await feed.catchUp();
    assert.deepEqual(changes, [{ kind: 'everything' }]);
    assert.equal(capi.queries.at(-1)?.order_by, '-created_at', 'from the newest event, not the page it could not read');
  });

  it('says everything may have changed when it cannot read all events since the last read', async () => {
    const { capi, clock, feed, changes } = feedOver();
    await feed.catchUp();
    capi.events.push(event('audit.app.droplet.mapped', '2026-12-05T10:00:05Z'));
    capi.truncated = true;
    clock.now += 1_000;
    await feed.catchUp();
    assert.deepEqual(changes, [{ kind: 'everything' }]);
  });

  it('fails lookups while Cloud Controller fails, without asking it more than once per interval', async () => {
    const { capi, clock, feed } = feedOver(1_000);
    await feed.catchUp();
    capi.down = true;
    clock.now += 1_000;
    await assert.rejects(feed.catchUp(), (error: unknown) => error instanceof RegistryError && error.code === 'UNAVAILABLE');
    await assert.rejects(feed.catchUp());
    assert.equal(capi.queries.length, 2);
    capi.down = false;
    clock.now += 1_000;
    await feed.catchUp();
    assert.equal(capi.queries.length, 3);
  });
});
