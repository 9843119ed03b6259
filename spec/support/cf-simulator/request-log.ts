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

  /** For the servers: records a request as it arrives, so counts are exact as soon as the client has its answer. */
  record(entry: Omit<RecordedRequest, 'status'>): RecordedRequest {
    const recorded: RecordedRequest = { ...entry, status: null };
    this.#entries.push(recorded);
    return recorded;
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
  }
}
