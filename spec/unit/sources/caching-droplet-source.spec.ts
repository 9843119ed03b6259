import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { RegistryError } from '../../../src/errors/registry-error.ts';
import { CachingDropletSource, type SourceCacheKind, type SourceCacheOutcome } from '../../../src/sources/caching-droplet-source.ts';
import type { AppRef, DropletFacts, DropletSource } from '../../../src/sources/droplet-source.ts';
import type { SourceChange, SourceChangeFeed } from '../../../src/sources/source-changes.ts';

const APP: AppRef = { guid: 'app-1', name: 'web', space: { guid: 'space-1', name: 'dev' }, org: { guid: 'org-1', name: 'acme' } };

function droplet(guid: string, appGuid = APP.guid): DropletFacts {
  return { guid, appGuid, state: 'STAGED', lifecycleType: 'buildpack', stack: 'cflinuxfs4', processTypes: null, buildpacks: [], createdAt: '2026-01-01T00:00:00Z', checksum: null };
}

/** Cloud Controller as the cache sees it: answers it can change, calls it counts, outages it can have. */
class FakeSource implements DropletSource {
  calls: string[] = [];
  current = droplet('d1');
  down = false;
  /** While set, calls wait for it: a slow Cloud Controller. */
  hold: Promise<void> | undefined;
  apps = new Map([['acme/dev/web', APP]]);

  async #call(name: string): Promise<void> {
    this.calls.push(name);
    await (this.hold ?? Promise.resolve());
    if (this.down) throw new RegistryError('UNAVAILABLE', 'Cloud Controller is unavailable', { retryAfter: 10 });
  }
  async findApp(org: string, space: string, app: string): Promise<AppRef> {
    await this.#call('findApp');
    const found = this.apps.get(`${org}/${space}/${app}`);
    if (!found) throw new RegistryError('NAME_UNKNOWN', 'no such app');
    return found;
  }
  async findAppByGuid(): Promise<AppRef> {
    await this.#call('findAppByGuid');
    return APP;
  }
  async currentDroplet(): Promise<DropletFacts> {
    const current = this.current;
    await this.#call('currentDroplet');
    return current;
  }
  async findDroplet(app: AppRef, guid: string): Promise<DropletFacts> {
    await this.#call('findDroplet');
    if (app.guid !== APP.guid) throw new RegistryError('MANIFEST_UNKNOWN', 'not this app’s');
    return droplet(guid);
  }
  async lookupDroplet(): Promise<null> {
    await this.#call('lookupDroplet');
    return null;
  }
  async listStagedDroplets(): Promise<DropletFacts[]> {
    await this.#call('listStagedDroplets');
    return [];
  }
  async openDroplet(): Promise<never> {
    throw new Error('not used');
  }
}

