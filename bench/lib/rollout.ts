/**
 * Fleet rollouts: what N clients pulling one app at once cost the platform. The cf-simulator
 * (spec/support/cf-simulator: Cloud Controller, UAA and blobstore, in this process) answers every
 * CAPI and UAA request after a constant latency (`--cf-latency`, default 50 ms); the built registry
 * (`node dist/cli.js serve`, the capi source, AUTH=uaa) runs in front of it. Each client does what
 * `docker pull` does with a password login: GET /v2/ (401), GET /v2/token with Basic credentials
 * of one CF user, the manifest by tag, the manifest by digest, the config blob and every layer blob.
 * The simulator's request log says what the rollout cost Cloud Controller and UAA, by route.
 *
 * Each configuration (`before`: the CC answer cache and the password-login memo off; `after`: the
 * defaults) gets a registry started afresh on the same data directory: the image was converted
 * once beforehand, by a pull that is not measured, and the in-memory caches start cold, as on an
 * instance that has been up for less than a cache period. Then warm manifest GETs by tag with a
 * registry token are loaded with autocannon against that registry and, in alternating rounds,
 * against the directory source serving the same droplet (no auth there, as the directory source
 * is deployed).
 *
 * Clients reach the registry as if through gorouter from N different hosts (TRUSTED_PROXY_HOPS=1,
 * one X-Forwarded-For address each), so per-address limits apply per client as they would in a
 * fleet, not to the bench's single loopback address.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { standardDroplet } from '../../spec/support/build-droplet.ts';
import { seedFoundation, startCfSimulator, type CfSimulator, type RecordedRequest, type SeededFoundation } from '../../spec/support/cf-simulator/index.ts';
import { buildRootfs, combine, CONFIG_VARIABLE, load, MANIFEST_ACCEPT, REPOSITORY_ROOT, startOurs, type LoadFigures, type Started } from './http.ts';
import { freePort, startDaemon, waitUntil } from './processes.ts';

const CLI = join(REPOSITORY_ROOT, 'dist', 'cli.js');
/** The seeded `web` app (org acme, space development). */
const REPOSITORY = 'acme/development/web';
/** The CC answer cache's default period (CAPI_CACHE_TTL_MS), over which "calls per app" is counted. */
export const CACHE_PERIOD_MS = 60_000;
/** Connections of the warm manifest load runs, as in the warm-pull table. */
const CONNECTIONS = 10;
/** Alternating rounds of the CC and the directory source per configuration. */
const ROUNDS = 2;

/** The two configurations compared: the environment each adds to the registry's. */
export const CONFIGURATIONS: ReadonlyArray<{ readonly name: string; readonly env: Readonly<Record<string, string>> }> = [
  { name: 'before', env: { CAPI_CACHE_TTL_MS: '0', UAA_PASSWORD_LOGIN_TTL_MS: '0' } },
  { name: 'after', env: {} },
];

export interface RolloutRun {
  readonly name: string;
  /** What this configuration set on top of the shared settings. */
  readonly env: Readonly<Record<string, string>>;
  readonly clients: number;
  readonly wallMs: number;
  /** One client's whole sequence (token to last layer). */
  readonly clientP50Ms: number;
  readonly clientP99Ms: number;
  readonly clientMaxMs: number;
  /** Clients whose sequence did not end with every answer as expected: must be 0. */
  readonly failures: number;
  readonly failureSamples: readonly string[];
  /** Blob bytes the clients received. */
  readonly blobBytes: number;
  /** Cloud Controller and UAA requests during the rollout, by route (method and route template). */
  readonly capi: Readonly<Record<string, number>>;
  readonly uaa: Readonly<Record<string, number>>;
  /** The most CAPI requests the registry had open at once during the rollout. */
  readonly capiMaxInFlight: number;
  /** What the registry asked while starting, before the first client (not counted above). */
  readonly startupCapi: number;
  readonly startupUaa: number;
  /** Warm manifest GET by tag with a registry token, this registry (capi source). */
  readonly ccManifest: LoadFigures;
  /** The same against the directory source, in alternating rounds. */
  readonly folderManifest: LoadFigures;
  /** CAPI and UAA requests during the CC source's load rounds. */
  readonly loadCapi: number;
  readonly loadUaa: number;
  /** The same CAPI requests by route (absent in results saved before it was recorded). */
  readonly loadCapiRoutes?: Readonly<Record<string, number>>;
  /** 1-minute load average before the rollout and before the load rounds. */
  readonly load: readonly number[];
}

