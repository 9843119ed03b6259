/**
 * `npm run bench`: the performance benchmark of droplet-registry. Measures, in one run on one
 * machine, cold conversion of generated droplets against `gzip -dc | pigz -1 | sha256sum`, the
 * memory a conversion of the worst hostile droplets takes, warm manifest and blob requests
 * against CNCF distribution, and what a fleet rollout (N clients pulling one app) costs a
 * simulated Cloud Controller and UAA, what the first pull of converted images costs after a
 * stack patch (rebased, against converted again), and what split droplet layers change for
 * restages (bytes a node downloads, storage, conversion time, blob throughput), then prints one set of tables with
 * the targets of docs/performance.md checked. Progress goes to stderr; the tables to stdout, as
 * markdown with `--markdown`.
 *
 *   npm run bench [-- --markdown] [--quick] [--repeat N] [--duration S] [--levels 1,3,6]
 *                 [--skip-conversion] [--skip-http] [--skip-rollout] [--rollout N] [--cf-latency MS]
 *                 [--rollout-concurrency C] [--skip-rebase] [--rebase N] [--skip-split] [--split N]
 *                 [--no-build] [--database-url URL]
 *                 [--save FILE] [--from FILE]
 *
 * Everything it starts is stopped by pid and its scratch directory removed, whatever happens;
 * all traffic stays on 127.0.0.1 and every load run is bounded in time.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { measureConversion, type ConversionResult } from './lib/conversion.ts';
import { measureHostileMemory, type HostileMemoryResult } from './lib/hostile-memory.ts';
import { ensureDroplet, type DropletSpec, type GeneratedDroplet } from './lib/droplet-generator.ts';
import { measureHttp, REPOSITORY_ROOT, type HttpResult } from './lib/http.ts';
import { describeMachine, provision } from './lib/machine.ts';
import { mustRun, stopAll } from './lib/processes.ts';
import { measureRebase, type RebaseResult } from './lib/rebase.ts';
import { measureRollout, type RolloutResult } from './lib/rollout.ts';
import { measureSplitLayers, type SplitLayersResult } from './lib/split-layers.ts';
import { renderMarkdown, renderText, targetChecks, type BenchResults } from './lib/report.ts';

const USAGE = `npm run bench -- [options]
  --markdown          print the results as the markdown of docs/performance.md
  --quick             a 30 MB droplet, 1 run, 3 s load runs, no hostile droplets, a rollout of 20 clients, a stack patch over 5 images, 3 small apps for split layers: checks the harness, measures nothing
  --repeat N          conversion runs per droplet, median reported (default 3)
  --duration S        seconds per autocannon run (default 10)
  --levels L,L,...    compression levels compared (default 1,3,6)
  --seed TEXT         seed of the generated droplets (default droplet-registry-bench)
  --skip-conversion   no cold conversion (nor hostile droplets)
  --skip-http         no warm pulls against distribution
  --skip-rollout      no fleet rollout against the cf-simulator
  --rollout N         clients in the fleet rollout (default 200; 20 with --quick)
  --rollout-concurrency C  of those, how many pull at once (default 50)
  --cf-latency MS     what the simulated Cloud Controller and UAA take per request (default 50)
  --skip-rebase       no stack patch (rebase against re-conversion)
  --rebase N          images converted, then pulled after the stack patch (default 20; 5 with --quick; 2 to 200)
  --skip-split        no restages with split droplet layers against the single layer
  --split N           apps on one buildpack for split layers (default 10; 3 with --quick; 2 to 100)
  --no-build          use dist/ as it is (default: npm run build first; both parts run dist/)
  --database-url URL  run the warm pulls' server on PostgreSQL (a schema of its own) instead of embedded PGlite
  --save FILE         also write the raw results as JSON
  --from FILE         measure nothing: print the results saved in FILE (with --markdown: as markdown)`;

const { values } = parseArgs({
  options: {
    markdown: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    repeat: { type: 'string' },
    duration: { type: 'string' },
    levels: { type: 'string', default: '1,3,6' },
    seed: { type: 'string', default: 'droplet-registry-bench' },
    'skip-conversion': { type: 'boolean', default: false },
    'skip-http': { type: 'boolean', default: false },
    'skip-rollout': { type: 'boolean', default: false },
    rollout: { type: 'string' },
    'rollout-concurrency': { type: 'string', default: '50' },
    'cf-latency': { type: 'string', default: '50' },
    'skip-rebase': { type: 'boolean', default: false },
    rebase: { type: 'string' },
    'skip-split': { type: 'boolean', default: false },
    split: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    'database-url': { type: 'string' },
    save: { type: 'string' },
    from: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

if (values.from) {
  const saved = JSON.parse(await readFile(values.from, 'utf8')) as BenchResults;
  const results: BenchResults = { ...saved, startedAt: new Date(saved.startedAt), finishedAt: new Date(saved.finishedAt) };
  process.stdout.write(values.markdown ? renderMarkdown(results) : renderText(results));
  process.exit(0);
}

const DEFAULT_LEVEL = 1; // the registry's default COMPRESSION_LEVEL
const quick = values.quick;
const repeat = Number(values.repeat ?? (quick ? 1 : 3));
const durationSeconds = Number(values.duration ?? (quick ? 3 : 10));
const levels = values.levels.split(',').map(Number);
const rolloutClients = Number(values.rollout ?? (quick ? 20 : 200));
const rolloutConcurrency = Number(values['rollout-concurrency']);
const cfLatencyMs = Number(values['cf-latency']);
const rebaseImages = Number(values.rebase ?? (quick ? 5 : 20));
const splitApps = Number(values.split ?? (quick ? 3 : 10));
if (
  !Number.isInteger(repeat) ||
  repeat < 1 ||
  !(durationSeconds >= 1 && durationSeconds <= 60) ||
  levels.some((l) => !Number.isInteger(l) || l < 1 || l > 9) ||
  !(Number.isInteger(rolloutClients) && rolloutClients >= 1 && rolloutClients <= 10_000) ||
  !(Number.isInteger(rolloutConcurrency) && rolloutConcurrency >= 1) ||
  !(Number.isFinite(cfLatencyMs) && cfLatencyMs >= 0 && cfLatencyMs <= 10_000) ||
  !(Number.isInteger(rebaseImages) && rebaseImages >= 2 && rebaseImages <= 200) ||
  !(Number.isInteger(splitApps) && splitApps >= 2 && splitApps <= 100)
) {
  process.stderr.write(`bad options\n${USAGE}\n`);
  process.exit(2);
}
const SPECS: DropletSpec[] = quick
  ? [{ label: '30MB', targetBytes: 30e6, seed: values.seed }]
  : [
      { label: '150MB', targetBytes: 150e6, seed: values.seed },
      { label: '1GB', targetBytes: 1e9, seed: values.seed },
    ];
/** The stack patch's droplets (each app's) and stack tarball, uncompressed. */
const REBASE_DROPLET_BYTES = 10e6;
const REBASE_STACK_BYTES = quick ? 30e6 : 100e6;
/** Split layers: the runtime in each droplet's deps/0, and each app's own code. */
const SPLIT_RUNTIME_BYTES = quick ? 8e6 : 60e6;
const SPLIT_APP_BYTES = quick ? 1e6 : 5e6;

