/**
 * The pre-warmer: converts droplets as soon as Cloud Controller stages them, so the first pull
 * after `cf push` finds the image ready. One instance leads (see leader-election.ts); every
 * `intervalMs` it asks CAPI for the staging events since its cursor and warms their droplets,
 * `concurrency` at a time. On its first start against a Cloud Controller it warms the current
 * droplets of the most recently updated apps instead, and follows the events that come after.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { loadPrewarmCursor, savePrewarmCursor, type PrewarmCursor } from '../db/queries/prewarm-cursor.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { ImageService } from '../images/image-service.ts';
import type { PrewarmCounters } from '../metrics/prewarm-metrics.ts';
import { advanceCursor } from './event-cursor.ts';
import { forEachBounded } from './for-each-bounded.ts';
import type { LeaderElection } from './leader-election.ts';
import { findCurrentDropletGuid, listRecentlyUpdatedApps } from './recent-apps.ts';
import { listStagingEvents, newestStagingEventTime, type CapiReader, type StagingEvent } from './staging-events.ts';

/**
 * Failed warms of one droplet (one per round) before its events are given up and its image left
 * to its first pull, so one droplet that can never be fetched does not hold the cursor (and grow
 * every query) forever.
 */
const MAX_ATTEMPTS = 20;

export interface PrewarmerOptions {
  readonly db: Knex;
  readonly capi: CapiReader;
  /** The Cloud Controller followed; its cursor is kept under this name. */
  readonly capiUrl: string;
  readonly images: Pick<ImageService, 'warmDroplet'>;
  readonly leadership: LeaderElection;
  readonly logger: Logger;
  readonly intervalMs: number;
  /** Warms under way at once. */
  readonly concurrency: number;
  /** Apps whose current droplet the first start warms. */
  readonly initialApps: number;
  /**
   * Told of each app whose current droplet an event says changed (`audit.app.droplet.mapped`),
   * before the droplet is warmed: this instance's cache of Cloud Controller answers drops it, so
   * the pull that follows the push gets the new droplet without waiting for its own change check.
   */
  readonly onDropletMapped?: (appGuid: string) => void;
}

/** What one round did: nothing (another instance leads), the first-start warm-up, or following events. */
export type PrewarmRound = 'follower' | 'initialized' | 'followed';

type WarmOutcome = 'converted' | 'ready' | 'skipped' | 'failed';

/** The events of one round that name the same droplet: warmed once. */
interface DropletGroup {
  readonly appGuid: string;
  readonly dropletGuid: string;
  readonly events: StagingEvent[];
}

export class Prewarmer {
  readonly #options: PrewarmerOptions;
  readonly #counters: PrewarmCounters = { eventsSeen: 0, conversions: 0, alreadyReady: 0, skipped: 0, failures: 0, givenUp: 0, lastLagSeconds: null };
  /** Failed warms per droplet (`app/droplet`), while its events are retried. */
  readonly #attempts = new Map<string, number>();
  /** The round under way (or the last one), so rounds never overlap. */
  #round: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopping = false;

  constructor(options: PrewarmerOptions) {
    this.#options = options;
  }