export interface RolloutResult {
  readonly latencyMs: number;
  readonly clients: number;
  readonly concurrency: number;
  readonly durationSeconds: number;
  readonly cachePeriodMs: number;
  /** Whether the built registry knows CAPI_CACHE_TTL_MS (the lead's cache landed): if not, "after" runs the same code as "before". */
  readonly cacheSettingsKnown: boolean;
  readonly manifestDigest: string;
  readonly layers: number;
  readonly imageBytes: number;
  readonly coldManifestMs: number;
  readonly runs: readonly RolloutRun[];
}

export interface RolloutOptions {
  readonly clients: number;
  readonly concurrency: number;
  readonly latencyMs: number;
  readonly durationSeconds: number;
  readonly scratch: string;
  readonly log: (line: string) => void;
}

interface Manifest {
  readonly config: { digest: string; size: number };
  readonly layers: ReadonlyArray<{ digest: string; size: number }>;
}

export async function measureRollout(options: RolloutOptions): Promise<RolloutResult> {
  const { scratch, log } = options;
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`);
  await mkdir(scratch, { recursive: true });
  const rootfs = join(scratch, 'rootfs.tar.gz');
  await buildRootfs(rootfs);
  const keyFile = join(scratch, 'token-key.pem');
  await writeFile(keyFile, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const dropletBytes = await standardDroplet({ startCommand: 'node server.js' });

  const cf = await startCfSimulator({ latencyMs: options.latencyMs });
  let folder: Started | undefined;
  try {
    const seeded = seedFoundation(cf, { dropletBytes: ({ startCommand }) => (startCommand === 'node server.js' ? dropletBytes : standardDroplet({ startCommand })) });
    const user = seeded.users.space_developer;
    const shared = sharedEnv(cf, seeded, { rootfs, keyFile, dataDir: join(scratch, 'cc-data') });
    const cacheSettingsKnown = builtRegistryKnows('CAPI_CACHE_TTL_MS');
    log(`cf-simulator: CAPI ${cf.capiUrl}, UAA ${cf.uaaUrl}, ${options.latencyMs} ms per CAPI and UAA request; the built registry ${cacheSettingsKnown ? 'knows' : 'does NOT know'} CAPI_CACHE_TTL_MS`);

    // The conversion: one pull, not measured, by a registry whose caches are then thrown away.
    const converting = await startCcRegistry('converting', shared, scratch);
    let coldManifestMs: number;
    let manifest: Manifest;
    let manifestDigest: string;
    try {
      const token = await registryToken(converting.base, user, '10.255.255.254');
      const started = performance.now();
      const response = await fetch(`${converting.base}/v2/${REPOSITORY}/manifests/latest`, { headers: { accept: MANIFEST_ACCEPT, authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(600_000) });
      const body = Buffer.from(await response.arrayBuffer());
      coldManifestMs = performance.now() - started;
      if (response.status !== 200) throw new Error(`the converting pull answered ${response.status}: ${body.toString()}\n${converting.daemon.logs()}`);
      manifest = JSON.parse(body.toString()) as Manifest;
      manifestDigest = response.headers.get('docker-content-digest') ?? '';
      log(`first (converting) pull: ${(coldManifestMs / 1000).toFixed(2)} s; image ${manifestDigest}, ${manifest.layers.length} layers`);
    } finally {
      await converting.daemon.stop();
    }

    // The directory source, holding the same droplet, for the throughput comparison.
    const folderScratch = join(scratch, 'folder');
    const appDir = join(folderScratch, 'droplets', ...REPOSITORY.split('/'));
    await mkdir(appDir, { recursive: true });
    const dropletFile = join(folderScratch, 'droplet.tgz');
    await writeFile(dropletFile, dropletBytes);
    await symlink(dropletFile, join(appDir, `${seeded.droplets.webCurrent.guid}.tgz`));
    folder = await startOurs({ scratch: folderScratch, rootfs, databaseUrl: undefined, schema: undefined });
    const folderCold = await fetch(`${folder.base}/v2/${REPOSITORY}/manifests/latest`, { headers: { accept: MANIFEST_ACCEPT }, signal: AbortSignal.timeout(600_000) });
    await folderCold.arrayBuffer();
    if (folderCold.status !== 200) throw new Error(`the directory source answered ${folderCold.status}\n${folder.daemon.logs()}`);
    await load(folder.base, 'GET', `/v2/${REPOSITORY}/manifests/latest`, CONNECTIONS, 1);

    const runs: RolloutRun[] = [];
    for (const configuration of CONFIGURATIONS) {
      cf.requests.reset();
      const registry = await startCcRegistry(configuration.name, { ...shared, ...configuration.env }, scratch);
      try {
        const startupCapi = cf.requests.list('capi').length;
        const startupUaa = cf.requests.list('uaa').length;
        cf.requests.reset();
        const loads = [loadavg()[0] ?? 0];
        log(`${configuration.name} (${describeEnv(configuration.env)}): a rollout of ${options.clients} clients, ${Math.min(options.concurrency, options.clients)} at a time`);
        const rollout = await runRollout(registry.base, user, manifestDigest, options);
        const capiRequests = cf.requests.list('capi');
        const uaaRequests = cf.requests.list('uaa');
        const capiMaxInFlight = cf.requests.maxInFlight('capi');
        const run = {
          name: configuration.name,
          env: configuration.env,
          clients: options.clients,
          ...rollout,
          capi: byRoute(capiRequests),
          uaa: byRoute(uaaRequests),
          capiMaxInFlight,
          startupCapi,
          startupUaa,
        };
        log(
          `  ${(run.wallMs / 1000).toFixed(2)} s, ${run.failures} failed; Cloud Controller ${capiRequests.length} calls (${describeRoutes(run.capi)}), UAA ${uaaRequests.length} (${describeRoutes(run.uaa)})`,
        );
        if (run.failures > 0) log(`  failures, e.g.: ${run.failureSamples.join(' | ')}`);

        // Warm manifest throughput: this registry (with a registry token) against the directory source.
        const token = await registryToken(registry.base, user, '10.255.255.253');
        const path = `/v2/${REPOSITORY}/manifests/latest`;
        await load(registry.base, 'GET', path, CONNECTIONS, 1, { authorization: `Bearer ${token}` });
        loads.push(loadavg()[0] ?? 0);
        log(`  warm manifest GET by tag: ${options.durationSeconds} s each in ${ROUNDS} alternating rounds, ${CONNECTIONS} connections, against the directory source`);
        const ccRounds: LoadFigures[] = [];
        const folderRounds: LoadFigures[] = [];
        let loadCapi = 0;
        let loadUaa = 0;
        const loadCapiRequests: RecordedRequest[] = [];
        for (let round = 0; round < ROUNDS; round += 1) {
          cf.requests.reset();
          ccRounds.push(await load(registry.base, 'GET', path, CONNECTIONS, options.durationSeconds / ROUNDS, { authorization: `Bearer ${token}` }));
          loadCapiRequests.push(...cf.requests.list('capi'));
          loadCapi += cf.requests.list('capi').length;
          loadUaa += cf.requests.list('uaa').length;
          folderRounds.push(await load(folder.base, 'GET', path, CONNECTIONS, options.durationSeconds / ROUNDS));
        }
        const ccManifest = combine(ccRounds);
        const folderManifest = combine(folderRounds);
        log(
          `  capi source ${ccManifest.requestsPerSecond.toFixed(0)} req/s (p99 ${ccManifest.p99Ms} ms${ccManifest.failures ? `, ${ccManifest.failures} FAILED` : ''}; ${loadCapi} CC calls), directory source ${folderManifest.requestsPerSecond.toFixed(0)} req/s: ${(folderManifest.requestsPerSecond / ccManifest.requestsPerSecond).toFixed(2)}× faster`,
        );
        runs.push({ ...run, ccManifest, folderManifest, loadCapi, loadUaa, loadCapiRoutes: byRoute(loadCapiRequests), load: loads });
      } finally {
        await registry.daemon.stop();
      }
    }
    const blobs = [manifest.config, ...manifest.layers];
    return {
      latencyMs: options.latencyMs,
      clients: options.clients,
      concurrency: Math.min(options.concurrency, options.clients),
      durationSeconds: options.durationSeconds,
      cachePeriodMs: CACHE_PERIOD_MS,
      cacheSettingsKnown,
      manifestDigest,
      layers: manifest.layers.length,
      imageBytes: blobs.reduce((sum, blob) => sum + blob.size, 0),
      coldManifestMs,
      runs,
    };
  } finally {
    await folder?.daemon.stop();
    await cf.stop();
  }
}

/** Settings every configuration shares: the capi source and AUTH=uaa on the simulator. */
function sharedEnv(cf: CfSimulator, seeded: SeededFoundation, paths: { rootfs: string; keyFile: string; dataDir: string }): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    DATA_DIR: paths.dataDir,
    SOURCE: 'capi',
    CAPI_URL: cf.capiUrl,
    UAA_CLIENT_ID: seeded.serviceClient.id,
    UAA_CLIENT_SECRET: seeded.serviceClient.secret,
    UAA_LOGIN_CLIENT_ID: seeded.loginClient.id,
    UAA_LOGIN_CLIENT_SECRET: seeded.loginClient.secret,
    AUTH: 'uaa',
    TOKEN_SIGNING_KEYS: paths.keyFile,
    STACKS: `cflinuxfs4=${paths.rootfs}`,
    // The pre-warmer's periodic CC reads are not part of a pull; off, so every call counted is one.
    PREWARM_ENABLED: 'false',
    // As behind gorouter: each client its own address (X-Forwarded-For), as a fleet's nodes are.
    TRUSTED_PROXY_HOPS: '1',
    LOG_LEVEL: 'info',
  };
}

async function startCcRegistry(name: string, settings: Record<string, string>, scratch: string): Promise<Started> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !CONFIG_VARIABLE.test(key)));
  Object.assign(env, settings, { PORT: String(port) });
  const daemon = startDaemon(`droplet-registry (${name})`, process.execPath, [CLI, 'serve'], { env, cwd: REPOSITORY_ROOT, logFile: join(scratch, `registry-${name}.log`) });
  const base = `http://127.0.0.1:${port}`;
  await waitUntil(`GET ${base}/v2/`, async () => [200, 401].includes((await fetch(`${base}/v2/`, { signal: AbortSignal.timeout(5_000) })).status), { timeoutMs: 120_000, daemon });
  return { daemon, host: `127.0.0.1:${port}`, base };
}

