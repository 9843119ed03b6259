/**
 * Warm pulls: the built registry (`node dist/cli.js serve`, directory source, one droplet and the
 * busybox rootfs) against CNCF distribution (`docker-registry serve`, filesystem storage) holding
 * the same image, copied into it with skopeo. Both listen on 127.0.0.1 only; autocannon runs for a
 * bounded time against each in turn.
 */
import { existsSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadavg } from 'node:os';
import { createGzip } from 'node:zlib';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import autocannon, { type AutocannonClient, type Result } from 'autocannon';
import tar from 'tar-stream';
import { freePort, mustRun, startDaemon, waitUntil, type Daemon } from './processes.ts';

export const REPOSITORY_ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(REPOSITORY_ROOT, 'dist', 'cli.js');
const REPOSITORY = 'org/space/app';
const DROPLET_GUID = '6c1e4d2a-0b7f-4e39-9a51-3d2f8c7b5e10';
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** Configuration the registry reads: never inherited from the bench's environment. */
export const CONFIG_VARIABLE =
  /^(PORT|HOST|PUBLIC_URL|DATA_DIR|DATABASE_.*|BLOBSTORE.*|S3_.*|WEBDAV_.*|SOURCE|CAPI_.*|UAA_.*|STACKS|STACK_FOUNDATIONS|DEFAULT_STACK|DROPLETS_DIR|DROPLET_LAYERS|LIFECYCLE_TARBALL|COMPRESSION_LEVEL|CONVERSION_.*|AUTH.*|LOG_LEVEL|PREWARM_.*|.*_CA_CERT.*|TOKEN_.*|UPSTREAM_.*|TRUSTED_PROXY_HOPS|LOGIN_FAILURES_.*|BLOB_STREAMS_PER_CLIENT|GC_.*|METRICS_.*|TLS_.*|.*_TIMEOUT_MS)$/;

export interface LoadFigures {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Response bytes per second (bodies and headers). */
  readonly bytesPerSecond: number;
  readonly requests: number;
  /** Non-2xx answers, errors and timeouts: a run with any is not a valid measurement. */
  readonly failures: number;
  readonly seconds: number;
}

export interface Scenario {
  readonly name: string;
  readonly method: 'GET' | 'HEAD';
  readonly path: string;
  readonly connections: number;
  readonly ours: LoadFigures;
  readonly distribution: LoadFigures;
}

export interface HttpResult {
  /** The first manifest request to our registry: it converts the droplet. */
  readonly coldManifestMs: number;
  readonly manifestDigest: string;
  readonly sameManifest: boolean;
  readonly layerDigest: string;
  readonly layerBytes: number;
  readonly scenarios: readonly Scenario[];
  readonly durationSeconds: number;
  readonly database: string;
  /** The 1-minute load average before each pair of load runs. */
  readonly load: readonly number[];
}

export interface HttpOptions {
  readonly dropletPath: string;
  readonly scratch: string;
  readonly durationSeconds: number;
  readonly databaseUrl: string | undefined;
  readonly log: (line: string) => void;
}

