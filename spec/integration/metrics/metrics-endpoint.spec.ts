/**
 * `/metrics` on the real composition (directory source, embedded PGlite, filesystem blobstore):
 * a pull and its conversion show up in the request, conversion, cache and blobstore metrics; a
 * failed conversion is counted under its reason; nothing names an app, a guid or a digest; and
 * with METRICS_PORT the metrics move to a listener of their own.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../../../src/config/load-config.ts';
import { startRegistry, type Registry } from '../../../src/wiring/build-registry.ts';
import { buildDroplet, standardDroplet } from '../../support/build-droplet.ts';
import { buildTinyRootfs, createTestRegistry, writeDroplet, type TestRegistry } from '../../support/test-registry.ts';
import { has, parseExposition, total, type Sample } from './exposition.ts';
import { freePort } from '../../support/free-port.ts';

const GUID = '5a5a5a5a-1111-4111-8111-111111111111';
const HOSTILE_GUID = '5a5a5a5a-2222-4222-8222-222222222222';
const BLOCKED_GUID = '5a5a5a5a-3333-4333-8333-333333333333';
const MANIFEST_ROUTE = '/v2/{name}/manifests/{reference}';

describe('metrics on the main port', () => {
  let work: string;
  let dropletsDir: string;
  let registry: TestRegistry;
  let manifestDigest: string;
  const inject = (url: string, method = 'GET') => registry.registry.server.inject({ method, url });

  async function scrape(): Promise<{ text: string; samples: Sample[] }> {
    const res = await inject('/metrics');
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    return { text: res.payload, samples: parseExposition(res.payload) };
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'metrics-'));
    dropletsDir = join(work, 'droplets');
    const rootfs = join(work, 'rootfs.tgz');
    await writeFile(rootfs, await buildTinyRootfs());
    await writeDroplet(dropletsDir, { org: 'metrics-org', space: 'metrics-space', app: 'metrics-app', guid: GUID, bytes: await standardDroplet({ startCommand: './run.sh' }) });
    registry = await createTestRegistry({ stacks: { cflinuxfs4: rootfs }, dropletsDir });
  });

  after(async () => {
    await registry?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('counts a pull that converts: request by route and status, latency, conversion figures, cache miss', async () => {
    const before = (await scrape()).samples;
    assert.equal(total(before, 'droplet_registry_conversions_total'), 0);
    const pull = await inject('/v2/metrics-org/metrics-space/metrics-app/manifests/latest');
    assert.equal(pull.statusCode, 200, pull.payload);
    manifestDigest = pull.headers['docker-content-digest'] as string;
    const { samples } = await scrape();
    assert.equal(total(samples, 'droplet_registry_http_requests_total', { method: 'GET', route: MANIFEST_ROUTE, status: '200' }), 1);
    assert.equal(total(samples, 'droplet_registry_http_request_duration_seconds_count', { method: 'GET', route: MANIFEST_ROUTE }), 1);
    assert.equal(total(samples, 'droplet_registry_http_request_duration_seconds_bucket', { method: 'GET', route: MANIFEST_ROUTE, le: '+Inf' }), 1);
    assert.equal(total(samples, 'droplet_registry_conversions_total', { outcome: 'succeeded' }), 1);
    assert.equal(total(samples, 'droplet_registry_conversion_duration_seconds_count', { outcome: 'succeeded' }), 1);
    assert.ok(total(samples, 'droplet_registry_conversion_input_bytes_total') > 0, 'droplet bytes read');
    assert.ok(total(samples, 'droplet_registry_conversion_output_bytes_total') > 0, 'layer bytes written');
    assert.equal(total(samples, 'droplet_registry_image_cache_lookups_total', { trigger: 'pull', result: 'miss' }), 1);
    assert.equal(total(samples, 'droplet_registry_conversions_in_flight'), 0, 'nothing converting any more');
    assert.equal(total(samples, 'droplet_registry_conversions_queued'), 0);
    for (const operation of ['stage', 'commit', 'put']) {
      assert.ok(total(samples, 'droplet_registry_blobstore_operations_total', { operation, outcome: 'ok' }) > 0, `blobstore ${operation} counted`);
    }
  });

  it('counts a pull of a ready image as a cache hit (in memory too), and blob downloads as blobstore reads', async () => {
    const before = (await scrape()).samples;
    assert.equal((await inject('/v2/metrics-org/metrics-space/metrics-app/manifests/latest')).statusCode, 200);
    const manifest = JSON.parse((await inject(`/v2/metrics-org/metrics-space/metrics-app/manifests/${manifestDigest}`)).payload) as { config: { digest: string } };
    assert.equal((await inject(`/v2/metrics-org/metrics-space/metrics-app/blobs/${manifest.config.digest}`)).statusCode, 200);
    const { samples } = await scrape();
    const delta = (name: string, labels: Record<string, string>) => total(samples, name, labels) - total(before, name, labels);
    assert.equal(delta('droplet_registry_image_cache_lookups_total', { trigger: 'pull', result: 'hit' }), 1);
    assert.equal(delta('droplet_registry_conversions_total', {}), 0, 'nothing converted again');
    assert.equal(delta('droplet_registry_http_requests_total', { route: MANIFEST_ROUTE, status: '200' }), 2, 'by tag and by digest, one route');
    assert.equal(delta('droplet_registry_http_requests_total', { route: '/v2/{name}/blobs/{digest}', status: '200' }), 1);
    assert.equal(delta('droplet_registry_blobstore_operations_total', { operation: 'open', outcome: 'ok' }), 1, 'the fs store streams the blob');
    assert.equal(delta('droplet_registry_ready_image_cache_lookups_total', { lookup: 'image', result: 'hit' }), 1, 'the ready image by tag, from memory');
    assert.equal(delta('droplet_registry_ready_image_cache_lookups_total', { lookup: 'manifest', result: 'hit' }), 1, 'the manifest by digest, from memory');
    assert.equal(delta('droplet_registry_ready_image_cache_lookups_total', { lookup: 'blob_size', result: 'miss' }), 1, 'a blob not asked for before');
  });

  it('labels requests no route matches with a fixed value', async () => {
    assert.equal((await inject('/no/such/page')).statusCode, 404);
    assert.equal((await inject('/v2/metrics-org/metrics-space/metrics-app/nothing-here')).statusCode, 404);
    const { samples } = await scrape();
    assert.equal(total(samples, 'droplet_registry_http_requests_total', { route: 'unmatched', status: '404' }), 1);
    assert.equal(total(samples, 'droplet_registry_http_requests_total', { route: '/v2/{path*}', status: '404' }), 1);
    assert.ok(!samples.some((sample) => sample.name === 'droplet_registry_http_requests_total' && sample.labels.route?.includes('metrics-app')));
  });

  it('counts a hostile droplet under invalid_droplet', async () => {
    const hostile = await buildDroplet([
      { name: './app/', type: 'directory' },
      { name: './app/../../etc/passwd', content: 'root::0:0::/:/bin/sh' },
    ]);
    await writeDroplet(dropletsDir, { org: 'metrics-org', space: 'metrics-space', app: 'hostile-app', guid: HOSTILE_GUID, bytes: hostile });
    assert.equal((await inject('/v2/metrics-org/metrics-space/hostile-app/manifests/latest')).statusCode, 404);
    const { samples } = await scrape();
    assert.equal(total(samples, 'droplet_registry_conversion_failures_total', { reason: 'invalid_droplet' }), 1);
    assert.equal(total(samples, 'droplet_registry_conversions_total', { outcome: 'failed' }), 1);
    assert.equal(total(samples, 'droplet_registry_conversion_duration_seconds_count', { outcome: 'failed' }), 1);
  });

  it('counts a conversion the blobstore fails under blobstore, with the failed operation', async () => {
    await writeDroplet(dropletsDir, { org: 'metrics-org', space: 'metrics-space', app: 'blocked-app', guid: BLOCKED_GUID, bytes: await standardDroplet({ startCommand: './b.sh' }) });
    // A file where the store's staging directory should be: every staged write fails, even as root.
    const staging = join(registry.dataDir, 'blobstore', 'staging');
    await rm(staging, { recursive: true, force: true });
    await writeFile(staging, 'not a directory');
    try {
      assert.equal((await inject('/v2/metrics-org/metrics-space/blocked-app/manifests/latest')).statusCode, 503);
    } finally {
      await rm(staging, { force: true });
    }
    const { samples } = await scrape();
    assert.equal(total(samples, 'droplet_registry_conversion_failures_total', { reason: 'blobstore' }), 1);
    assert.equal(total(samples, 'droplet_registry_blobstore_operations_total', { operation: 'stage', outcome: 'error' }), 1);
  });

  it('exposes process metrics under the prefix and never names an app, a guid or a digest', async () => {
    const { text, samples } = await scrape();
    assert.ok(has(samples, 'droplet_registry_process_cpu_user_seconds_total'));
    assert.ok(has(samples, 'droplet_registry_nodejs_heap_size_used_bytes'));
    assert.ok(samples.every((sample) => sample.name.startsWith('droplet_registry_')), 'every metric carries the prefix');
    for (const secret of ['metrics-org', 'metrics-space', 'metrics-app', 'hostile-app', 'blocked-app', GUID, HOSTILE_GUID, BLOCKED_GUID, manifestDigest, 'sha256']) {
      assert.ok(!text.includes(secret), `${secret} appears in the metrics`);
    }
    assert.doesNotMatch(text, /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/, 'no guid of any kind');
    assert.doesNotMatch(text, /[0-9a-f]{64}/, 'no digest of any kind');
  });
});

describe('metrics on a port of their own (METRICS_PORT)', () => {
  let work: string;
  let registry: Registry;
  let metricsPort: number;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'metrics-port-'));
    const rootfs = join(work, 'rootfs.tgz');
    await writeFile(rootfs, await buildTinyRootfs());
    metricsPort = await freePort();
    const config = loadConfig({
      env: { DATA_DIR: join(work, 'data'), DROPLETS_DIR: join(work, 'droplets'), STACKS: `cflinuxfs4=${rootfs}`, PORT: '0', HOST: '127.0.0.1', METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1' },
    });
    registry = await startRegistry(config, pino({ level: 'silent' }));
  });

  after(async () => {
    await registry?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('serves /metrics there, and the main port no longer does', async () => {
    const main = registry.server.info.uri;
    assert.equal((await fetch(`${main}/v2/`)).status, 200);
    assert.equal((await fetch(`${main}/metrics`)).status, 404, 'nothing at /metrics on the routed port');
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const samples = parseExposition(await res.text());
    assert.equal(total(samples, 'droplet_registry_http_requests_total', { method: 'GET', route: '/v2/', status: '200' }), 1, 'requests to the main port are counted');
    assert.equal(total(samples, 'droplet_registry_http_requests_total', { route: 'unmatched', status: '404' }), 1);
  });

  it('refuses a metrics port that is the registry port, naming the key', () => {
    assert.throws(
      () => loadConfig({ env: { DATA_DIR: join(work, 'data'), PORT: '5000', METRICS_PORT: '5000' } }),
      (error: unknown) => error instanceof ConfigError && /METRICS_PORT/.test(error.message),
    );
  });

  it('serves nothing else on the metrics port', async () => {
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/v2/`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'POST' })).status, 405);
  });
});

