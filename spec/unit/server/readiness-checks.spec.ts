/**
 * The checks behind `/readyz` on stand-ins: a database that answers or not, an in-memory
 * blobstore holding or missing the base layers, and for Cloud Controller and UAA a plain HTTP
 * server on 127.0.0.1. What a real read-only filesystem, a stopped Postgres and the CF simulator
 * do to them is in spec/integration/server/readiness.spec.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Knex } from 'knex';
import type { LayerDescriptor } from '../../../src/conversion/layer-descriptor.ts';
import type { BaseLayers } from '../../../src/images/base-layers.ts';
import { Readiness, type ReadinessCheck } from '../../../src/server/readiness.ts';
import { readinessChecks, type ReadinessParts } from '../../../src/server/readiness-checks.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';

function layer(name: string): LayerDescriptor {
  const digest = `sha256:${createHash('sha256').update(name).digest('hex')}`;
  return { digest, diffId: digest, size: name.length, uncompressedSize: name.length, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' };
}

const LIFECYCLE = layer('lifecycle');
const CFLINUXFS3 = layer('cflinuxfs3 rootfs');
const CFLINUXFS4 = layer('cflinuxfs4 rootfs');

/** A database stand-in: answers `select 1`, or rejects with `failure`. */
function database(failure?: Error): Knex & { asked: number } {
  const db = {
    asked: 0,
    raw: async () => {
      db.asked += 1;
      if (failure) throw failure;
      return { rows: [{ '?column?': 1 }] };
    },
  };
  return db as unknown as Knex & { asked: number };
}

/** A blobstore holding `layers`, counting test writes. */
async function blobstoreWith(layers: readonly LayerDescriptor[]): Promise<MemoryBlobStore & { writes: number }> {
  const blobs = Object.assign(new MemoryBlobStore(), { writes: 0 });
  for (const { digest } of layers) await blobs.put(digest, Buffer.from(digest));
  const stage = blobs.stage.bind(blobs);
  blobs.stage = (options) => {
    blobs.writes += 1;
    return stage(options);
  };
  return blobs;
}

function baseLayers(stacks: Record<string, LayerDescriptor>): BaseLayers {
  return { stacks: new Map(Object.entries(stacks).map(([name, stack]) => [name, { stack, foundation: null }])), lifecycle: LIFECYCLE };
}

async function parts(overrides: Partial<ReadinessParts> = {}): Promise<ReadinessParts> {
  return {
    db: database(),
    blobs: await blobstoreWith([LIFECYCLE, CFLINUXFS3, CFLINUXFS4]),
    baseLayers: baseLayers({ cflinuxfs3: CFLINUXFS3, cflinuxfs4: CFLINUXFS4 }),
    blobstoreWriteProbeMs: 60_000,
    ...overrides,
  };
}

function named(checks: readonly ReadinessCheck[], name: string): ReadinessCheck {
  const check = checks.find((candidate) => candidate.name === name);
  assert.ok(check, `a ${name} check`);
  return check;
}

