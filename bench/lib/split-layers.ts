/**
 * Restages with split droplet layers (issue #17): what splitting each buildpack's `deps/<i>` into
 * a layer of its own changes, against the single droplet layer (`DROPLET_LAYERS=single`).
 *
 * Buildpack droplets are generated (spec/support/build-buildpack-droplet.ts): N apps on one
 * buildpack (the same runtime in `deps/0`, app code of their own), and a restage of app 1 (new app
 * code, new staging time). For each layering, the built server (`node dist/cli.js serve`,
 * directory source, embedded PGlite) starts on empty data and converts every image (one manifest
 * pull each); then:
 *   - storage: the distinct blobs (configs and layers) of the N apps' images, summed;
 *   - a restage on a node: skopeo copies app 1's first staging into an OCI layout, then its
 *     restage into the same layout; the registry's `blob_bytes_served_total` around the second
 *     copy is what the node downloaded for the restage.
 * Conversion time: app 1's droplet converted by bench/convert-child.ts with each layering, runs
 * interleaved, medians compared. Blob GET throughput: the split image copied into CNCF
 * distribution (filesystem storage), its deps and app layers fetched from each in alternating
 * bounded autocannon rounds.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, stat, symlink, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { writeBuildpackDroplet } from '../../spec/support/build-buildpack-droplet.ts';
import { convertOnce, type DropletLayering } from './conversion.ts';
import { buildRootfs, combine, load, MANIFEST_ACCEPT, startDistribution, startOurs, type LoadFigures, type Started } from './http.ts';
import { mustRun } from './processes.ts';

const ORG_SPACE = 'org/space';
const RUNTIME = 'node-22.11.0';
const BUILDPACK = { name: 'nodejs_buildpack', version: '1.8.30' };
/** Alternating rounds per throughput figure, as in http.ts. */
const ROUNDS = 2;

export interface SplitLayersOptions {
  /** Apps on the one buildpack (2 to 100). */
  readonly apps: number;
  /** Bytes of the runtime in each droplet's `deps/0`. */
  readonly runtimeBytes: number;
  /** Bytes of each app's own code (incompressible, as assets and bundles nearly are). */
  readonly appBytes: number;
  /** Conversion runs per layering. */
  readonly repeat: number;
  readonly durationSeconds: number;
  readonly scratch: string;
  /** skopeo is installed: measure the restage on a node. */
  readonly skopeo: boolean;
  /** CNCF distribution is installed: compare blob GET throughput. */
  readonly distribution: boolean;
  readonly log: (line: string) => void;
}

/** One layering's figures. */
export interface LayeringFigures {
  readonly layering: DropletLayering;
  /** Layers of app 1's image, bottom → top, and their sizes. */
  readonly layerSizes: readonly number[];
  /** Distinct blobs (configs and layers) of the N apps' images, and their bytes. */
  readonly distinctBlobs: number;
  readonly storageBytes: number;
  /** What a node holding app 1's first staging downloaded for its restage (absent without skopeo). */
  readonly restageServedBytes?: number;
  /** The restage image's config and layers. */
  readonly restageImageBytes: number;
  /** Median wall time of converting app 1's droplet (convert-child), and every run. */
  readonly conversionMs: number;
  readonly conversionRuns: readonly number[];
  /** Median CPU time (user + system, all threads) of those runs: less sensitive to other processes than wall time. */
  readonly conversionCpuMs: number;
  /** Every run gave the same layers. */
  readonly reproducible: boolean;
}

export interface LayerThroughput {
  readonly name: string;
  readonly bytes: number;
  readonly connections: number;
  readonly ours: LoadFigures;
  readonly distribution: LoadFigures;
}

export interface SplitLayersResult {
  readonly apps: number;
  readonly runtimeBytes: number;
  readonly appBytes: number;
  /** App 1's droplet: `.tgz` bytes, the one converted for the conversion times. */
  readonly dropletTgzBytes: number;
  readonly single: LayeringFigures;
  readonly split: LayeringFigures;
  /** The N apps' images share one deps layer digest under split. */
  readonly sharedDepsLayer: boolean;
  /** Split conversion time over single's (medians), wall and CPU. */
  readonly conversionRatio: number;
  readonly conversionCpuRatio: number;
  /** Blob GET of the split image's deps and app layers, ours against distribution (absent without distribution). */
  readonly throughput?: readonly LayerThroughput[];
  readonly durationSeconds: number;
  /** The 1-minute load average at the start of each part. */
  readonly load: readonly number[];
}

