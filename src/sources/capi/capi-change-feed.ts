/**
 * Cloud Controller's audit events as a change feed for the cache of its answers: one read per
 * `intervalMs` per instance at most, however many pulls ask, reporting each event that may have
 * made a cached answer untrue (a droplet mapped, an app, space or org created, renamed or deleted).
 *
 * @remarks
 * CC stamps events with whole seconds, and an event may become visible after a read has passed
 * its second (a transaction committing late, API VMs' clocks apart), so each read asks for the
 * events from `LOOKBACK_SECONDS` before the newest one seen and skips those it has seen (by guid).
 * The first read starts from CC's newest event, by CC's clock. A read that cannot see everything
 * since the last one (more events than CAPI_MAX_PAGES pages) reports `everything`; so does the
 * first read after `MAX_FAILURES` failed ones in a row, which starts afresh from the newest event
 * (a page the registry cannot read must not stop the feed for good).
 */
import type { Logger } from 'pino';
import type { SourceChange, SourceChangeFeed } from '../source-changes.ts';
import type { CapiClient } from './capi-client.ts';

const CURRENT_DROPLET_EVENTS = ['audit.app.droplet.mapped'];
// A droplet created or staged changes what its guid answers (not found, STAGING, STAGED).
const APP_EVENTS = ['audit.app.update', 'audit.app.delete-request', 'audit.app.droplet.create', 'audit.app.build.staged', 'audit.app.droplet.delete'];
const NAME_EVENTS = [
  'audit.app.create',
  'audit.space.create',
  'audit.space.update',
  'audit.space.delete-request',
  'audit.organization.create',
  'audit.organization.update',
  'audit.organization.delete-request',
];
const EVENT_TYPES = [...CURRENT_DROPLET_EVENTS, ...APP_EVENTS, ...NAME_EVENTS].join(',');

/** How far before the newest event seen each read looks again. */
const LOOKBACK_SECONDS = 10;
/** Failed reads in a row after which the feed starts afresh. */
const MAX_FAILURES = 3;

interface CapiAuditEvent {
  guid: string;
  created_at: string;
  type: string;
  target: { guid: string };
}

export interface CapiChangeFeedOptions {
  readonly capi: Pick<CapiClient, 'get' | 'listFirstPages'>;
  /** Reads at most this often; a lookup within it is answered from what the last read said. */
  readonly intervalMs: number;
  readonly logger: Logger;
  /** Milliseconds since the epoch; tests move it. */
  readonly now?: () => number;
}

export class CapiChangeFeed implements SourceChangeFeed {
  readonly #options: CapiChangeFeedOptions;
  readonly #listeners: Array<(change: SourceChange) => void> = [];
  /** Second of the newest event seen (CC's clock), and the guids seen within LOOKBACK_SECONDS of it (with their second); undefined before the first read. */
  #cursor: { second: number; seen: Map<string, number> } | undefined;
  #lastRead: { startedAt: number; failure?: unknown } | undefined;
  #failures = 0;
  /** Whether the next first read starts afresh after failures (and must say that anything may have changed). */
  #restarting = false;
  #reading: Promise<void> | undefined;

  constructor(options: CapiChangeFeedOptions) {
    this.#options = options;
  }

  onChange(listener: (change: SourceChange) => void): void {
    this.#listeners.push(listener);
  }

  /** A change learnt elsewhere (the pre-warmer reads audit events too), told to the listeners now. */
  report(change: SourceChange): void {
    this.#tell(change);
  }

  catchUp(): Promise<void> {
    if (this.#reading) return this.#reading;
    const last = this.#lastRead;
    if (last && this.#now() - last.startedAt < this.#options.intervalMs) {
      // A failing Cloud Controller is asked again only after the interval too.
      return last.failure === undefined ? Promise.resolve() : Promise.reject(last.failure);
    }
    const read = { startedAt: this.#now() };
    this.#reading = this.#read().then(
      () => {
        this.#lastRead = read;
        this.#failures = 0;
      },
      (failure: unknown) => {
        this.#lastRead = { ...read, failure };
        this.#failures += 1;
        if (this.#failures >= MAX_FAILURES && this.#cursor) {
          this.#cursor = undefined;
          this.#restarting = true;
        }
        this.#options.logger.warn({ event: 'source.changes_unreadable', err: failure }, `cannot read Cloud Controller's audit events: ${(failure as Error).message}`);
        throw failure;
      },
    );
    return this.#reading.finally(() => {
      this.#reading = undefined;
    });
  }

  async #read(): Promise<void> {
    const { capi } = this.#options;
    if (!this.#cursor) {
      const newest = await capi.get<{ resources: CapiAuditEvent[] }>('/v3/audit_events', { types: EVENT_TYPES, order_by: '-created_at', per_page: '1' });
      const first = newest?.resources[0];
      const second = first ? wholeSecond(first.created_at) : 0;
      this.#cursor = { second, seen: new Map(first ? [[first.guid, second]] : []) };
      if (this.#restarting) this.#tell({ kind: 'everything' });
      this.#restarting = false;
      return;
    }
    const cursor = this.#cursor;
    const { resources, complete } = await capi.listFirstPages<CapiAuditEvent>('/v3/audit_events', {
      types: EVENT_TYPES,
      'created_ats[gte]': capiTimestamp(cursor.second - LOOKBACK_SECONDS * 1000),
      order_by: 'created_at',
    });
    const unseen = resources.filter((event) => !cursor.seen.has(event.guid));
    if (!complete) this.#tell({ kind: 'everything' });
    else for (const event of unseen) this.#tell(changeOf(event));
    const second = Math.max(cursor.second, ...resources.map((event) => wholeSecond(event.created_at)));
    const seen = new Map(cursor.seen);
    for (const event of resources) seen.set(event.guid, wholeSecond(event.created_at));
    for (const [guid, at] of seen) if (at < second - LOOKBACK_SECONDS * 1000) seen.delete(guid);
    this.#cursor = { second, seen };
  }

  #tell(change: SourceChange): void {
    for (const listener of this.#listeners) listener(change);
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }
}

function changeOf(event: CapiAuditEvent): SourceChange {
  if (CURRENT_DROPLET_EVENTS.includes(event.type)) return { kind: 'current-droplet', appGuid: event.target.guid };
  if (APP_EVENTS.includes(event.type)) return { kind: 'app', appGuid: event.target.guid };
  return { kind: 'names' };
}

/** `YYYY-MM-DDThh:mm:ssZ`: CC refuses fractional seconds in timestamp filters. */
function capiTimestamp(ms: number): string {
  return new Date(Math.max(0, ms)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** An event's time as whole-second milliseconds since the epoch. */
function wholeSecond(createdAt: string): number {
  return Math.floor(new Date(createdAt).getTime() / 1000) * 1000;
}
