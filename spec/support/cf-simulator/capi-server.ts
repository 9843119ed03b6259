/**
 * The simulated Cloud Controller v3 API. Each request goes: counted and faults applied
 * (front-door.ts) → route → token checked (except the anonymous discovery documents) → read scope
 * → handler, whose CcErrors become CC's error bodies.
 *
 * Links and pagination hrefs start with the simulator's own URL unless `linksBase` says otherwise.
 * Real CC always uses its external `https://api.<sys>` there, even when called on an internal
 * address such as `…:9024`; pass that as `linksBase` to check a client rewrites them.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { appRoutes } from './capi/app-routes.ts';
import { auditEventRoutes } from './capi/audit-event-routes.ts';
import { authenticate, requireReadScope } from './capi/auth.ts';
import { dropletRoutes } from './capi/droplet-routes.ts';
import { CcError, RATE_LIMIT_BODY, UNKNOWN_ERROR_BODY, unknownRequest } from './capi/errors.ts';
import { organizationRoutes } from './capi/organization-routes.ts';
import { Permissions } from './capi/permissions.ts';
import { roleRoutes } from './capi/role-routes.ts';
import { rootRoutes } from './capi/root-routes.ts';
import type { CapiContext, CapiReply, CapiRoute } from './capi/routes.ts';
import { spaceRoutes } from './capi/space-routes.ts';
import { stackRoutes } from './capi/stack-routes.ts';
import type { InjectedStatus } from './faults.ts';
import { admit, sendRouterError, type FrontDoorDeps } from './front-door.ts';
import { listen, routeMatcher, sendJson, type ListeningServer } from './http.ts';

const ROUTES = [...rootRoutes, ...organizationRoutes, ...spaceRoutes, ...appRoutes, ...dropletRoutes, ...stackRoutes, ...auditEventRoutes, ...roleRoutes].map((route) =>
  routeMatcher(route.name, route),
);

/** Starts CAPI; sets `context.base` to `linksBase` or the server's own URL. */
export async function startCapiServer(context: CapiContext, deps: FrontDoorDeps, host: string, port: number, linksBase?: string): Promise<ListeningServer> {
  const server = await listen(
    async (request, response) => {
      const url = new URL(request.url ?? '/', 'http://capi');
      // Rails routes ignore a trailing slash.
      const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
      const method = request.method ?? 'GET';
      let found: { route: CapiRoute; params: Record<string, string> } | undefined;
      for (const candidate of ROUTES) {
        const params = candidate.match(method, path);
        if (params) {
          found = { route: candidate.value, params };
          break;
        }
      }
      if (!(await admit('capi', found?.route.name ?? `${method} <unmatched>`, request, response, deps, (res, status) => failure(res, status, host)))) return;
      send(response, await dispatch(request, url, found, context));
    },
    host,
    port,
  );
  context.base = linksBase ?? server.url;
  return server;
}

async function dispatch(request: IncomingMessage, url: URL, found: { route: CapiRoute; params: Record<string, string> } | undefined, context: CapiContext): Promise<CapiReply> {
  try {
    if (!found) throw unknownRequest();
    const viewer = found.route.anonymous ? { guid: '', userName: null, email: null, scopes: new Set<string>() } : authenticate(request.headers.authorization, context.uaa);
    if (!found.route.anonymous) requireReadScope(viewer);
    return await found.route.handle({ params: found.params, search: url.searchParams, permissions: new Permissions(context.foundation, viewer) }, context);
  } catch (error) {
    if (error instanceof CcError) return { status: error.status, body: error.body };
    throw error;
  }
}

function send(response: ServerResponse, reply: CapiReply): void {
  const headers = { 'X-Vcap-Request-Id': randomUUID(), ...reply.headers };
  if (reply.body === undefined) {
    response.writeHead(reply.status, { ...headers, 'Content-Length': '0' });
    response.end();
  } else {
    sendJson(response, reply.status, reply.body, headers);
  }
}

/**
 * 500 is CC's UnknownError; 502/503 come from gorouter; 429 is CC's rate limiter, which sends the
 * JSON as text/plain and sets `Retry-After` to the same epoch seconds as `X-RateLimit-Reset`.
 */
function failure(response: ServerResponse, status: InjectedStatus, host: string): void {
  if (status === 502 || status === 503) {
    sendRouterError(response, status, host);
  } else if (status === 429) {
    const reset = String(Math.floor(Date.now() / 1000) + 60);
    const body = JSON.stringify(RATE_LIMIT_BODY);
    response.writeHead(429, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(body)),
      'X-RateLimit-Limit': '2000',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': reset,
      'Retry-After': reset,
    });
    response.end(body);
  } else {
    sendJson(response, 500, UNKNOWN_ERROR_BODY);
  }
}
