/**
 * Runs each route's handler in an async context marked with its kind of request
 * (metrics/request-kind.ts), so that the calls to Cloud Controller and UAA made while serving it —
 * and by work it starts — are counted against that kind of request.
 *
 * @remarks
 * A handler is wrapped rather than the context entered in a request extension: an extension's
 * `enterWith` does not outlive the `await` hapi resumes from.
 */
import type { Lifecycle, ServerRoute } from '@hapi/hapi';
import { requestKind, requestKindOf } from '../metrics/request-kind.ts';

export function withRequestKinds(routes: ServerRoute | ServerRoute[]): ServerRoute[] {
  return (Array.isArray(routes) ? routes : [routes]).map((route) => {
    if (typeof route.handler !== 'function') return route;
    const handler = route.handler as Lifecycle.Method;
    const marked: Lifecycle.Method = (request, h, error) => requestKind.run(requestKindOf(request.path), () => handler.call(null, request, h, error));
    return { ...route, handler: marked };
  });
}
