/**
 * A reverse proxy on 127.0.0.1 in front of the registry that counts the body bytes of each answer,
 * so the bench sees what a real client (skopeo) downloaded: the registry has no metric of the
 * bytes it served, and a client that finds a blob already present never asks for it.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** Body bytes of the answer, as the client received them. */
  readonly bytes: number;
}

export interface CountingProxy {
  /** `127.0.0.1:port`, for the client. */
  readonly host: string;
  /** The requests answered since the last `reset`. */
  requests(): readonly ProxiedRequest[];
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(upstream: { hostname: string; port: number }): Promise<CountingProxy> {
  let answered: ProxiedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const forward = request({ ...upstream, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      let bytes = 0;
      answer.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      answer.once('end', () => answered.push({ method: req.method ?? '', path: req.url ?? '', status: answer.statusCode ?? 0, bytes }));
      answer.pipe(res);
    });
    forward.once('error', (error) => {
      if (res.headersSent) res.destroy(error);
      else res.writeHead(502).end(error.message);
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    requests: () => answered,
    reset: () => {
      answered = [];
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
