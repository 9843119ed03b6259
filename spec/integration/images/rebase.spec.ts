/**
 * A new stack (or foundation, or lifecycle) rebases: the next pull assembles a new config and
 * manifest from the droplet layers already stored — no droplet download, no conversion — on one
 * instance and, once, across several instances on one database. Images on the previous base stay
 * pullable by digest. The droplet is replaced by a FIFO nobody writes once it has been converted:
 * a rebase that read it would hang, so every 200 below proves nothing was downloaded.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ServerInjectResponse } from '@hapi/hapi';
import { buildDroplet, standardDroplet } from '../../support/build-droplet.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import { buildTinyRootfs, createTestRegistry, writeDroplet, type TestRegistry } from '../../support/test-registry.ts';

const GUID = '5e1f2d3c-0000-4000-8000-00000000beef';
const postgres = eachDatabase().find((variant) => variant.name === 'postgres') as ReturnType<typeof eachDatabase>[number];
const postgresSkip = await postgres.skipReason();

interface Manifest {
  config: { digest: string };
  layers: Array<{ digest: string; size: number }>;
}

function manifestOf(res: ServerInjectResponse): Manifest {
  assert.equal(res.statusCode, 200, res.payload);
  return JSON.parse(res.payload) as Manifest;
}

/** The same tiny stack with one more file: what a stack patch looks like to the registry. */
async function patchedRootfs(): Promise<Buffer> {
  return buildDroplet([
    { name: 'bin/', type: 'directory', mode: 0o755, uid: 0, gid: 0 },
    { name: 'bin/sh', content: '#!stand-in shell, patched\n', mode: 0o755, uid: 0, gid: 0 },
    { name: 'etc/', type: 'directory', mode: 0o755, uid: 0, gid: 0 },
    { name: 'etc/os-release', content: 'VERSION=1.324.0\n', mode: 0o644, uid: 0, gid: 0 },
    { name: 'home/', type: 'directory', mode: 0o755, uid: 0, gid: 0 },
    { name: 'home/vcap/', type: 'directory', mode: 0o755, uid: 2000, gid: 2000 },
  ]);
}

