/** The bench's figures as aligned text tables, or as a markdown document (`--markdown`). */
import type { ConversionResult } from './conversion.ts';
import type { HostileMemoryResult } from './hostile-memory.ts';
import type { HttpResult } from './http.ts';
import type { Machine } from './machine.ts';
import type { FirstPulls, ImageDownload, RebaseResult } from './rebase.ts';
import type { LayeringFigures, SplitLayersResult } from './split-layers.ts';
import { callsPerCachePeriod, changeChecks, CHANGE_CHECK_ROUTE, describeEnv, describeRoutes, totalCalls, type RolloutResult } from './rollout.ts';

export interface BenchResults {
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly machine: Machine;
  readonly options: { repeat: number; durationSeconds: number; defaultLevel: number; seed: string; quick: boolean };
  readonly conversions: readonly ConversionResult[];
  /** Absent when not measured (and in results saved before it was). */
  readonly hostile?: readonly HostileMemoryResult[] | undefined;
  readonly http: HttpResult | undefined;
  /** Fleet rollouts against the cf-simulator; absent when not measured (and in results saved before it was). */
  readonly rollout?: RolloutResult | undefined;
  /** Stack patches: rebase against re-conversion; absent when not measured (and in results saved before it was). */
  readonly rebase?: RebaseResult | undefined;
  /** Restages with split droplet layers against the single layer; absent when not measured (and in results saved before it was). */
  readonly splitLayers?: SplitLayersResult | undefined;
  /** Why a part did not run. */
  readonly skipped: readonly string[];
}

interface Table {
  readonly title: string;
  readonly head: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
  readonly notes?: readonly string[];
}

export const TARGETS = {
  conversionRatio: 1.3,
  peakRssBytes: 200e6,
  requestRatio: 1.0,
  blobRatio: 1.0,
  /** "A handful": Cloud Controller + UAA calls per app per cache period, whatever the number of clients. */
  callsPerAppPerCachePeriod: 10,
  /** The capi source's warm manifest rate within this factor of the directory source's. */
  capiVsFolder: 1.5,
  /** Split droplet layers convert at most this much slower than the single layer. */
  splitConversionRatio: 1.1,
} as const;

/** The rollout run the targets apply to: the defaults ("after"). */
function afterRun(rollout: RolloutResult | undefined) {
  return rollout?.runs.find((run) => run.name === 'after');
}

export interface TargetCheck {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean;
}

