/**
 * Which kind of request the code running now serves, so calls to Cloud Controller and UAA can be
 * counted per kind of request (what a pull costs the platform). Set by the server when a request
 * arrives; work a request starts (a conversion, a shared lookup) counts as that request's.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export type RequestKind = 'token' | 'manifest' | 'blob' | 'tags' | 'referrers' | 'admin' | 'other';

export const requestKind = new AsyncLocalStorage<RequestKind>();

/** The kind of a request by its path. */
export function requestKindOf(path: string): RequestKind {
  if (path === '/v2/token') return 'token';
  if (path.startsWith('/admin/')) return 'admin';
  if (!path.startsWith('/v2/')) return 'other';
  if (/\/manifests\/[^/]+$/.test(path)) return 'manifest';
  if (/\/blobs\/[^/]+$/.test(path)) return 'blob';
  if (/\/tags\/list$/.test(path)) return 'tags';
  if (/\/referrers\/[^/]+$/.test(path)) return 'referrers';
  return 'other';
}
