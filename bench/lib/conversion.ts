/**
 * Cold conversion measurements: `convertDropletLayers` in a child process (bench/convert-child.ts) and
 * the reference pipeline `gzip -dc droplet.tgz | pigz -1 -p <cores> | sha256sum` on the same
 * file, runs interleaved so that drifting background load hits both alike.
 */
import { availableParallelism, loadavg } from 'node:os';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { mustRun } from './processes.ts';
import type { GeneratedDroplet } from './droplet-generator.ts';

const NODE = process.execPath;
const CHILD = join(import.meta.dirname, '..', 'convert-child.ts');

export interface ConversionRun {
  readonly wallMs: number;
  /** Of which: fsync and close of the layer file, after its last byte was written. */
  readonly fsyncMs?: number;
  /** user + system CPU of the process (all threads: zlib runs on the libuv pool). */
  readonly cpuMs: number;
  readonly maxRssBytes: number;
  /** RSS just before the conversion started. */
  readonly rssBeforeBytes: number;
  /** Why the droplet was refused (InvalidDropletError); the layer fields are then 0 and ''. */
  readonly refused?: string;
  /** All the droplet's layers together. */
  readonly layerBytes: number;
  readonly layers: number;
  /** The layers' digests, bottom → top, joined by spaces: equal runs gave equal layers. */
  readonly digest: string;
  readonly diffId: string;
  /** At the end of the conversion: V8 heap reserved and used, memory held outside it. */
  readonly heapTotalBytes: number;
  readonly heapUsedBytes: number;
  readonly externalBytes: number;
}

export interface ReferenceRun {
  readonly wallMs: number;
  /** user + system CPU of gzip, pigz and sha256sum. */
  readonly cpuMs: number;
}

export interface LevelResult {
  readonly level: number;
  /** Medians over the rounds. */
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly layerBytes: number;
  readonly maxRssBytes: number;
}

export interface ConversionResult {
  readonly droplet: GeneratedDroplet;
  readonly ours: ConversionRun;
  readonly reference: ReferenceRun;
  readonly oursRuns: readonly number[];
  readonly referenceRuns: readonly number[];
  readonly levels: readonly LevelResult[];
  /** Every run at the default level gave the same digest (reproducibility). */
  readonly reproducible: boolean;
  /** The 1-minute load average before each pair of runs. */
  readonly load: readonly number[];
}

/** One conversion in a fresh process and a fresh blobstore under `scratch`. */
/** How the droplet is layered: DROPLET_LAYERS. */
export type DropletLayering = 'split' | 'single';

export async function convertOnce(droplet: string, level: number, scratch: string, extraNodeArgs: readonly string[] = [], layering: DropletLayering = 'split'): Promise<ConversionRun> {
  const store = join(scratch, `store-${process.hrtime.bigint()}`);
  try {
    const result = await mustRun(NODE, [...extraNodeArgs, CHILD, '--droplet', droplet, '--store', store, '--level', String(level), '--layers', layering], { timeoutMs: 1_800_000 });
    const out = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as {
      layers?: Array<{ digest: string; diffId: string; size: number }>;
      refused?: string;
      wallMs: number;
      fsyncMs: number;
      userMs: number;
      systemMs: number;
      maxRssBytes: number;
      rssBeforeBytes: number;
      heapTotalBytes: number;
      heapUsedBytes: number;
      externalBytes: number;
    };
    return {
      wallMs: out.wallMs,
      fsyncMs: out.fsyncMs,
      cpuMs: out.userMs + out.systemMs,
      maxRssBytes: out.maxRssBytes,
      rssBeforeBytes: out.rssBeforeBytes,
      ...(out.refused === undefined ? {} : { refused: out.refused }),
      layerBytes: (out.layers ?? []).reduce((sum, layer) => sum + layer.size, 0),
      layers: out.layers?.length ?? 0,
      digest: (out.layers ?? []).map((layer) => layer.digest).join(' '),
      diffId: (out.layers ?? []).map((layer) => layer.diffId).join(' '),
      heapTotalBytes: out.heapTotalBytes,
      heapUsedBytes: out.heapUsedBytes,
      externalBytes: out.externalBytes,
    };
  } finally {
    await rm(store, { recursive: true, force: true });
  }
}

/** The reference pipeline once; its CPU time is read from bash's `times`. */
export async function referenceOnce(droplet: string): Promise<ReferenceRun> {
  const script = 'set -o pipefail; gzip -dc "$1" | pigz -1 -p "$2" | sha256sum >/dev/null; times';
  const result = await mustRun('bash', ['-c', script, 'reference', droplet, String(availableParallelism())], { timeoutMs: 1_800_000 });
  // `times`: the shell's user/system, then its children's: "0m4.208s 0m0.470s"
  const children = result.stdout.trim().split('\n').pop() ?? '';
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { wallMs: result.ms, cpuMs: seconds.reduce((a, b) => a + b, 0) * 1000 };
}

/** Reads the file once so that every run finds it in the page cache. */
async function warmPageCache(path: string): Promise<void> {
  await mustRun('sh', ['-c', 'cat "$1" >/dev/null', 'warm', path]);
}

export async function measureConversion(
  droplet: GeneratedDroplet,
  options: { repeat: number; defaultLevel: number; levels: readonly number[]; scratch: string; log: (line: string) => void },
): Promise<ConversionResult> {
  const { log } = options;
  await warmPageCache(droplet.path);
  const referenceRuns: ReferenceRun[] = [];
  const otherLevels = options.levels.filter((level) => level !== options.defaultLevel);
  const runsByLevel = new Map<number, ConversionRun[]>([options.defaultLevel, ...otherLevels].map((level) => [level, []]));
  const load: number[] = [];
  // Each round: the reference, then every level; rounds repeat, so that drifting background load
  // spreads over all of them and the medians compare like with like.
  for (let i = 0; i < options.repeat; i += 1) {
    load.push(loadavg()[0] ?? 0);
    const reference = await referenceOnce(droplet.path);
    referenceRuns.push(reference);
    const line: string[] = [`reference ${seconds(reference.wallMs)}`];
    for (const [level, runs] of runsByLevel) {
      const run = await convertOnce(droplet.path, level, options.scratch);
      runs.push(run);
      line.push(`level ${level} ${seconds(run.wallMs)} (${(run.maxRssBytes / 2 ** 20).toFixed(0)} MiB RSS)`);
    }
    log(`  round ${i + 1}/${options.repeat}: ${line.join(', ')}`);
  }
  const oursRuns = runsByLevel.get(options.defaultLevel) ?? [];
  const ours = median(oursRuns, (run) => run.wallMs);
  const reference = median(referenceRuns, (run) => run.wallMs);
  const levels: LevelResult[] = options.levels.map((level) => {
    const runs = runsByLevel.get(level) ?? [];
    const mid = median(runs, (run) => run.wallMs);
    return { level, wallMs: mid.wallMs, cpuMs: median(runs, (run) => run.cpuMs).cpuMs, layerBytes: mid.layerBytes, maxRssBytes: Math.max(...runs.map((run) => run.maxRssBytes)) };
  });
  return {
    droplet,
    ours: { ...ours, maxRssBytes: Math.max(...oursRuns.map((run) => run.maxRssBytes)) },
    reference,
    oursRuns: oursRuns.map((run) => run.wallMs),
    referenceRuns: referenceRuns.map((run) => run.wallMs),
    levels,
    reproducible: new Set(oursRuns.map((run) => run.digest)).size === 1,
    load,
  };
}

/** The element with the median key (the lower middle one for an even count). */
function median<T>(items: readonly T[], key: (item: T) => number): T {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)] as T;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