export async function measureHttp(options: HttpOptions): Promise<HttpResult> {
  const { scratch, log } = options;
  await mkdir(scratch, { recursive: true });
  const rootfs = join(scratch, 'rootfs.tar.gz');
  await buildRootfs(rootfs);
  const appDir = join(scratch, 'droplets', ...REPOSITORY.split('/'));
  await mkdir(appDir, { recursive: true });
  await symlink(options.dropletPath, join(appDir, `${DROPLET_GUID}.tgz`));

  const schema = options.databaseUrl ? `bench_${process.pid}_${Date.now()}` : undefined;
  // One droplet layer, as measured before split layers (issue #17): split-layers.ts measures those.
  const ours = await startOurs({ scratch, rootfs, databaseUrl: options.databaseUrl, schema, env: { DROPLET_LAYERS: 'single' } });
  let dist: Started | undefined;
  try {
    dist = await startDistribution(scratch);
    log(`our registry on ${ours.base} (pid ${ours.daemon.pid}), distribution on ${dist.base} (pid ${dist.daemon.pid})`);
    const started = performance.now();
    const cold = await fetch(`${ours.base}/v2/${REPOSITORY}/manifests/latest`, { headers: { accept: MANIFEST_ACCEPT }, signal: AbortSignal.timeout(600_000) });
    const manifestBytes = Buffer.from(await cold.arrayBuffer());
    const coldManifestMs = performance.now() - started;
    if (cold.status !== 200) throw new Error(`GET manifest from our registry: ${cold.status} ${manifestBytes.toString()}\n${ours.daemon.logs()}`);
    const manifestDigest = cold.headers.get('docker-content-digest') ?? '';
    const manifest = JSON.parse(manifestBytes.toString()) as { layers: Array<{ digest: string; size: number }> };
    // layers: stack, lifecycle, droplet (docs/image.md).
    const layer = manifest.layers[2];
    if (!layer) throw new Error('the manifest has no droplet layer');
    log(`first (converting) manifest GET took ${(coldManifestMs / 1000).toFixed(2)} s; copying the image into distribution with skopeo`);
    await mustRun('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${ours.host}/${REPOSITORY}:latest`, `docker://${dist.host}/${REPOSITORY}:latest`], {
      timeoutMs: 600_000,
      env: { ...process.env, HOME: scratch, REGISTRY_AUTH_FILE: join(scratch, 'auth.json') },
    });
    const distHead = await fetch(`${dist.base}/v2/${REPOSITORY}/manifests/latest`, { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT } });
    const sameManifest = distHead.status === 200 && distHead.headers.get('docker-content-digest') === manifestDigest;

    const plans: Array<Omit<Scenario, 'ours' | 'distribution'>> = [
      { name: 'manifest GET by tag', method: 'GET', path: `/v2/${REPOSITORY}/manifests/latest`, connections: 10 },
      { name: 'manifest HEAD by tag', method: 'HEAD', path: `/v2/${REPOSITORY}/manifests/latest`, connections: 10 },
      { name: 'manifest GET by digest', method: 'GET', path: `/v2/${REPOSITORY}/manifests/${manifestDigest}`, connections: 10 },
      { name: 'blob HEAD (droplet layer)', method: 'HEAD', path: `/v2/${REPOSITORY}/blobs/${layer.digest}`, connections: 10 },
      { name: 'blob GET (droplet layer)', method: 'GET', path: `/v2/${REPOSITORY}/blobs/${layer.digest}`, connections: 3 },
    ];
    // JIT and caches warm on both sides before anything is measured.
    for (const base of [ours.base, dist.base]) {
      for (const plan of plans.slice(0, 4)) await load(base, plan.method, plan.path, plan.connections, 1);
    }
    const scenarios: Scenario[] = [];
    const loadAverages: number[] = [];
    for (const plan of plans) {
      loadAverages.push(loadavg()[0] ?? 0);
      log(`${plan.name}: ${options.durationSeconds} s each in ${ROUNDS} alternating rounds, ${plan.connections} connections`);
      // Alternating halves, so that a change in background load hits both registries alike.
      const oursRounds: LoadFigures[] = [];
      const distRounds: LoadFigures[] = [];
      for (let round = 0; round < ROUNDS; round += 1) {
        oursRounds.push(await load(ours.base, plan.method, plan.path, plan.connections, options.durationSeconds / ROUNDS));
        distRounds.push(await load(dist.base, plan.method, plan.path, plan.connections, options.durationSeconds / ROUNDS));
      }
      const oursFigures = combine(oursRounds);
      const distFigures = combine(distRounds);
      log(`  ours ${describe(oursFigures, plan)} | distribution ${describe(distFigures, plan)}`);
      scenarios.push({ ...plan, ours: oursFigures, distribution: distFigures });
    }
    return {
      coldManifestMs,
      manifestDigest,
      sameManifest,
      layerDigest: layer.digest,
      layerBytes: layer.size,
      scenarios,
      durationSeconds: options.durationSeconds,
      database: options.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite (the default)',
      load: loadAverages,
    };
  } finally {
    await ours.daemon.stop();
    await dist?.daemon.stop();
    if (options.databaseUrl && schema) await dropSchema(options.databaseUrl, schema);
  }
}

