/**
 * A/B of warm blob GET throughput: several builds of the registry (each a directory holding a
 * `src/` tree, run from source) and optionally CNCF distribution serve the bench's 150 MB
 * droplet's layer; autocannon loads each in alternating rounds, and the server's own CPU time
 * (user + system, from /proc) is reported per GB served alongside MB/s.
 *   node_modules/.bin/node bench/experiments/blob-get-ab.ts --variant base=/tmp/a --variant new=. \
 *     [--distribution] [--rounds 4] [--seconds 5] [--connections 3]
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { buildRootfs } from '../lib/http.ts';
import { freePort, mustRun, startDaemon, stopAll, waitUntil, type Daemon } from '../lib/processes.ts';

const { values } = parseArgs({
  options: {
    variant: { type: 'string', multiple: true, default: [] },
    distribution: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '3' },
  },
  strict: true,
});
const REPOSITORY = 'org/space/app';
const cache = join(import.meta.dirname, '..', '.cache');
const droplet = join(cache, (await readdir(cache)).find((n) => n.startsWith('droplet-150MB-') && n.endsWith('.tgz')) ?? 'missing');
const scratch = await mkdtemp(join(tmpdir(), 'dr-blob-ab-'));
const rootfs = join(scratch, 'rootfs.tar.gz');
await buildRootfs(rootfs);
const appDir = join(scratch, 'droplets', ...REPOSITORY.split('/'));
await mkdir(appDir, { recursive: true });
await symlink(droplet, join(appDir, '6c1e4d2a-0b7f-4e39-9a51-3d2f8c7b5e10.tgz'));

interface Target {
  readonly name: string;
  readonly daemon: Daemon;
  readonly base: string;
  readonly host: string;
  mb: number[];
  cpuPerGb: number[];
}

function cpuSeconds(pid: number): number {
  // utime + stime of the process (fields 14 and 15), in clock ticks of 1/100 s.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function startOurs(name: string, dir: string): Promise<Target> {
  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PORT|HOST|DATA_DIR|DATABASE_.*|SOURCE|LOG_LEVEL)$/.test(k)));
  Object.assign(env, { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(scratch, `data-${name}`), SOURCE: 'directory', DROPLETS_DIR: join(scratch, 'droplets'), STACKS: `cflinuxfs4=${rootfs}`, LOG_LEVEL: 'info' });
  const daemon = startDaemon(name, process.execPath, [join(resolve(dir), 'src', 'cli.ts'), 'serve'], { env, cwd: resolve(dir), logFile: join(scratch, `${name}.log`) });
  const base = `http://127.0.0.1:${port}`;
  await waitUntil(`GET ${base}/v2/`, async () => (await fetch(`${base}/v2/`)).status === 200, { timeoutMs: 120_000, daemon });
  return { name, daemon, base, host: `127.0.0.1:${port}`, mb: [], cpuPerGb: [] };
}

async function startDistribution(): Promise<Target> {
  const port = await freePort();
  const config = join(scratch, 'distribution.yml');
  await writeFile(config, `version: 0.1\nlog:\n  level: info\nstorage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: ${join(scratch, 'distribution-data')}\nhttp:\n  addr: 127.0.0.1:${port}\nhealth:\n  storagedriver:\n    enabled: false\n`);
  const daemon = startDaemon('distribution', 'docker-registry', ['serve', config], { env: { ...process.env, OTEL_TRACES_EXPORTER: 'none' }, cwd: scratch, logFile: join(scratch, 'distribution.log') });
  const base = `http://127.0.0.1:${port}`;
  await waitUntil(`GET ${base}/v2/`, async () => (await fetch(`${base}/v2/`)).status === 200, { timeoutMs: 60_000, daemon });
  return { name: 'distribution', daemon, base, host: `127.0.0.1:${port}`, mb: [], cpuPerGb: [] };
}

async function load(target: Target, path: string, seconds: number, record: boolean): Promise<void> {
  const cpuBefore = cpuSeconds(target.daemon.pid);
  const result = await autocannon({
    url: `${target.base}${path}`,
    connections: Number(values.connections),
    duration: seconds,
    timeout: 30,
    setupClient: (client) => {
      client.pipelinedRequests.addBody = () => undefined;
    },
  });
  const cpu = cpuSeconds(target.daemon.pid) - cpuBefore;
  const bytes = result.throughput.total;
  if (result.non2xx + result.errors + result.timeouts > 0) throw new Error(`${target.name}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  if (!record) return;
  target.mb.push(bytes / (result.duration || seconds) / 1e6);
  target.cpuPerGb.push(cpu / (bytes / 1e9));
  process.stderr.write(`  ${target.name}: ${(bytes / (result.duration || seconds) / 1e6).toFixed(0)} MB/s, ${(cpu / (bytes / 1e9)).toFixed(2)} CPU s/GB (load ${loadavg()[0]?.toFixed(2)})\n`);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

try {
  const targets: Target[] = [];
  for (const spec of values.variant) {
    const [name, dir] = spec.split('=') as [string, string];
    targets.push(await startOurs(name, dir));
  }
  const first = targets[0];
  if (!first) throw new Error('give at least one --variant NAME=DIR');
  let layer = '';
  for (const target of targets) {
    const manifest = (await (await fetch(`${target.base}/v2/${REPOSITORY}/manifests/latest`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).json()) as { layers: Array<{ digest: string }> };
    layer = manifest.layers[1]?.digest ?? '';
  }
  if (values.distribution) {
    const dist = await startDistribution();
    await mustRun('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${first.host}/${REPOSITORY}:latest`, `docker://${dist.host}/${REPOSITORY}:latest`], { timeoutMs: 600_000, env: { ...process.env, HOME: scratch } });
    targets.push(dist);
  }
  const path = `/v2/${REPOSITORY}/blobs/${layer}`;
  for (const target of targets) await load(target, path, 1, false);
  for (let round = 0; round < Number(values.rounds); round += 1) {
    process.stderr.write(`round ${round + 1}\n`);
    const order = round % 2 ? [...targets].reverse() : targets;
    for (const target of order) await load(target, path, Number(values.seconds), true);
  }
  for (const target of targets) {
    process.stdout.write(`${target.name}: median ${median(target.mb).toFixed(0)} MB/s (${target.mb.map((x) => x.toFixed(0)).join('/')}), median ${median(target.cpuPerGb).toFixed(2)} CPU s/GB (${target.cpuPerGb.map((x) => x.toFixed(2)).join('/')})\n`);
  }
} finally {
  await stopAll();
  await rm(scratch, { recursive: true, force: true });
}
