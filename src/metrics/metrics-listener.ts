/**
 * `/metrics` on a port of its own (METRICS_PORT), bound to METRICS_HOST: Prometheus scrapes it
 * from inside the platform while the gorouter, which routes only the registry's main port, never
 * exposes it. Serves nothing else.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { METRICS_PATH } from './metrics-route.ts';
import type { RegistryMetrics } from './registry-metrics.ts';

export interface MetricsListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly metrics: RegistryMetrics;
  readonly logger: Logger;
}

export class MetricsListener {
  readonly #options: MetricsListenerOptions;
  readonly #server: Server;

  constructor(options: MetricsListenerOptions) {
    this.#options = options;
    this.#server = createServer((request, response) => void this.#answer(request, response));
  }

  /** `http://host:port` once listening. */
  get url(): string {
    const address = this.#server.address() as AddressInfo | null;
    if (!address) throw new Error('the metrics listener is not listening');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  start(): Promise<void> {
    const { host, port } = this.#options;
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stops listening and closes idle scrape connections. */
  stop(): Promise<void> {
    if (!this.#server.listening) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#server.close((error) => (error ? reject(error) : resolve()));
      this.#server.closeIdleConnections();
    });
  }

  async #answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '').split('?')[0];
    if (path !== METRICS_PATH) return end(response, 404, `only ${METRICS_PATH} is served on this port\n`);
    if (request.method !== 'GET' && request.method !== 'HEAD') return end(response, 405, `${request.method} is not supported; GET ${METRICS_PATH}\n`, { allow: 'GET, HEAD' });
    try {
      const text = await this.#options.metrics.text();
      response.writeHead(200, { 'content-type': this.#options.metrics.contentType, 'content-length': Buffer.byteLength(text) });
      response.end(request.method === 'HEAD' ? undefined : text);
    } catch (error) {
      this.#options.logger.error({ event: 'metrics.failed', err: error }, 'collecting metrics failed');
      end(response, 500, 'collecting metrics failed\n');
    }
  }
}

function end(response: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  response.end(message);
}
