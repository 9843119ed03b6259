/**
 * Request ids on a bare hapi server: which incoming id is taken (the gorouter's first, then
 * X-Request-Id), which are refused and replaced, and that the id is on every line logged while
 * the request is served, and only on those. The composition (the access line, conversions, error
 * answers) is in spec/integration/server/logging.spec.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Hapi from '@hapi/hapi';
import { createLogger } from '../../../src/logger.ts';
import { registerRequestIds } from '../../../src/server/request-id.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface LogLine {
  readonly msg: string;
  readonly request?: string;
}

/** A server with request ids, a logger writing to `lines`, and the route `GET /v2/` logging once. */
function serverWithIds(): { server: Hapi.Server; lines: LogLine[]; logger: ReturnType<typeof createLogger> } {
  const lines: LogLine[] = [];
  const logger = createLogger('info', { destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) } });
  const server = Hapi.server();
  registerRequestIds(server);
  server.route({
    method: 'GET',
    path: '/v2/',
    handler: () => {
      logger.info('serving the version check');
      return {};
    },
  });
  return { server, lines, logger };
}

async function idFor(headers: Record<string, string>): Promise<string> {
  const { server } = serverWithIds();
  const res = await server.inject({ method: 'GET', url: '/v2/', headers });
  return String(res.headers['x-request-id']);
}

describe('request ids', () => {
  it("prefer the gorouter's X-Vcap-Request-Id to X-Request-Id", async () => {
    assert.equal(await idFor({ 'x-vcap-request-id': 'b7d3b1a0-8f5e-4b57-a1c2-0d9e8f7a6b5c', 'x-request-id': 'from-the-client' }), 'b7d3b1a0-8f5e-4b57-a1c2-0d9e8f7a6b5c');
  });

  it("take X-Request-Id when the gorouter's id is not acceptable", async () => {
    assert.equal(await idFor({ 'x-vcap-request-id': 'two words', 'x-request-id': 'from-the-client' }), 'from-the-client');
  });

  it('take an id of up to 128 letters, digits and _ . : @ / + = -', async () => {
    assert.equal(await idFor({ 'x-request-id': 'a'.repeat(128) }), 'a'.repeat(128));
    assert.equal(await idFor({ 'x-request-id': 'Trace_1.2:3@edge/lb+x=y-z' }), 'Trace_1.2:3@edge/lb+x=y-z');
  });

  it('replace anything else with a fresh UUID: too long, empty, spaces, quotes, control and non-ASCII characters', async () => {
    const refused = ['a'.repeat(129), '', ' leading', 'tab\tinside', 'say"hi"', 'semi;colon', 'ünïcode', 'x\u0000y', '{"level":60}'];
    for (const id of refused) assert.match(await idFor({ 'x-request-id': id, 'x-vcap-request-id': id }), UUID, JSON.stringify(id));
  });

  it('replace an id sent twice (joined with a comma) with a fresh one', async () => {
    const { server } = serverWithIds();
    const res = await server.inject({ method: 'GET', url: '/v2/', headers: { 'x-request-id': ['first', 'second'] as unknown as string } });
    assert.match(String(res.headers['x-request-id']), UUID);
  });

  it('are made up afresh for every request that brings none', async () => {
    const { server } = serverWithIds();
    const ids = await Promise.all(Array.from({ length: 5 }, async () => String((await server.inject('/v2/')).headers['x-request-id'])));
    for (const id of ids) assert.match(id, UUID);
    assert.equal(new Set(ids).size, 5);
  });

  it("are on every line logged while serving a request, work it started after answering included, and never on another request's", async () => {
    const { server, lines, logger } = serverWithIds();
    let release: () => void = () => undefined;
    const bothArrived = new Promise<void>((resolve) => (release = resolve));
    let arrived = 0;
    const laterWork: Array<Promise<void>> = [];
    server.route({
      method: 'GET',
      path: '/v2/{app}/manifests/latest',
      handler: async (request) => {
        const app = request.params.app as string;
        logger.info(`looking ${app} up`);
        if ((arrived += 1) === 2) release();
        await bothArrived; // the two requests interleave from here on
        logger.info(`converting ${app}`);
        laterWork.push(new Promise<void>((resolve) => setImmediate(() => resolve(logger.info(`recording the pull of ${app}`)))));
        return {};
      },
    });

    const [one, two] = await Promise.all([
      server.inject({ url: '/v2/one/manifests/latest', headers: { 'x-vcap-request-id': 'request-one' } }),
      server.inject({ url: '/v2/two/manifests/latest', headers: { 'x-request-id': 'request-two' } }),
    ]);
    await Promise.all(laterWork);
    assert.equal(one.headers['x-request-id'], 'request-one');
    assert.equal(two.headers['x-request-id'], 'request-two');

    const byMessage = Object.fromEntries(lines.map((line) => [line.msg, line.request]));
    assert.deepEqual(byMessage, {
      'looking one up': 'request-one',
      'converting one': 'request-one',
      'recording the pull of one': 'request-one',
      'looking two up': 'request-two',
      'converting two': 'request-two',
      'recording the pull of two': 'request-two',
    });
  });
});