/** Removes the schema the registry created in a PostgreSQL given with --database-url. */
async function dropSchema(url: string, schema: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

function describe(figures: LoadFigures, plan: { path: string }): string {
  const rate = plan.path.includes('/blobs/') && figures.bytesPerSecond > 1e7 ? `${(figures.bytesPerSecond / 1e6).toFixed(0)} MB/s` : `${figures.requestsPerSecond.toFixed(0)} req/s`;
  return `${rate}, p99 ${figures.p99Ms} ms${figures.failures ? `, ${figures.failures} FAILED` : ''}`;
}

const ROUNDS = 2;

/** Rounds of one registry together: totals over the whole time; the worse round's latencies. */
export function combine(rounds: readonly LoadFigures[]): LoadFigures {
  const seconds = rounds.reduce((sum, r) => sum + r.seconds, 0);
  const requests = rounds.reduce((sum, r) => sum + r.requests, 0);
  return {
    requestsPerSecond: requests / seconds,
    p50Ms: Math.max(...rounds.map((r) => r.p50Ms)),
    p99Ms: Math.max(...rounds.map((r) => r.p99Ms)),
    bytesPerSecond: rounds.reduce((sum, r) => sum + r.bytesPerSecond * r.seconds, 0) / seconds,
    requests,
    failures: rounds.reduce((sum, r) => sum + r.failures, 0),
    seconds,
  };
}

/** One bounded autocannon run; `headers` go with each request besides the manifest Accept. */
export async function load(base: string, method: 'GET' | 'HEAD', path: string, connections: number, duration: number, headers: Record<string, string> = {}): Promise<LoadFigures> {
  const result: Result = await autocannon({
    url: `${base}${path}`,
    method,
    headers: { accept: MANIFEST_ACCEPT, ...headers },
    connections,
    duration,
    timeout: 30,
    setupClient: (client) => leanClient(client, method),
  });
  const seconds = result.duration || duration;
  return {
    requestsPerSecond: result.requests.total / seconds,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    bytesPerSecond: result.throughput.total / seconds,
    requests: result.requests.total,
    failures: result.non2xx + result.errors + result.timeouts,
    seconds,
  };
}

/**
 * Two fixes to autocannon's client. It keeps every response body as a string (`body += chunk`),
 * which for a 60 MB blob costs the client more CPU than the server spends: bodies are only
 * counted here. And its parser waits for a HEAD answer's Content-Length worth of body that never
 * comes: tell it, as Node's own client does, that a HEAD answer has none.
 */
function leanClient(client: AutocannonClient, method: 'GET' | 'HEAD'): void {
  client.pipelinedRequests.addBody = () => undefined;
  if (method !== 'HEAD') return;
  const ON_HEADERS_COMPLETE = 2; // http-parser-js's HTTPParser.kOnHeadersComplete
  // The client sets its handler right after calling setupClient, before it connects.
  process.nextTick(() => {
    const original = client.parser[ON_HEADERS_COMPLETE];
    if (!original) return;
    client.parser[ON_HEADERS_COMPLETE] = (...args: unknown[]) => {
      original(...args);
      return 1; // skipBody
    };
  });
}

export interface Started {
  readonly daemon: Daemon;
  readonly host: string;
  readonly base: string;
}

/** The data directory of the registry `startOurs` starts in `scratch`. */
export function oursDataDir(scratch: string): string {
  return join(scratch, 'ours-data');
}

/** `env`: configuration on top of the directory source's (e.g. DROPLET_LAYERS). */
export async function startOurs(options: { scratch: string; rootfs: string; databaseUrl: string | undefined; schema: string | undefined; env?: Record<string, string> }): Promise<Started> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`);
  const port = await freePort();
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !CONFIG_VARIABLE.test(key)));
  Object.assign(env, {
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: oursDataDir(options.scratch),
    SOURCE: 'directory',
    DROPLETS_DIR: join(options.scratch, 'droplets'),
    STACKS: `cflinuxfs4=${options.rootfs}`,
    LOG_LEVEL: 'info',
    ...options.env,
  });
  if (options.databaseUrl) env.DATABASE_URL = options.databaseUrl;
  if (options.schema) env.DATABASE_SCHEMA = options.schema;
  const daemon = startDaemon('droplet-registry', process.execPath, [CLI, 'serve'], { env, cwd: REPOSITORY_ROOT, logFile: join(options.scratch, 'ours.log') });
  const base = `http://127.0.0.1:${port}`;
  await waitUntil(`GET ${base}/v2/`, async () => (await fetch(`${base}/v2/`, { signal: AbortSignal.timeout(5_000) })).status === 200, { timeoutMs: 120_000, daemon });
  return { daemon, host: `127.0.0.1:${port}`, base };
}

export async function startDistribution(scratch: string): Promise<Started> {
  const port = await freePort();
  const config = join(scratch, 'distribution.yml');
  // Debian's /etc/docker/registry/config.yml, on loopback, storage in the scratch directory.
  await writeFile(
    config,
    `version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: ${join(scratch, 'distribution-data')}
http:
  addr: 127.0.0.1:${port}
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
`,
  );
  const env = { ...process.env, OTEL_TRACES_EXPORTER: 'none' };
  const daemon = startDaemon('distribution', 'docker-registry', ['serve', config], { env, cwd: scratch, logFile: join(scratch, 'distribution.log') });
  const base = `http://127.0.0.1:${port}`;
  await waitUntil(`GET ${base}/v2/`, async () => (await fetch(`${base}/v2/`, { signal: AbortSignal.timeout(5_000) })).status === 200, { timeoutMs: 60_000, daemon });
  return { daemon, host: `127.0.0.1:${port}`, base };
}

/** The test suite's busybox rootfs when busybox-static is installed, else a small stand-in. */
export async function buildRootfs(path: string): Promise<void> {
  if (existsSync('/bin/busybox')) {
    const { buildBusyboxRootfs } = await import('../../spec/support/build-busybox-rootfs.ts');
    await buildBusyboxRootfs(path);
    return;
  }
  const pack = tar.pack();
  const writing = pipeline(pack, createGzip({ level: 6 }), createWriteStream(path));
  const owner = { uid: 0, gid: 0, uname: 'root', gname: 'root' };
  const mtime = new Date('2024-01-01T00:00:00Z');
  for (const dir of ['bin/', 'etc/', 'home/', 'home/vcap/', 'tmp/']) pack.entry({ name: dir, type: 'directory', mode: 0o755, mtime, ...owner });
  pack.entry({ name: 'etc/passwd', type: 'file', mode: 0o644, mtime, ...owner }, 'root:x:0:0:root:/root:/bin/sh\nvcap:x:2000:2000::/home/vcap:/bin/sh\n');
  pack.finalize();
  await writing;
}
