/**
 * The registry's log as an operator reads it, at trace level through the process logger: a request
 * id on every request line and on every line written while serving the request (taken from the
 * gorouter's X-Vcap-Request-Id, else X-Request-Id, else made up, and echoed back), one line per
 * conversion with its figures, and no secret anywhere — user passwords, UAA tokens, registry
 * tokens, client secrets, signed download URLs — through logins and a pull with the capi source.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../../src/config/load-config.ts';
import { createLogger } from '../../../src/logger.ts';
import { buildRegistry, type Registry } from '../../../src/wiring/build-registry.ts';
import { basic, startAuthWorld, tokenOf, tokenRequest, WEB, type AuthWorld } from '../auth/auth-world.ts';
import { buildTinyRootfs } from '../../support/test-registry.ts';

type LogLine = Record<string, unknown>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('logs', () => {
  let world: AuthWorld;
  let dataDir: string;
  let registry: Registry;
  const lines: LogLine[] = [];
  const inject = (options: Parameters<Registry['server']['inject']>[0]) => registry.server.inject(options);
  const get = (url: string, headers: Record<string, string> = {}) => inject({ method: 'GET', url, headers });

  before(async () => {
    world = await startAuthWorld();
    dataDir = await mkdtemp(join(tmpdir(), 'logging-'));
    const rootfs = join(dataDir, 'rootfs.tgz');
    await writeFile(rootfs, await buildTinyRootfs());
    const config = loadConfig({
      env: {
        DATA_DIR: dataDir,
        PORT: '0',
        STACKS: `cflinuxfs4=${rootfs}`,
        CAPI_URL: world.cf.capiUrl,
        UAA_CLIENT_ID: world.seed.serviceClient.id,
        UAA_CLIENT_SECRET: world.seed.serviceClient.secret,
        UAA_LOGIN_CLIENT_ID: world.seed.loginClient.id,
        UAA_LOGIN_CLIENT_SECRET: world.seed.loginClient.secret,
        TOKEN_SIGNING_KEYS: world.keys[0] as string,
        PREWARM_ENABLED: 'false',
      },
    });
    const logger = createLogger('trace', { destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) } });
    registry = await buildRegistry(config, logger);
  });

  after(async () => {
    await registry?.stop();
    await world?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("carries the gorouter's request id on the request's lines, the lines written while serving it and the response", async () => {
    const token = tokenOf(await inject(tokenRequest(world.seed.users.space_developer, [`repository:${WEB}:pull`])));
    const requestId = 'b7d3b1a0-8f5e-4b57-a1c2-0d9e8f7a6b5c';
    const res = await get(`/v2/${WEB}/manifests/latest`, { authorization: `Bearer ${token}`, 'x-vcap-request-id': requestId });
    assert.equal(res.statusCode, 200, res.payload);
    assert.equal(res.headers['x-request-id'], requestId);

    const ofRequest = lines.filter((line) => line.request === requestId);
    const events = ofRequest.map((line) => line.event);
    assert.ok(events.includes('request'), 'the access line');
    assert.ok(events.includes('conversion.started') && events.includes('conversion.succeeded'), `the conversion it started: ${events.join(', ')}`);
    const access = ofRequest.find((line) => line.event === 'request');
    assert.deepEqual({ method: access?.method, path: access?.path, status: access?.status }, { method: 'GET', path: `/v2/${WEB}/manifests/latest`, status: 200 });
  });

  it('takes X-Request-Id when the gorouter sent none, makes one up otherwise, and refuses ids that could forge log lines', async () => {
    const given = await get('/v2/', { 'x-request-id': 'client-chosen-id.1' });
    assert.equal(given.headers['x-request-id'], 'client-chosen-id.1');
    const made = await get('/v2/');
    assert.match(String(made.headers['x-request-id']), UUID);
    const forged = await get('/v2/', { 'x-request-id': 'x\n{"level":60,"msg":"forged"}' });
    assert.match(String(forged.headers['x-request-id']), UUID);
    for (const id of ['client-chosen-id.1', made.headers['x-request-id'], forged.headers['x-request-id']]) {
      assert.ok(lines.some((line) => line.event === 'request' && line.request === id), `an access line with request ${String(id)}`);
    }
    const error = await get('/v2/no/such/app/manifests/latest', { 'x-request-id': 'on-an-error' });
    assert.equal(error.statusCode, 401);
    assert.equal(error.headers['x-request-id'], 'on-an-error', 'error answers carry it too');
  });

  it('writes one line per conversion with its id and figures', async () => {
    const done = lines.filter((line) => line.event === 'conversion.succeeded');
    assert.equal(done.length, 1);
    const [line] = done as [LogLine];
    assert.match(String(line.conversion), UUID);
    assert.equal(line.droplet, world.seed.droplets.webCurrent.guid);
    for (const figure of ['ms', 'bytesIn', 'bytesOut', 'uncompressed']) assert.ok(typeof line[figure] === 'number' && (line[figure] as number) >= 0, `${figure}: ${String(line[figure])}`);
    assert.ok((line.bytesIn as number) > 0 && (line.uncompressed as number) > (line.bytesOut as number) / 2);
    assert.match(String(line.manifest), /^sha256:[0-9a-f]{64}$/);
    const ofConversion = lines.filter((entry) => entry.conversion === line.conversion).map((entry) => entry.event);
    assert.deepEqual(ofConversion, ['conversion.started', 'conversion.succeeded']);
  });

  it('never contains a password, a UAA or registry token, a client secret or a signed URL', async () => {
    const users = world.seed.users;
    const uaaToken = world.cf.uaa.issueToken({ clientId: 'cf', username: users.space_developer.username });
    const withPassword = tokenOf(await inject(tokenRequest(users.space_developer, [`repository:${WEB}:pull`])));
    const withUaaToken = tokenOf(await inject(tokenRequest({ username: 'x', password: `bearer ${uaaToken}` }, [`repository:${WEB}:pull`])));
    const refused = await inject({ method: 'GET', url: `/v2/token?service=localhost&scope=repository:${WEB}:pull`, headers: { authorization: basic(users.space_developer.username, `${users.space_developer.password}-wrong`) } });
    assert.equal(refused.statusCode, 401);
    const manifest = await get(`/v2/${WEB}/manifests/latest`, { authorization: `Bearer ${withUaaToken}` });
    assert.equal(manifest.statusCode, 200);
    const layer = (JSON.parse(manifest.payload) as { layers: Array<{ digest: string }> }).layers[2]?.digest;
    assert.equal((await get(`/v2/${WEB}/blobs/${layer}`, { authorization: `Bearer ${withPassword}` })).statusCode, 200);
    // A droplet converted now: its download follows Cloud Controller's redirect to a signed URL.
    const previous = await get(`/v2/${WEB}/manifests/${world.seed.droplets.webPrevious.guid}`, { authorization: `Bearer ${withPassword}` });
    assert.equal(previous.statusCode, 200, previous.payload);
    assert.ok(world.cf.requests.list('blobstore').some((request) => request.url.includes('md5=')), 'the download went through a signed URL');

    const text = lines.map((line) => JSON.stringify(line)).join('\n');
    const secrets = {
      password: users.space_developer.password,
      'wrong password': `${users.space_developer.password}-wrong`,
      'UAA token': uaaToken,
      'registry token': withPassword,
      'registry token (from a UAA token)': withUaaToken,
      'service client secret': world.seed.serviceClient.secret,
      'login client secret': world.seed.loginClient.secret,
    };
    for (const [what, secret] of Object.entries(secrets)) assert.ok(!text.includes(secret), `the ${what} is in the log`);
    assert.doesNotMatch(text, /eyJ[\w-]+\.eyJ/, 'no JWT of any kind');
    assert.doesNotMatch(text, /[?&](md5|expires|X-Amz-Signature|signature)=/i, 'no signed URL query string');
    assert.ok(lines.some((line) => line.event === 'uaa.token'), 'debug lines were written too');
  });
});