export function targetChecks(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const c of results.conversions) {
    const ratio = c.ours.wallMs / c.reference.wallMs;
    checks.push({ target: `conversion of the ${c.droplet.label} droplet ≤ ${TARGETS.conversionRatio}× the reference pipeline`, measured: `${ratio.toFixed(2)}×`, met: ratio <= TARGETS.conversionRatio });
  }
  const largest = [...results.conversions].sort((a, b) => b.droplet.uncompressedBytes - a.droplet.uncompressedBytes)[0];
  if (largest) {
    checks.push({ target: `peak RSS < ${mb(TARGETS.peakRssBytes)} MB converting the ${largest.droplet.label} droplet`, measured: `${mb(largest.ours.maxRssBytes)} MB`, met: largest.ours.maxRssBytes < TARGETS.peakRssBytes });
  }
  for (const s of results.http?.scenarios ?? []) {
    if (s.name.startsWith('manifest')) {
      const ratio = s.ours.requestsPerSecond / s.distribution.requestsPerSecond;
      checks.push({ target: `${s.name} ≥ ${TARGETS.requestRatio.toFixed(1)}× distribution's requests/s`, measured: `${ratio.toFixed(2)}×`, met: ratio >= TARGETS.requestRatio && s.ours.failures === 0 });
    } else if (s.name.startsWith('blob GET')) {
      const ratio = s.ours.bytesPerSecond / s.distribution.bytesPerSecond;
      checks.push({ target: `blob GET throughput ≥ ${TARGETS.blobRatio.toFixed(1)}× distribution's`, measured: `${ratio.toFixed(2)}×`, met: ratio >= TARGETS.blobRatio && s.ours.failures === 0 });
    }
  }
  const rollout = results.rollout;
  const after = afterRun(rollout);
  if (rollout && after) {
    const calls = callsPerCachePeriod(after, rollout.cachePeriodMs);
    checks.push({
      target: `rollout of ${after.clients} clients (defaults): Cloud Controller + UAA calls per app per cache period ≤ ${TARGETS.callsPerAppPerCachePeriod} ("a handful"; the instance's audit-event reads apart), no failures`,
      measured: `${fixed(calls)}${after.failures ? ` (${after.failures} failed)` : ''}`,
      met: calls <= TARGETS.callsPerAppPerCachePeriod && after.failures === 0,
    });
    const ratio = after.folderManifest.requestsPerSecond / after.ccManifest.requestsPerSecond;
    checks.push({
      target: `warm manifest GET by tag, capi source (defaults) within ${TARGETS.capiVsFolder}× of the directory source (folder ÷ capi ≤ ${TARGETS.capiVsFolder}×)`,
      measured: `${ratio.toFixed(2)}×`,
      met: ratio <= TARGETS.capiVsFolder && after.ccManifest.failures === 0,
    });
  }
  const rebase = results.rebase;
  if (rebase) {
    const { conversions, dropletBytes, rebases, sameDropletLayers } = rebase.rebase;
    checks.push({
      target: `first pull of ${rebase.images} converted images after a stack patch: rebased, no conversion, no droplet byte read`,
      measured: `${rebases} rebases, ${conversions} conversions, ${dropletBytes} droplet bytes${sameDropletLayers ? '' : ', droplet layers CHANGED'}`,
      met: conversions === 0 && dropletBytes === 0 && rebases === rebase.images && sameDropletLayers,
    });
  }
  const split = results.splitLayers;
  if (split) {
    checks.push({
      target: `split droplet layers: conversion ≤ ${TARGETS.splitConversionRatio}× the single layer's time`,
      measured: `${split.conversionRatio.toFixed(2)}× (CPU ${split.conversionCpuRatio.toFixed(2)}×)`,
      met: split.conversionRatio <= TARGETS.splitConversionRatio,
    });
    const served = split.split.restageServedBytes;
    if (served !== undefined) {
      const appLayer = split.split.layerSizes.at(-2) ?? 0;
      checks.push({
        target: `split droplet layers: a node holding the app downloads for its restage no more than the app layer and config, and ${split.apps} apps share one deps layer`,
        measured: `${mb(served)} MB served (app layer ${mb(appLayer)} MB)${split.sharedDepsLayer ? '' : ', deps layers NOT shared'}`,
        met: served < appLayer + 100_000 && split.sharedDepsLayer,
      });
    }
  }
  return checks;
}

const REPOSITORY_HINT = '<org>/<space>/<app>';

