/**
 * The job's scripts doing their work: the rendered `bin/pre-start`, `bin/healthy` and `bin/drain`
 * run against the built registry, started the way bpm starts it (the executable, args and env of
 * the rendered bpm.yml), on real PostgreSQL in a database and role made as postgres-release makes
 * them for use-cf-postgres-database.yml (the role may create tables in `public`, nothing more), with
 * the job's default schema. The job's `/var/vcap/...` paths are moved under a
 * scratch directory standing in for the VM (`relocate`): packages are links to this repository
 * (node, dist/, migrations/, node_modules/), the job directory holds the rendered templates.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { buildTar, standardDroplet } from '../support/build-droplet.ts';
import { spawnDetached, type DetachedProcess } from '../support/clients/detached-process.ts';
import { makeScratchDir, removeScratchDir } from '../support/clients/scratch-dir.ts';
import { waitFor } from '../support/clients/wait-for.ts';
import { provisionCommands, skipOrFail } from '../support/requirements.ts';
import { ensureServerBuilt } from '../support/start-registry.ts';
import { createPostgresReleaseDatabase, type PostgresReleaseDatabase } from '../support/postgres-release-database.ts';
import { checkPostgres } from '../support/test-database.ts';
import { boshTemplateProblem, merge, relocate, renderJob, REPOSITORY_ROOT } from './support/render-job.ts';
import { freePort } from '../support/free-port.ts';

const toolProblem = boshTemplateProblem() ?? provisionCommands({ curl: 'curl' });
const skip = skipOrFail(toolProblem) || skipOrFail(await checkPostgres());

const JOB = '/var/vcap/jobs/droplet-registry';
const PID_FILE = '/var/vcap/sys/run/bpm/droplet-registry/droplet-registry.pid';
const ROOTFS = '/var/vcap/packages/cflinuxfs4/rootfs.tar';
const DROPLET_GUID = '8b3e1c44-1c0e-4f3a-9a55-6d2f2a1b0c9d';
/** A droplet whose download is slow (a FIFO): its conversion is under way while drain runs. */
const SLOW_DROPLET_GUID = '5d0c7e9a-3b1f-4c2e-8a6d-9f0e1b2c3d4a';
const DROPLETS_DIR = '/var/vcap/data/droplet-registry/droplets';
/** Big enough that a client reading nothing holds the response open (socket buffers are a few MB). */
const ROOTFS_FILE_BYTES = 32 * 1024 * 1024;

