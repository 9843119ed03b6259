/**
 * Fault injection: tests switch these on to see how the registry copes with a Cloud Foundry that
 * misbehaves the ways real ones do (5xx and rate limits from CC or gorouter, slow answers, droplet
 * downloads cut short, checksums that do not match, a service client whose secret was rotated) or
 * a hostile one would (answers of any size, shape or pace: `answerNext`).
 * Every fault is consumed by the servers at request time, so setting one affects only later requests.
 */

/** Which simulated server a fault applies to. */
export type SimulatedServer = 'capi' | 'uaa' | 'blobstore';

/** Statuses `failNext` can inject; 429 takes CC's CF-RateLimitExceeded shape. */
export type InjectedStatus = 429 | 500 | 502 | 503;

/** Narrows a fault to one server (default `capi`) and optionally one route, e.g. `GET /v3/droplets/:guid/download`. */
export interface FaultScope {
  readonly server?: SimulatedServer;
  readonly route?: string;
}

/** An answer the server gives instead of handling the request. */
export interface CannedAnswer {
  /** Default 200. */
  readonly status?: number;
  /** Sent as JSON, with its exact Content-Length. */
  readonly body: unknown;
  /** Sent one byte every this many milliseconds (an answer that trickles), instead of at once. */
  readonly trickleMs?: number;
}

interface Counted<T> {
  readonly value: T;
  remaining: number;
  readonly server: SimulatedServer;
  readonly route: string | undefined;
}

export class Faults {
  readonly #failures: Array<Counted<InjectedStatus>> = [];
  readonly #delays: Array<Counted<number>> = [];
  readonly #answers: Array<Counted<CannedAnswer>> = [];
  #downloadCut: { bytes: number; remaining: number } | null = null;
  #downloadStall: { bytes: number; remaining: number } | null = null;
  readonly #wrongChecksums = new Set<string>();
  readonly #rejectedClients = new Set<string>();
  /** When set, droplet download redirects carry URLs whose `expires` is already past (the blobstore answers 410). */
  expireSignedUrls = false;

  /** The next `count` matching requests answer `status` instead of being handled. */
  failNext(count: number, status: InjectedStatus, scope: FaultScope = {}): void {
    this.#failures.push({ value: status, remaining: count, server: scope.server ?? 'capi', route: scope.route });
  }

  /** The next `count` matching requests wait `ms` before being handled (use with a client timeout). */
  delayNext(count: number, ms: number, scope: FaultScope = {}): void {
    this.#delays.push({ value: ms, remaining: count, server: scope.server ?? 'capi', route: scope.route });
  }

  /**
   * The next `count` matching requests (Infinity: all of them) get `answer` instead of being
   * handled, e.g. a list page whose `pagination.next` names itself again (pagination that never ends).
   */
  answerNext(count: number, answer: CannedAnswer, scope: FaultScope = {}): void {
    this.#answers.push({ value: answer, remaining: count, server: scope.server ?? 'capi', route: scope.route });
  }

  /** The next `count` blobstore downloads send the full headers, then only `bytes` bytes, then drop the connection. */
  cutDownloadsAfter(bytes: number, count = 1): void {
    this.#downloadCut = { bytes, remaining: count };
  }

  /** The next `count` blobstore downloads send the full headers, then only `bytes` bytes, then nothing more until the client hangs up (a download that hangs). */
  stallDownloadsAfter(bytes: number, count = 1): void {
    this.#downloadStall = { bytes, remaining: count };
  }

  /** CAPI advertises a checksum for this droplet that does not match its bits. */
  advertiseWrongChecksum(dropletGuid: string): void {
    this.#wrongChecksums.add(dropletGuid);
  }

  /** UAA answers 401 Bad credentials to this client even with the right secret (a rotated secret). */
  rejectClientCredentials(clientId: string): void {
    this.#rejectedClients.add(clientId);
  }

  /** Clears every fault. */
  reset(): void {
    this.#failures.length = 0;
    this.#delays.length = 0;
    this.#answers.length = 0;
    this.#downloadCut = null;
    this.#downloadStall = null;
    this.#wrongChecksums.clear();
    this.#rejectedClients.clear();
    this.expireSignedUrls = false;
  }

  /** For the servers: the status to inject for this request, if any (consumes one). */
  takeFailure(server: SimulatedServer, route: string): InjectedStatus | null {
    return take(this.#failures, server, route);
  }

  /** For the servers: how long to stall this request, if at all (consumes one). */
  takeDelay(server: SimulatedServer, route: string): number | null {
    return take(this.#delays, server, route);
  }

  /** For the servers: the answer to give instead of handling this request, if any (consumes one). */
  takeAnswer(server: SimulatedServer, route: string): CannedAnswer | null {
    return take(this.#answers, server, route);
  }

  /** For the blobstore: how many bytes of this download to send before cutting it, if it is to be cut (consumes one). */
  takeDownloadCut(): number | null {
    const cut = this.#downloadCut;
    if (!cut || cut.remaining <= 0) return null;
    cut.remaining -= 1;
    return cut.bytes;
  }

  /** For the blobstore: how many bytes of this download to send before stalling, if it is to stall (consumes one). */
  takeDownloadStall(): number | null {
    const stall = this.#downloadStall;
    if (!stall || stall.remaining <= 0) return null;
    stall.remaining -= 1;
    return stall.bytes;
  }

  isChecksumWrong(dropletGuid: string): boolean {
    return this.#wrongChecksums.has(dropletGuid);
  }

  isClientRejected(clientId: string): boolean {
    return this.#rejectedClients.has(clientId);
  }
}

function take<T>(queue: Array<Counted<T>>, server: SimulatedServer, route: string): T | null {
  const entry = queue.find((candidate) => candidate.remaining > 0 && candidate.server === server && (candidate.route === undefined || candidate.route === route));
  if (!entry) return null;
  entry.remaining -= 1;
  return entry.value;
}
