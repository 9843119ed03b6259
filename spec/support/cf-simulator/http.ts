/**
 * The little HTTP plumbing the three simulated servers share. Plain `node:http` rather than hapi:
 * the simulator must control raw headers, query strings (`created_ats[gte]`) and half-sent bodies
 * exactly, which a framework would normalise away.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A route template such as `GET /v3/apps/:guid`, matched against method and path. */
export interface RouteMatcher<T> {
  readonly name: string;
  readonly value: T;
  match(method: string, path: string): Record<string, string> | null;
}

/** Compiles `METHOD /path/:param/...` into a matcher; `:name` matches one non-empty path segment. */
export function routeMatcher<T>(name: string, value: T): RouteMatcher<T> {
  const [method, template] = name.split(' ') as [string, string];
  const keys: string[] = [];
  const source = template.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:(\w+)/g, (_match, key: string) => {
    keys.push(key);
    return '([^/]+)';
  });
  const pattern = new RegExp(`^${source}$`);
  return {
    name,
    value,
    match(requestMethod, path) {
      if (requestMethod !== method) return null;
      const found = pattern.exec(path);
      if (!found) return null;
      return Object.fromEntries(keys.map((key, index) => [key, decodeURIComponent(found[index + 1] ?? '')]));
    },
  };
}

/** Reads a whole request body (token requests are tiny). */
export async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Writes a JSON body with an exact Content-Length. */
export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = Buffer.from(JSON.stringify(body));
  response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(payload.length), ...headers });
  response.end(payload);
}

/** Writes a text body (what gorouter and nginx answer with). */
export function sendText(response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const payload = Buffer.from(text);
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(payload.length), ...headers });
  response.end(payload);
}

/** A server listening on an ephemeral (or given) port, and how to stop it without waiting for idle keep-alive sockets. */
export interface ListeningServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts a server on `host:port` (port 0 = ephemeral). A handler that throws answers 500, so a bug in
 * the simulator shows up as a failing assertion rather than a hung test.
 */
export async function listen(
  handler: (request: IncomingMessage, response: ServerResponse) => Promise<void>,
  host: string,
  port: number,
): Promise<ListeningServer> {
  const server: Server = createServer((request, response) => {
    handler(request, response).catch((error: unknown) => {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      sendText(response, 500, `cf-simulator bug: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
