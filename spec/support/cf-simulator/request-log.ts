/**
 * Every request the simulated servers saw, so tests can assert "no extra round trips" (a cached
 * token, a single `include=` call instead of three lookups) and that the blobstore was called
 * without an Authorization header.
 */
import type { SimulatedServer } from './faults.ts';

export interface RecordedRequest {
  readonly server: SimulatedServer;
  readonly method: string;
  /** The route template, e.g. `GET /v3/apps/:guid`; `GET <unmatched>` for paths no route serves. */
  readonly route: string;
  /** Path and query as received. */
  readonly url: string;
  readonly hadAuthorization: boolean;
  /** Filled in when the response has been written; null while it is in flight or if it was cut. */
  status: number | null;
}

export class RequestLog {
  readonly #entries: RecordedRequest[] = [];
  readonly #inFlight = new Map<SimulatedServer, number>();
  readonly #maxInFlight = new Map<SimulatedServer, number>();

  /** For the servers: records a request as it arrives, so counts are exact as soon as the client has its answer. */
  record(entry: Omit<RecordedRequest, 'status'>): RecordedRequest {
    const recorded: RecordedRequest = { ...entry, status: null };
    this.#entries.push(recorded);
    const inFlight = (this.#inFlight.get(entry.server) ?? 0) + 1;
    this.#inFlight.set(entry.server, inFlight);
    this.#maxInFlight.set(entry.server, Math.max(inFlight, this.#maxInFlight.get(entry.server) ?? 0));
    return recorded;
  }

  /** For the servers: the request's connection is done with (answered, or cut). */
  closed(entry: RecordedRequest): void {
    this.#inFlight.set(entry.server, (this.#inFlight.get(entry.server) ?? 1) - 1);
  }

  /** The most requests `server` was handling at once since the last reset (how hard a client pushed it). */
  maxInFlight(server: SimulatedServer): number {
    return this.#maxInFlight.get(server) ?? 0;
  }

  /** How many requests hit `route` (e.g. `GET /v3/apps`, `POST /oauth/token`) since the last reset. */
  count(route: string): number {
    return this.#entries.filter((entry) => entry.route === route).length;
  }

  /** Requests since the last reset, oldest first, optionally only those of one server. */
  list(server?: SimulatedServer): readonly RecordedRequest[] {
    return server === undefined ? [...this.#entries] : this.#entries.filter((entry) => entry.server === server);
  }

  reset(): void {
    this.#entries.length = 0;
    // Requests in flight now stay counted until they close; only the high-water mark starts again.
    this.#maxInFlight.clear();
  }
}