interface Descriptor {
  readonly digest: string;
  readonly size: number;
}
interface Manifest {
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

/** One droplet of the generated set. */
interface Staging {
  readonly repository: string;
  readonly guid: string;
  readonly path: string;
  readonly stagedAt: Date;
}

export async function measureSplitLayers(options: SplitLayersOptions): Promise<SplitLayersResult> {
  const { scratch, log } = options;
  const load: number[] = [loadavg()[0] ?? 0];
  const generated = join(scratch, 'generated');
  await mkdir(generated, { recursive: true });
  log(`${options.apps} apps on one buildpack (${mb(options.runtimeBytes)} MB runtime in deps/0, ${mb(options.appBytes)} MB of app code each) and a restage of app 1`);
  const stagings = await generateStagings(generated, options);
  const [first, restage] = stagings as [Staging, Staging, ...Staging[]];
  const rootfs = join(generated, 'rootfs.tar.gz');
  await buildRootfs(rootfs);

  const figures = new Map<DropletLayering, Omit<LayeringFigures, 'conversionMs' | 'conversionRuns' | 'conversionCpuMs' | 'reproducible'>>();
  let splitManifests: Manifest[] = [];
  let throughput: LayerThroughput[] | undefined;
  for (const layering of ['single', 'split'] as const) {
    load.push(loadavg()[0] ?? 0);
    const modeScratch = join(scratch, layering);
    await linkDroplets(join(modeScratch, 'droplets'), stagings);
    const registry = await startOurs({ scratch: modeScratch, rootfs, databaseUrl: undefined, schema: undefined, env: { DROPLET_LAYERS: layering } });
    try {
      log(`${layering}: converting the ${stagings.length} droplets (one manifest pull each)`);
      const manifests: Manifest[] = [];
      for (const staging of stagings) manifests.push(await manifestOf(registry, staging));
      const [firstManifest, restageManifest, ...otherManifests] = manifests as [Manifest, Manifest, ...Manifest[]];
      const appImages = [firstManifest, ...otherManifests];
      const distinct = new Map<string, number>();
      for (const manifest of appImages) for (const blob of [manifest.config, ...manifest.layers]) distinct.set(blob.digest, blob.size);
      const restageDownload = options.skopeo ? await restageOnNode(registry, first, restage, join(modeScratch, 'node-layout'), modeScratch) : undefined;
      const entry = {
        layering,
        layerSizes: firstManifest.layers.map((layer) => layer.size),
        distinctBlobs: distinct.size,
        storageBytes: [...distinct.values()].reduce((sum, size) => sum + size, 0),
        ...(restageDownload === undefined ? {} : { restageServedBytes: restageDownload }),
        restageImageBytes: [restageManifest.config, ...restageManifest.layers].reduce((sum, blob) => sum + blob.size, 0),
      };
      log(
        `  ${entry.layerSizes.length} layers; ${options.apps} apps take ${mb(entry.storageBytes)} MB in ${entry.distinctBlobs} blobs` +
          (restageDownload === undefined ? '' : `; a restage downloads ${mb(restageDownload)} MB of its ${mb(entry.restageImageBytes)} MB`),
      );
      figures.set(layering, entry);
      if (layering === 'split') {
        splitManifests = appImages;
        if (options.distribution) {
          load.push(loadavg()[0] ?? 0);
          throughput = await compareThroughput(registry, first, firstManifest, modeScratch, options);
        }
      }
    } finally {
      await registry.daemon.stop();
    }
  }

  load.push(loadavg()[0] ?? 0);
  log(`conversion of app 1's droplet (${mb(options.runtimeBytes + options.appBytes)} MB), single and split interleaved, ${options.repeat} runs each`);
  const runs = new Map<DropletLayering, Awaited<ReturnType<typeof convertOnce>>[]>([
    ['single', []],
    ['split', []],
  ]);
  for (let round = 0; round < options.repeat; round += 1) {
    // Alternating which goes first, so that a change in background load hits both alike.
    const order: DropletLayering[] = round % 2 === 0 ? ['single', 'split'] : ['split', 'single'];
    for (const layering of order) runs.get(layering)?.push(await convertOnce(first.path, 1, scratch, [], layering));
    log(`  round ${round + 1}/${options.repeat}: ${order.map((layering) => `${layering} ${seconds(runs.get(layering)?.at(-1)?.wallMs ?? 0)}`).join(', ')}`);
  }
  const conversion = (layering: DropletLayering) => {
    const done = runs.get(layering) ?? [];
    const wall = done.map((run) => run.wallMs);
    return { conversionMs: median(wall), conversionRuns: wall, conversionCpuMs: median(done.map((run) => run.cpuMs)), reproducible: new Set(done.map((run) => run.digest)).size === 1 };
  };
  const single = { ...(figures.get('single') as LayeringFigures), ...conversion('single') };
  const split = { ...(figures.get('split') as LayeringFigures), ...conversion('split') };
  const depsLayers = new Set(splitManifests.map((manifest) => manifest.layers[2]?.digest));
  return {
    apps: options.apps,
    runtimeBytes: options.runtimeBytes,
    appBytes: options.appBytes,
    dropletTgzBytes: (await stat(first.path)).size,
    single,
    split,
    sharedDepsLayer: depsLayers.size === 1,
    conversionRatio: split.conversionMs / single.conversionMs,
    conversionCpuRatio: split.conversionCpuMs / single.conversionCpuMs,
    ...(throughput ? { throughput } : {}),
    durationSeconds: options.durationSeconds,
    load,
  };
}

/** App 1's first staging and restage, then apps 2…N: droplets with the same runtime, app code of their own. */
async function generateStagings(dir: string, options: SplitLayersOptions): Promise<Staging[]> {
  const specs = [
    { app: 1, version: 1, stagedAt: new Date('2026-11-02T10:00:00Z') },
    { app: 1, version: 2, stagedAt: new Date('2026-11-03T16:30:00Z') },
    ...Array.from({ length: options.apps - 1 }, (_, i) => ({ app: i + 2, version: 1, stagedAt: new Date('2026-11-04T08:00:00Z') })),
  ];
  const stagings: Staging[] = [];
  for (const [index, spec] of specs.entries()) {
    const path = join(dir, `app-${spec.app}-v${spec.version}.tgz`);
    await writeBuildpackDroplet(path, {
      runtime: RUNTIME,
      runtimeBytes: options.runtimeBytes,
      stagedAt: spec.stagedAt,
      appFiles: {
        'server.js': `require('http').createServer((q, s) => s.end('app ${spec.app} v${spec.version}')).listen(process.env.PORT);\n`,
        'package.json': `{"name":"app-${spec.app}","version":"${spec.version}.0.0","main":"server.js"}\n`,
        'public/bundle.bin': pseudoRandom(`app-${spec.app}-v${spec.version}`, options.appBytes),
      },
    });
    stagings.push({ repository: `${ORG_SPACE}/app-${String(spec.app).padStart(3, '0')}`, guid: stagingGuid(index), path, stagedAt: spec.stagedAt });
  }
  return stagings;
}

/** The droplets where the directory source finds them, with the sidecar Cloud Controller would give. */
async function linkDroplets(dropletsDir: string, stagings: readonly Staging[]): Promise<void> {
  for (const staging of stagings) {
    const appDir = join(dropletsDir, ...staging.repository.split('/'));
    await mkdir(appDir, { recursive: true });
    await symlink(staging.path, join(appDir, `${staging.guid}.tgz`));
    const sidecar = {
      guid: staging.guid,
      state: 'STAGED',
      stack: 'cflinuxfs4',
      created_at: staging.stagedAt.toISOString(),
      process_types: { web: 'npm start' },
      buildpacks: [{ name: BUILDPACK.name, version: BUILDPACK.version, detect_output: 'nodejs' }],
    };
    await writeFile(join(appDir, `${staging.guid}.json`), JSON.stringify(sidecar));
  }
}

async function manifestOf(registry: Started, staging: Staging): Promise<Manifest> {
  const path = `/v2/${staging.repository}/manifests/${staging.guid}`;
  const response = await fetch(`${registry.base}${path}`, { headers: { accept: MANIFEST_ACCEPT }, signal: AbortSignal.timeout(600_000) });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${body.slice(0, 500)}\n${registry.daemon.logs()}`);
  return JSON.parse(body) as Manifest;
}

/**
 * skopeo copies the first staging, then the restage, into one OCI layout (a node that ran the app
 * and now pulls its restage): the registry's `blob_bytes_served_total` around the second copy.
 */
async function restageOnNode(registry: Started, first: Staging, restage: Staging, layout: string, scratch: string): Promise<number> {
  const copy = (staging: Staging) =>
    mustRun('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry.host}/${staging.repository}:${staging.guid}`, `oci:${layout}:${staging.guid}`], {
      timeoutMs: 600_000,
      env: { ...process.env, HOME: scratch, REGISTRY_AUTH_FILE: join(scratch, 'auth.json') },
    });
  await copy(first);
  const before = await blobBytesServed(registry);
  await copy(restage);
  return (await blobBytesServed(registry)) - before;
}

