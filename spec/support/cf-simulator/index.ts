/**
 * A faithful stand-in for a Cloud Foundry foundation's Cloud Controller (v3), UAA and WebDAV
 * blobstore, for integration and end-to-end tests and as a local playground. Shapes, error bodies,
 * pagination, redaction and role rules follow shared/reference/cloud-foundry.md.
 *
 *   const cf = await startCfSimulator();
 *   const seeded = seedFoundation(cf, { dropletBytes: ({ startCommand }) => standardDroplet({ startCommand }) });
 *   // point the registry at cf.capiUrl with seeded.serviceClient …
 *   await cf.stop();
 *
 * Latency: `startCfSimulator({ latencyMs: 50 })` holds every CAPI and UAA request 50 ms after it
 * arrives (and is counted in `requests`) before it is handled, like a foundation across a network
 * and a busy Cloud Controller; the blobstore is not delayed, so droplet bytes flow at loopback
 * speed. Per server: `latencyMs: { capi: 50, uaa: 20, blobstore: 5 }`. The blobstore's latency
 * holds the request before its first byte, never the byte transfer. Injected delays
 * (`faults.delayNext`) come on top. `npm run bench` measures fleet rollouts with it
 * (bench/lib/rollout.ts); the playground takes it from CF_SIMULATOR_LATENCY_MS.
 */
import { Blobstore, startBlobstoreServer } from './blobstore-server.ts';
import { startCapiServer } from './capi-server.ts';
import type { CapiContext } from './capi/routes.ts';
import { Faults, type SimulatedServer } from './faults.ts';
import { Foundation } from './foundation.ts';
import type { FrontDoorDeps } from './front-door.ts';
import type { ListeningServer } from './http.ts';
import { RequestLog } from './request-log.ts';
import { startUaaServer } from './uaa-server.ts';
import { Uaa } from './uaa.ts';

import type { SeededFoundation } from './seed.ts';
export { DOWNLOAD_MATRIX, seedFoundation, type MatrixRole, type SeededFoundation, type SeededUser, type SeedOptions } from './seed.ts';
export type { Actor, App, AuditEvent, CcUser, Droplet, DropletBits, DropletState, Lifecycle, Org, OrgRole, Role, RoleType, Space, SpaceRole } from './foundation.ts';
export type { CannedAnswer, FaultScope, InjectedStatus, SimulatedServer } from './faults.ts';
export type { RecordedRequest } from './request-log.ts';
export type { AddClientOptions, AddUserOptions, IssueTokenOptions, UaaClient, UaaUser } from './uaa.ts';
export type { Faults, Foundation, RequestLog, Uaa };

export interface StartCfSimulatorOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (ephemeral) for each. */
  readonly capiPort?: number;
  readonly uaaPort?: number;
  readonly blobstorePort?: number;
  /** What CAPI links and pagination hrefs start with instead of its own URL, e.g. `https://api.example.org`. */
  readonly linksBase?: string;
  /**
   * Milliseconds each request waits after it is recorded, before it is handled: a number applies
   * to CAPI and UAA (not the blobstore); an object sets each server's own. Default 0 (none).
   */
  readonly latencyMs?: number | Readonly<Partial<Record<SimulatedServer, number>>>;
}

export interface CfSimulator {
  /** `http://127.0.0.1:PORT`: the Cloud Controller API (what `CAPI_URL` points at). */
  readonly capiUrl: string;
  /** UAA, also the `login` and `uaa` links of `GET /`. */
  readonly uaaUrl: string;
  /** The blobstore's public endpoint, where download redirects point. */
  readonly blobstoreUrl: string;
  /** The world CAPI serves; change it with its helpers (`stage`, `setCurrentDroplet`…). */
  readonly foundation: Foundation;
  /** Clients, users, signing keys, forged tokens. */
  readonly uaa: Uaa;
  readonly faults: Faults;
  /** Requests seen by all three servers. */
  readonly requests: RequestLog;
  /** Closes the three servers (dropping open connections and stalled requests). */
  stop(): Promise<void>;
}

/**
 * Registry settings (environment variables) for the capi source on this simulator, reading the
 * seeded foundation through its service client, with nobody logging in and no pre-warming: what
 * a test of the pull path needs; its own settings go after it.
 */
export function capiSourceEnv(cf: CfSimulator, seed: SeededFoundation): Record<string, string> {
  return {
    CAPI_URL: cf.capiUrl,
    UAA_CLIENT_ID: seed.serviceClient.id,
    UAA_CLIENT_SECRET: seed.serviceClient.secret,
    AUTH: 'none',
    AUTH_NONE_FORCE: 'true',
    PREWARM_ENABLED: 'false',
  };
}

export async function startCfSimulator(options: StartCfSimulatorOptions = {}): Promise<CfSimulator> {
  const host = options.host ?? '127.0.0.1';
  const foundation = new Foundation();
  const uaa = new Uaa();
  const faults = new Faults();
  const requests = new RequestLog();
  const blobstore = new Blobstore();
  const stopping = new AbortController();
  const deps: FrontDoorDeps = { faults, requests, stopping: stopping.signal, latencyMs: latencyOf(options.latencyMs) };
  const servers: ListeningServer[] = [];
  const stop = async () => {
    stopping.abort();
    await Promise.all(servers.splice(0).map((server) => server.close()));
  };
  try {
    servers.push(await startUaaServer(uaa, deps, host, options.uaaPort ?? 0));
    servers.push(await startBlobstoreServer(blobstore, foundation, deps, host, options.blobstorePort ?? 0));
    const context: CapiContext = { foundation, faults, blobstore, uaa, base: '' };
    const capi = await startCapiServer(context, deps, host, options.capiPort ?? 0, options.linksBase);
    servers.push(capi);
    return { capiUrl: capi.url, uaaUrl: uaa.url, blobstoreUrl: blobstore.url, foundation, uaa, faults, requests, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The per-server latency of `StartCfSimulatorOptions.latencyMs`, checked. */
function latencyOf(option: StartCfSimulatorOptions['latencyMs']): Partial<Record<SimulatedServer, number>> {
  const perServer = typeof option === 'number' ? { capi: option, uaa: option } : (option ?? {});
  for (const [server, ms] of Object.entries(perServer)) {
    if (!(Number.isFinite(ms) && ms >= 0)) throw new Error(`cf-simulator: latencyMs of ${server} must be a number of milliseconds ≥ 0, not ${String(ms)}`);
  }
  return { ...perServer };
}
