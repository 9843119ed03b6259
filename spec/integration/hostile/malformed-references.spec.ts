/**
 * Names, tags, digests and paths no client should send, sent as raw bytes to the listening server
 * (an HTTP library would normalise `..` or refuse bad escapes before the registry saw them): each
 * gets a 4xx with an OCI error body naming the problem, never a 5xx, never another repository's
 * content; the cases `spec/integration/server/pull-api.spec.ts` already covers are not repeated.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { standardDroplet } from '../../support/build-droplet.ts';
import { rawRequest } from '../../support/raw-http.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import { buildTinyRootfs, createTestRegistry, writeDroplet, type TestRegistry } from '../../support/test-registry.ts';

const REPO = '/v2/my-org/dev/hello';
const HEX = 'a'.repeat(64);

/** [path as sent, status, OCI code] */
const CASES: Array<[string, number, string]> = [
  [`/v2/my-org/dev/..%2f..%2fetc/manifests/latest`, 400, 'NAME_INVALID'],
  [`/v2/my-org/dev/hel%00lo/manifests/latest`, 400, 'NAME_INVALID'],
  [`/v2/my-org/dev/${'a'.repeat(300)}/manifests/latest`, 400, 'NAME_INVALID'],
  [`/v2/my-org//dev/hello/manifests/latest`, 400, 'NAME_INVALID'],
  [`/v2/${'a/'.repeat(200)}manifests/latest`, 400, 'NAME_INVALID'],
  [`/v2/my-org/dev/caf%C3%A9/manifests/latest`, 400, 'NAME_INVALID'],
  [`/v2/my-org/dev/%ff/manifests/latest`, 400, 'NAME_INVALID'],
  [`${REPO}/manifests/%`, 400, 'NAME_INVALID'],
  [`${REPO}/manifests/${'t'.repeat(129)}`, 404, 'MANIFEST_UNKNOWN'],
  [`${REPO}/manifests/lat$est`, 404, 'MANIFEST_UNKNOWN'],
  [`${REPO}/manifests/-latest`, 404, 'MANIFEST_UNKNOWN'],
  [`${REPO}/manifests/sha512:${'a'.repeat(128)}`, 400, 'DIGEST_INVALID'],
  [`${REPO}/manifests/sha256:${HEX.toUpperCase()}`, 400, 'DIGEST_INVALID'],
  [`${REPO}/manifests/sha256:${HEX.slice(1)}`, 400, 'DIGEST_INVALID'],
  [`${REPO}/blobs/sha256:${HEX}a`, 400, 'DIGEST_INVALID'],
  [`${REPO}/blobs/latest`, 400, 'DIGEST_INVALID'],
  [`${REPO}/blobs/md5:${'a'.repeat(32)}`, 400, 'DIGEST_INVALID'],
  [`${REPO}/referrers/not-a-digest`, 400, 'DIGEST_INVALID'],
  [`${REPO}/tags/list?n=-1`, 400, 'PAGINATION_NUMBER_INVALID'],
  [`${REPO}/tags/list?n=abc`, 400, 'PAGINATION_NUMBER_INVALID'],
  [`${REPO}/tags/list?n=99999999999999999999`, 400, 'PAGINATION_NUMBER_INVALID'],
  [`/v2/_catalog`, 404, 'NAME_UNKNOWN'],
  [`${REPO}/blobs/uploads/`, 404, 'NAME_UNKNOWN'],
];

/** Paths climbing out of /v2 with literal `..`: whatever answers, it is no image content and no 5xx. */
const TRAVERSALS = [
  '/v2/../../../../etc/passwd',
  `${REPO}/../../../../etc/passwd`,
  `${REPO}/manifests/../../../other/manifests/latest`,
  `/v2/my-org/dev/%2e%2e/%2e%2e/manifests/latest`,
  `/v2/my-org/dev/hello/blobs/..%2f..%2f..%2fpglite`,
  `${REPO}/blobs/sha256:${HEX}/../../../../../etc/passwd`,
];

describe('malformed names, tags, digests and paths', () => {
  let work: string;
  let registry: TestRegistry;
  let database: TestDatabase | undefined;
  let port: number;
  const get = (path: string) => rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);

  before(async () => {
    const postgres = eachDatabase().find((variant) => variant.name === 'postgres');
    database = postgres && !(await postgres.skipReason()) ? await postgres.create() : undefined;
    work = await mkdtemp(join(tmpdir(), 'malformed-'));
    await writeFile(join(work, 'rootfs.tgz'), await buildTinyRootfs());
    await writeDroplet(join(work, 'droplets'), {
      org: 'my-org', space: 'dev', app: 'hello', guid: '11111111-1111-4111-8111-111111111111',
      bytes: await standardDroplet({ startCommand: './run' }), json: { state: 'STAGED' },
    });
    registry = await createTestRegistry({ stacks: { cflinuxfs4: join(work, 'rootfs.tgz') }, dropletsDir: join(work, 'droplets'), databaseUrl: database?.url });
    await registry.registry.server.start();
    port = registry.registry.server.info.port as number;
  });

  after(async () => {
    await registry?.close();
    await database?.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  for (const [path, status, code] of CASES) {
    it(`${path.length > 90 ? `${path.slice(0, 90)}…` : path} → ${status} ${code}`, async () => {
      const res = await get(path);
      assert.equal(res.status, status, res.received.slice(0, 400));
      const body = JSON.parse(res.received.slice(res.received.indexOf('\r\n\r\n') + 4)) as { errors: Array<{ code: string; message: string }> };
      assert.equal(body.errors[0]?.code, code);
      assert.ok(body.errors[0]?.message, 'the error says what is wrong');
      assert.match(res.received, /\r\ndocker-distribution-api-version: registry\/2\.0\r\n/i);
    });
  }

  it('answers paths climbing out with literal .. with a 4xx and no content', async () => {
    for (const path of TRAVERSALS) {
      const res = await get(path);
      assert.ok(res.status !== undefined && res.status >= 400 && res.status < 500, `${path}: ${res.received.slice(0, 200)}`);
      assert.doesNotMatch(res.received, /root:|schemaVersion/, path);
    }
  });

  it('logged no request as failed (no 5xx, no unhandled error) and still serves the repository', async () => {
    assert.deepEqual(registry.logs.filter((line) => Number(line.level) >= 50).map((line) => line.msg), []);
    assert.equal((await get(`${REPO}/manifests/latest`)).status, 200);
  });
});
