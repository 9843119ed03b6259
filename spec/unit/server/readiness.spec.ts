/**
 * `Readiness` and `GET /readyz` with checks made up here: which failing check gives which answer,
 * how results are reused and shared between probes, and what a failure is reported as. The real
 * checks against real dependencies are in spec/integration/server/readiness.spec.ts.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, it, mock } from 'node:test';
import Hapi from '@hapi/hapi';
import { Readiness, readinessRoute, type ReadinessCheck, type ReadinessReport } from '../../../src/server/readiness.ts';

/** A check that counts its runs and answers what `outcome` says at the time. */
function countedCheck(name: string, cacheMs: number, outcome: () => Promise<void>): ReadinessCheck & { runs: number } {
  const check = {
    name,
    cacheMs,
    runs: 0,
    check: () => {
      check.runs += 1;
      return outcome();
    },
  };
  return check;
}

const pass = (): Promise<void> => Promise.resolve();

async function readyz(readiness: Readiness, remoteAddress = '127.0.0.1'): Promise<{ status: number; body: { status: string; checks: ReadinessReport['checks'] } }> {
  const server = Hapi.server();
  server.route(readinessRoute(readiness));
  const res = await server.inject({ url: '/readyz', remoteAddress });
  return { status: res.statusCode, body: JSON.parse(res.payload) as { status: string; checks: ReadinessReport['checks'] } };
}

