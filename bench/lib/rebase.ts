/**
 * Stack patches (issue #15): what the first pull of already converted images costs once the stack
 * tarball changed — rebased from the droplet layers already stored — against what a registry
 * without rebase does (converts every droplet again), and what a node downloads for a new image
 * on a stack it already holds.
 *
 * The built server (`node dist/cli.js serve`, directory source, embedded PGlite) starts on a
 * generated stack tarball A and converts N generated droplets, one app each (one manifest pull
 * each); meanwhile skopeo copies two of the images through a counting proxy into one OCI layout,
 * as a node pulling them one after the other. Then it restarts on the same data with B (A with
 * one file patched) and the first manifest pull of each image is timed; then again on C (another
 * patch) with the `droplets` table emptied first, so that every image is converted anew, as
 * before the rebase existed. Conversions, rebases and droplet bytes read come from /metrics.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { startCountingProxy, type ProxiedRequest } from './counting-proxy.ts';
import { ensureDroplet, type GeneratedDroplet } from './droplet-generator.ts';
import { MANIFEST_ACCEPT, oursDataDir, REPOSITORY_ROOT, startOurs, type Started } from './http.ts';
import { mustRun } from './processes.ts';
import { ensureStack, PATCHED_FILE, type GeneratedStack } from './stack-generator.ts';

/** The registry's tables live in this schema (given to the server, so the bench empties the same `droplets`). */
const SCHEMA = 'droplet_registry';
const ORG_SPACE = 'org/space';

export interface RebaseOptions {
  /** Images (apps, one droplet each). */
  readonly images: number;
  /** Uncompressed size of each generated droplet, and of the stack. */
  readonly dropletBytes: number;
  readonly stackBytes: number;
  readonly seed: string;
  readonly cacheDir: string;
  readonly scratch: string;
  /** skopeo is installed: measure what a node downloads. */
  readonly skopeo: boolean;
  readonly log: (line: string) => void;
}

/** The first manifest pull of each image on a freshly started registry, and what /metrics counted meanwhile. */
export interface FirstPulls {
  /** The stack layer's digest in the images pulled. */
  readonly stackDigest: string;
  /** Per image, in app order. */
  readonly manifestMs: readonly number[];
  readonly medianMs: number;
  readonly p95Ms: number;
  /** All of them, one after the other. */
  readonly totalMs: number;
  /** droplet_registry_conversions_total, all outcomes. */
  readonly conversions: number;
  /** droplet_registry_rebases_total, all kinds of change. */
  readonly rebases: number;
  /** droplet_registry_conversion_input_bytes_total: droplet bytes read. */
  readonly dropletBytes: number;
  /** Every image has the droplet and lifecycle layers it had on the first stack (true on the first stack itself). */
  readonly sameDropletLayers: boolean;
  /** The 1-minute load average before the pulls. */
  readonly load: number;
}

/** What a client downloaded copying one image into an OCI layout. */
export interface ImageDownload {
  readonly repository: string;
  /** Config and layers, as the manifest gives them. */
  readonly imageBytes: number;
  readonly blobs: number;
  /** Blob bodies the registry served for the copy. */
  readonly servedBytes: number;
  readonly blobsFetched: number;
}

export interface NodeDownloads {
  /** The first image on an empty node. */
  readonly first: ImageDownload;
  /** Another app's image on the same stack, into the same layout. */
  readonly second: ImageDownload;
  readonly stackLayerBytes: number;
  /** The stack layer's tar: what serving it uncompressed costs. */
  readonly stackUncompressedBytes: number;
}

export interface RebaseResult {
  readonly images: number;
  /** Total over the N droplets. */
  readonly dropletTgzBytes: number;
  readonly dropletTarBytes: number;
  readonly stack: Pick<GeneratedStack, 'compressedBytes' | 'uncompressedBytes' | 'entries'>;
  readonly patchedFile: string;
  /** Layers of each image (stack, the droplet's, lifecycle). */
  readonly layersPerImage: number;
  /** On stack A: every image converted for the first time. */
  readonly initial: FirstPulls;
  /** On stack B, droplets known: rebased. */
  readonly rebase: FirstPulls;
  /** On stack C, the `droplets` table emptied first: converted again. */
  readonly reconversion: FirstPulls & { readonly dropletsForgotten: number };
  /** Absent when skopeo is missing. */
  readonly node?: NodeDownloads;
}

interface Manifest {
  readonly config: { digest: string; size: number };
  readonly layers: ReadonlyArray<{ digest: string; size: number }>;
}

