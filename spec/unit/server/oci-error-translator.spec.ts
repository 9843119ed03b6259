/**
 * The error translator on a bare hapi server (`server.inject`, nothing listens): which failure
 * becomes which OCI code, status, body and headers, what is logged, and which paths it leaves
 * to hapi. The end-to-end answers of real routes are in spec/integration.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Hapi from '@hapi/hapi';
import { RegistryError } from '../../../src/errors/registry-error.ts';
import { registerOciErrorTranslator, toRegistryError } from '../../../src/server/oci-error-translator.ts';

interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly payload: string;
  readonly headers: Record<string, unknown>;
  /** What the translator put in the request log as a failure (`request.log(['error'], …)`). */
  readonly loggedFailures: unknown[];
}

/** A server whose routes at `paths` throw `failure`, answering one request to `url`. */
async function answerTo(failure: unknown, options: { paths?: string[]; url?: string; method?: string; payload?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const paths = options.paths ?? ['/{any*}'];
  const server = Hapi.server();
  registerOciErrorTranslator(server);
  const loggedFailures: unknown[] = [];
  server.events.on({ name: 'request', channels: 'app' }, (_request, event) => {
    if (event.tags.includes('error')) loggedFailures.push(event.error ?? event.data);
  });
  const handler = (): never => {
    throw failure;
  };
  for (const path of paths) {
    server.route({ method: 'GET', path, handler });
    server.route({ method: 'POST', path, options: { payload: { maxBytes: 64 } }, handler });
  }
  const res = await server.inject({ method: options.method ?? 'GET', url: options.url ?? '/v2/my-org/dev/app/manifests/latest', payload: options.payload, headers: options.headers });
  let body: unknown;
  try {
    body = JSON.parse(res.payload);
  } catch {
    body = undefined;
  }
  return { status: res.statusCode, body, payload: res.payload, headers: res.headers, loggedFailures };
}

/** An error shaped as hapi's Boom errors are (hapi treats any Error with `isBoom` as one). */
function boomLike(status: number, message: string): Error {
  return Object.assign(new Error(message), { isBoom: true, isServer: status >= 500, output: { statusCode: status, payload: {}, headers: {} } });
}

describe('the OCI error translator', () => {
  describe('registry errors', () => {
    it("answer with their code's status and the distribution error body, as JSON", async () => {
      const answer = await answerTo(new RegistryError('MANIFEST_UNKNOWN', 'no droplet is tagged v7', { detail: { tag: 'v7' } }));
      assert.equal(answer.status, 404);
      assert.deepEqual(answer.body, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'no droplet is tagged v7', detail: { tag: 'v7' } }] });
      assert.match(String(answer.headers['content-type']), /^application\/json\b/);

      const plain = await answerTo(new RegistryError('DENIED'));
      assert.equal(plain.status, 403);
      assert.deepEqual(plain.body, { errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] }, 'no detail key without a detail');

      const tooLarge = await answerTo(new RegistryError('SIZE_INVALID', 'the form is over 1 MiB', { status: 413 }));
      assert.equal(tooLarge.status, 413, "a status of the error's own wins over the code's");
    });

    it("carry Retry-After and the error's own headers, e.g. the 401 challenge", async () => {
      const throttled = await answerTo(new RegistryError('TOOMANYREQUESTS', 'too many blob streams', { retryAfter: 7 }));
      assert.equal(throttled.status, 429);
      assert.equal(throttled.headers['retry-after'], '7');

      const challenge = 'Bearer realm="https://registry.example.com/v2/token",service="registry.example.com"';
      const unauthorized = await answerTo(new RegistryError('UNAUTHORIZED', undefined, { headers: { 'WWW-Authenticate': challenge } }));
      assert.equal(unauthorized.status, 401);
      assert.equal(unauthorized.headers['www-authenticate'], challenge);
      assert.deepEqual(unauthorized.body, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
      assert.equal(unauthorized.headers['retry-after'], undefined);
    });

    it('answer RANGE_INVALID with the Content-Range its detail names, and none without one', async () => {
      const named = await answerTo(new RegistryError('RANGE_INVALID', undefined, { detail: { contentRange: 'bytes */1234' } }));
      assert.equal(named.status, 416);
      assert.equal(named.headers['content-range'], 'bytes */1234');
      const unnamed = await answerTo(new RegistryError('RANGE_INVALID'));
      assert.equal(unnamed.status, 416);
      assert.equal(unnamed.headers['content-range'], undefined);
      const otherCode = await answerTo(new RegistryError('BLOB_UNKNOWN', undefined, { detail: { contentRange: 'bytes */1234' } }));
      assert.equal(otherCode.headers['content-range'], undefined, 'only a range error says which range exists');
    });

    it('are not logged as failures: the client can act on them', async () => {
      for (const error of [new RegistryError('NAME_UNKNOWN'), new RegistryError('UNAUTHORIZED'), new RegistryError('UNAVAILABLE', 'Cloud Controller answered 502')]) {
        assert.deepEqual((await answerTo(error)).loggedFailures, [], error.code);
      }
    });
  });

  describe("hapi's own refusals", () => {
    it('answer a path no route has with 404 NAME_UNKNOWN', async () => {
      const answer = await answerTo(new Error('unused'), { paths: ['/v2/'], url: '/v2/no/such/route' });
      assert.equal(answer.status, 404);
      assert.equal((answer.body as { errors: Array<{ code: string }> }).errors[0]?.code, 'NAME_UNKNOWN');
    });

    it('answer a body over the route limit with 413 SIZE_INVALID, as the distribution spec asks', async () => {
      const answer = await answerTo(new Error('unused'), { url: '/admin/gc', method: 'POST', payload: 'x'.repeat(65), headers: { 'content-type': 'text/plain' } });
      assert.equal(answer.status, 413);
      assert.equal((answer.body as { errors: Array<{ code: string }> }).errors[0]?.code, 'SIZE_INVALID');
    });

    it('answer a body hapi cannot parse with 400', async () => {
      const answer = await answerTo(new Error('unused'), { url: '/admin/gc', method: 'POST', payload: '{"broken', headers: { 'content-type': 'application/json' } });
      assert.equal(answer.status, 400);
      assert.deepEqual(answer.loggedFailures, []);
    });

    it('become the registry error of their status', () => {
      const expected: Array<[number, string, number]> = [
        [400, 'NAME_INVALID', 400],
        [401, 'UNAUTHORIZED', 401],
        [403, 'DENIED', 403],
        [404, 'NAME_UNKNOWN', 404],
        [405, 'UNSUPPORTED', 405],
        [414, 'NAME_INVALID', 400],
        [416, 'RANGE_INVALID', 416],
        [429, 'TOOMANYREQUESTS', 429],
        [413, 'SIZE_INVALID', 413],
      ];
      for (const [status, code, answered] of expected) {
        const error = toRegistryError(boomLike(status, `refused with ${status}`));
        assert.deepEqual({ code: error.code, status: error.status, message: error.message }, { code, status: answered, message: `refused with ${status}` }, `Boom ${status}`);
      }
    });

    it('answer a client error without a code of its own (415 Unsupported Media Type) with its 4xx status, not 500', async () => {
      const answer = await answerTo(new Error('unused'), { url: '/admin/gc', method: 'POST', payload: '<gc/>', headers: { 'content-type': 'application/xml' } });
      assert.equal(answer.status, 415, answer.payload);
      assert.deepEqual(answer.loggedFailures, []);
    });
  });

  describe('a lost database connection', () => {
    it('answers 503 UNAVAILABLE with Retry-After, saying the database is unavailable without the failed query', async () => {
      const lost = new Error('select "state" from "images" where "droplet_guid" = $1 - Connection terminated unexpectedly');
      const answer = await answerTo(lost);
      assert.equal(answer.status, 503);
      assert.equal(answer.headers['retry-after'], '2');
      assert.deepEqual(answer.body, { errors: [{ code: 'UNAVAILABLE', message: 'the registry database is unavailable; try again' }] });
      assert.ok(!answer.payload.includes('droplet_guid'), 'the query stays out of the answer');
      assert.deepEqual(answer.loggedFailures, [lost], 'the operator sees the cause in the log');
    });

    it('is recognised also when a driver threw something that is no Error (hapi wraps it)', async () => {
      const answer = await answerTo({ code: '57P01', message: 'terminating connection due to administrator command' });
      assert.equal(answer.status, 503);
      assert.equal((answer.body as { errors: Array<{ code: string }> }).errors[0]?.code, 'UNAVAILABLE');
    });
  });

  describe('unexpected failures', () => {
    it('answer 500 UNKNOWN with neither their message nor any detail, and go to the log with their cause', async () => {
      const bug = Object.assign(new Error('cannot read /var/vcap/store/registry/blobs: password=hunter2'), { detail: 'internal' });
      const answer = await answerTo(bug);
      assert.equal(answer.status, 500);
      assert.deepEqual(answer.body, { errors: [{ code: 'UNKNOWN', message: 'unknown error' }] });
      assert.ok(!answer.payload.includes('hunter2') && !answer.payload.includes('/var/vcap'), answer.payload);
      assert.deepEqual(answer.loggedFailures, [bug]);
    });

    it("answer 500 UNKNOWN also for a server Boom, hiding its message", async () => {
      const answer = await answerTo(boomLike(502, 'upstream 10.0.0.7:9022 refused'));
      assert.equal(answer.status, 500);
      assert.deepEqual(answer.body, { errors: [{ code: 'UNKNOWN', message: 'unknown error' }] });
      assert.equal(answer.loggedFailures.length, 1);
    });
  });

  describe('which paths it answers for', () => {
    it('translates under /v2 and /admin, at their roots too', async () => {
      for (const url of ['/v2', '/v2/', '/v2/a/b/c/blobs/sha256:00', '/admin', '/admin/images']) {
        const answer = await answerTo(new RegistryError('DENIED'), { url });
        assert.equal(answer.status, 403, url);
        assert.deepEqual(answer.body, { errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] }, url);
      }
    });

    it("leaves every other path to hapi's own answer, prefixes that only look alike included", async () => {
      for (const url of ['/healthz', '/v2x/tags', '/administrator', '/metrics']) {
        const answer = await answerTo(new RegistryError('DENIED'), { url });
        // hapi knows no registry error: any thrown error is its generic 500 there.
        assert.deepEqual(answer.body, { statusCode: 500, error: 'Internal Server Error', message: 'An internal server error occurred' }, url);
      }
    });

    it('passes answers that are no error through untouched', async () => {
      const server = Hapi.server();
      registerOciErrorTranslator(server);
      server.route({ method: 'GET', path: '/v2/', handler: () => ({}) });
      const res = await server.inject('/v2/');
      assert.equal(res.statusCode, 200);
      assert.equal(res.payload, '{}');
    });
  });
});
