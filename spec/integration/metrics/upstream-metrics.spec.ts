/**
 * Metrics of the registry's calls to Cloud Controller, UAA and the droplet blobstore, and of the
 * pre-warmer, against the CAPI + UAA simulator (registry in-process, PGlite): a pull moves the
 * call latencies, injected upstream failures count as errors and fail the conversion under the
 * `source` reason, slow downloads show conversions in flight and queued, a pre-warm round shows
 * in the pre-warmer's metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../../support/clients/wait-for.ts';
import type { TestRegistry } from '../../support/test-registry.ts';
import { prewarmerOf, startPrewarmWorld, type PrewarmWorld } from '../workers/prewarm-world.ts';
import { parseExposition, total, type Sample } from './exposition.ts';

describe('upstream and pre-warmer metrics (CAPI simulator)', () => {
  let world: PrewarmWorld;
  let registry: TestRegistry;
  const inject = (url: string) => registry.registry.server.inject({ method: 'GET', url });
  const repository = (app: string) => `/v2/${world.seeded.org.name}/${world.seeded.spaces.development.name}/${app}`;

  async function scrape(): Promise<{ text: string; samples: Sample[] }> {
    const res = await inject('/metrics');
    assert.equal(res.statusCode, 200);
    return { text: res.payload, samples: parseExposition(res.payload) };
  }

  before(async () => {
    world = await startPrewarmWorld();
    // Short enough for a stalled call to time out within the test, long enough for a busy machine;
    // one conversion at a time, so a second one queues.
    registry = await world.openRegistry({ env: { CAPI_TIMEOUT_MS: '2000', CONVERSION_CONCURRENCY: '1' } });
  });

  after(async () => {
    await registry?.close();
    await world?.stop();
  });

  it('times the Cloud Controller, UAA and blobstore calls of a pull', async () => {
    const res = await inject(`${repository(world.seeded.apps.web.name)}/manifests/latest`);
    assert.equal(res.statusCode, 200, res.payload);
    const { samples } = await scrape();
    const calls = (upstream: string, status: string) => total(samples, 'droplet_registry_upstream_request_duration_seconds_count', { upstream, status });
    assert.ok(calls('capi', '2xx') >= 2, 'app lookup and current droplet');
    assert.equal(calls('capi', '3xx'), 1, 'the droplet download redirect');
    assert.equal(calls('uaa', '2xx'), 1, 'one service token, reused');
    assert.equal(calls('cc_blobstore', '2xx'), 1, 'the droplet download');
    assert.equal(total(samples, 'droplet_registry_upstream_errors_total'), 0);
  });

  it('counts a failing droplet download as an upstream error and the conversion under source', async () => {
    world.cf.faults.failNext(1, 503, { server: 'blobstore' });
    const res = await inject(`${repository(world.seeded.apps.legacy.name)}/manifests/latest`);
    assert.equal(res.statusCode, 503, res.payload);
    const { samples } = await scrape();
    assert.equal(total(samples, 'droplet_registry_upstream_errors_total', { upstream: 'cc_blobstore', kind: 'server_error' }), 1);
    assert.equal(total(samples, 'droplet_registry_upstream_request_duration_seconds_count', { upstream: 'cc_blobstore', status: '5xx' }), 1);
    assert.equal(total(samples, 'droplet_registry_conversion_failures_total', { reason: 'source' }), 1);
  });

  it('counts a droplet download cut mid-stream under source', async () => {
    world.push('cut-short');
    world.cf.faults.cutDownloadsAfter(100);
    const res = await inject(`${repository('cut-short')}/manifests/latest`);
    assert.equal(res.statusCode, 503, res.payload);
    const { samples } = await scrape();
    assert.equal(total(samples, 'droplet_registry_conversion_failures_total', { reason: 'source' }), 2, 'the failed download before, and this one');
    assert.equal(total(samples, 'droplet_registry_conversion_failures_total', { reason: 'other' }), 0);
  });

  it('counts a Cloud Controller 5xx as an upstream error', async () => {
    world.cf.faults.failNext(1, 500);
    const res = await inject(`${repository(world.seeded.apps.web.name)}/tags/list`);
    assert.equal(res.statusCode, 503, res.payload);
    const { samples } = await scrape();
    assert.equal(total(samples, 'droplet_registry_upstream_errors_total', { upstream: 'capi', kind: 'server_error' }), 1);
  });

  it('counts a Cloud Controller call that gets no answer in time as a timeout', async () => {
    world.cf.faults.delayNext(1, 5_000);
    const res = await inject(`${repository(world.seeded.apps.web.name)}/tags/list`);
    assert.equal(res.statusCode, 503, res.payload);
    const { samples } = await scrape();
    assert.equal(total(samples, 'droplet_registry_upstream_errors_total', { upstream: 'capi', kind: 'timeout' }), 1);
    assert.ok(total(samples, 'droplet_registry_upstream_request_duration_seconds_count', { upstream: 'capi', status: 'none' }) >= 1);
  });

  it('shows conversions in flight and queued while droplets download', async () => {
    world.push('slow-one');
    world.push('slow-two');
    world.cf.faults.delayNext(2, 1_200, { server: 'blobstore' }); // under CAPI_TIMEOUT_MS, which the blobstore must start answering within
    const pulls = ['slow-one', 'slow-two'].map((app) => inject(`${repository(app)}/manifests/latest`));
    await waitFor(
      'one conversion in flight and one queued in the metrics',
      async () => {
        const { samples } = await scrape();
        return total(samples, 'droplet_registry_conversions_in_flight') === 1 && total(samples, 'droplet_registry_conversions_queued') === 1;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    for (const pull of pulls) assert.equal((await pull).statusCode, 200);
    const { samples } = await scrape();
    assert.equal(total(samples, 'droplet_registry_conversions_in_flight'), 0, 'none once they landed');
    assert.equal(total(samples, 'droplet_registry_conversions_queued'), 0);
  });

  it('shows a pre-warm round: warms by outcome, events, leadership, lag', async () => {
    const prewarmer = prewarmerOf(registry);
    assert.equal(await prewarmer.runOnce(), 'initialized');
    world.cf.foundation.advanceTime(5);
    world.push('warmed-by-events');
    assert.equal(await prewarmer.runOnce(), 'followed');
    const { text, samples } = await scrape();
    assert.equal(total(samples, 'droplet_registry_prewarm_warms_total', { outcome: 'converted' }), 1);
    assert.ok(total(samples, 'droplet_registry_prewarm_events_total') >= 1);
    assert.equal(total(samples, 'droplet_registry_prewarm_leader'), 1);
    assert.equal(total(samples, 'droplet_registry_prewarm_lag_seconds'), prewarmer.counters.lastLagSeconds);
    assert.equal(total(samples, 'droplet_registry_image_cache_lookups_total', { trigger: 'prewarm', result: 'miss' }), 1);
    assert.doesNotMatch(text, /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/, 'no guid of any kind');
    assert.ok(!text.includes('warmed-by-events'), 'no app name');
  });
});