const log = (line: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

let scratch: string | undefined;
const cleanUp = async (): Promise<void> => {
  await stopAll();
  if (scratch) await rm(scratch, { recursive: true, force: true });
  scratch = undefined;
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping what the bench started`);
    void cleanUp().finally(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const skipped: string[] = [];
  let doConversion = !values['skip-conversion'];
  let doHttp = !values['skip-http'];
  const doRollout = !values['skip-rollout'];
  const doRebase = !values['skip-rebase'];
  const doSplit = !values['skip-split'];
  // Only the tools of the parts that run (the rollout needs none; the stack patch, skopeo for its node downloads; split layers, both for theirs and the throughput).
  const missing = provision(
    {
      ...(doConversion ? { pigz: 'pigz' } : {}),
      ...(doHttp || doSplit ? { 'docker-registry': 'docker-registry' } : {}),
      ...(doHttp || doRebase || doSplit ? { skopeo: 'skopeo' } : {}),
    },
    log,
  );
  if (doConversion && missing.some((m) => m.startsWith('pigz'))) {
    skipped.push('cold conversion: needs pigz (Debian package pigz) for the reference pipeline');
    doConversion = false;
  }
  if (doHttp && missing.some((m) => m.startsWith('docker-registry') || m.startsWith('skopeo'))) {
    skipped.push(`warm pulls: needs ${missing.join(', ')}`);
    doHttp = false;
  }
  // Every part runs the built code: the server is dist/cli.js, and convert-child.ts loads dist/ too.
  const rebaseSkopeo = doRebase && !missing.some((m) => m.startsWith('skopeo'));
  if (doRebase && !rebaseSkopeo) skipped.push(`stack patch, what a node downloads: needs ${missing.filter((m) => m.startsWith('skopeo')).join(', ')}`);
  const splitSkopeo = doSplit && !missing.some((m) => m.startsWith('skopeo'));
  const splitDistribution = splitSkopeo && !missing.some((m) => m.startsWith('docker-registry'));
  if (doSplit && !splitSkopeo) skipped.push(`split layers, what a node downloads for a restage and the blob throughput: needs ${missing.filter((m) => m.startsWith('skopeo')).join(', ')}`);
  else if (doSplit && !splitDistribution) skipped.push(`split layers, blob throughput against distribution: needs ${missing.filter((m) => m.startsWith('docker-registry')).join(', ')}`);
  if ((doHttp || doConversion || doRollout || doRebase || doSplit) && !values['no-build']) {
    log('building dist/ (npm run build)');
    await mustRun('npm', ['run', 'build'], { cwd: REPOSITORY_ROOT, timeoutMs: 600_000 });
  }
  const machine = describeMachine();
  log(`${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB.toFixed(1)} GiB, Node ${machine.node}; load average ${machine.loadBefore.map((v) => v.toFixed(2)).join(' ')}`);
  if ((machine.loadBefore[0] ?? 0) > 0.5) log(`other processes are running (load average ${machine.loadBefore[0]?.toFixed(2)}): the figures will be noisy; the report shows the load of each round`);

  scratch = await mkdtemp(join(tmpdir(), 'dr-bench-'));
  const droplets: GeneratedDroplet[] = [];
  // The rollout brings its own small droplet: the generated ones only when another part needs them.
  if (doConversion || doHttp) for (const spec of SPECS) droplets.push(await ensureDroplet(join(import.meta.dirname, '.cache'), spec, log));

  const conversions: ConversionResult[] = [];
  if (doConversion) {
    for (const droplet of droplets) {
      log(`cold conversion of the ${droplet.label} droplet (${(droplet.uncompressedBytes / 1e6).toFixed(0)} MB, ${droplet.entries} entries)`);
      conversions.push(await measureConversion(droplet, { repeat, defaultLevel: DEFAULT_LEVEL, levels, scratch, log }));
    }
  }
  let hostile: HostileMemoryResult[] | undefined;
  if (doConversion && !quick) {
    log('memory of conversions of hostile droplets');
    hostile = await measureHostileMemory({ cacheDir: join(import.meta.dirname, '.cache'), scratch, level: DEFAULT_LEVEL, log });
  }

  let http: HttpResult | undefined;
  if (doHttp) {
    const droplet = droplets[0] as GeneratedDroplet;
    log(`warm pulls of an image with the ${droplet.label} droplet`);
    http = await measureHttp({ dropletPath: droplet.path, scratch: join(scratch, 'http'), durationSeconds, databaseUrl: values['database-url'], log });
  }
  let rollout: RolloutResult | undefined;
  if (doRollout) {
    log(`fleet rollout: ${rolloutClients} clients against the cf-simulator (${cfLatencyMs} ms per CAPI and UAA request)`);
    rollout = await measureRollout({ clients: rolloutClients, concurrency: rolloutConcurrency, latencyMs: cfLatencyMs, durationSeconds, scratch: join(scratch, 'rollout'), log });
  }
  let rebase: RebaseResult | undefined;
  if (doRebase) {
    log(`stack patch: ${rebaseImages} images converted on stack A, then their first pulls on B (rebase) and on C with the droplets forgotten (re-conversion)`);
    rebase = await measureRebase({
      images: rebaseImages,
      dropletBytes: REBASE_DROPLET_BYTES,
      stackBytes: REBASE_STACK_BYTES,
      seed: values.seed,
      cacheDir: join(import.meta.dirname, '.cache'),
      scratch: join(scratch, 'rebase'),
      skopeo: rebaseSkopeo,
      log,
    });
  }
  let splitLayers: SplitLayersResult | undefined;
  if (doSplit) {
    log(`split droplet layers: ${splitApps} apps on one buildpack and a restage, converted with DROPLET_LAYERS=single, then split`);
    splitLayers = await measureSplitLayers({
      apps: splitApps,
      runtimeBytes: SPLIT_RUNTIME_BYTES,
      appBytes: SPLIT_APP_BYTES,
      repeat,
      durationSeconds,
      scratch: join(scratch, 'split'),
      skopeo: splitSkopeo,
      distribution: splitDistribution,
      log,
    });
  }
  machine.loadAfter = loadavg();

  const results: BenchResults = {
    startedAt,
    finishedAt: new Date(),
    machine,
    options: { repeat, durationSeconds, defaultLevel: DEFAULT_LEVEL, seed: values.seed, quick },
    conversions,
    hostile,
    http,
    rollout,
    rebase,
    splitLayers,
    skipped,
  };
  process.stdout.write(values.markdown ? renderMarkdown(results) : renderText(results));
  if (values.save) await writeFile(values.save, `${JSON.stringify(results, null, 2)}\n`);
  const checks = targetChecks(results);
  log(`${checks.filter((c) => c.met).length} of ${checks.length} targets met`);
}

try {
  await main();
} catch (error) {
  log(`failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