class FakeFeed implements SourceChangeFeed {
  readonly #listeners: Array<(change: SourceChange) => void> = [];
  pending: SourceChange[] = [];
  failing = false;
  reads = 0;
  async catchUp(): Promise<void> {
    this.reads += 1;
    if (this.failing) throw new RegistryError('UNAVAILABLE', 'audit events unreadable');
    for (const change of this.pending.splice(0)) for (const listener of this.#listeners) listener(change);
  }
  onChange(listener: (change: SourceChange) => void): void {
    this.#listeners.push(listener);
  }
}

function cacheOver(options: { ttlMs?: number; staleIfErrorMs?: number } = {}) {
  const source = new FakeSource();
  const changes = new FakeFeed();
  const clock = { now: 1_000_000 };
  const lookups: Array<`${SourceCacheKind}:${SourceCacheOutcome}`> = [];
  const logs: Array<Record<string, unknown>> = [];
  const cache = new CachingDropletSource({
    source,
    changes,
    ttlMs: options.ttlMs ?? 60_000,
    staleIfErrorMs: options.staleIfErrorMs ?? 300_000,
    logger: pino({ level: 'warn' }, { write: (line: string) => void logs.push(JSON.parse(line)) }),
    onLookup: (kind, outcome) => lookups.push(`${kind}:${outcome}`),
    now: () => clock.now,
  });
  return { cache, source, changes, clock, lookups, logs };
}

describe('CachingDropletSource', () => {
  it('asks Cloud Controller once per answer however many pulls ask, concurrent ones included', async () => {
    const { cache, source } = cacheOver();
    await Promise.all(Array.from({ length: 50 }, () => cache.findApp('acme', 'dev', 'web')));
    await Promise.all(Array.from({ length: 50 }, async () => cache.currentDroplet(await cache.findAppByGuid(APP.guid))));
    assert.deepEqual(source.calls, ['findApp', 'findAppByGuid', 'currentDroplet']);
  });

  it('asks again once an answer is older than its TTL', async () => {
    const { cache, source, clock } = cacheOver({ ttlMs: 60_000 });
    await cache.currentDroplet(APP);
    clock.now += 59_999;
    await cache.currentDroplet(APP);
    clock.now += 1;
    await cache.currentDroplet(APP);
    assert.deepEqual(source.calls, ['currentDroplet', 'currentDroplet']);
  });

  it('serves the new current droplet as soon as the feed reports the mapping', async () => {
    const { cache, source, changes } = cacheOver();
    assert.equal((await cache.currentDroplet(APP)).guid, 'd1');
    source.current = droplet('d2');
    assert.equal((await cache.currentDroplet(APP)).guid, 'd1', 'nothing reported yet');
    changes.pending.push({ kind: 'current-droplet', appGuid: APP.guid });
    assert.equal((await cache.currentDroplet(APP)).guid, 'd2');
  });

  it('forgets names, the app and its droplets when the app changes, and every name when any name changes', async () => {
    const { cache, source, changes } = cacheOver();
    const warm = async () => {
      await cache.findApp('acme', 'dev', 'web');
      await cache.findAppByGuid(APP.guid);
      await cache.findDroplet(APP, 'd9');
    };
    await warm();
    source.calls = [];
    changes.pending.push({ kind: 'app', appGuid: APP.guid });
    await warm();
    assert.deepEqual(source.calls, ['findApp', 'findAppByGuid', 'findDroplet']);
    source.calls = [];
    changes.pending.push({ kind: 'names' });
    await warm();
    assert.deepEqual(source.calls, ['findApp', 'findAppByGuid'], 'droplet facts do not depend on names');
    source.calls = [];
    changes.pending.push({ kind: 'app', appGuid: 'another-app' });
    await warm();
    assert.deepEqual(source.calls, [], "another app's change drops nothing of this one");
  });

  it('keeps that a name or droplet does not exist, until a change could make it exist', async () => {
    const { cache, source, changes } = cacheOver();
    const unknown = () => cache.findApp('acme', 'dev', 'new');
    for (let i = 0; i < 3; i += 1) await assert.rejects(unknown(), (error: unknown) => error instanceof RegistryError && error.code === 'NAME_UNKNOWN');
    assert.deepEqual(source.calls, ['findApp'], 'made-up names do not make every request ask Cloud Controller');
    source.apps.set('acme/dev/new', { ...APP, guid: 'app-2', name: 'new' });
    changes.pending.push({ kind: 'names' });
    assert.equal((await unknown()).guid, 'app-2', 'created (audit.app.create): found');
    await assert.rejects(cache.findApp('acme', 'dev', 'renamed'));
    source.apps.set('acme/dev/renamed', APP);
    await assert.rejects(cache.findApp('acme', 'dev', 'renamed'), 'not yet reported');
    changes.pending.push({ kind: 'app', appGuid: APP.guid });
    assert.equal((await cache.findApp('acme', 'dev', 'renamed')).guid, APP.guid, 'an app renamed onto a name that led nowhere');
  });

  it("answers another app's droplet guid as the source does, not from this app's cache", async () => {
    const { cache } = cacheOver();
    await cache.findDroplet(APP, 'd9');
    await assert.rejects(cache.findDroplet({ ...APP, guid: 'app-2' }, 'd9'), (error: unknown) => error instanceof RegistryError && error.code === 'MANIFEST_UNKNOWN');
  });

  it('does not keep an answer Cloud Controller gave while a change was reported', async () => {
    const { cache, source, changes } = cacheOver();
    let answer = (): void => undefined;
    source.hold = new Promise((resolve) => (answer = resolve));
    const slow = cache.currentDroplet(APP);
    while (source.calls.length === 0) await new Promise((resolve) => setImmediate(resolve));
    // Cloud Controller has read d1 and not yet answered when the change is made and reported.
    source.current = droplet('d2');
    changes.pending.push({ kind: 'current-droplet', appGuid: APP.guid });
    source.hold = undefined;
    await cache.findAppByGuid(APP.guid);
    answer();
    assert.equal((await slow).guid, 'd1', 'the pull under way gets what Cloud Controller said');
    assert.equal((await cache.currentDroplet(APP)).guid, 'd2', 'the next one asks again');
  });

  it('serves the answer from before while Cloud Controller fails, within the stale window, and says so', async () => {
    const { cache, source, clock, lookups, logs } = cacheOver({ ttlMs: 60_000, staleIfErrorMs: 300_000 });
    await cache.currentDroplet(APP);
    source.down = true;
    clock.now += 60_000 + 299_999;
    assert.equal((await cache.currentDroplet(APP)).guid, 'd1');
    assert.equal(lookups.at(-1), 'current_droplet:stale');
    assert.equal(logs.at(-1)?.event, 'source.stale_answer');
    clock.now += 1;
    await assert.rejects(cache.currentDroplet(APP), (error: unknown) => error instanceof RegistryError && error.code === 'UNAVAILABLE');
  });

  it('passes on a failure when nothing was answered before, or when stale answers are off', async () => {
    const { cache, source } = cacheOver();
    source.down = true;
    await assert.rejects(cache.currentDroplet(APP), (error: unknown) => error instanceof RegistryError && error.code === 'UNAVAILABLE');
    const off = cacheOver({ staleIfErrorMs: 0 });
    await off.cache.currentDroplet(APP);
    off.source.down = true;
    off.clock.now += 60_000;
    await assert.rejects(off.cache.currentDroplet(APP), (error: unknown) => error instanceof RegistryError && error.code === 'UNAVAILABLE');
  });

  it('when the change feed cannot be read, asks Cloud Controller again, and serves what it had only if that fails too', async () => {
    const { cache, source, changes, lookups } = cacheOver();
    await cache.currentDroplet(APP);
    changes.failing = true;
    source.current = droplet('d2');
    source.calls = [];
    assert.equal((await cache.currentDroplet(APP)).guid, 'd2', 'unchecked answers are not served while Cloud Controller answers');
    assert.deepEqual(source.calls, ['currentDroplet']);
    source.down = true;
    assert.equal((await cache.currentDroplet(APP)).guid, 'd2');
    assert.equal(lookups.at(-1), 'current_droplet:stale');
  });

  it('never serves that something does not exist in place of a failing Cloud Controller', async () => {
    const { cache, source, clock } = cacheOver();
    await assert.rejects(cache.findApp('acme', 'dev', 'new'), (error: unknown) => error instanceof RegistryError && error.code === 'NAME_UNKNOWN');
    source.down = true;
    clock.now += 60_000;
    await assert.rejects(cache.findApp('acme', 'dev', 'new'), (error: unknown) => error instanceof RegistryError && error.code === 'UNAVAILABLE');
  });

  it('does not let a lookup after a change join a load that began before it', async () => {
    const { cache, source, changes } = cacheOver();
    let answer = (): void => undefined;
    source.hold = new Promise((resolve) => (answer = resolve));
    const early = cache.currentDroplet(APP);
    while (source.calls.length === 0) await new Promise((resolve) => setImmediate(resolve));
    source.current = droplet('d2');
    changes.pending.push({ kind: 'current-droplet', appGuid: APP.guid });
    source.hold = undefined;
    const late = cache.currentDroplet(APP);
    answer();
    assert.equal((await early).guid, 'd1');
    assert.equal((await late).guid, 'd2', 'the lookup after the change asked Cloud Controller itself');
    assert.equal((await cache.currentDroplet(APP)).guid, 'd2');
  });

  it('reads tags and droplets for garbage collection from the source itself', async () => {
    const { cache, source } = cacheOver();
    await cache.listStagedDroplets(APP);
    await cache.listStagedDroplets(APP);
    await cache.lookupDroplet('d1');
    assert.deepEqual(source.calls, ['listStagedDroplets', 'listStagedDroplets', 'lookupDroplet']);
  });
});
