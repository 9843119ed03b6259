/**
 * `GET /readyz` on the real composition: ready when the database, the blobstore (with the shared
 * base layers) and, with the capi source, Cloud Controller and UAA answer; 503 naming each failing
 * check otherwise. Postgres going away is a private cluster stopped and started again (the shared
 * one at 5432 is never touched).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { standardDroplet } from '../../support/build-droplet.ts';
import { capiSourceEnv, type CfSimulator, type SeededFoundation, seedFoundation, startCfSimulator } from '../../support/cf-simulator/index.ts';
import { waitFor } from '../../support/clients/wait-for.ts';
import { privatePostgresProblem, startPrivatePostgres, type PrivatePostgres } from '../../support/private-postgres.ts';
import { describeFailure } from '../../../src/server/readiness.ts';
import { skipOrFail } from '../../support/requirements.ts';
import { buildTinyRootfs, createTestRegistry, type TestRegistry } from '../../support/test-registry.ts';

interface Readiness {
  status: number;
  body: { status: string; checks: Record<string, { ok: boolean; error?: string }> };
  headers: Record<string, unknown>;
}

async function readyz(registry: TestRegistry): Promise<Readiness> {
  const res = await registry.registry.server.inject({ method: 'GET', url: '/readyz' });
  return { status: res.statusCode, body: JSON.parse(res.payload) as Readiness['body'], headers: res.headers };
}

let work: string;
let rootfsPath: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'readiness-'));
  rootfsPath = join(work, 'rootfs.tgz');
  await writeFile(rootfsPath, await buildTinyRootfs());
});

after(() => rm(work, { recursive: true, force: true }));

describe('/readyz with the directory source', () => {
  it('answers 200 "ready" with each check, unauthenticated and uncached', async () => {
    const registry = await createTestRegistry({ stacks: { cflinuxfs4: rootfsPath }, dropletsDir: join(work, 'droplets') });
    try {
      const { status, body, headers } = await readyz(registry);
      assert.equal(status, 200, JSON.stringify(body));
      assert.deepEqual(body, { status: 'ready', checks: { database: { ok: true }, blobstore: { ok: true }, 'blobstore-write': { ok: true }, rootfs: { ok: true } } });
      assert.equal(headers['cache-control'], 'no-store');
      const health = await registry.registry.server.inject({ method: 'GET', url: '/healthz' });
      assert.equal(health.statusCode, 200);
    } finally {
      await registry.close();
    }
  });

  it('answers 503 naming the rootfs when its blob is gone from the blobstore', async () => {
    const registry = await createTestRegistry({ stacks: { cflinuxfs4: rootfsPath }, dropletsDir: join(work, 'droplets') });
    try {
      const [row] = await registry.registry.db('imported_layers').where({ kind: 'rootfs', name: 'cflinuxfs4' }).select('layer_digest as digest');
      const digest = String(row?.digest);
      await unlink(join(registry.dataDir, 'blobstore', 'blobs', 'sha256', digest.slice('sha256:'.length)));
      const { status, body } = await readyz(registry);
      assert.equal(status, 503);
      assert.equal(body.status, 'not ready');
      assert.equal(body.checks.rootfs?.ok, false);
      assert.equal(body.checks.rootfs?.error, `the rootfs of stack cflinuxfs4 (${digest}) is missing from the blobstore`);
      assert.deepEqual([body.checks.database, body.checks.blobstore, body.checks['blobstore-write']], [{ ok: true }, { ok: true }, { ok: true }], 'only the failing check is named');
    } finally {
      await registry.close();
    }
  });

  it('answers 503 when no stack is configured: every pull would fail', async () => {
    const registry = await createTestRegistry({ stacks: {}, dropletsDir: join(work, 'droplets') });
    try {
      const { status, body } = await readyz(registry);
      assert.equal(status, 503);
      assert.match(body.checks.rootfs?.error ?? '', /no stack rootfs configured \(STACKS\)/);
    } finally {
      await registry.close();
    }
  });
});

describe('/readyz while the blobstore refuses writes', () => {
  let mountPoint: string | undefined;
  let registry: TestRegistry | undefined;

  after(async () => {
    await registry?.close();
    if (mountPoint) execFileSync('umount', [mountPoint]);
  });

  it('turns 503 naming the blobstore when its filesystem turns read-only, and 200 again once it takes writes', async (t) => {
    // chmod does not stop root: a tmpfs remounted read-only does (EROFS), as a failing disk would.
    const point = join(work, 'read-only-blobstore');
    await mkdir(point);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', point], { stdio: 'pipe' });
      mountPoint = point;
    } catch (error) {
      skipOrFail(t, `cannot mount a tmpfs (needs root with CAP_SYS_ADMIN): ${(error as Error).message.split('\n')[0]}`);
      return;
    }
    registry = await createTestRegistry({
      stacks: { cflinuxfs4: rootfsPath },
      dropletsDir: join(work, 'droplets'),
      env: { BLOBSTORE_FS_ROOT: point, BLOBSTORE_WRITE_PROBE_INTERVAL_MS: '1' },
    });
    const ready = registry;
    assert.equal((await readyz(ready)).status, 200);

    execFileSync('mount', ['-o', 'remount,ro', point]);
    let down: Readiness | undefined;
    await waitFor('/readyz to report the blobstore refusing writes', async () => {
      down = await readyz(ready);
      return down.status === 503;
    });
    assert.equal(down?.body.checks['blobstore-write']?.ok, false);
    assert.match(down?.body.checks['blobstore-write']?.error ?? '', /^the blobstore refused a test write: .*(EROFS|read-only file system)/);
    assert.deepEqual([down?.body.checks.database, down?.body.checks.blobstore, down?.body.checks.rootfs], [{ ok: true }, { ok: true }, { ok: true }], 'reads still work: only writes are named');

    execFileSync('mount', ['-o', 'remount,rw', point]);
    await waitFor('/readyz to report ready again', async () => (await readyz(ready)).status === 200);
    assert.deepEqual(await readdir(join(point, 'staging')), [], 'the test writes leave nothing behind');
  });
});

describe('/readyz while Postgres stops and starts again', { skip: skipOrFail(privatePostgresProblem()) }, () => {
  let postgres: PrivatePostgres;
  let registry: TestRegistry;

  before(async () => {
    postgres = await startPrivatePostgres();
    registry = await createTestRegistry({ databaseUrl: postgres.url, stacks: { cflinuxfs4: rootfsPath }, dropletsDir: join(work, 'droplets') });
  });

  after(async () => {
    await registry?.close();
    await postgres?.destroy();
  });

  it('turns 503 naming the database when Postgres stops, and 200 again once it is back', async () => {
    assert.equal((await readyz(registry)).status, 200);

    await postgres.stop();
    let down: Readiness | undefined;
    await waitFor('/readyz to report the database down', async () => {
      down = await readyz(registry);
      return down.status === 503;
    });
    assert.equal(down?.body.status, 'not ready');
    assert.equal(down?.body.checks.database?.ok, false);
    assert.ok(down?.body.checks.database?.error, 'the failure says why');
    assert.ok(!JSON.stringify(down?.body).includes(postgres.password), 'the database password is not shown');
    assert.deepEqual([down?.body.checks.blobstore, down?.body.checks.rootfs], [{ ok: true }, { ok: true }], 'only the database is named');

    await postgres.start();
    await waitFor('/readyz to report ready again', async () => (await readyz(registry)).status === 200);
    assert.deepEqual((await readyz(registry)).body.checks.database, { ok: true });
  });
});

describe('/readyz with the capi source', () => {
  let cf: CfSimulator;
  let seed: SeededFoundation;

  before(async () => {
    cf = await startCfSimulator();
    seed = seedFoundation(cf, { dropletBytes: ({ startCommand }) => standardDroplet({ startCommand }) });
  });

  after(() => cf?.stop());

  /** A fresh registry (fresh cached results) on the simulator. */
  const open = () =>
    createTestRegistry({
      stacks: { cflinuxfs4: rootfsPath },
      dropletsDir: join(work, 'unused'),
      env: {
        ...capiSourceEnv(cf, seed),
        UAA_URL: cf.uaaUrl,
      },
    });

  it('checks that Cloud Controller and UAA answer', async () => {
    const registry = await open();
    try {
      const { status, body } = await readyz(registry);
      assert.equal(status, 200, JSON.stringify(body));
      assert.deepEqual(body.checks.capi, { ok: true });
      assert.deepEqual(body.checks.uaa, { ok: true });
      assert.ok(cf.requests.list().some((request) => request.server === 'capi' && request.route === 'GET /' && !request.hadAuthorization), 'CAPI root, unauthenticated');
      assert.ok(cf.requests.list().some((request) => request.server === 'uaa' && request.route === 'GET /token_keys'), "UAA's token keys");
    } finally {
      await registry.close();
    }
  });

  it('answers 503 naming Cloud Controller when it fails, and UAA when it fails', async () => {
    const registry = await open();
    try {
      cf.faults.failNext(1, 502, { route: 'GET /' });
      cf.faults.failNext(1, 503, { server: 'uaa', route: 'GET /token_keys' });
      const { status, body } = await readyz(registry);
      assert.equal(status, 503);
      assert.deepEqual(body.checks.capi, { ok: false, error: 'Cloud Controller answered 502 to GET /' });
      assert.deepEqual(body.checks.uaa, { ok: false, error: 'UAA answered 503 to GET /token_keys' });
      assert.deepEqual(body.checks.database, { ok: true });
      assert.ok(!JSON.stringify(body).includes(seed.serviceClient.secret));
    } finally {
      await registry.close();
    }
  });

  it('asks Cloud Controller and UAA at most every few seconds, however often it is probed', async () => {
    const registry = await open();
    try {
      const before = cf.requests.list().filter((request) => request.route === 'GET /' || request.route === 'GET /token_keys').length;
      await Promise.all(Array.from({ length: 20 }, () => readyz(registry)));
      const asked = cf.requests.list().filter((request) => request.route === 'GET /' || request.route === 'GET /token_keys').length - before;
      assert.equal(asked, 2, 'one request to each');
    } finally {
      await registry.close();
    }
  });
});

describe('what /readyz says of a failure', () => {
  it('keeps the reason and drops credentials and query strings of URLs (probes are unauthenticated)', () => {
    const error = Object.assign(new Error('request to https://admin:s3cret@blobstore.internal:4443/admin/x?md5=abc&expires=1 failed'), { code: 'ECONNRESET' });
    assert.equal(describeFailure(error), 'ECONNRESET: request to https://blobstore.internal:4443/admin/x failed');
    assert.equal(describeFailure(Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5524'), { code: 'ECONNREFUSED' })), 'connect ECONNREFUSED 10.0.0.5:5524');
  });
});