describe('the readiness checks', () => {
  describe('with the directory source', () => {
    it('check the database, the blobstore, its writes and the rootfs, and pass when all are there', async () => {
      const report = await new Readiness(readinessChecks(await parts())).report();
      assert.deepEqual(report, { ready: true, checks: { database: { ok: true }, blobstore: { ok: true }, 'blobstore-write': { ok: true }, rootfs: { ok: true } } });
    });

    it("report the database's own failure", async () => {
      const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), { code: 'ECONNREFUSED' });
      const report = await new Readiness(readinessChecks(await parts({ db: database(refused) }))).report();
      assert.deepEqual(report.checks.database, { ok: false, error: 'connect ECONNREFUSED 10.0.0.5:5432' });
      assert.equal(report.ready, false);
    });

    it('name the lifecycle layer when the blobstore has lost it', async () => {
      const blobs = await blobstoreWith([CFLINUXFS3, CFLINUXFS4]);
      const report = await new Readiness(readinessChecks(await parts({ blobs }))).report();
      assert.deepEqual(report.checks.blobstore, { ok: false, error: `the lifecycle layer ${LIFECYCLE.digest} is missing from the blobstore` });
      assert.deepEqual(report.checks.rootfs, { ok: true });
    });

    it('name the one stack whose rootfs is missing among several', async () => {
      const blobs = await blobstoreWith([LIFECYCLE, CFLINUXFS3]);
      const report = await new Readiness(readinessChecks(await parts({ blobs }))).report();
      assert.deepEqual(report.checks.rootfs, { ok: false, error: `the rootfs of stack cflinuxfs4 (${CFLINUXFS4.digest}) is missing from the blobstore` });
      assert.deepEqual(report.checks.blobstore, { ok: true });
    });

    it('report a blobstore that cannot be reached in the checks that read it', async () => {
      const blobs = await blobstoreWith([LIFECYCLE, CFLINUXFS3, CFLINUXFS4]);
      blobs.stat = () => Promise.reject(Object.assign(new Error('connect ETIMEDOUT 10.0.0.9:443'), { code: 'ETIMEDOUT' }));
      const report = await new Readiness(readinessChecks(await parts({ blobs }))).report();
      assert.deepEqual(report.checks.blobstore, { ok: false, error: 'connect ETIMEDOUT 10.0.0.9:443' });
      assert.deepEqual(report.checks.rootfs, { ok: false, error: 'connect ETIMEDOUT 10.0.0.9:443' });
    });

    it('say that the blobstore refused the test write, and leave nothing staged when it takes it', async () => {
      const refusing = await blobstoreWith([LIFECYCLE, CFLINUXFS3, CFLINUXFS4]);
      refusing.stage = () => Promise.reject(Object.assign(new Error("EROFS: read-only file system, open '/var/vcap/store/staging/1'"), { code: 'EROFS' }));
      const refused = await new Readiness(readinessChecks(await parts({ blobs: refusing }))).report();
      assert.deepEqual(refused.checks['blobstore-write'], { ok: false, error: "the blobstore refused a test write: EROFS: read-only file system, open '/var/vcap/store/staging/1'" });

      const taking = await blobstoreWith([LIFECYCLE, CFLINUXFS3, CFLINUXFS4]);
      const before = taking.keys();
      assert.deepEqual((await new Readiness(readinessChecks(await parts({ blobs: taking }))).report()).checks['blobstore-write'], { ok: true });
      assert.equal(taking.writes, 1);
      assert.deepEqual(taking.keys(), before, 'the test write left nothing behind');
    });

    it('make the test write at most once per blobstoreWriteProbeMs, however often probed', async () => {
      const blobs = await blobstoreWith([LIFECYCLE, CFLINUXFS3, CFLINUXFS4]);
      const readiness = new Readiness(readinessChecks(await parts({ blobs, blobstoreWriteProbeMs: 60_000 })));
      for (let probe = 0; probe < 10; probe += 1) await readiness.report();
      assert.equal(blobs.writes, 1);

      const everyProbe = await blobstoreWith([LIFECYCLE, CFLINUXFS3, CFLINUXFS4]);
      const eager = new Readiness(readinessChecks(await parts({ blobs: everyProbe, blobstoreWriteProbeMs: 0 })));
      for (let probe = 0; probe < 3; probe += 1) await eager.report();
      assert.equal(everyProbe.writes, 3);
    });

    it('ask the database at most once a second, however often probed', async () => {
      const db = database();
      const readiness = new Readiness(readinessChecks(await parts({ db })));
      await Promise.all(Array.from({ length: 10 }, () => readiness.report()));
      for (let probe = 0; probe < 10; probe += 1) await readiness.report();
      assert.equal(db.asked, 1);
    });
  });

  describe('with the capi source', () => {
    let upstream: Server;
    let base: string;
    /** Requests the stand-in Cloud Controller and UAA received: method, path, whether they carried credentials. */
    const received: Array<{ path: string; authorized: boolean }> = [];
    /** Status per path; 200 for anything else. */
    const statuses = new Map<string, number>();

    before(async () => {
      upstream = createServer((request, response) => {
        received.push({ path: request.url ?? '', authorized: request.headers.authorization !== undefined });
        const status = statuses.get(request.url ?? '') ?? 200;
        response.writeHead(status, status >= 300 && status < 400 ? { location: `${base}/elsewhere` } : {}).end('{}');
      });
      await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    });

    after(async () => {
      upstream.closeAllConnections();
      await new Promise((resolve) => upstream.close(resolve));
    });

    const capiParts = async (capi: Partial<NonNullable<ReadinessParts['capi']>> = {}): Promise<ReadinessParts> =>
      parts({ capi: { url: `${base}/`, caCert: '', uaaUrl: () => Promise.resolve(`${base}/uaa/`), uaaCaCert: '', ...capi } });

    it("add Cloud Controller's root and UAA's token keys, asked without credentials", async () => {
      statuses.clear();
      received.length = 0;
      const checks = readinessChecks(await capiParts());
      assert.deepEqual(checks.map((check) => check.name), ['database', 'blobstore', 'blobstore-write', 'rootfs', 'capi', 'uaa']);
      await named(checks, 'capi').check();
      await named(checks, 'uaa').check();
      assert.deepEqual(received, [{ path: '/', authorized: false }, { path: '/uaa/token_keys', authorized: false }], 'one slash between the configured URLs and the paths');
    });

    it('fail on any answer but 2xx, a redirect included (it is not followed)', async () => {
      received.length = 0;
      statuses.clear();
      statuses.set('/', 302);
      statuses.set('/uaa/token_keys', 404);
      const checks = readinessChecks(await capiParts());
      await assert.rejects(named(checks, 'capi').check(), { message: 'Cloud Controller answered 302 to GET /' });
      await assert.rejects(named(checks, 'uaa').check(), { message: 'UAA answered 404 to GET /uaa/token_keys' });
      assert.ok(!received.some((request) => request.path === '/elsewhere'), 'the redirect was not followed');
    });

    it("fail the UAA check when UAA's URL cannot be found, and ask for the URL again on the next check", async () => {
      statuses.clear();
      let discoveries = 0;
      const uaaUrl = async (): Promise<string> => {
        discoveries += 1;
        if (discoveries === 1) throw new Error("Cloud Controller's root document has no uaa link; set UAA_URL");
        return base;
      };
      const uaa = named(readinessChecks(await capiParts({ uaaUrl })), 'uaa');
      await assert.rejects(uaa.check(), { message: "Cloud Controller's root document has no uaa link; set UAA_URL" });
      await uaa.check();
      assert.equal(discoveries, 2);
    });
  });
});
