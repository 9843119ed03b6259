/**
 * Cloud Controller's answers reused across pulls, so a fleet pulling one app costs the platform a
 * few calls per cache period instead of several per pull.
 *
 * @remarks
 * What is kept, per instance: which app a repository name leads to, an app by guid, an app's
 * current droplet, a droplet's facts. An answer is reused for at most `ttlMs`, and only while the
 * change feed (Cloud Controller's audit events) has been read recently: a change it reports drops
 * the answers it may have falsified at once, so `docker pull :latest` right after `cf push` gets
 * the new droplet. Misses of one key share one call. When Cloud Controller fails (its answer, or
 * the feed), an answer that was valid up to `staleIfErrorMs` ago is served instead of failing the
 * pull, with a warning and a metric; while the feed cannot be read, Cloud Controller is asked
 * again and an earlier answer stands in only if it fails too. That a name, app or droplet does not
 * exist is kept as well (so made-up names cannot make every request ask Cloud Controller), and
 * dropped by the events that could make it exist; it never stands in for a failing source.
 * Garbage collection and tag lists ask the source itself.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { RegistryError } from '../errors/registry-error.ts';
import { LruMap } from '../util/lru-map.ts';
import { SingleFlight } from '../util/single-flight.ts';
import type { AppRef, DropletFacts, DropletSource } from './droplet-source.ts';
import type { SourceChange, SourceChangeFeed } from './source-changes.ts';

/** What the cache did for a lookup: answered from memory, asked the source, or served a stale answer because the source failed. */
export type SourceCacheOutcome = 'hit' | 'miss' | 'stale';

/** The kinds of answers kept. */
export type SourceCacheKind = 'name' | 'app' | 'current_droplet' | 'droplet';

export interface CachingDropletSourceOptions {
  readonly source: DropletSource;
  /** Cloud Controller's changes; without one, answers are reused for `ttlMs` regardless. */
  readonly changes?: SourceChangeFeed;
  readonly ttlMs: number;
  /** How long past `ttlMs` an answer may still be served while the source fails; 0: never. */
  readonly staleIfErrorMs: number;
  /** Answers kept at most per kind (the least recently used go first). */
  readonly maxEntries?: number;
  readonly logger: Logger;
  /** Told of every lookup. */
  readonly onLookup?: (kind: SourceCacheKind, outcome: SourceCacheOutcome) => void;
  /** Milliseconds since the epoch; tests move it. */
  readonly now?: () => number;
}

/** An answer: what the source returned, or its NAME_UNKNOWN / MANIFEST_UNKNOWN. */
interface Entry<T> {
  readonly value?: T;
  readonly missing?: RegistryError;
  readonly storedAt: number;
}

const DEFAULT_MAX_ENTRIES = 10_000;

export class CachingDropletSource implements DropletSource {
  readonly #options: CachingDropletSourceOptions;
  readonly #names: LruMap<string, Entry<AppRef>>;
  readonly #apps: LruMap<string, Entry<AppRef>>;
  readonly #currentDroplets: LruMap<string, Entry<DropletFacts>>;
  readonly #droplets: LruMap<string, Entry<DropletFacts>>;
  readonly #appFlights = new SingleFlight<AppRef>();
  readonly #dropletFlights = new SingleFlight<DropletFacts>();
  /** Counts the changes applied, so an answer loaded across one is not kept. */
  #generation = 0;

