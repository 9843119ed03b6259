/**
 * What the registry reads from the systems it calls, when they answer like a hostile or broken
 * system would: Cloud Controller lists whose pagination never ends, or an app with more droplets
 * than the registry reads; answers over UPSTREAM_MAX_ANSWER_BYTES from Cloud Controller and UAA;
 * answers that trickle; a droplet blobstore that never answers; a refusal whose body trickles; a
 * droplet padded with bytes that unpack to nothing; a burst of audit events; a WebDAV blobstore
 * that never answers or lists too much. Each is cut off at its bound and answered as an outage
 * (503 UNAVAILABLE) or a bad droplet (404 MANIFEST_UNKNOWN), never read without end.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { ServerInjectResponse } from '@hapi/hapi';
import { WebDavBlobStore } from '../../../src/blobstore/webdav-blob-store.ts';
import { WebDavClient } from '../../../src/blobstore/webdav-client.ts';
import { UPSTREAM_MAX_ANSWER_BYTES } from '../../../src/sources/capi/upstream-http.ts';
import { standardDroplet } from '../../support/build-droplet.ts';
import { capiSourceEnv, type CfSimulator, type SeededFoundation, seedFoundation, startCfSimulator } from '../../support/cf-simulator/index.ts';
import { buildTinyRootfs, createTestRegistry, type TestRegistry } from '../../support/test-registry.ts';
import { prewarmerOf, SEEDED_AT, startPrewarmWorld, type PrewarmWorld } from '../workers/prewarm-world.ts';

const PAGE_SIZE = 5;
const MAX_PAGES = 3;
const MAX_DROPLET_BYTES = 1024 * 1024;
const SEEDED_SECOND = new Date(SEEDED_AT).toISOString();

interface OciError {
  readonly code: string;
  readonly message: string;
  readonly detail?: { readonly reason?: string };
}

function ociError(res: ServerInjectResponse): OciError {
  return (JSON.parse(res.payload) as { errors: OciError[] }).errors[0] as OciError;
}

function assertUnavailable(res: ServerInjectResponse, message: RegExp): void {
  assert.equal(res.statusCode, 503, res.payload);
  assert.equal(ociError(res).code, 'UNAVAILABLE');
  assert.ok(Number(res.headers['retry-after']) > 0, 'Retry-After');
  assert.match(ociError(res).message, message);
}

/** A CC list page with no resources whose `next` is `next` (null: the last page). */
function emptyPage(next: string | null): unknown {
  return { pagination: { total_results: 0, total_pages: 1, first: { href: next ?? '' }, last: { href: next ?? '' }, next: next === null ? null : { href: next }, previous: null }, resources: [] };
}