  get counters(): Readonly<PrewarmCounters> {
    return { ...this.#counters };
  }

  get isLeader(): boolean {
    return this.#options.leadership.isLeader;
  }

  /** Runs a round now, then one every `intervalMs` until `stop()`; a failed round is logged and retried. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const { intervalMs, concurrency, logger } = this.#options;
    logger.info({ event: 'prewarm.started', intervalMs, concurrency }, `pre-warming droplets from Cloud Controller audit events every ${intervalMs} ms`);
    const tick = async (): Promise<void> => {
      try {
        await this.runOnce();
      } catch (error) {
        if (this.#stopping) return;
        logger.warn({ event: 'prewarm.round_failed', err: error }, `pre-warming round failed (${(error as Error).message}); trying again in ${intervalMs} ms`);
      }
      if (!this.#stopping) this.#timer = setTimeout(() => void tick(), intervalMs).unref();
    };
    void tick();
  }

  /** Lets warms under way finish (starting no new ones), records the cursor, and gives leadership up. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    await this.#round;
    await this.#options.leadership.resign();
  }

  /**
   * One round, after the one under way if any: as leader, the first-start warm-up or the staging
   * events since the cursor. Rejects when CAPI or the database fails (nothing is lost: the cursor
   * only moves past what was handled).
   */
  runOnce(): Promise<PrewarmRound> {
    const round = this.#round.then(() => this.#lead());
    this.#round = round.catch(() => undefined);
    return round;
  }

  async #lead(): Promise<PrewarmRound> {
    // A round after stop() would take leadership again, with nobody left to give it up.
    if (this.#stopping) throw new Error('the pre-warmer has been stopped');
    if (!(await this.#options.leadership.check())) return 'follower';
    const cursor = await loadPrewarmCursor(this.#options.db, this.#options.capiUrl);
    if (!cursor) {
      await this.#initialize();
      return 'initialized';
    }
    await this.#follow(cursor);
    return 'followed';
  }

  /**
   * First start: the events up to now are taken as seen, and the recently updated apps are warmed
   * instead. "Now" is Cloud Controller's: the second of its newest staging event (no local clock
   * involved); every event of that second and after, as listed at this point, is marked handled.
   * The apps are listed afterwards, so they reflect those events.
   */
  async #initialize(): Promise<void> {
    const { capi, db, capiUrl, initialApps, concurrency, logger } = this.#options;
    // No staging event at all yet: every future one is newer than the epoch.
    const newest = (await newestStagingEventTime(capi)) ?? new Date(0);
    const { events } = await listStagingEvents(capi, newest);
    const cursor = advanceCursor({ resumeAt: newest, handledGuids: [] }, events, new Set(events.map((event) => event.guid)));
    const apps = await listRecentlyUpdatedApps(capi, initialApps);
    logger.info(
      { event: 'prewarm.initial', apps: apps.length, resumeAt: cursor.resumeAt },
      `first start: warming the current droplets of the ${apps.length} most recently updated apps, then following audit events from ${cursor.resumeAt.toISOString()}`,
    );
    await forEachBounded(
      apps,
      concurrency,
      async (appGuid) => {
        let dropletGuid: string | null;
        try {
          dropletGuid = await findCurrentDropletGuid(capi, appGuid);
        } catch (error) {
          this.#counters.failures += 1;
          logger.warn({ event: 'prewarm.warmed', outcome: 'failed', trigger: 'initial', app: appGuid, err: error }, `could not find the current droplet of app ${appGuid}: ${(error as Error).message}`);
          return;
        }
        if (dropletGuid) await this.#warm(appGuid, dropletGuid, 'initial');
      },
      () => this.#stopping,
    );
    await savePrewarmCursor(db, capiUrl, cursor);
  }

  async #follow(cursor: PrewarmCursor): Promise<void> {
    const { capi, db, capiUrl, concurrency, logger } = this.#options;
    const { events, complete } = await listStagingEvents(capi, cursor.resumeAt);
    const handled = new Set(cursor.handledGuids);
    const groups = new Map<string, DropletGroup>();
    for (const event of events) {
      if (handled.has(event.guid)) continue;
      if (event.type === 'audit.app.droplet.mapped') this.#options.onDropletMapped?.(event.appGuid);
      if (!event.dropletGuid) {
        this.#counters.skipped += 1;
        logger.info({ event: 'prewarm.skipped', auditEvent: event.guid, type: event.type }, `audit event ${event.guid} (${event.type}) names no droplet; skipped`);
        this.#handled(handled, [event]);
        continue;
      }
      const key = `${event.appGuid}/${event.dropletGuid}`;
      const group = groups.get(key) ?? { appGuid: event.appGuid, dropletGuid: event.dropletGuid, events: [] };
      group.events.push(event);
      groups.set(key, group);
    }
    await forEachBounded(
      [...groups.entries()],
      concurrency,
      async ([key, group]) => {
        const outcome = await this.#warm(group.appGuid, group.dropletGuid, 'event');
        if (outcome !== 'failed' || this.#exhausted(key, group)) {
          this.#attempts.delete(key);
          this.#handled(handled, group.events);
        }
      },
      () => this.#stopping,
    );
    let next = advanceCursor(cursor, events, handled);
    if (!complete && sameCursor(cursor, next) && events.every((event) => handled.has(event.guid))) next = this.#pastCrowdedSecond(cursor, events.length);
    if (!sameCursor(cursor, next)) await savePrewarmCursor(db, capiUrl, next);
  }

  /**
   * The cursor after a round that read only events of the cursor's second, all handled, and not
   * all of that second's: the next round would read the same ones again. It goes on from the next
   * second; the droplets of the rest of that second are converted by their first pull.
   */
  #pastCrowdedSecond(cursor: PrewarmCursor, read: number): PrewarmCursor {
    const second = cursor.resumeAt.toISOString();
    this.#options.logger.warn(
      { event: 'prewarm.crowded_second', second, read },
      `more staging events at ${second} than one round reads (${read}, CAPI_MAX_PAGES pages); going on from the next second, the others are converted by their first pull`,
    );
    return { resumeAt: new Date(cursor.resumeAt.getTime() + 1000), handledGuids: [] };
  }