describe('pre-start, post-start, bin/healthy and drain on a local registry', { skip }, () => {
  let root: string;
  let database: PostgresReleaseDatabase;
  let port: number;
  let metricsPort: number;
  let registry: DetachedProcess | undefined;
  let rootfsDigest: string;

  /** A path of the job, on the stand-in VM. */
  const onVm = (path: string) => `${root}${path}`;
  /** Runs a rendered script with nothing of this process' environment but PATH. */
  const script = (name: string) => runScript(onVm(`${JOB}/bin/${name}`));
  const renderProperties = () => {
    const url = new URL(database.url);
    return {
      droplet_registry: {
        port,
        // The job's default: the template refuses a loopback-only address (gorouter could not reach it).
        bind_address: '0.0.0.0',
        metrics: { port: metricsPort },
        source: 'directory',
        log_level: 'info',
        database: {
          host: url.hostname,
          port: Number(url.port || 5432),
          name: url.pathname.slice(1),
          username: decodeURIComponent(url.username),
          password: decodeURIComponent(url.password),
          migration_max_retries: 2,
          migration_retry_interval_in_seconds: 1,
        },
        // One plain-tar stack, no foundation layer (the job's default also needs cflinuxfs4.tar.gz in the package).
        stacks: [{ name: 'cflinuxfs4', rootfs: ROOTFS }],
        rootfs_wait_timeout_in_seconds: 20,
        drain: { timeout_in_seconds: 60 },
        shutdown_timeout_in_seconds: 45,
        health_check: { timeout_in_seconds: 2 },
      },
    };
  };
  /** Renders the job for this instance (properties beyond the suite's: `overrides`) and installs it on the stand-in VM, paths relocated. */
  const installJob = async (spec: object, overrides: object = {}) => {
    const files = await renderJob({ properties: merge(renderProperties(), overrides), spec });
    for (const [destination, content] of Object.entries(files)) {
      const path = onVm(`${JOB}/${destination}`);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, relocate(content, root), { mode: destination.startsWith('bin/') ? 0o755 : 0o644 });
    }
  };

  before(async () => {
    if (toolProblem) throw new Error(toolProblem);
    await ensureServerBuilt();
    database = await createPostgresReleaseDatabase();
    root = makeScratchDir('bosh-vm');
    port = await freePort();
    metricsPort = await freePort();
    // Packages: node and the service (this repository: dist/, migrations/, node_modules/).
    mkdirSync(onVm('/var/vcap/packages/node/bin'), { recursive: true });
    symlinkSync(realpathSync(join(REPOSITORY_ROOT, 'node_modules', '.bin', 'node')), onVm('/var/vcap/packages/node/bin/node'));
    symlinkSync(REPOSITORY_ROOT, onVm('/var/vcap/packages/droplet-registry'));
    // The stack's rootfs, as cflinuxfs4-rootfs-setup leaves it: a plain tar.
    mkdirSync(dirname(onVm(ROOTFS)), { recursive: true });
    writeFileSync(
      onVm(ROOTFS),
      await buildTar([
        { name: 'etc/', type: 'directory', uid: 0, gid: 0 },
        { name: 'etc/os-release', content: 'NAME="stand-in rootfs"\n', uid: 0, gid: 0 },
        { name: 'big.bin', content: randomBytes(ROOTFS_FILE_BYTES), uid: 0, gid: 0 },
      ]),
    );
    // A droplet for the directory source, under the default DROPLETS_DIR (DATA_DIR/droplets).
    const appDir = onVm(`${DROPLETS_DIR}/my-org/dev/hello`);
    mkdirSync(appDir, { recursive: true });
    writeFileSync(join(appDir, `${DROPLET_GUID}.tgz`), await standardDroplet({ startCommand: 'node server.js' }));
    const slowDir = onVm(`${DROPLETS_DIR}/my-org/dev/slow`);
    mkdirSync(slowDir, { recursive: true });
    execFileSync('mkfifo', [join(slowDir, `${SLOW_DROPLET_GUID}.tgz`)]);
    writeFileSync(
      join(slowDir, `${SLOW_DROPLET_GUID}.json`),
      JSON.stringify({ guid: SLOW_DROPLET_GUID, state: 'STAGED', stack: 'cflinuxfs4', created_at: '2024-01-01T00:00:00Z', process_types: { web: './run.sh' } }),
    );
    await installJob({ bootstrap: true, index: 0 });
  });

  after(async () => {
    await registry?.stop(5_000);
    if (root) removeScratchDir(root);
    await database?.drop();
  });

  it('pre-start on the bootstrap instance applies the migrations and imports the rootfs', async () => {
    const { code, stdout, stderr } = await script('pre-start');
    assert.equal(code, 0, `pre-start failed\n${stdout}\n${stderr}`);
    assert.match(stdout, /bootstrap instance: applying database migrations/);
    assert.match(stdout, /database migrated \(schema public\)/);
    const imported = /^cflinuxfs4\t(sha256:[0-9a-f]{64})\t(sha256:[0-9a-f]{64})\t(\d+)$/m.exec(stdout);
    assert.ok(imported, `no import line in\n${stdout}`);
    rootfsDigest = imported[1] as string;
    assert.equal(imported[1], imported[2], 'a plain tar is its own diff_id');

    const tables = await database.asSuperuser("select table_name from information_schema.tables where table_schema = 'public' order by table_name");
    const names = tables.rows.map((row) => row.table_name);
    for (const table of ['blobs', 'conversions', 'image_blobs', 'images', 'imported_layers', 'knex_migrations', 'layers']) {
      assert.ok(names.includes(table), `table ${table} missing: ${names.join(', ')}`);
    }
    const rows = await database.asSuperuser("select path from public.imported_layers where kind = 'rootfs' and name = 'cflinuxfs4'");
    assert.deepEqual(
      rows.rows.map((row) => row.path),
      [onVm(ROOTFS)],
    );
    const hex = rootfsDigest.slice('sha256:'.length);
    assert.ok(existsSync(onVm(`/var/vcap/store/droplet-registry/blobstore/blobs/sha256/${hex}`)), 'the rootfs is in the fs blobstore');
  });

  it('pre-start on another instance skips the migrations and finds the rootfs already imported', async () => {
    await installJob({ bootstrap: false, index: 1, id: 'registry-1', az: 'z2' });
    const { code, stdout, stderr } = await script('pre-start');
    assert.equal(code, 0, `pre-start failed\n${stdout}\n${stderr}`);
    assert.match(stdout, /skipping database migrations/);
    assert.doesNotMatch(stdout, /database migrated/);
    assert.ok(stdout.includes(`cflinuxfs4\t${rootfsDigest}\t`));
    assert.doesNotMatch(stderr, /importing rootfs cflinuxfs4/, 'an unchanged rootfs is not hashed again');
  });

  it('bin/healthy fails while the registry is down; once bpm has started it, post-start waits until it is ready', async () => {
    assert.notEqual((await script('healthy')).code, 0);

    const bpm = parseYaml(readFileSync(onVm(`${JOB}/config/bpm.yml`), 'utf8')) as {
      processes: Array<{ executable: string; args: string[]; env: Record<string, string> }>;
    };
    const [process_] = bpm.processes;
    assert.ok(process_);
    mkdirSync(onVm('/var/vcap/data/droplet-registry/tmp'), { recursive: true });
    mkdirSync(onVm('/var/vcap/sys/log/droplet-registry'), { recursive: true });
    const started = spawnDetached(process_.executable, process_.args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TMPDIR: onVm('/var/vcap/data/droplet-registry/tmp'), ...process_.env },
      cwd: onVm('/var/vcap/data/droplet-registry'),
      logFile: onVm('/var/vcap/sys/log/droplet-registry/droplet-registry.stdout.log'),
    });
    registry = started;
    mkdirSync(dirname(onVm(PID_FILE)), { recursive: true });
    writeFileSync(onVm(PID_FILE), `${started.pid}\n`);

    const postStart = await script('post-start');
    assert.equal(postStart.code, 0, `post-start failed\n${postStart.stdout}\n${postStart.stderr}\n${started.logs()}`);
    assert.match(postStart.stdout, /droplet-registry post-start: ready$/m);
    assert.equal((await script('healthy')).code, 0);
  });

  it('bin/healthy and post-start report not ready, naming why, while a stack\'s rootfs is missing from the blobstore; bin/healthy passes once it is back', async () => {
    const blob = onVm(`/var/vcap/store/droplet-registry/blobstore/blobs/sha256/${rootfsDigest.slice('sha256:'.length)}`);
    renameSync(blob, `${blob}.away`);
    let answer: Awaited<ReturnType<typeof script>> | undefined;
    let postStart: Awaited<ReturnType<typeof script>> | undefined;
    try {
      await waitFor('bin/healthy to report not ready', async () => {
        answer = await script('healthy');
        return answer.code !== 0;
      });
      // A deploy of a registry in this state: post-start gives up after its timeout, naming the check.
      await installJob({ bootstrap: false, index: 1, id: 'registry-1', az: 'z2' }, { droplet_registry: { post_start: { timeout_in_seconds: 2 } } });
      postStart = await script('post-start');
    } finally {
      renameSync(`${blob}.away`, blob);
    }
    const missing = /"rootfs":\{"ok":false,"error":"the rootfs of stack cflinuxfs4 \(sha256:[0-9a-f]{64}\) is missing from the blobstore"\}/;
    assert.match(answer?.stderr ?? '', new RegExp(`droplet-registry is not ready \\(HTTP 503\\): .*${missing.source}`));
    assert.equal(postStart?.code, 1, 'post-start fails the deploy');
    assert.match(postStart?.stderr ?? '', /droplet-registry post-start: not ready after 2s \(droplet_registry\.post_start\.timeout_in_seconds\)/);
    assert.match(postStart?.stderr ?? '', missing);
    await waitFor('bin/healthy to pass again', async () => (await script('healthy')).code === 0);
  });

  it('serves the imported rootfs as the first layer of an app image', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/v2/my-org/dev/hello/manifests/latest`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(response.status, 200, await response.clone().text());
    const manifest = (await response.json()) as { layers: Array<{ digest: string; size: number }> };
    assert.equal(manifest.layers[0]?.digest, rootfsDigest);
    // Metrics on the job's metrics port, where prom_scraper_config.yml points.
    const scrape = parseYaml(readFileSync(onVm(`${JOB}/config/prom_scraper_config.yml`), 'utf8')) as { port: number; path: string };
    const metrics = await fetch(`http://127.0.0.1:${scrape.port}${scrape.path}`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^droplet_registry_conversions_total\{outcome="succeeded"\} 1$/m);
  });

  it('drain stops the registry, waiting for the request and the conversion under way, then prints 0', async () => {
    const running = registry as DetachedProcess;
    // A client that takes the rootfs blob slowly: the response cannot finish until it reads.
    const blob = await openResponse(`http://127.0.0.1:${port}/v2/my-org/dev/hello/blobs/${rootfsDigest}`);
    assert.equal(blob.statusCode, 200);
    blob.pause();
    // A pull converting a droplet whose download has not begun (its FIFO has no writer yet).
    const pull = openResponse(`http://127.0.0.1:${port}/v2/my-org/dev/slow/manifests/latest`);
    await waitFor('the conversion to start', () => running.logs().includes('conversion.started'));

    const drain = runScript(onVm(`${JOB}/bin/drain`));
    await sleep(2_500);
    assert.equal(running.exit, null, 'the registry waits for the response and the conversion under way');
    assert.equal(drain.done, false, 'drain waits for the registry');
    assert.notEqual((await script('healthy')).code, 0, 'a draining registry takes no new connections');

    // The download arrives: the conversion finishes and the pull gets its manifest.
    const fifo = createWriteStream(onVm(`${DROPLETS_DIR}/my-org/dev/slow/${SLOW_DROPLET_GUID}.tgz`));
    fifo.end(await standardDroplet({ startCommand: './run.sh' }));
    await finished(fifo);
    const manifest = await pull;
    assert.equal(manifest.statusCode, 200);
    manifest.resume();
    assert.equal(running.exit, null, 'still serving the slow blob client');

    let received = 0;
    blob.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    blob.resume();
    await once(blob, 'end');
    assert.equal(received, Number(blob.headers['content-length']));

    const { code, stdout } = await drain;
    assert.equal(code, 0);
    assert.equal(stdout, '0\n', 'drain prints only the number BOSH reads');
    assert.deepEqual(running.exit, { code: 0, signal: null });
    assert.equal(existsSync(onVm(PID_FILE)), false, 'drain removes the pid file of the process it ended');
    assert.match(readFileSync(onVm('/var/vcap/sys/log/droplet-registry/drain.log'), 'utf8'), /exited after \d+s/);
    assert.match(running.logs(), /SIGTERM received/);
    assert.match(running.logs(), /"event":"conversion\.succeeded"/);
    assert.doesNotMatch(running.logs(), /conversion\.handed_back/, 'the conversion finished within the shutdown timeout');
  });

  it('afterwards bin/healthy fails and drain has nothing to do', async () => {
    assert.notEqual((await script('healthy')).code, 0);
    const again = await script('drain');
    assert.equal(again.code, 0);
    assert.equal(again.stdout, '0\n');
    assert.match(readFileSync(onVm('/var/vcap/sys/log/droplet-registry/drain.log'), 'utf8'), /not running/);
  });
});

/** A running script: a promise of its result, and whether it has ended yet. */
type ScriptRun = Promise<{ code: number | null; stdout: string; stderr: string }> & { done: boolean };

function runScript(path: string): ScriptRun {
  const child = spawn(path, [], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const result = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      result.done = true;
      resolve({ code, stdout, stderr });
    });
  }) as ScriptRun;
  result.done = false;
  return result;
}

function openResponse(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => get(url, resolve).on('error', reject));
}