describe('Cloud Controller, UAA and droplet blobstore answers past their bounds', () => {
  let cf: CfSimulator;
  let seed: SeededFoundation;
  let work: string;
  let stacks: Record<string, string>;
  let registry: TestRegistry;
  let serial = 0;

  const env = (extra: Record<string, string> = {}) => ({
    ...capiSourceEnv(cf, seed),
    // Long enough to take 32 MiB on a slow machine; the time bounds have their own registry.
    CAPI_TIMEOUT_MS: '10000',
    CAPI_PAGE_SIZE: String(PAGE_SIZE),
    CAPI_MAX_PAGES: String(MAX_PAGES),
    CONVERSION_MAX_UNCOMPRESSED_BYTES: String(MAX_DROPLET_BYTES),
    ...extra,
  });
  const get = (url: string, headers: Record<string, string> = {}) => registry.registry.server.inject({ method: 'GET', url, headers });

  /** A freshly staged app nobody has pulled yet, with `bytes` as its droplet. */
  async function freshApp(bytes?: Buffer): Promise<{ url: string; guid: string }> {
    serial += 1;
    const app = cf.foundation.createApp(seed.spaces.development, { name: `fresh-${serial}` });
    const droplet = cf.foundation.stage(app, bytes ?? (await standardDroplet({ startCommand: './run' })));
    return { url: `/v2/acme/development/fresh-${serial}/manifests/latest`, guid: droplet.guid };
  }

  before(async () => {
    cf = await startCfSimulator();
    seed = seedFoundation(cf, { dropletBytes: ({ startCommand }) => standardDroplet({ startCommand }) });
    work = await mkdtemp(join(tmpdir(), 'upstream-answers-'));
    await writeFile(join(work, 'rootfs.tgz'), await buildTinyRootfs());
    stacks = { cflinuxfs4: join(work, 'rootfs.tgz') };
    registry = await createTestRegistry({ stacks, dropletsDir: join(work, 'unused'), env: env() });
  });

  after(async () => {
    await registry?.close();
    await cf?.stop();
    await rm(work, { recursive: true, force: true });
  });

  beforeEach(() => {
    cf.faults.reset();
    cf.requests.reset();
  });

  describe('lists', () => {
    it('a list whose pagination never ends: 503 naming Cloud Controller and the list after CAPI_MAX_PAGES pages', async () => {
      cf.faults.answerNext(1000, { body: emptyPage(`${cf.capiUrl}/v3/apps?page=2&per_page=${PAGE_SIZE}`) }, { route: 'GET /v3/apps' });
      const res = await get('/v2/acme/development/web/manifests/latest');
      assertUnavailable(res, /^Cloud Controller's answer to GET \/v3\/apps goes on past 3 pages, more than the registry reads$/);
      assert.equal(cf.requests.count('GET /v3/apps'), MAX_PAGES);
      assert.ok(registry.logs.some((line) => line.event === 'upstream.list_too_long' && line.call === 'GET /v3/apps'), 'the log names the list');
    });

    it('tags/list of an app with more staged droplets than CAPI_MAX_PAGES pages hold: 503, without the app guid', async () => {
      const app = cf.foundation.createApp(seed.spaces.development, { name: 'prolific' });
      const bits = await standardDroplet({ startCommand: './run' });
      for (let i = 0; i < PAGE_SIZE * MAX_PAGES + 1; i += 1) cf.foundation.stage(app, bits);
      const res = await get('/v2/acme/development/prolific/tags/list');
      assertUnavailable(res, /^Cloud Controller's answer to GET \/v3\/apps\/:guid\/droplets goes on past 3 pages/);
      assert.equal(cf.requests.count('GET /v3/apps/:guid/droplets'), MAX_PAGES);
    });
  });

  describe('sizes', () => {
    it('a Cloud Controller answer over UPSTREAM_MAX_ANSWER_BYTES: 503, not read on', async () => {
      cf.faults.answerNext(1, { body: { ...(emptyPage(null) as object), padding: 'x'.repeat(UPSTREAM_MAX_ANSWER_BYTES) } }, { route: 'GET /v3/apps' });
      const res = await get('/v2/acme/development/web/tags/list');
      assertUnavailable(res, /^Cloud Controller answered with more than 33554432 bytes, more than the registry reads/);
      assert.equal(cf.requests.count('GET /v3/apps'), 1, 'nothing more was asked on the strength of that answer');
    });

    it("a UAA /token_keys answer over UPSTREAM_MAX_ANSWER_BYTES: a UAA token is refused with 503, the keys unread", async () => {
      const keys = (await (await fetch(`${cf.uaaUrl}/token_keys`)).json()) as object;
      cf.faults.answerNext(1, { body: { ...keys, padding: 'x'.repeat(UPSTREAM_MAX_ANSWER_BYTES) } }, { server: 'uaa', route: 'GET /token_keys' });
      const fresh = await createTestRegistry({ stacks, dropletsDir: join(work, 'unused'), env: env() });
      try {
        const adminToken = cf.uaa.issueToken({ clientId: 'cf', username: seed.users.admin.username });
        const res = await fresh.registry.server.inject({ method: 'GET', url: '/admin/images', headers: { authorization: `bearer ${adminToken}` } });
        assertUnavailable(res, /^UAA answered with more than 33554432 bytes/);
      } finally {
        await fresh.close();
      }
    });
  });

  describe('time', () => {
    let hasty: TestRegistry;
    const hastyGet = (url: string) => hasty.registry.server.inject({ method: 'GET', url });

    before(async () => {
      hasty = await createTestRegistry({ stacks, dropletsDir: join(work, 'unused'), env: env({ CAPI_TIMEOUT_MS: '1000' }) });
    });

    after(async () => {
      await hasty?.close();
    });

    it('a Cloud Controller answer that trickles: cut off at CAPI_TIMEOUT_MS, body included', async () => {
      cf.faults.answerNext(1, { body: emptyPage(null), trickleMs: 100 }, { route: 'GET /v3/apps/:guid/droplets' });
      const res = await hastyGet('/v2/acme/development/web/tags/list');
      assertUnavailable(res, /^Cloud Controller is unreachable \(timed out\)/);
      const trickled = cf.requests.list('capi').find((request) => request.route === 'GET /v3/apps/:guid/droplets');
      assert.equal(trickled?.status, null, 'the registry hung up before the answer was through');
    });

    it('a droplet blobstore that takes the download and never answers: 503 at CAPI_TIMEOUT_MS', async () => {
      const { url } = await freshApp();
      cf.faults.delayNext(1, 20_000, { server: 'blobstore' });
      const res = await hastyGet(url);
      assertUnavailable(res, /^the blobstore is unreachable \(timed out\)/);
    });

    it("Cloud Controller refusing a download with a body that trickles: refused at CAPI_TIMEOUT_MS, the body's start only", async () => {
      const { url } = await freshApp();
      const refusal = { errors: [{ code: 10010, title: 'CF-ResourceNotFound', detail: 'Droplet not found' }] };
      cf.faults.answerNext(1, { status: 404, body: refusal, trickleMs: 100 }, { route: 'GET /v3/droplets/:guid/download' });
      const res = await hastyGet(url);
      assert.equal(res.statusCode, 404, res.payload);
      assert.equal(ociError(res).code, 'MANIFEST_UNKNOWN');
      const download = cf.requests.list('capi').find((request) => request.route === 'GET /v3/droplets/:guid/download');
      assert.equal(download?.status, null, 'the registry hung up before the refusal was through');
    });
  });

  describe('droplets', () => {
    it('a droplet padded past CONVERSION_MAX_UNCOMPRESSED_BYTES with empty gzip members (which unpack to nothing): refused, not read on', async () => {
      const emptyMember = gzipSync(Buffer.alloc(0));
      const padding = Buffer.concat(Array.from({ length: Math.ceil((2 * MAX_DROPLET_BYTES) / emptyMember.length) }, () => emptyMember));
      const { url, guid } = await freshApp(Buffer.concat([await standardDroplet({ startCommand: './run' }), padding]));
      const res = await get(url);
      assert.equal(res.statusCode, 404, res.payload);
      assert.equal(ociError(res).code, 'MANIFEST_UNKNOWN');
      assert.match(ociError(res).detail?.reason ?? '', /^droplet is over 1048576 bytes before unpacking \(limit maxUncompressedBytes\)$/);
      assert.ok(registry.logs.some((line) => line.event === 'conversion.failed' && line.droplet === guid));
    });
  });
});

describe('the pre-warmer reading a burst of audit events', () => {
  let world: PrewarmWorld;

  before(async () => {
    world = await startPrewarmWorld();
  });

  after(async () => {
    await world?.stop();
  });

  it('reads CAPI_MAX_PAGES pages per round, steps past a second crowded with more events than that, and works a backlog off a batch per round', async () => {
    const registry = await world.openRegistry({ env: { CAPI_PAGE_SIZE: '2', CAPI_MAX_PAGES: '2' } });
    try {
      const prewarmer = prewarmerOf(registry);
      await prewarmer.runOnce(); // first start: the cursor is the seeded foundation's second, which holds many events
      const droplets = ['one', 'two', 'three', 'four'].map((name) => {
        world.cf.foundation.advanceTime(1);
        return world.push(name); // two events each: build.staged and droplet.mapped
      });

      await prewarmer.runOnce();
      assert.ok(registry.logs.some((line) => line.event === 'prewarm.crowded_second' && line.second === SEEDED_SECOND), 'the seeded second is stepped past');
      assert.equal(prewarmer.counters.conversions, 0);

      world.cf.requests.reset();
      await prewarmer.runOnce();
      // The pre-warmer's reads (the cache of Cloud Controller answers reads other event types).
      const prewarmReads = world.cf.requests.list('capi').filter((request) => request.route === 'GET /v3/audit_events' && !request.url.includes('audit.app.update'));
      assert.equal(prewarmReads.length, 2, 'two pages of two events');
      assert.equal(prewarmer.counters.conversions, 2, 'the first two droplets');

      for (let round = 0; round < 4 && prewarmer.counters.conversions < droplets.length; round += 1) await prewarmer.runOnce();
      const warmed = registry.logs.filter((line) => line.event === 'prewarm.warmed').map((line) => String(line.droplet));
      assert.deepEqual(warmed.sort(), droplets.map((droplet) => droplet.guid).sort(), 'each droplet warmed once');
      assert.equal(prewarmer.counters.eventsSeen, 8);
    } finally {
      await registry.close();
    }
  });
});

describe('a WebDAV blobstore answering past its bounds', () => {
  const sockets = new Set<Socket>();
  const servers: Array<{ close(callback: () => void): void; url: string }> = [];

  after(async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  });

  async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<string> {
    server.on('connection', (socket: Socket) => sockets.add(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address() as { port: number };
    const url = `http://127.0.0.1:${port}`;
    servers.push({ close: (callback) => server.close(callback), url });
    return url;
  }

  it('a blobstore that takes a request and never answers: the request fails after its answer timeout', { timeout: 30_000 }, async () => {
    const endpoint = await listen(createTcpServer(() => undefined));
    const client = new WebDavClient({ endpoint, username: 'admin', password: 'secret', answerTimeoutMs: 300 });
    await assert.rejects(client.send('HEAD', '/admin/droplet-registry/blobs/sha256/00'), /did not answer HEAD \/admin\/droplet-registry\/blobs\/sha256\/00 within 0.3s of silence/);
  });

  it('a staging listing over 32 MiB: the sweep fails instead of reading it all', async () => {
    const endpoint = await listen(
      createHttpServer((request, response) => {
        request.resume();
        response.writeHead(207, { 'Content-Type': 'application/xml' });
        const chunk = Buffer.alloc(1024 * 1024, ' ');
        let sent = 0;
        const more = (): void => {
          while (sent < 40 && !response.destroyed) {
            sent += 1;
            if (!response.write(chunk)) return void response.once('drain', more);
          }
          response.end();
        };
        more();
      }),
    );
    const store = new WebDavBlobStore({ privateEndpoint: endpoint, publicEndpoint: endpoint, username: 'admin', password: 'secret', secret: 's', directoryKey: 'droplet-registry', linkExpirySeconds: 60 });
    await assert.rejects(store.sweepStaging(0), /answer to PROPFIND \/admin\/droplet-registry\/staging\/ is over 33554432 bytes/);
  });
});
