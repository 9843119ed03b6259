/**
 * Cloud Controller's audit events that mean "this droplet may be pulled soon": a build staged
 * (`audit.app.build.staged`, written once the droplet is STAGED) and a droplet made current
 * (`audit.app.droplet.mapped`, what `:latest` follows). `audit.app.droplet.create` is not one of
 * them: it fires while the droplet is still STAGING.
 */
import type { CapiClient } from '../sources/capi/capi-client.ts';

/** The two event types the pre-warmer follows, as CC's `types` filter takes them. */
const STAGING_EVENT_TYPES = 'audit.app.build.staged,audit.app.droplet.mapped';

/** What the pre-warmer needs of Cloud Controller. */
export type CapiReader = Pick<CapiClient, 'get' | 'list' | 'listFirstPages'>;

/** An audit event as `GET /v3/audit_events` presents it (the parts used here). */
interface CapiAuditEvent {
  guid: string;
  created_at: string;
  type: string;
  target: { guid: string; type: string };
  data: { droplet_guid?: unknown; request?: { droplet_guid?: unknown } } | null;
}

export interface StagingEvent {
  readonly guid: string;
  readonly type: string;
  /** CC's timestamp: a whole second. */
  readonly createdAt: Date;
  readonly appGuid: string;
  /** `null` when the event names no droplet (a shape this code does not know). */
  readonly dropletGuid: string | null;
}

/**
 * The staging events created at or after `since` (a whole second), oldest first: as many as the
 * client reads of one list (CAPI_MAX_PAGES pages), so a backlog — after an outage, or a flood of
 * `cf push` — is worked off a batch per round, each round going on from the cursor the last one
 * left. `complete`: false when more events follow those.
 */
export async function listStagingEvents(capi: CapiReader, since: Date): Promise<{ events: StagingEvent[]; complete: boolean }> {
  const { resources, complete } = await capi.listFirstPages<CapiAuditEvent>('/v3/audit_events', {
    types: STAGING_EVENT_TYPES,
    'created_ats[gte]': capiTimestamp(since),
    order_by: 'created_at',
  });
  return { events: resources.map(toStagingEvent), complete };
}

/** When the newest staging event happened, by Cloud Controller's clock; `undefined` when there is none. */
export async function newestStagingEventTime(capi: CapiReader): Promise<Date | undefined> {
  const page = await capi.get<{ resources: CapiAuditEvent[] }>('/v3/audit_events', { types: STAGING_EVENT_TYPES, order_by: '-created_at', per_page: '1' });
  const newest = page?.resources[0];
  return newest && wholeSecond(new Date(newest.created_at));
}

/** `YYYY-MM-DDThh:mm:ssZ`: CC refuses fractional seconds in timestamp filters. */
function capiTimestamp(at: Date): string {
  return wholeSecond(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function wholeSecond(at: Date): Date {
  return new Date(Math.floor(at.getTime() / 1000) * 1000);
}

function toStagingEvent(event: CapiAuditEvent): StagingEvent {
  // build.staged names the droplet in data.droplet_guid; droplet.mapped in data.request.droplet_guid.
  const dropletGuid = event.type === 'audit.app.droplet.mapped' ? event.data?.request?.droplet_guid : event.data?.droplet_guid;
  return {
    guid: event.guid,
    type: event.type,
    createdAt: wholeSecond(new Date(event.created_at)),
    appGuid: event.target.guid,
    dropletGuid: typeof dropletGuid === 'string' && dropletGuid !== '' ? dropletGuid : null,
  };
}