  constructor(options: CachingDropletSourceOptions) {
    this.#options = options;
    const max = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.#names = new LruMap(max);
    this.#apps = new LruMap(max);
    this.#currentDroplets = new LruMap(max);
    this.#droplets = new LruMap(max);
    options.changes?.onChange((change) => this.#forget(change));
  }

  findApp(org: string, space: string, app: string): Promise<AppRef> {
    const name = `${org}/${space}/${app}`;
    return this.#cached('name', this.#names, name, this.#appFlights, () => this.#options.source.findApp(org, space, app));
  }

  findAppByGuid(appGuid: string): Promise<AppRef> {
    return this.#cached('app', this.#apps, appGuid, this.#appFlights, () => this.#options.source.findAppByGuid(appGuid));
  }

  currentDroplet(app: AppRef): Promise<DropletFacts> {
    return this.#cached('current_droplet', this.#currentDroplets, app.guid, this.#dropletFlights, () => this.#options.source.currentDroplet(app));
  }

  findDroplet(app: AppRef, dropletGuid: string): Promise<DropletFacts> {
    // Keyed by app too: the source answers MANIFEST_UNKNOWN for another app's droplet, and so must this.
    return this.#cached('droplet', this.#droplets, `${app.guid}/${dropletGuid}`, this.#dropletFlights, () => this.#options.source.findDroplet(app, dropletGuid));
  }

  lookupDroplet(dropletGuid: string): Promise<{ app: AppRef; droplet: DropletFacts } | null> {
    return this.#options.source.lookupDroplet(dropletGuid);
  }

  listStagedDroplets(app: AppRef): Promise<DropletFacts[]> {
    return this.#options.source.listStagedDroplets(app);
  }

  openDroplet(app: AppRef, droplet: DropletFacts, options?: { signal?: AbortSignal }): Promise<Readable> {
    return this.#options.source.openDroplet(app, droplet, options);
  }

  async #cached<T>(kind: SourceCacheKind, entries: LruMap<string, Entry<T>>, key: string, flights: SingleFlight<T>, load: () => Promise<T>): Promise<T> {
    const { ttlMs, staleIfErrorMs, changes } = this.#options;
    // Changes reported now drop their answers before the lookup below.
    const feedFailure = await changes?.catchUp().then(
      () => undefined,
      (error: unknown) => error,
    );
    const entry = entries.get(key);
    const age = entry ? this.#now() - entry.storedAt : Infinity;
    if (entry && age < ttlMs && feedFailure === undefined) {
      this.#options.onLookup?.(kind, 'hit');
      if (entry.missing) throw entry.missing;
      return entry.value as T;
    }
    // Unchecked (the feed cannot be read) or expired: Cloud Controller is asked, and only if it
    // fails too does an answer from before stand in. What does not exist never stands in.
    try {
      // A lookup after a change must not join a load that started before it.
      const generation = this.#generation;
      const value = await flights.run(`${kind} ${key} ${generation}`, () => this.#load(entries, key, load, generation));
      return this.#answer(kind, 'miss', value);
    } catch (error) {
      if (entry?.value !== undefined && age < ttlMs + staleIfErrorMs && isSourceFailure(error)) {
        this.#warnStale(kind, key, error);
        return this.#answer(kind, 'stale', entry.value);
      }
      if (isAbsence(error)) this.#options.onLookup?.(kind, 'miss');
      throw error;
    }
  }

  /** Asks the source and keeps its answer — what it returned or that the thing does not exist — unless a change came meanwhile. */
  async #load<T>(entries: LruMap<string, Entry<T>>, key: string, load: () => Promise<T>, generation: number): Promise<T> {
    try {
      const value = await load();
      if (generation === this.#generation) entries.set(key, { value, storedAt: this.#now() });
      return value;
    } catch (error) {
      // Kept too, so that names and guids that do not exist cannot make every request ask Cloud Controller.
      if (isAbsence(error) && generation === this.#generation) entries.set(key, { missing: error, storedAt: this.#now() });
      throw error;
    }
  }

  #answer<T>(kind: SourceCacheKind, outcome: SourceCacheOutcome, value: T): T {
    this.#options.onLookup?.(kind, outcome);
    return value;
  }

  #warnStale(kind: SourceCacheKind, key: string, error: unknown): void {
    this.#options.logger.warn(
      { event: 'source.stale_answer', kind, key, err: error },
      `Cloud Controller failed (${(error as Error).message}); serving the ${kind.replace('_', ' ')} answer it gave for ${key} before`,
    );
  }

  /** Drops what a change may have made untrue. */
  #forget(change: SourceChange): void {
    this.#generation += 1;
    switch (change.kind) {
      case 'current-droplet':
        this.#currentDroplets.delete(change.appGuid);
        return;
      case 'app':
        this.#apps.delete(change.appGuid);
        // An app renamed may now be what a name that led nowhere means.
        this.#names.deleteWhere((entry) => entry.value === undefined || entry.value.guid === change.appGuid);
        this.#currentDroplets.delete(change.appGuid);
        this.#droplets.deleteWhere((_, key) => key.startsWith(`${change.appGuid}/`));
        return;
      case 'names':
        // App refs carry their org's and space's names too.
        this.#names.clear();
        this.#apps.clear();
        return;
      case 'everything':
        for (const entries of [this.#names, this.#apps, this.#currentDroplets, this.#droplets] as LruMap<string, unknown>[]) entries.clear();
    }
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }
}

/** Cloud Controller failing (5xx, timeouts, rate limits: UNAVAILABLE), as opposed to an answer (not found, bad input). */
function isSourceFailure(error: unknown): boolean {
  return error instanceof RegistryError && error.code === 'UNAVAILABLE';
}

/** The source's answer that the thing does not exist (no such name, app or droplet, no current droplet). */
function isAbsence(error: unknown): error is RegistryError {
  return error instanceof RegistryError && (error.code === 'NAME_UNKNOWN' || error.code === 'MANIFEST_UNKNOWN');
}