/** Whether the built registry's configuration schema names an environment variable. */
function builtRegistryKnows(variable: string): boolean {
  try {
    return readFileSync(join(REPOSITORY_ROOT, 'dist', 'config', 'schema.js'), 'utf8').includes(`'${variable}'`);
  } catch {
    return false;
  }
}

/** A client's address as gorouter would report it: 10.x.y.z from its index. */
function clientAddress(index: number): string {
  return `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;
}

interface Challenge {
  readonly realm: string;
  readonly service: string;
}

/** GET /v2/ without credentials: 401 with the Bearer challenge, as docker's first request gets. */
async function challenge(base: string, forwardedFor: string): Promise<Challenge> {
  const response = await fetch(`${base}/v2/`, { headers: { 'x-forwarded-for': forwardedFor }, signal: AbortSignal.timeout(120_000) });
  await response.arrayBuffer();
  const header = response.headers.get('www-authenticate') ?? '';
  if (response.status !== 401 || !/^Bearer /i.test(header)) throw new Error(`GET /v2/ answered ${response.status} ${header}`);
  const param = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(header)?.[1] ?? '';
  return { realm: param('realm'), service: param('service') };
}

/** The docker token flow with Basic credentials: a registry token for pulling the app. */
async function registryToken(base: string, user: { username: string; password: string }, forwardedFor: string): Promise<string> {
  const { realm, service } = await challenge(base, forwardedFor);
  const query = new URLSearchParams({ account: user.username, scope: `repository:${REPOSITORY}:pull` });
  if (service) query.set('service', service);
  const url = new URL(`${realm || `${base}/v2/token`}?${query.toString()}`);
  // The realm is the registry's public URL; the bench reaches it on loopback.
  const response = await fetch(`${base}${url.pathname}${url.search}`, {
    headers: { authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`, 'x-forwarded-for': forwardedFor },
    signal: AbortSignal.timeout(120_000),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET /v2/token answered ${response.status}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new Error('the token answer has no token');
  return token;
}