/** The registry's `blob_bytes_served_total`. */
async function blobBytesServed(registry: Started): Promise<number> {
  const text = await (await fetch(`${registry.base}/metrics`, { signal: AbortSignal.timeout(30_000) })).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith('droplet_registry_blob_bytes_served_total '));
  if (!line) throw new Error('the registry exposes no droplet_registry_blob_bytes_served_total');
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The split image copied into distribution; its deps and app layers fetched from both in alternating bounded rounds. */
async function compareThroughput(registry: Started, first: Staging, manifest: Manifest, scratch: string, options: SplitLayersOptions): Promise<LayerThroughput[]> {
  const { log } = options;
  const distribution = await startDistribution(scratch);
  try {
    const reference = `${first.repository}:${first.guid}`;
    await mustRun('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${registry.host}/${reference}`, `docker://${distribution.host}/${reference}`], {
      timeoutMs: 600_000,
      env: { ...process.env, HOME: scratch, REGISTRY_AUTH_FILE: join(scratch, 'auth.json') },
    });
    // layers: stack, lifecycle, deps/0, deps/1, app.
    const plans = [
      { name: 'deps/0 layer (the runtime)', layer: manifest.layers[2] },
      { name: 'app layer', layer: manifest.layers.at(-1) },
    ];
    const results: LayerThroughput[] = [];
    for (const plan of plans) {
      if (!plan.layer) throw new Error(`the split image has no ${plan.name}`);
      const path = `/v2/${first.repository}/blobs/${plan.layer.digest}`;
      const connections = 3;
      for (const base of [registry.base, distribution.base]) await load(base, 'GET', path, connections, 1);
      const ours: LoadFigures[] = [];
      const theirs: LoadFigures[] = [];
      for (let round = 0; round < ROUNDS; round += 1) {
        ours.push(await load(registry.base, 'GET', path, connections, options.durationSeconds / ROUNDS));
        theirs.push(await load(distribution.base, 'GET', path, connections, options.durationSeconds / ROUNDS));
      }
      const result = { name: plan.name, bytes: plan.layer.size, connections, ours: combine(ours), distribution: combine(theirs) };
      log(`  blob GET, ${plan.name} (${mb(result.bytes)} MB): ours ${mb(result.ours.bytesPerSecond)} MB/s, distribution ${mb(result.distribution.bytesPerSecond)} MB/s`);
      results.push(result);
    }
    return results;
  } finally {
    await distribution.daemon.stop();
  }
}

/** A stable guid per staging, as a droplet file name. */
function stagingGuid(index: number): string {
  return `9d3e4d2a-0b7f-4e39-9a51-${String(index + 1).padStart(12, '0')}`;
}

/** `size` random bytes fixed by `seed`. */
function pseudoRandom(seed: string, size: number): Buffer {
  return createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16)).update(Buffer.alloc(size));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