describe('rebasing a converted droplet onto a new stack', () => {
  let work: string;
  let stackA: string;
  let stackB: string;
  let droplet: Buffer;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'rebase-'));
    stackA = join(work, 'cflinuxfs4-a.tgz');
    stackB = join(work, 'cflinuxfs4-b.tgz');
    await writeFile(stackA, await buildTinyRootfs());
    await writeFile(stackB, await patchedRootfs());
    droplet = await standardDroplet({ startCommand: './run.sh' });
  });

  after(() => rm(work, { recursive: true, force: true }));

  const sidecar = { guid: GUID, state: 'STAGED', stack: 'cflinuxfs4', created_at: '2024-01-01T00:00:00Z', process_types: { web: './run.sh' } };

  /** Lays out the droplet, then (once converted) puts a FIFO in its place that nobody ever writes. */
  async function layOutDroplet(dropletsDir: string): Promise<{ block(): Promise<void> }> {
    await writeDroplet(dropletsDir, { org: 'org', space: 'space', app: 'app', guid: GUID, bytes: droplet, json: sidecar });
    const path = join(dropletsDir, 'org', 'space', 'app', `${GUID}.tgz`);
    return {
      async block() {
        await rm(path);
        execFileSync('mkfifo', [path]);
      },
    };
  }

  const pull = (registry: TestRegistry, reference = 'latest') => registry.registry.server.inject({ method: 'GET', url: `/v2/org/space/app/manifests/${reference}` });

  async function metric(registry: TestRegistry, line: RegExp): Promise<number> {
    const text = (await registry.registry.server.inject('/metrics')).payload;
    const found = text.split('\n').find((candidate) => line.test(candidate));
    return found ? Number(found.slice(found.lastIndexOf(' ') + 1)) : 0;
  }

  it('gives the next pull the droplet layers on the new stack without downloading or converting, and keeps the old image pullable by digest', async (t) => {
    const dropletsDir = join(work, 'droplets-single');
    await mkdir(dropletsDir, { recursive: true });
    const laidOut = await layOutDroplet(dropletsDir);
    const first = await createTestRegistry({ stacks: { cflinuxfs4: stackA }, dropletsDir });
    const before = manifestOf(await pull(first));
    const beforeDigest = String((await pull(first)).headers['docker-content-digest']);
    await first.close({ keepData: true });
    t.after(() => rm(first.dataDir, { recursive: true, force: true }));
    await laidOut.block();

    const second = await createTestRegistry({ stacks: { cflinuxfs4: stackB }, dropletsDir, dataDir: first.dataDir });
    t.after(() => second.close());
    const rebasedRes = await pull(second);
    const rebased = manifestOf(rebasedRes);
    const [stackLayer, lifecycleLayer, dropletLayer] = rebased.layers;
    assert.notEqual(stackLayer?.digest, before.layers[0]?.digest, 'the new stack');
    assert.deepEqual([lifecycleLayer, dropletLayer], before.layers.slice(1), 'the same lifecycle and droplet layers');
    assert.notEqual(rebasedRes.headers['docker-content-digest'], beforeDigest);

    assert.ok(!second.events.includes('conversion.started'), 'nothing converted');
    const line = second.logs.find((entry) => entry.event === 'image.rebased');
    assert.ok(line, 'the rebase is logged');
    assert.deepEqual(line.changed, { stack: { from: before.layers[0]?.digest, to: stackLayer?.digest } });
    assert.match(String(line.msg), /stack sha256:[0-9a-f]{64} → sha256:[0-9a-f]{64}/);
    assert.equal(await metric(second, /^droplet_registry_rebases_total\{changed="stack"\}/), 1);
    assert.equal(await metric(second, /^droplet_registry_conversions_total\{outcome="succeeded"\}/), 0);
    assert.equal(await metric(second, /^droplet_registry_conversion_input_bytes_total /), 0, 'no droplet byte read');

    // Pulled by digest, the image on the previous stack is still there, blobs and all.
    const old = await pull(second, beforeDigest);
    assert.deepEqual(manifestOf(old), before);
    for (const layer of [before.config, ...before.layers]) {
      const blob = await second.registry.server.inject({ method: 'HEAD', url: `/v2/org/space/app/blobs/${layer.digest}` });
      assert.equal(blob.statusCode, 200, `blob ${layer.digest} of the old image`);
    }
    // And the new one stays: a second pull finds it ready.
    assert.equal((await pull(second)).headers['docker-content-digest'], rebasedRes.headers['docker-content-digest']);
    assert.equal(second.logs.filter((entry) => entry.event === 'image.rebased').length, 1);
  });

  it('converts the droplet again when one of its stored layers is gone from the blobstore', async (t) => {
    const dropletsDir = join(work, 'droplets-lost');
    await mkdir(dropletsDir, { recursive: true });
    await layOutDroplet(dropletsDir);
    const first = await createTestRegistry({ stacks: { cflinuxfs4: stackA }, dropletsDir });
    const before = manifestOf(await pull(first));
    await first.close({ keepData: true });
    t.after(() => rm(first.dataDir, { recursive: true, force: true }));
    const lost = String(before.layers[2]?.digest);
    await rm(join(first.dataDir, 'blobstore', 'blobs', 'sha256', lost.slice('sha256:'.length)));

    const second = await createTestRegistry({ stacks: { cflinuxfs4: stackB }, dropletsDir, dataDir: first.dataDir });
    t.after(() => second.close());
    const after = manifestOf(await pull(second));
    assert.equal(after.layers[2]?.digest, lost, 'converted again, reproducibly');
    assert.ok(second.events.includes('conversion.succeeded'));
    assert.ok(!second.events.includes('image.rebased'));
    const blob = await second.registry.server.inject({ method: 'HEAD', url: `/v2/org/space/app/blobs/${lost}` });
    assert.equal(blob.statusCode, 200);
  });

  it("never serves, nor builds from, one app's droplet for another app whose folder has a droplet of the same guid", async (t) => {
    const dropletsDir = join(work, 'droplets-collision');
    await mkdir(dropletsDir, { recursive: true });
    await writeDroplet(dropletsDir, { org: 'org', space: 'space', app: 'app', guid: GUID, bytes: droplet, json: sidecar });
    const other = await standardDroplet({ startCommand: './other.sh', files: { 'app/secret.txt': 'only the other app' } });
    await writeDroplet(dropletsDir, { org: 'org', space: 'space2', app: 'other', guid: GUID, bytes: other, json: sidecar });
    const pullOther = (registry: TestRegistry) => registry.registry.server.inject({ method: 'GET', url: '/v2/org/space2/other/manifests/latest' });
    const refusal = (res: ServerInjectResponse) => {
      assert.equal(res.statusCode, 404, res.payload);
      const [error] = (JSON.parse(res.payload) as { errors: Array<{ code: string; message: string }> }).errors;
      assert.equal(error?.code, 'MANIFEST_UNKNOWN');
      assert.match(String(error?.message), /its guid is that of another app’s droplet in this registry; droplet guids must be unique/);
    };

    const first = await createTestRegistry({ stacks: { cflinuxfs4: stackA }, dropletsDir });
    const mine = manifestOf(await pull(first));
    refusal(await pullOther(first));
    for (const layer of mine.layers) {
      const blob = await first.registry.server.inject({ method: 'HEAD', url: `/v2/org/space2/other/blobs/${layer.digest}` });
      assert.equal(blob.statusCode, 404, 'none of its blobs either');
    }
    await first.close({ keepData: true });
    t.after(() => rm(first.dataDir, { recursive: true, force: true }));

    // On a new stack, the other app asks first: still refused, and the stored layers stay the first app's.
    const second = await createTestRegistry({ stacks: { cflinuxfs4: stackB }, dropletsDir, dataDir: first.dataDir });
    t.after(() => second.close());
    refusal(await pullOther(second));
    const rebased = manifestOf(await pull(second));
    assert.deepEqual(rebased.layers.slice(1), mine.layers.slice(1), "the first app's own layers, rebased");
  });

  describe('several instances on one Postgres database', { skip: postgresSkip }, () => {
    let database: TestDatabase;
    const registries: TestRegistry[] = [];

    after(async () => {
      for (const registry of registries.splice(0)) await registry.close();
      await database?.cleanup();
    });

    async function open(stack: string, dropletsDir: string): Promise<TestRegistry> {
      const registry = await createTestRegistry({
        databaseUrl: database.url,
        stacks: { cflinuxfs4: stack },
        dropletsDir,
        env: { BLOBSTORE_FS_ROOT: join(work, 'shared-blobstore'), DATABASE_SCHEMA: database.schema },
      });
      registries.push(registry);
      return registry;
    }

    it('rebases each image once whichever instances are asked, all of them answering at once', async () => {
      database = await postgres.create();
      const dropletsDir = join(work, 'droplets-shared');
      await mkdir(dropletsDir, { recursive: true });
      const laidOut = await layOutDroplet(dropletsDir);
      const converter = await open(stackA, dropletsDir);
      const before = manifestOf(await pull(converter));
      await laidOut.block();

      const [b, c] = [await open(stackB, dropletsDir), await open(stackB, dropletsDir)];
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => pull(i % 2 ? b : c)));
      const digests = new Set(answers.map((res) => (manifestOf(res), String(res.headers['docker-content-digest']))));
      assert.equal(digests.size, 1, 'one image for everyone');
      const rebasedLines = [...b.logs, ...c.logs].filter((entry) => entry.event === 'image.rebased');
      assert.equal(rebasedLines.length, 1, 'rebased once across the instances');
      assert.ok(![...b.events, ...c.events].includes('conversion.started'), 'nothing converted');
      const images = await database.knex('images').where({ droplet_guid: GUID }).orderBy('id').select('stack_digest', 'state', 'attempts');
      assert.equal(images.length, 2, 'the image on the old stack and the one on the new');
      assert.deepEqual(images[1], { stack_digest: manifestOf(answers[0] as ServerInjectResponse).layers[0]?.digest, state: 'ready', attempts: 1 });
      assert.equal((await pull(b, String(answers[0]?.headers['docker-content-digest']))).statusCode, 200);
      assert.equal(manifestOf(await pull(c, String((await pull(converter)).headers['docker-content-digest']))).layers[0]?.digest, before.layers[0]?.digest);
    });
  });
});