describe('readiness', () => {
  afterEach(() => mock.timers.reset());

  describe('the answer', () => {
    it('is 200 "ready" when every check passes', async () => {
      const readiness = new Readiness([countedCheck('database', 0, pass), countedCheck('blobstore', 0, pass)]);
      assert.deepEqual(await readyz(readiness), { status: 200, body: { status: 'ready', checks: { database: { ok: true }, blobstore: { ok: true } } } });
    });

    it('tells a probe from another machine which checks fail, not why (internal addresses, user names)', async () => {
      const readiness = new Readiness([
        countedCheck('database', 0, () => Promise.reject(new Error('password authentication failed for user "droplet_registry"'))),
        countedCheck('blobstore', 0, pass),
      ]);
      const remote = await readyz(readiness, '10.0.16.4');
      assert.deepEqual(remote, { status: 503, body: { status: 'not ready', checks: { database: { ok: false }, blobstore: { ok: true } } } });
      assert.match(JSON.stringify((await readyz(readiness, '::1')).body), /password authentication failed/, 'the machine itself sees why');
    });

    it('is 503 "not ready" naming each failing check and its reason, and the passing ones as passing', async () => {
      const readiness = new Readiness([
        countedCheck('database', 0, pass),
        countedCheck('capi', 0, () => Promise.reject(new Error('Cloud Controller answered 502 to GET /'))),
        countedCheck('uaa', 0, () => Promise.reject(Object.assign(new Error('connect to uaa.internal:8443 refused'), { code: 'ECONNREFUSED' }))),
      ]);
      assert.deepEqual(await readyz(readiness), {
        status: 503,
        body: {
          status: 'not ready',
          checks: {
            database: { ok: true },
            capi: { ok: false, error: 'Cloud Controller answered 502 to GET /' },
            uaa: { ok: false, error: 'ECONNREFUSED: connect to uaa.internal:8443 refused' },
          },
        },
      });
    });

    it('reports a check that throws instead of rejecting, or throws something that is no Error, as failing', async () => {
      const readiness = new Readiness([
        {
          name: 'sync',
          cacheMs: 0,
          check: () => {
            throw new Error('no blobstore configured');
          },
        },
        countedCheck('string', 0, () => Promise.reject('the disk is full')),
        countedCheck('nameless', 0, () => Promise.reject(new TypeError(''))),
      ]);
      const { status, body } = await readyz(readiness);
      assert.equal(status, 503);
      assert.deepEqual(body.checks, {
        sync: { ok: false, error: 'no blobstore configured' },
        string: { ok: false, error: 'the disk is full' },
        nameless: { ok: false, error: 'TypeError' },
      });
    });

    it('never shows credentials or signed query strings of URLs in a reason (probes are unauthenticated)', async () => {
      const readiness = new Readiness([
        countedCheck('database', 0, () => Promise.reject(new Error('cannot connect to postgres://registry:s3cret@db.internal:5432/registry'))),
        countedCheck('blobstore', 0, () => Promise.reject(new Error('GET http://blobstore.internal/droplets/x?AWSAccessKeyId=AKIA&Signature=abc answered 403'))),
      ]);
      const { body } = await readyz(readiness);
      assert.deepEqual(body.checks, {
        database: { ok: false, error: 'cannot connect to postgres://db.internal:5432/registry' },
        blobstore: { ok: false, error: 'GET http://blobstore.internal/droplets/x answered 403' },
      });
    });
  });

  describe('a check that does not answer', () => {
    it('fails once the timeout has passed, so the probe answers 503 rather than hanging', async () => {
      mock.timers.enable({ apis: ['setTimeout'] });
      const hanging = countedCheck('database', 0, () => new Promise<never>(() => undefined));
      const readiness = new Readiness([hanging, countedCheck('blobstore', 0, pass)], { timeoutMs: 1500 });
      let report: ReadinessReport | undefined;
      const reporting = readiness.report().then((answer) => (report = answer));
      mock.timers.tick(1499);
      await Promise.resolve();
      assert.equal(report, undefined, 'still waiting just before the timeout');
      mock.timers.tick(1);
      await reporting;
      assert.deepEqual(report, { ready: false, checks: { database: { ok: false, error: 'no answer within 1500 ms' }, blobstore: { ok: true } } });
    });

    it('by default gets 2 s, under the 3 s curl timeout of bin/healthy', async () => {
      mock.timers.enable({ apis: ['setTimeout'] });
      const readiness = new Readiness([countedCheck('capi', 0, () => new Promise<never>(() => undefined))]);
      const reporting = readiness.report();
      mock.timers.tick(2000);
      assert.deepEqual(await reporting, { ready: false, checks: { capi: { ok: false, error: 'no answer within 2000 ms' } } });
    });

    it('passes when it answers before the timeout', async () => {
      mock.timers.enable({ apis: ['setTimeout'] });
      let answer: () => void = () => undefined;
      const slow = countedCheck('uaa', 0, () => new Promise<void>((resolve) => (answer = resolve)));
      const reporting = new Readiness([slow], { timeoutMs: 1000 }).report();
      mock.timers.tick(999);
      answer();
      assert.deepEqual(await reporting, { ready: true, checks: { uaa: { ok: true } } });
    });
  });

  describe('reuse of results', () => {
    it("reuses a check's result, failure included, for its cacheMs however often it is probed", async () => {
      const capi = countedCheck('capi', 60_000, () => Promise.reject(new Error('Cloud Controller answered 503 to GET /')));
      const readiness = new Readiness([capi]);
      for (let probe = 0; probe < 5; probe += 1) assert.equal((await readiness.report()).ready, false);
      assert.equal(capi.runs, 1);
    });

    it('runs a check with cacheMs 0 on every probe, so a dependency that recovered is seen at once', async () => {
      let up = false;
      const database = countedCheck('database', 0, () => (up ? pass() : Promise.reject(new Error('connection refused'))));
      const readiness = new Readiness([database]);
      assert.equal((await readyz(readiness)).status, 503);
      up = true;
      assert.equal((await readyz(readiness)).status, 200);
      assert.equal(database.runs, 2);
    });

    it('keeps each check to its own cacheMs', async () => {
      const upstream = countedCheck('capi', 60_000, pass);
      const local = countedCheck('database', 0, pass);
      const readiness = new Readiness([upstream, local]);
      for (let probe = 0; probe < 3; probe += 1) await readiness.report();
      assert.deepEqual({ capi: upstream.runs, database: local.runs }, { capi: 1, database: 3 });
    });

    it('asks again once a result is older than its cacheMs', async () => {
      const blobstore = countedCheck('blobstore', 5, pass);
      const readiness = new Readiness([blobstore]);
      await readiness.report();
      await sleep(25);
      await readiness.report();
      assert.equal(blobstore.runs, 2);
    });

    it('shares one run among probes that come while it is under way, even with cacheMs 0', async () => {
      let finish: (() => void) | undefined;
      const uaa = countedCheck('uaa', 0, () => (finish ? pass() : new Promise<void>((resolve) => (finish = resolve))));
      const readiness = new Readiness([uaa]);
      const probes = Array.from({ length: 10 }, () => readiness.report());
      finish?.();
      const reports = await Promise.all(probes);
      assert.equal(uaa.runs, 1);
      assert.ok(reports.every((report) => report.ready));
      await readiness.report();
      assert.equal(uaa.runs, 2, 'a probe after the shared run has ended runs the check again');
    });
  });
});
