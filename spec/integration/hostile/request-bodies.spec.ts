/**
 * Request bodies a pull-only registry has no use for, against the real server on a port: writes
 * under `/v2/` are refused 405 before a byte of their body is read (however large it says it is,
 * or if it never ends), and a token form over 1 MiB is refused 413 `SIZE_INVALID` at once, not read
 * to its end first. Either way the connection is closed, so no one holds it by sending on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rawRequest, type RawExchange } from '../../support/raw-http.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import type { TestRegistry } from '../../support/test-registry.ts';
import { startAuthWorld, WEB, type AuthWorld } from '../auth/auth-world.ts';

const MiB = 1024 * 1024;
/** A chunk that says it is 4 GiB long: the body goes on for as long as the client likes. */
const ENDLESS_CHUNK = 'Transfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n';
/** Longer than anything here should take, shorter than REQUEST_TIMEOUT_MS: a server that waits for the body is caught waiting. */
const GIVE_UP_MS = 15_000;

describe('request bodies', () => {
  let world: AuthWorld;
  let registry: TestRegistry;
  let port: number;
  let database: TestDatabase | undefined;

  before(async () => {
    world = await startAuthWorld();
    // Postgres where there is one: a fresh embedded database takes far longer to create, and nothing here depends on which.
    const postgres = eachDatabase().find((variant) => variant.name === 'postgres');
    database = postgres && !(await postgres.skipReason()) ? await postgres.create() : undefined;
    registry = await world.openRegistry({ REQUEST_TIMEOUT_MS: '120000', ...(database ? { DATABASE_URL: database.url } : {}) });
    await registry.registry.server.start();
    port = registry.registry.server.info.port as number;
  });

  after(async () => {
    await registry?.close();
    await database?.cleanup();
    await world?.stop();
  });

  const send = (head: string, body = '', trickle?: string) =>
    rawRequest(port, `${head}\r\nHost: x\r\n${body}`, { giveUpAfterMs: GIVE_UP_MS, ...(trickle === undefined ? {} : { trickle, trickleEveryMs: 50 }) });

  function assertClosedWith(res: RawExchange, status: number, code: string): void {
    assert.equal(res.status, status, res.received.slice(0, 300));
    assert.ok(res.closedByServer, 'the server closed the connection');
    const body = res.received.slice(res.received.indexOf('\r\n\r\n') + 4);
    assert.equal((JSON.parse(body) as { errors: Array<{ code: string }> }).errors[0]?.code, code);
  }

  describe('writes under /v2/', () => {
    it('answers 405 to a write declaring a 10 GB body, without waiting for it', async () => {
      const res = await send(`PUT /v2/${WEB}/manifests/latest HTTP/1.1`, `Content-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: ${10 * 1024 * MiB}\r\n\r\n{`);
      assertClosedWith(res, 405, 'UNSUPPORTED');
    });

    it('answers 405 to a write whose body never ends', async () => {
      const res = await send(`PATCH /v2/${WEB}/blobs/uploads/some-upload HTTP/1.1`, `${ENDLESS_CHUNK}${'x'.repeat(64 * 1024)}`, 'x'.repeat(1000));
      assertClosedWith(res, 405, 'UNSUPPORTED');
    });

    it('does not ask for the body of a write that expects 100-continue', async () => {
      const res = await send(`POST /v2/${WEB}/blobs/uploads/ HTTP/1.1`, `Expect: 100-continue\r\nContent-Length: ${2 * MiB}\r\n\r\n`);
      assert.doesNotMatch(res.received, /^HTTP\/1\.1 100 /, 'no 100 Continue');
      assertClosedWith(res, 405, 'UNSUPPORTED');
    });

    it('answers 405 to a write with a body over 1 MiB sent in full', async () => {
      const res = await send(`POST /v2/${WEB}/blobs/uploads/ HTTP/1.1`, `Content-Length: ${2 * MiB}\r\n\r\n${'x'.repeat(2 * MiB)}`);
      assertClosedWith(res, 405, 'UNSUPPORTED');
    });
  });

  describe('POST /v2/token', () => {
    const form = 'Content-Type: application/x-www-form-urlencoded';

    it('answers 413 SIZE_INVALID to a form over 1 MiB sent in full', async () => {
      const body = `grant_type=password&username=a&password=${'x'.repeat(2 * MiB)}`;
      const res = await send('POST /v2/token HTTP/1.1', `${form}\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      assertClosedWith(res, 413, 'SIZE_INVALID');
    });

    it('answers 413 to a form declaring 10 GB, without waiting for it', async () => {
      const res = await send('POST /v2/token HTTP/1.1', `${form}\r\nContent-Length: ${10 * 1024 * MiB}\r\n\r\ngrant_type=`);
      assertClosedWith(res, 413, 'SIZE_INVALID');
    });

    it('answers 413 to a chunked form that goes past 1 MiB and never ends', async () => {
      const res = await send('POST /v2/token HTTP/1.1', `${form}\r\n${ENDLESS_CHUNK}grant_type=password&password=${'x'.repeat(MiB + 1)}`, 'x'.repeat(1000));
      assertClosedWith(res, 413, 'SIZE_INVALID');
    });

    it('still reads a form of ordinary size', async () => {
      const body = 'grant_type=refresh_token&refresh_token=x';
      const res = await send('POST /v2/token HTTP/1.1', `Connection: close\r\n${form}\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      assert.equal(res.status, 400, res.received.slice(0, 300));
      assert.match(res.received, /"error":"unsupported_grant_type"/);
    });
  });
});
