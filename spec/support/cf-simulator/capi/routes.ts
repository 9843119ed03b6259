/**
 * What a CAPI route handler is given and returns, and the lookups and list rendering most
 * handlers share. Lookups apply CC's visibility rule: a resource the caller may not read is
 * "not found", never "forbidden".
 */
import { createHash } from 'node:crypto';
import type { Blobstore } from '../blobstore-server.ts';
import type { App, Droplet, Foundation } from '../foundation.ts';
import type { Faults } from '../faults.ts';
import type { Uaa } from '../uaa.ts';
import { notFound } from './errors.ts';
import { paginate } from './pagination.ts';
import type { Permissions } from './permissions.ts';
import { presentDroplet, type Redaction } from './presenters.ts';
import type { ParsedQuery } from './query.ts';

export interface CapiContext {
  readonly foundation: Foundation;
  readonly faults: Faults;
  readonly blobstore: Blobstore;
  readonly uaa: Uaa;
  /** What links and pagination hrefs start with; set when the server listens. */
  base: string;
}

export interface CapiRequest {
  readonly params: Readonly<Record<string, string>>;
  readonly search: URLSearchParams;
  /** The caller's permissions; on anonymous routes, those of nobody. */
  readonly permissions: Permissions;
}

export interface CapiReply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface CapiRoute {
  /** `METHOD /template`, also the key of the request counters. */
  readonly name: string;
  /** `GET /`, `/v3` and `/v3/info` need no token. */
  readonly anonymous?: boolean;
  handle(request: CapiRequest, context: CapiContext): CapiReply | Promise<CapiReply>;
}

export const ok = (body: unknown): CapiReply => ({ status: 200, body });

/** The app, if the caller may read its space; else 404 "App not found". */
export function visibleApp(request: CapiRequest, context: CapiContext, guid: string): App {
  const app = context.foundation.app(guid);
  if (!app || !request.permissions.canReadSpace(app.spaceGuid)) throw notFound('App');
  return app;
}

/** The droplet and its app, if the caller may read the app's space; else 404 "Droplet not found". */
export function visibleDroplet(request: CapiRequest, context: CapiContext, guid: string): { droplet: Droplet; app: App } {
  const droplet = context.foundation.droplet(guid);
  const app = droplet ? context.foundation.app(droplet.appGuid) : undefined;
  if (!droplet || !app || !request.permissions.canReadSpace(app.spaceGuid)) throw notFound('Droplet');
  return { droplet, app };
}

/** A droplet as JSON, with the advertised checksum falsified when that fault is on. */
export async function dropletJson(droplet: Droplet, context: CapiContext, redaction: Redaction) {
  const blob = await context.foundation.dropletBlob(droplet);
  const real = blob === null ? null : droplet.checksumType === 'sha256' ? blob.sha256 : blob.sha1;
  const wrong =
    real !== null && context.faults.isChecksumWrong(droplet.guid)
      ? createHash('sha256').update(`not ${real}`).digest('hex').slice(0, real.length)
      : undefined;
  return presentDroplet(droplet, blob, context.base, redaction, wrong);
}

/** The standard list body for `items` (already filtered and ordered) at `path`. */
export async function listBody<T>(items: readonly T[], query: ParsedQuery, path: string, context: CapiContext, present: (item: T) => unknown) {
  const { pagination, page } = paginate(items, query, `${context.base}${path}`);
  return { pagination, resources: await Promise.all(page.map(present)), page };
}

/** Keeps items whose `value` is among the filter's values; no filter keeps everything. */
export function filterBy<T>(items: readonly T[], values: readonly string[] | null, value: (item: T) => string | null): T[] {
  return values === null ? [...items] : items.filter((item) => values.includes(value(item) ?? ''));
}

/** `created_at`/`updated_at` sort keys most lists accept. */
export const TIMESTAMP_COLUMNS = {
  created_at: (item: { createdAt: Date }) => item.createdAt.getTime(),
  updated_at: (item: { updatedAt: Date }) => item.updatedAt.getTime(),
};