  /** Counts one more failed warm of this droplet; true once it has failed MAX_ATTEMPTS times (then it is given up). */
  #exhausted(key: string, group: DropletGroup): boolean {
    const attempts = (this.#attempts.get(key) ?? 0) + 1;
    this.#attempts.set(key, attempts);
    if (attempts < MAX_ATTEMPTS) return false;
    this.#counters.givenUp += group.events.length;
    this.#options.logger.warn(
      { event: 'prewarm.given_up', app: group.appGuid, droplet: group.dropletGuid, attempts },
      `giving up pre-warming droplet ${group.dropletGuid} of app ${group.appGuid} after ${attempts} failed attempts; its first pull will convert it`,
    );
    return true;
  }

  #handled(handled: Set<string>, events: readonly StagingEvent[]): void {
    for (const event of events) handled.add(event.guid);
    this.#counters.eventsSeen += events.length;
    const newest = events.at(-1);
    if (newest) this.#counters.lastLagSeconds = Math.max(0, Math.round((Date.now() - newest.createdAt.getTime()) / 1000));
  }

  /** Warms one droplet and logs one line with the outcome; never rejects. */
  async #warm(appGuid: string, dropletGuid: string, trigger: 'event' | 'initial'): Promise<WarmOutcome> {
    const { images, logger } = this.#options;
    const fields = { event: 'prewarm.warmed', trigger, app: appGuid, droplet: dropletGuid };
    try {
      const result = await images.warmDroplet(appGuid, dropletGuid);
      if (result === 'converted') this.#counters.conversions += 1;
      else this.#counters.alreadyReady += 1;
      logger.info({ ...fields, outcome: result }, `pre-warmed droplet ${dropletGuid} of app ${appGuid}: ${result === 'converted' ? 'converted' : 'image already there'}`);
      return result;
    } catch (error) {
      if (error instanceof RegistryError && (error.code === 'MANIFEST_UNKNOWN' || error.code === 'NAME_UNKNOWN')) {
        this.#counters.skipped += 1;
        logger.info({ ...fields, outcome: 'skipped', reason: error.message }, `droplet ${dropletGuid} of app ${appGuid} cannot be pre-warmed: ${error.message}`);
        return 'skipped';
      }
      this.#counters.failures += 1;
      const then = trigger === 'event' ? 'retrying on a later round' : 'its first pull will convert it';
      logger.warn({ ...fields, outcome: 'failed', err: error }, `pre-warming droplet ${dropletGuid} of app ${appGuid} failed (${(error as Error).message}); ${then}`);
      return 'failed';
    }
  }
}

function sameCursor(a: PrewarmCursor, b: PrewarmCursor): boolean {
  return a.resumeAt.getTime() === b.resumeAt.getTime() && a.handledGuids.length === b.handledGuids.length && a.handledGuids.every((guid, i) => guid === b.handledGuids[i]);
}