function fixed(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

function tables(results: BenchResults): Table[] {
  const { machine, options } = results;
  const out: Table[] = [];
  out.push({
    title: 'Machine',
    head: ['', ''],
    rows: [
      ['CPU', `${machine.cpuModel}, ${machine.cores} cores (nproc ${machine.nproc})`],
      ['memory', `${machine.memoryGiB.toFixed(1)} GiB`],
      ['system', `${machine.os}, Linux ${machine.kernel}`],
      ['Node.js', machine.node],
      ...(machine.code ? [['code', machine.code]] : []),
      ['tools', Object.values(machine.tools).join('; ')],
      ['load average (1/5/15 min)', `before ${loads(machine.loadBefore)}; after ${loads(machine.loadAfter)}`],
      ['run', `${results.startedAt.toISOString()} → ${results.finishedAt.toISOString()}${options.quick ? ' (--quick: not a measurement)' : ''}`],
    ],
  });
  if (results.conversions.length > 0) {
    out.push({
      title: `Cold conversion (convertDropletLayers, split, at level ${options.defaultLevel} into the filesystem store; median of ${options.repeat})`,
      head: ['droplet', 'tar MB', 'entries', 'tgz MB', 'ours s', 'ours MB/s', 'ours CPU s', 'peak RSS MB', 'layer MB', 'reference s', 'ref MB/s', 'ref CPU s', 'ratio', `≤ ${TARGETS.conversionRatio}×`],
      rows: results.conversions.map((c) => {
        const ratio = c.ours.wallMs / c.reference.wallMs;
        return [
          c.droplet.label,
          mb(c.droplet.uncompressedBytes),
          String(c.droplet.entries),
          mb(c.droplet.compressedBytes),
          s(c.ours.wallMs),
          rate(c.droplet.uncompressedBytes, c.ours.wallMs),
          s(c.ours.cpuMs),
          mb(c.ours.maxRssBytes),
          mb(c.ours.layerBytes),
          s(c.reference.wallMs),
          rate(c.droplet.uncompressedBytes, c.reference.wallMs),
          s(c.reference.cpuMs),
          `${ratio.toFixed(2)}×`,
          ratio <= TARGETS.conversionRatio ? 'met' : 'NOT MET',
        ];
      }),
      notes: [
        `reference: \`gzip -dc droplet.tgz | pigz -1 -p ${machine.cores} | sha256sum\` on the same file (page cache warm); runs alternate with ours.`,
        `all runs (s): ${results.conversions.map((c) => `${c.droplet.label} ours ${c.oursRuns.map(s).join('/')}, reference ${c.referenceRuns.map(s).join('/')}`).join('; ')}.`,
        `best run against best run: ${results.conversions.map((c) => `${c.droplet.label} ${(Math.min(...c.oursRuns) / Math.min(...c.referenceRuns)).toFixed(2)}×`).join(', ')}; CPU time, ours ÷ reference: ${results.conversions.map((c) => `${c.droplet.label} ${(c.ours.cpuMs / c.reference.cpuMs).toFixed(2)}×`).join(', ')}.`,
        `MB/s: uncompressed droplet bytes per second. CPU: user + system of all threads. Peak RSS: the converting process's maxRSS (highest of the runs).`,
        ...(results.conversions.every((c) => c.ours.fsyncMs !== undefined)
          ? [`of which the layer's fsync, in the median run: ${results.conversions.map((c) => `${c.droplet.label} ${s(c.ours.fsyncMs ?? 0)} s`).join(', ')}.`]
          : []),
        `memory at the end of the median run: ${results.conversions.map((c) => `${c.droplet.label} V8 heap ${mb(c.ours.heapUsedBytes)} MB used of ${mb(c.ours.heapTotalBytes)} MB, outside the heap (Buffers) ${mb(c.ours.externalBytes)} MB`).join('; ')}.`,
        `same layer digest on every run: ${results.conversions.map((c) => `${c.droplet.label} ${c.reproducible ? 'yes' : 'NO'}`).join(', ')}.`,
        `1-minute load average before each round: ${results.conversions.map((c) => `${c.droplet.label} ${loads(c.load)}`).join('; ')}.`,
      ],
    });
    const levelRows: string[][] = [];
    for (const c of results.conversions) {
      const base = c.levels.find((l) => l.level === options.defaultLevel) ?? c.levels[0];
      for (const l of c.levels) {
        levelRows.push([
          c.droplet.label,
          String(l.level),
          s(l.wallMs),
          rate(c.droplet.uncompressedBytes, l.wallMs),
          s(l.cpuMs),
          mb(l.layerBytes),
          `${((100 * l.layerBytes) / c.droplet.uncompressedBytes).toFixed(1)}%`,
          base ? `${(l.wallMs / base.wallMs).toFixed(2)}×` : '',
          base ? `${((100 * (l.layerBytes - base.layerBytes)) / base.layerBytes).toFixed(1)}%` : '',
          `${(l.wallMs / c.reference.wallMs).toFixed(2)}×`,
        ]);
      }
    }
    out.push({
      title: `Compression level of the droplet layer: time against size (medians of ${options.repeat}, runs interleaved with those above)`,
      head: ['droplet', 'level', 'time s', 'MB/s', 'CPU s', 'layer MB', 'of tar', `time vs level ${options.defaultLevel}`, `size vs level ${options.defaultLevel}`, 'vs reference'],
      rows: levelRows,
    });
  }
  if (results.hostile?.length) {
    out.push({
      title: `Memory of a conversion of hostile droplets (convertDropletLayers at level ${options.defaultLevel}, one run each, up to its refusal)`,
      head: ['droplet', 'tar MB', 'entries', 'tgz MB', 'outcome', 's', 'peak RSS MB', 'RSS growth MB'],
      rows: results.hostile.map((h) => [
        h.droplet.label,
        mb(h.droplet.uncompressedBytes),
        String(h.droplet.entries),
        mb(h.droplet.compressedBytes),
        h.run.refused === undefined ? 'converted' : `refused: ${h.run.refused.replace(/"(.{12})[^"]*"… /g, '"$1…" ')}`,
        s(h.run.wallMs),
        mb(h.run.maxRssBytes),
        mb(h.run.maxRssBytes - h.run.rssBeforeBytes),
      ]),
      notes: [
        "RSS growth: the converting process's maxRSS less its RSS just before the conversion started. Limits: the defaults (CONVERSION_MAX_ENTRIES 500000, CONVERSION_MAX_UNCOMPRESSED_BYTES 8 GiB).",
        ...(results.conversions.length > 0
          ? [`for comparison, the generated droplets above (median run): ${results.conversions.map((c) => `${c.droplet.label} +${mb(c.ours.maxRssBytes - c.ours.rssBeforeBytes)} MB`).join(', ')}.`]
          : []),
      ],
    });
  }
  const http = results.http;
  if (http) {
    out.push({
      title: `Warm pulls (autocannon, ${http.durationSeconds} s per registry and request in 2 alternating rounds, loopback): droplet-registry (node dist/cli.js serve, ${http.database}) vs CNCF distribution (docker-registry serve, filesystem)`,
      head: ['request', 'conns', 'ours req/s', 'ours p99 ms', 'distribution req/s', 'distribution p99 ms', 'ratio', 'target'],
      rows: http.scenarios.map((sc) => {
        const blob = sc.name.startsWith('blob GET');
        const ratio = blob ? sc.ours.bytesPerSecond / sc.distribution.bytesPerSecond : sc.ours.requestsPerSecond / sc.distribution.requestsPerSecond;
        const target = sc.name.startsWith('manifest') || blob ? (ratio >= 1 && sc.ours.failures === 0 ? 'met' : 'NOT MET') : '—';
        const figure = (f: typeof sc.ours): string => `${blob ? `${(f.bytesPerSecond / 1e6).toFixed(0)} MB/s (${f.requestsPerSecond.toFixed(1)} req/s)` : f.requestsPerSecond.toFixed(0)}${f.failures ? ` [${f.failures} failed]` : ''}`;
        return [sc.name, String(sc.connections), figure(sc.ours), String(sc.ours.p99Ms), figure(sc.distribution), String(sc.distribution.p99Ms), `${ratio.toFixed(2)}×`, target];
      }),
      notes: [
        `first manifest GET (cold: converts the ${mb(http.layerBytes)} MB droplet layer, level ${options.defaultLevel}): ${s(http.coldManifestMs)} s.`,
        `manifest ${http.manifestDigest}; distribution serves the same digest: ${http.sameManifest ? 'yes' : 'NO'}. Blob: the droplet layer, ${mb(http.layerBytes)} MB.`,
        'p99: the worse of the two rounds. The load generator runs on the same 2 cores as the server it measures, for both registries alike; both log each request at level info.',
        `1-minute load average before each pair of runs: ${loads(http.load)}.`,
      ],
    });
  }
  const rollout = results.rollout;
  if (rollout) {
    out.push({
      title: `Fleet rollouts (${rollout.clients} clients, ${rollout.concurrency} at a time, each the docker sequence with a password login; Cloud Controller and UAA simulated with ${rollout.latencyMs} ms per request)`,
      head: ['configuration', 'clients', 'wall s', 'client p50 s', 'client p99 s', 'failures', 'CC calls', 'of which audit events', 'UAA calls', 'CC+UAA per app per cache period', 'manifest req/s capi', 'req/s directory', 'folder ÷ capi'],
      rows: rollout.runs.map((run) => [
        run.name,
        String(run.clients),
        s(run.wallMs),
        s(run.clientP50Ms),
        s(run.clientP99Ms),
        String(run.failures),
        String(totalCalls(run.capi)),
        String(changeChecks(run)),
        String(totalCalls(run.uaa)),
        fixed(callsPerCachePeriod(run, rollout.cachePeriodMs)),
        `${run.ccManifest.requestsPerSecond.toFixed(0)}${run.ccManifest.failures ? ` [${run.ccManifest.failures} failed]` : ''}`,
        run.folderManifest.requestsPerSecond.toFixed(0),
        `${(run.folderManifest.requestsPerSecond / run.ccManifest.requestsPerSecond).toFixed(2)}×`,
      ]),
      notes: [
        ...rollout.runs.map((run) => `${run.name}: ${describeEnv(run.env)}.`),
        ...(rollout.cacheSettingsKnown ? [] : ['the built registry does not know CAPI_CACHE_TTL_MS (the Cloud Controller answer cache has not landed): "after" ran the same code as "before".']),
        `each client: GET /v2/ (401), GET /v2/token with Basic credentials of one CF user (space developer), the manifest by tag and by digest, the config blob, the ${rollout.layers} layer blobs (${mb(rollout.imageBytes)} MB in all, a small droplet); each from its own address (X-Forwarded-For, TRUSTED_PROXY_HOPS=1). The image was converted beforehand; each configuration's registry starts cold on the same data directory.`,
        `calls: every request the simulated Cloud Controller and UAA received from the first client's first request to the last client's last answer (the registry's start-up not included: ${rollout.runs.map((run) => `${run.name} ${run.startupCapi} CC, ${run.startupUaa} UAA`).join('; ')}). Per app per cache period: CC + UAA calls over the ${rollout.cachePeriodMs / 1000} s periods (CAPI_CACHE_TTL_MS's default) the rollout spanned (one app), less the \`${CHANGE_CHECK_ROUTE}\` reads: those are the instance's change checks, at most one per CAPI_CHANGE_CHECK_INTERVAL_MS for all the apps it serves, so they grow with time, not with apps or clients.`,
        `manifest req/s: warm \`GET /v2/${REPOSITORY_HINT}/manifests/latest\`, ${rollout.durationSeconds} s per source in 2 alternating rounds, 10 connections, with a registry token against the capi source and without auth against the directory source (same droplet). Calls during the capi source's rounds: ${rollout.runs.map((run) => `${run.name} ${run.loadCapi} CC${run.loadCapiRoutes ? ` (${describeRoutes(run.loadCapiRoutes)})` : ''}, ${run.loadUaa} UAA`).join('; ')}.`,
        `most CAPI requests open at once during the rollout: ${rollout.runs.map((run) => `${run.name} ${run.capiMaxInFlight}`).join(', ')}. 1-minute load average before the rollout / the load rounds: ${rollout.runs.map((run) => `${run.name} ${loads(run.load)}`).join('; ')}.`,
        `first (converting) pull: ${s(rollout.coldManifestMs)} s; image ${rollout.manifestDigest}.`,
        ...rollout.runs.flatMap((run) => (run.failureSamples.length ? [`${run.name} failures, e.g.: ${run.failureSamples.join(' | ')}`] : [])),
      ],
    });
    const routes = [...new Set(rollout.runs.flatMap((run) => [...Object.keys(run.capi).map((r) => `CC ${r}`), ...Object.keys(run.uaa).map((r) => `UAA ${r}`)]))];
    out.push({
      title: `Fleet rollouts: Cloud Controller and UAA calls by route (${rollout.clients} clients)`,
      head: ['route', ...rollout.runs.map((run) => run.name)],
      rows: routes.length
        ? routes.map((route) => [
            route,
            ...rollout.runs.map((run) => {
              const [server, ...rest] = route.split(' ');
              const name = rest.join(' ');
              return String((server === 'CC' ? run.capi[name] : run.uaa[name]) ?? 0);
            }),
          ])
        : [['(none)', ...rollout.runs.map(() => '0')]],
    });
  }
  if (results.rebase) out.push(...rebaseTables(results.rebase));
  if (results.splitLayers) out.push(...splitLayersTables(results.splitLayers));
  const checks = targetChecks(results);
  if (checks.length > 0) {
    out.push({ title: 'Targets', head: ['target', 'measured', ''], rows: checks.map((c) => [c.target, c.measured, c.met ? 'met' : 'NOT MET']) });
  }
  return out;
}

function rebaseTables(rebase: RebaseResult): Table[] {
  const row = (name: string, pulls: FirstPulls): string[] => [
    name,
    fixed(Math.round(pulls.medianMs)),
    fixed(Math.round(pulls.p95Ms)),
    s(pulls.totalMs),
    mb(pulls.dropletBytes),
    String(pulls.conversions),
    String(pulls.rebases),
    pulls.sameDropletLayers ? 'yes' : 'NO',
  ];
  const { rebase: rebased, reconversion, initial } = rebase;
  const tables: Table[] = [
    {
      title: `Stack patches: the first pull of ${rebase.images} converted images after the stack tarball changed (node dist/cli.js serve, directory source, embedded PGlite)`,
      head: ['stack', 'per manifest median ms', 'p95 ms', `all ${rebase.images} s`, 'droplet MB read', 'conversions', 'rebases', 'droplet layers unchanged'],
      rows: [
        row('B, droplets known (rebase)', rebased),
        row('C, droplets table emptied (re-conversion, as before the rebase)', reconversion),
        [
          're-conversion ÷ rebase',
          `${(reconversion.medianMs / rebased.medianMs).toFixed(1)}×`,
          `${(reconversion.p95Ms / rebased.p95Ms).toFixed(1)}×`,
          `${(reconversion.totalMs / rebased.totalMs).toFixed(1)}×`,
          rebased.dropletBytes === 0 ? `${mb(reconversion.dropletBytes)} MB against 0` : `${(reconversion.dropletBytes / rebased.dropletBytes).toFixed(1)}×`,
          '',
          '',
          '',
        ],
      ],
      notes: [
        `${rebase.images} apps, one generated droplet each (${mb(rebase.dropletTarBytes / rebase.images)} MB of tar, ${mb(rebase.dropletTgzBytes / rebase.images)} MB gzip); stack A: a generated tarball of ${mb(rebase.stack.uncompressedBytes)} MB, ${rebase.stack.entries} entries, ${mb(rebase.stack.compressedBytes)} MB gzip; B and C: A with \`${rebase.patchedFile}\` patched. Each image: ${rebase.layersPerImage} layers (stack, the droplet's, lifecycle); each droplet has a sidecar with its created_at and stack, as Cloud Controller's facts.`,
        `on stack A each image was converted by its first pull: per manifest median ${fixed(Math.round(initial.medianMs))} ms, p95 ${fixed(Math.round(initial.p95Ms))} ms, ${initial.conversions} conversions, ${mb(initial.dropletBytes)} MB of droplets read. Then the registry restarted on the same data directory with B, and again with C after the \`droplets\` table (${reconversion.dropletsForgotten} rows) was emptied.`,
        'per manifest: `GET /v2/<org>/<space>/<app>/manifests/latest` of each image, one after the other, on a freshly started registry; counts from its /metrics (conversions_total, rebases_total, conversion_input_bytes_total) after them. Droplet layers unchanged: every image has the droplet and lifecycle layers it had on stack A.',
        `1-minute load average before the pulls: A ${initial.load.toFixed(2)}, B ${rebased.load.toFixed(2)}, C ${reconversion.load.toFixed(2)}.`,
      ],
    },
  ];
  const node = rebase.node;
  if (node) {
    const download = (name: string, image: ImageDownload): string[] => [
      name,
      mb(image.imageBytes),
      `${image.blobsFetched} of ${image.blobs}`,
      mb(image.servedBytes),
      `${((100 * image.servedBytes) / image.imageBytes).toFixed(1)}%`,
    ];
    tables.push({
      title: 'Stack patches: what a node downloads for a new image on a stack it holds (skopeo copy into one OCI layout, through a counting proxy)',
      head: ['image', 'image MB', 'blobs fetched', 'MB served', 'of the image'],
      rows: [
        download(`1: ${node.first.repository} (empty layout)`, node.first),
        download(`2: ${node.second.repository} (another app, same stack, after image 1)`, node.second),
        ['the stack layer as served (gzip) / uncompressed (a rootfs.tar)', mb(node.stackUncompressedBytes), '', mb(node.stackLayerBytes), `${((100 * node.stackLayerBytes) / node.stackUncompressedBytes).toFixed(1)}%`],
      ],
      notes: [
        'MB served: the bodies of the blob GETs the registry answered during the copy. The stack layer is the stack tarball byte for byte, the same digest in every image of that stack release, so a node fetches it once; serving the set-up job\'s uncompressed rootfs.tar instead cost every node its uncompressed size, per distinct base.',
      ],
    });
  }
  return tables;
}

function splitLayersTables(split: SplitLayersResult): Table[] {
  const { single, split: layered } = split;
  const ratio = (after: number, before: number): string => `${(after / before).toFixed(after / before < 0.1 ? 3 : 2)}×`;
  const row = (name: string, pick: (figures: LayeringFigures) => number | undefined, format: (value: number) => string): string[] => {
    const [before, after] = [pick(single), pick(layered)];
    return [name, before === undefined ? '—' : format(before), after === undefined ? '—' : format(after), before === undefined || after === undefined || before === 0 ? '—' : ratio(after, before)];
  };
  const tables: Table[] = [
    {
      title: `Restages: split droplet layers against the single layer (${split.apps} apps on one buildpack, node dist/cli.js serve, directory source, embedded PGlite)`,
      head: ['', 'single (before)', 'split (after)', 'after ÷ before'],
      rows: [
        row('layers of an image', (f) => f.layerSizes.length, String),
        row('MB a node downloads for a restage (holding the first staging)', (f) => f.restageServedBytes, mb),
        row(`MB stored for the ${split.apps} apps' images (distinct blobs)`, (f) => f.storageBytes, mb),
        row('distinct blobs', (f) => f.distinctBlobs, String),
        row("s converting app 1's droplet (median)", (f) => f.conversionMs, s),
        row('CPU s of that conversion (median)', (f) => f.conversionCpuMs, s),
      ],
      notes: [
        `each droplet: a generated buildpack droplet (spec/support/build-buildpack-droplet.ts) with a ${mb(split.runtimeBytes)} MB runtime in deps/0, one supply buildpack in deps/1, and ${mb(split.appBytes)} MB of app code of its own (random bytes: assets, bundles); app 1's .tgz: ${mb(split.dropletTgzBytes)} MB. The restage: app 1 with new app code, staged a day later. The split image's layers: ${layered.layerSizes.map(mb).join(', ')} MB (stack, deps/0, deps/1, app, lifecycle); the single image's: ${single.layerSizes.map(mb).join(', ')} MB.`,
        `a node: skopeo copies app 1's first staging into an OCI layout, then its restage into the same layout; MB: the registry's blob_bytes_served_total around the second copy. The restage image is ${mb(layered.restageImageBytes)} MB (split) and ${mb(single.restageImageBytes)} MB (single) in all.`,
        `conversion: bench/convert-child.ts (convertDropletLayers from dist/, level 1, a fresh process and filesystem blobstore per run) on app 1's droplet, ${single.conversionRuns.length} runs per layering interleaved: single ${single.conversionRuns.map(s).join(', ')} s; split ${layered.conversionRuns.map(s).join(', ')} s. Reproducible (same layers every run): single ${single.reproducible ? 'yes' : 'NO'}, split ${layered.reproducible ? 'yes' : 'NO'}. The ${split.apps} apps share one deps/0 layer: ${split.sharedDepsLayer ? 'yes' : 'NO'}.`,
        `1-minute load average at the start of each part (single, split, ${split.throughput ? 'throughput, ' : ''}conversions): ${loads(split.load.slice(1))}.`,
      ],
    },
  ];
  if (split.throughput) {
    tables.push({
      title: "Restages: blob GET of the split image's layers, ours against CNCF distribution (filesystem storage)",
      head: ['layer', 'MB', 'connections', 'ours MB/s', 'distribution MB/s', 'ours ÷ distribution', 'ours p99 ms', 'distribution p99 ms', 'failures'],
      rows: split.throughput.map((t) => [
        t.name,
        mb(t.bytes),
        String(t.connections),
        rate(t.ours.bytesPerSecond, 1000),
        rate(t.distribution.bytesPerSecond, 1000),
        `${(t.ours.bytesPerSecond / t.distribution.bytesPerSecond).toFixed(2)}×`,
        String(t.ours.p99Ms),
        String(t.distribution.p99Ms),
        String(t.ours.failures + t.distribution.failures),
      ]),
      notes: [`autocannon, ${split.durationSeconds} s per layer and registry in two alternating rounds, after a 1 s warm-up of each; the image copied into distribution with skopeo.`],
    });
  }
  return tables;
}

export function renderText(results: BenchResults): string {
  const lines: string[] = [];
  for (const table of tables(results)) {
    lines.push('', table.title, '');
    const widths = table.head.map((h, i) => Math.max(h.length, ...table.rows.map((row) => (row[i] ?? '').length)));
    const line = (cells: readonly string[]): string =>
      cells
        .map((cell, i) => (isNumeric(cell) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd();
    if (table.head.some((h) => h.length > 0)) {
      lines.push(line(table.head));
      lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
    }
    for (const row of table.rows) lines.push(line(row));
    for (const note of table.notes ?? []) lines.push(`  ${note}`);
  }
  if (results.skipped.length > 0) lines.push('', 'Not measured', '', ...results.skipped.map((reason) => `  ${reason}`));
  return `${lines.join('\n')}\n`;
}

export function renderMarkdown(results: BenchResults): string {
  const { options } = results;
  const parts: string[] = [
    '# Performance',
    '',
    `Figures from \`npm run bench\` (bench/run.ts), all measured in one run on the machine described below; regenerate them with \`npm run --silent bench -- --markdown\`.`,
    '',
    '## Method',
    '',
    `Two droplets are generated deterministically from the seed \`${options.seed}\` (bench/lib/droplet-generator.ts) and cached in \`bench/.cache\`: ` +
      'Node.js-buildpack-like trees of ~150 MB and ~1 GB (a large runtime binary and shared libraries that gzip to ~45%, a `node_modules` tree of thousands ' +
      'of small files in nested packages, app source, incompressible static assets, `profile.d`, `staging_info.yml`), gzipped at level 6 like `tar -czf`. ' +
      `**Cold conversion** runs \`convertDropletLayers\` with split droplet layers (the built code in \`dist/\`, as the server runs it by default) in a fresh process per run (so its peak RSS is its own) from the page-cache-warm file into a fresh filesystem blobstore, ` +
      `timing the conversion itself (not Node's start-up); the reference pipeline \`gzip -dc droplet.tgz | pigz -1 -p <cores> | sha256sum\` runs on the same file, ` +
      `in ${options.repeat} round${options.repeat === 1 ? '' : 's'} of: the reference, then one conversion at each compared level; medians reported. ` +
      `**Warm pulls**: the built server (\`node dist/cli.js serve\`, directory source, the droplet and the busybox rootfs) answers one manifest GET (which converts), ` +
      'then skopeo copies the image into CNCF distribution (`docker-registry serve`, filesystem storage, Debian\'s configuration) and autocannon loads each registry in turn ' +
      `for ${options.durationSeconds} s per request kind (two alternating rounds of ${options.durationSeconds / 2} s) on 127.0.0.1, after a 1 s warm-up of each; both servers log at level info to a file. ` +
      'The load generator shares the 2 cores with the server, equally for both registries. Ratios: ours ÷ reference time for conversion (lower is better), ' +
      'ours ÷ distribution for requests/s and MB/s (higher is better).' +
      (results.rollout
        ? ` **Fleet rollouts** (bench/lib/rollout.ts): the cf-simulator (Cloud Controller, UAA and blobstore in the bench's process, every CAPI and UAA request held ${results.rollout.latencyMs} ms) behind the built server (capi source, AUTH=uaa); ` +
          `${results.rollout.clients} clients, ${results.rollout.concurrency} at a time, each doing the docker pull sequence with a password login, once with the Cloud Controller answer cache and the password-login memo off (before) and once with the defaults (after); ` +
          'the simulator counts every request it answers, by route. Then the same registry and the directory source are loaded with warm manifest GETs by tag in alternating rounds.'
        : '') +
      (results.rebase
        ? ` **Stack patches** (bench/lib/rebase.ts): the built server converts ${results.rebase.images} generated droplets on a generated stack tarball A, restarts on the same data with B (A with one file patched) and with C after emptying the \`droplets\` table; the first manifest pull of each image is timed on each, and /metrics says what was converted, rebased and read. skopeo copies two images of the same stack into one OCI layout through a counting proxy.`
        : '') +
      (results.splitLayers
        ? ` **Restages** (bench/lib/split-layers.ts): ${results.splitLayers.apps} generated buildpack droplets with the same runtime in deps/0 and a restage of app 1 are converted by the built server under DROPLET_LAYERS=single, then split; storage sums the distinct blobs, a node's restage download is read from blob_bytes_served_total around a skopeo copy into the layout holding the first staging; conversion times come from bench/convert-child.ts with each layering, interleaved.`
        : ''),
  ];
  for (const table of tables(results)) {
    parts.push('', `## ${table.title}`, '');
    const head = table.head.some((h) => h.length > 0) ? table.head : table.head.map((_, i) => (i === 0 ? 'what' : 'value'));
    parts.push(`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i > 0 && table.rows.every((row) => isNumeric(row[i] ?? '')) ? ' ---: ' : ' --- ')).join('|')}|`);
    for (const row of table.rows) parts.push(`| ${row.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`);
    if (table.notes?.length) parts.push('', ...table.notes.map((note) => `- ${note}`));
  }
  if (results.skipped.length > 0) parts.push('', '## Not measured', '', ...results.skipped.map((reason) => `- ${reason}`));
  return `${parts.join('\n')}\n`;
}

function isNumeric(cell: string): boolean {
  return /^-?[\d.,]+(×|%| MB| MB\/s.*)?$/.test(cell);
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(bytes >= 1e8 ? 0 : 1);
}

function s(ms: number): string {
  return (ms / 1000).toFixed(2);
}

function rate(bytes: number, ms: number): string {
  return ((bytes / 1e6) / (ms / 1000)).toFixed(0);
}

function loads(values: readonly number[]): string {
  return values.length ? values.map((v) => v.toFixed(2)).join(' / ') : '—';
}
