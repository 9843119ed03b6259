/**
 * With AUTH=uaa (CAPI simulator): a `docker login` and pull token reach UAA (password grant) and
 * Cloud Controller (may this user download the app's droplets?), and those calls show in the
 * upstream metrics, the token endpoint in the request metrics, and no user name anywhere;
 * garbage collections an admin runs show in the GC metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestRegistry } from '../../support/test-registry.ts';
import { startAuthWorld, tokenRequest, WEB, type AuthWorld } from '../auth/auth-world.ts';
import { parseExposition, total } from './exposition.ts';

describe('metrics of logins and garbage collections (AUTH=uaa, CAPI simulator)', () => {
  let world: AuthWorld;
  let registry: TestRegistry;

  before(async () => {
    world = await startAuthWorld();
    registry = await world.openRegistry();
  });

  after(async () => {
    await registry?.close();
    await world?.stop();
  });

  it('times the UAA and Cloud Controller calls behind a pull token', async () => {
    const user = world.seed.users.space_developer;
    const res = await registry.registry.server.inject(tokenRequest(user, [`repository:${WEB}:pull`]));
    assert.equal(res.statusCode, 200, res.payload);
    const scrape = await registry.registry.server.inject('/metrics');
    const samples = parseExposition(scrape.payload);
    assert.equal(total(samples, 'droplet_registry_http_requests_total', { method: 'GET', route: '/v2/token', status: '200' }), 1);
    const calls = (upstream: string, status: string) => total(samples, 'droplet_registry_upstream_request_duration_seconds_count', { upstream, status });
    assert.ok(calls('uaa', '2xx') >= 2, "the registry's service token and the user's password grant");
    assert.equal(calls('capi', '3xx'), 1, 'the download permission check: Cloud Controller redirects the user to the droplet');
    assert.ok(!scrape.payload.includes(user.username), 'no user name in the metrics');
  });

  it('counts garbage collections by mode, with what real runs removed', async () => {
    const admin = world.cf.uaa.issueToken({ clientId: 'cf', username: world.seed.users.admin.username });
    const gc = (query: string) => registry.registry.server.inject({ method: 'POST', url: `/admin/gc${query}`, headers: { authorization: `bearer ${admin}` } });
    assert.equal((await gc('')).statusCode, 200);
    const real = await gc('?dry_run=false');
    assert.equal(real.statusCode, 200, real.payload);
    const report = JSON.parse(real.payload) as { bytes_freed: number; blobs_removed: unknown[] };
    const samples = parseExposition((await registry.registry.server.inject('/metrics')).payload);
    assert.equal(total(samples, 'droplet_registry_gc_runs_total', { mode: 'dry_run', outcome: 'succeeded' }), 1);
    assert.equal(total(samples, 'droplet_registry_gc_runs_total', { mode: 'real', outcome: 'succeeded' }), 1);
    assert.equal(total(samples, 'droplet_registry_gc_freed_bytes_total'), report.bytes_freed);
    assert.equal(total(samples, 'droplet_registry_gc_blobs_removed_total'), report.blobs_removed.length);
    assert.ok(total(samples, 'droplet_registry_gc_last_success_timestamp_seconds', { mode: 'real' }) > 0);
  });
});
