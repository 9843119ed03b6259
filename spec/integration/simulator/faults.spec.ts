/**
 * The fault hooks and request counters tests of the registry rely on: injected 5xx and rate
 * limits in the shapes CC and gorouter send, stalls, downloads cut short, falsified checksums,
 * rejected service credentials, and exact per-route counts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import type { CfSimulator, SeededFoundation } from '../../support/cf-simulator/index.ts';
import { capiGet, clientToken, requestToken, startSeeded } from './simulator-client.ts';

describe('cf-simulator faults and request counters', () => {
  let cf: CfSimulator;
  let seeded: SeededFoundation;
  let service: string;
  const download = () => capiGet(cf, `/v3/droplets/${seeded.droplets.webCurrent.guid}/download`, service);

  before(async () => {
    ({ cf, seeded } = await startSeeded());
    service = await clientToken(cf, seeded.serviceClient);
  });
  afterEach(() => {
    cf.faults.reset();
    cf.requests.reset();
  });
  after(() => cf.stop());

  it('fails the next N CAPI requests with CC’s 500 body, then recovers', async () => {
    cf.faults.failNext(2, 500);
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const reply = await capiGet(cf, '/v3/apps', service);
      assert.equal(reply.status, 500);
      assert.deepEqual(reply.body, { errors: [{ detail: 'An unknown error occurred.', title: 'UnknownError', code: 10001 }] });
    }
    assert.equal((await capiGet(cf, '/v3/apps', service)).status, 200);
    assert.equal(cf.requests.count('GET /v3/apps'), 3);
  });

  it('answers 502 and 503 the way gorouter does', async () => {
    cf.faults.failNext(1, 502);
    cf.faults.failNext(1, 503);
    const badGateway = await capiGet(cf, '/v3/apps', service);
    assert.equal(badGateway.status, 502);
    assert.equal(badGateway.headers.get('x-cf-routererror'), 'endpoint_failure');
    assert.match(badGateway.body, /^502 Bad Gateway/);
    const unavailable = await capiGet(cf, '/v3/apps', service);
    assert.equal(unavailable.status, 503);
    assert.equal(unavailable.headers.get('x-cf-routererror'), 'no_endpoints');
  });

  it('rate-limits with CF-RateLimitExceeded and CC’s headers', async () => {
    cf.faults.failNext(1, 429);
    const reply = await capiGet(cf, '/v3/apps', service);
    assert.equal(reply.status, 429);
    assert.deepEqual(reply.body, { errors: [{ detail: 'Rate Limit Exceeded', title: 'CF-RateLimitExceeded', code: 10013 }] });
    assert.equal(reply.headers.get('x-ratelimit-remaining'), '0');
    // CC sets Retry-After to the reset time in epoch seconds, not to a delay.
    assert.equal(reply.headers.get('retry-after'), reply.headers.get('x-ratelimit-reset'));
    assert.ok(Number(reply.headers.get('retry-after')) > Date.now() / 1000);
  });

  it('limits a fault to one route, or to UAA', async () => {
    cf.faults.failNext(1, 503, { route: 'GET /v3/droplets/:guid/download' });
    assert.equal((await capiGet(cf, `/v3/apps/${seeded.apps.web.guid}`, service)).status, 200);
    assert.equal((await download()).status, 503);
    cf.faults.failNext(1, 500, { server: 'uaa', route: 'POST /oauth/token' });
    const token = await requestToken(cf, seeded.serviceClient, { grant_type: 'client_credentials' });
    assert.equal(token.status, 500);
    assert.equal(token.body.error, 'server_error');
  });

  it('stalls a request past a client timeout', async () => {
    cf.faults.delayNext(1, 60_000, { route: 'GET /v3/apps' });
    await assert.rejects(fetch(`${cf.capiUrl}/v3/apps`, { headers: { Authorization: `bearer ${service}` }, signal: AbortSignal.timeout(100) }), { name: 'TimeoutError' });
    assert.equal((await capiGet(cf, '/v3/apps', service)).status, 200);
  });

  it('cuts a blobstore download after K bytes', async () => {
    cf.faults.cutDownloadsAfter(100);
    const location = (await download()).headers.get('location') ?? '';
    const response = await fetch(location);
    assert.equal(response.status, 200);
    assert.ok(Number(response.headers.get('content-length')) > 100);
    await assert.rejects(response.arrayBuffer());
    const whole = await fetch(location);
    assert.equal(Buffer.from(await whole.arrayBuffer()).length, Number(whole.headers.get('content-length')));
  });

  it('advertises a checksum that does not match the bits', async () => {
    cf.faults.advertiseWrongChecksum(seeded.droplets.webCurrent.guid);
    const droplet = await capiGet(cf, `/v3/droplets/${seeded.droplets.webCurrent.guid}`, service);
    assert.match(droplet.body.checksum.value, /^[0-9a-f]{64}$/);
    const bytes = Buffer.from(await (await fetch((await download()).headers.get('location') ?? '')).arrayBuffer());
    assert.notEqual(createHash('sha256').update(bytes).digest('hex'), droplet.body.checksum.value);
    const current = await capiGet(cf, `/v3/apps/${seeded.apps.web.guid}/droplets/current`, service);
    assert.equal(current.body.checksum.value, droplet.body.checksum.value);
  });

  it('rejects the service client’s credentials even when they are right', async () => {
    cf.faults.rejectClientCredentials(seeded.serviceClient.id);
    const reply = await requestToken(cf, seeded.serviceClient, { grant_type: 'client_credentials' });
    assert.equal(reply.status, 401);
    assert.deepEqual(reply.body, { error: 'unauthorized', error_description: 'Bad credentials' });
  });

  it('counts requests per route across the three servers', async () => {
    await capiGet(cf, `/v3/apps/${seeded.apps.web.guid}`, service);
    await capiGet(cf, `/v3/apps/${seeded.apps.legacy.guid}`, service);
    await capiGet(cf, '/v3/nope', service);
    await fetch((await download()).headers.get('location') ?? '').then((response) => response.arrayBuffer());
    await requestToken(cf, seeded.serviceClient, { grant_type: 'client_credentials' });
    assert.equal(cf.requests.count('GET /v3/apps/:guid'), 2);
    assert.equal(cf.requests.count('GET <unmatched>'), 1);
    assert.equal(cf.requests.count('GET /v3/droplets/:guid/download'), 1);
    assert.equal(cf.requests.count('GET /read/cc-droplets/:ab/:cd/:guid/:sha1'), 1);
    assert.equal(cf.requests.count('POST /oauth/token'), 1);
    assert.equal(cf.requests.count('GET /token_keys'), 0, 'CAPI checks tokens without calling UAA');
    assert.deepEqual(cf.requests.list('capi').map((request) => request.status), [200, 200, 404, 302]);
  });
});