export async function measureRebase(options: RebaseOptions): Promise<RebaseResult> {
  const { scratch, log } = options;
  const stacks: GeneratedStack[] = [];
  for (const patch of [0, 1, 2]) stacks.push(await ensureStack(options.cacheDir, { targetBytes: options.stackBytes, seed: options.seed, patch }, log));
  const [stackA, stackB, stackC] = stacks as [GeneratedStack, GeneratedStack, GeneratedStack];
  const droplets: GeneratedDroplet[] = [];
  log(`${options.images} droplets of ${mb(options.dropletBytes)} MB, one per app (generated once into ${options.cacheDir})`);
  for (let i = 0; i < options.images; i += 1) {
    droplets.push(await ensureDroplet(options.cacheDir, { label: `${(options.dropletBytes / 1e6).toFixed(0)}MB-app${i + 1}`, targetBytes: options.dropletBytes, seed: `${options.seed}/app-${i + 1}` }, () => undefined));
  }
  const repositories = droplets.map((_, i) => `${ORG_SPACE}/app-${String(i + 1).padStart(3, '0')}`);
  for (const [i, droplet] of droplets.entries()) {
    const appDir = join(scratch, 'droplets', ...(repositories[i] as string).split('/'));
    await mkdir(appDir, { recursive: true });
    const guid = dropletGuid(i);
    await symlink(droplet.path, join(appDir, `${guid}.tgz`));
    // The droplet's facts, as Cloud Controller gives them: without a created_at the directory source would read the whole droplet for its newest mtime.
    const sidecar = { guid, state: 'STAGED', stack: 'cflinuxfs4', created_at: '2026-12-01T00:00:00Z', process_types: { web: 'npm start' } };
    await writeFile(join(appDir, `${guid}.json`), JSON.stringify(sidecar));
  }
  const dropletTgzBytes = droplets.reduce((sum, d) => sum + d.compressedBytes, 0);
  log(`  ${mb(dropletTgzBytes / options.images)} MB gzip each; the stack: ${mb(stackA.uncompressedBytes)} MB, ${mb(stackA.compressedBytes)} MB gzip`);

  /** Starts the registry on `stack`, times the first pull of each image, then runs `after` on it; stops it. */
  const onStack = async <T>(stack: GeneratedStack, reference: readonly Manifest[] | undefined, after: (registry: Started) => Promise<T>): Promise<[Pulled, T]> => {
    const registry = await startOurs({ scratch, rootfs: stack.path, databaseUrl: undefined, schema: SCHEMA });
    try {
      const pulled = await firstPulls(registry, repositories, stack, reference);
      log(`  ${describe(pulled.figures, reference !== undefined)}`);
      return [pulled, await after(registry)];
    } finally {
      await registry.daemon.stop();
    }
  };
  const nothing = async (): Promise<undefined> => undefined;

  log(`stack A: converting the ${options.images} droplets (one manifest pull each)`);
  const [initial, node] = await onStack(stackA, undefined, async (registry) => (options.skopeo ? measureNodeDownloads(registry, repositories, stackA, scratch, log) : undefined));
  log(`stack B (${PATCHED_FILE} patched): the first pull of each image`);
  const [rebase] = await onStack(stackB, initial.manifests, nothing);
  const dropletsForgotten = await forgetDroplets(oursDataDir(scratch));
  log(`stack C, the droplets table emptied (${dropletsForgotten} rows): the first pull of each image converts again`);
  const [reconversion] = await onStack(stackC, initial.manifests, nothing);
  return {
    images: options.images,
    dropletTgzBytes,
    dropletTarBytes: droplets.reduce((sum, d) => sum + d.uncompressedBytes, 0),
    stack: { compressedBytes: stackA.compressedBytes, uncompressedBytes: stackA.uncompressedBytes, entries: stackA.entries },
    patchedFile: PATCHED_FILE,
    layersPerImage: initial.manifests[0]?.layers.length ?? 0,
    initial: initial.figures,
    rebase: rebase.figures,
    reconversion: { ...reconversion.figures, dropletsForgotten },
    ...(node ? { node } : {}),
  };
}

/** A stable guid per app, as a droplet file name. */
function dropletGuid(index: number): string {
  return `6c1e4d2a-0b7f-4e39-9a51-${String(index + 1).padStart(12, '0')}`;
}

interface Pulled {
  readonly figures: FirstPulls;
  /** In app order. */
  readonly manifests: readonly Manifest[];
}

/**
 * The first manifest pull of each repository, one after the other, timed; the counters of
 * /metrics after them. Each image must be on `stack`; with a `reference` (the same apps' images
 * on another stack), its layers above the stack are compared with the reference's.
 */