/** One client's pull: the docker sequence, every answer checked; resolves to the blob bytes received. */
async function pull(base: string, user: { username: string; password: string }, digest: string, index: number): Promise<number> {
  const forwardedFor = clientAddress(index);
  const token = await registryToken(base, user, forwardedFor);
  const headers = { authorization: `Bearer ${token}`, 'x-forwarded-for': forwardedFor };
  const get = async (path: string, accept?: string): Promise<Response> => {
    const response = await fetch(`${base}${path}`, { headers: accept ? { ...headers, accept } : headers, redirect: 'manual', signal: AbortSignal.timeout(120_000) });
    if (response.status !== 200) throw new Error(`GET ${path.replace(/sha256:(\w{12})\w+/, 'sha256:$1…')} answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
    return response;
  };
  const byTag = await get(`/v2/${REPOSITORY}/manifests/latest`, MANIFEST_ACCEPT);
  const tagDigest = byTag.headers.get('docker-content-digest');
  await byTag.arrayBuffer();
  if (tagDigest !== digest) throw new Error(`latest is ${tagDigest}, not ${digest}`);
  const manifest = (await (await get(`/v2/${REPOSITORY}/manifests/${digest}`, MANIFEST_ACCEPT)).json()) as Manifest;
  let bytes = 0;
  const blob = async (descriptor: { digest: string; size: number }): Promise<void> => {
    const response = await get(`/v2/${REPOSITORY}/blobs/${descriptor.digest}`);
    let received = 0;
    for await (const chunk of response.body ?? []) received += (chunk as Uint8Array).byteLength;
    if (received !== descriptor.size) throw new Error(`blob ${descriptor.digest.slice(0, 19)}…: ${received} bytes of ${descriptor.size}`);
    bytes += received;
  };
  await blob(manifest.config);
  // docker downloads up to 3 layers at once; an image has 3.
  await Promise.all(manifest.layers.map(blob));
  return bytes;
}

async function runRollout(
  base: string,
  user: { username: string; password: string },
  digest: string,
  options: RolloutOptions,
): Promise<Pick<RolloutRun, 'wallMs' | 'clientP50Ms' | 'clientP99Ms' | 'clientMaxMs' | 'failures' | 'failureSamples' | 'blobBytes'>> {
  const durations: number[] = [];
  const failureSamples: string[] = [];
  let failures = 0;
  let blobBytes = 0;
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    for (let index = next++; index < options.clients; index = next++) {
      const clientStarted = performance.now();
      try {
        blobBytes += await pull(base, user, digest, index);
      } catch (error) {
        failures += 1;
        if (failureSamples.length < 5) failureSamples.push((error as Error).message);
      }
      durations.push(performance.now() - clientStarted);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.clients) }, worker));
  const wallMs = performance.now() - started;
  durations.sort((a, b) => a - b);
  const at = (q: number) => durations[Math.min(durations.length - 1, Math.floor(q * durations.length))] ?? 0;
  return { wallMs, clientP50Ms: at(0.5), clientP99Ms: at(0.99), clientMaxMs: durations.at(-1) ?? 0, failures, failureSamples, blobBytes };
}

function byRoute(requests: readonly RecordedRequest[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const request of requests) counts[request.route] = (counts[request.route] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([, a], [, b]) => b - a));
}

export function describeRoutes(routes: Readonly<Record<string, number>>): string {
  const entries = Object.entries(routes);
  return entries.length ? entries.map(([route, count]) => `${route} ${count}`).join(', ') : 'none';
}

export function describeEnv(env: Readonly<Record<string, string>>): string {
  const entries = Object.entries(env);
  return entries.length ? entries.map(([key, value]) => `${key}=${value}`).join(' ') : 'the defaults';
}

/** All calls of one run to Cloud Controller and UAA. */
export function totalCalls(routes: Readonly<Record<string, number>>): number {
  return Object.values(routes).reduce((sum, count) => sum + count, 0);
}

/**
 * The route of the registry's change checks: one read of the audit events per instance at most
 * every CAPI_CHANGE_CHECK_INTERVAL_MS while cached answers are served, shared by every app the
 * instance serves, so not counted per app (reported on their own).
 */
export const CHANGE_CHECK_ROUTE = 'GET /v3/audit_events';

/** The run's audit-event reads (the instance's change checks). */
export function changeChecks(run: RolloutRun): number {
  return run.capi[CHANGE_CHECK_ROUTE] ?? 0;
}

/**
 * Cloud Controller + UAA calls per app per cache period: the run's calls, less the change checks
 * (per instance, for all apps), over the cache periods its rollout spanned; the rollout pulls one app.
 */
export function callsPerCachePeriod(run: RolloutRun, cachePeriodMs: number): number {
  return (totalCalls(run.capi) - changeChecks(run) + totalCalls(run.uaa)) / Math.max(1, Math.ceil(run.wallMs / cachePeriodMs));
}