async function firstPulls(registry: Started, repositories: readonly string[], stack: GeneratedStack, reference: readonly Manifest[] | undefined): Promise<Pulled> {
  const load = loadavg()[0] ?? 0;
  const manifestMs: number[] = [];
  const manifests: Manifest[] = [];
  const stackDigest = `sha256:${stack.sha256}`;
  for (const repository of repositories) {
    const started = performance.now();
    const response = await fetch(`${registry.base}/v2/${repository}/manifests/latest`, { headers: { accept: MANIFEST_ACCEPT }, signal: AbortSignal.timeout(600_000) });
    const body = await response.text();
    manifestMs.push(performance.now() - started);
    if (response.status !== 200) throw new Error(`GET /v2/${repository}/manifests/latest answered ${response.status}: ${body.slice(0, 500)}\n${registry.daemon.logs()}`);
    const manifest = JSON.parse(body) as Manifest;
    if (manifest.layers[0]?.digest !== stackDigest) throw new Error(`${repository}: the bottom layer is ${manifest.layers[0]?.digest}, not the stack tarball's ${stackDigest}`);
    manifests.push(manifest);
  }
  const metrics = await readMetrics(registry.base);
  const sorted = [...manifestMs].sort((a, b) => a - b);
  const aboveStack = (manifest: Manifest | undefined): string => JSON.stringify(manifest?.layers.slice(1));
  const figures: FirstPulls = {
    stackDigest,
    manifestMs,
    medianMs: quantile(sorted, 0.5),
    p95Ms: quantile(sorted, 0.95),
    totalMs: manifestMs.reduce((sum, ms) => sum + ms, 0),
    conversions: metrics('conversions_total'),
    rebases: metrics('rebases_total'),
    dropletBytes: metrics('conversion_input_bytes_total'),
    sameDropletLayers: reference === undefined || manifests.every((manifest, i) => aboveStack(manifest) === aboveStack(reference[i])),
    load,
  };
  return { figures, manifests };
}

/** GET /metrics: the sum of a counter's series, by its name without the prefix. */
async function readMetrics(base: string): Promise<(name: string) => number> {
  const response = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(30_000) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}: ${text.slice(0, 300)}`);
  return (name) => {
    const series = new RegExp(`^droplet_registry_${name}(\\{[^}]*\\})? `);
    return text
      .split('\n')
      .filter((line) => series.test(line))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  };
}

/** Empties the `droplets` table of the stopped registry's embedded database: a registry that never kept what a droplet was converted into. */
async function forgetDroplets(dataDir: string): Promise<number> {
  const built = new URL(`file://${join(REPOSITORY_ROOT, 'dist', 'db', 'create-database.js')}`).href;
  const { createDatabase } = (await import(built)) as typeof import('../../src/db/create-database.ts');
  const knex: Knex = await createDatabase({ schema: SCHEMA, dataDir });
  try {
    return (await knex('droplets').delete().returning('droplet_guid')).length;
  } finally {
    await knex.destroy();
  }
}

/**
 * skopeo copies image 1, then image 2 of another app, into one OCI layout through the counting
 * proxy: the blobs it fetched for image 2 are what a node holding image 1 downloads for it.
 */
async function measureNodeDownloads(registry: Started, repositories: readonly string[], stack: GeneratedStack, scratch: string, log: (line: string) => void): Promise<NodeDownloads> {
  const [hostname, port] = registry.host.split(':') as [string, string];
  const proxy = await startCountingProxy({ hostname, port: Number(port) });
  const layout = join(scratch, 'node-layout');
  try {
    const copy = async (repository: string): Promise<ImageDownload> => {
      proxy.reset();
      const manifest = (await (await fetch(`${registry.base}/v2/${repository}/manifests/latest`, { headers: { accept: MANIFEST_ACCEPT } })).json()) as Manifest;
      await mustRun('skopeo', ['copy', '--src-tls-verify=false', `docker://${proxy.host}/${repository}:latest`, `oci:${layout}:${repository.replaceAll('/', '-')}`], {
        timeoutMs: 600_000,
        env: { ...process.env, HOME: scratch, REGISTRY_AUTH_FILE: join(scratch, 'auth.json') },
      });
      const blobs = [manifest.config, ...manifest.layers];
      const fetched = proxy.requests().filter((request: ProxiedRequest) => request.method === 'GET' && request.path.includes('/blobs/') && request.status === 200);
      return {
        repository,
        imageBytes: blobs.reduce((sum, blob) => sum + blob.size, 0),
        blobs: blobs.length,
        servedBytes: fetched.reduce((sum, request) => sum + request.bytes, 0),
        blobsFetched: fetched.length,
      };
    };
    log('a node pulls image 1, then image 2 of another app on the same stack (skopeo into one OCI layout, through a counting proxy)');
    const first = await copy(repositories[0] as string);
    const second = await copy(repositories[1] as string);
    log(`  image 1: ${mb(first.servedBytes)} MB served of ${mb(first.imageBytes)} MB; image 2: ${mb(second.servedBytes)} MB served of ${mb(second.imageBytes)} MB (${second.blobsFetched} of ${second.blobs} blobs)`);
    return { first, second, stackLayerBytes: stack.compressedBytes, stackUncompressedBytes: stack.uncompressedBytes };
  } finally {
    await proxy.close();
  }
}

/** Nearest-rank quantile of sorted values. */
function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? 0;
}

function describe(pulls: FirstPulls, compared: boolean): string {
  const layers = compared ? `; droplet layers unchanged: ${pulls.sameDropletLayers ? 'yes' : 'NO'}` : '';
  return `per manifest median ${pulls.medianMs.toFixed(0)} ms, p95 ${pulls.p95Ms.toFixed(0)} ms; ${pulls.conversions} conversions, ${pulls.rebases} rebases, ${mb(pulls.dropletBytes)} MB of droplets read${layers}`;
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}
