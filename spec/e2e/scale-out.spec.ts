/**
 * Three registry processes on one Postgres database and one blobstore (s3rver, then the CF
 * blobstore's nginx): concurrent cold pulls across them convert the image once with the same
 * digests everywhere; docker and skopeo pull through one instance following 307s to the
 * blobstore; containerd's retries of 429 complete a pull that outlasts MANIFEST_WAIT_MS; and `kill -9` of the instance converting a droplet leaves no partial blob while
 * another instance takes the conversion over and the pull completes.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildDroplet, standardDroplet, standardDropletEntries } from '../support/build-droplet.ts';
import { provisionContainerd, startContainerd } from '../support/clients/containerd.ts';
import { provisionDockerd, startDockerd } from '../support/clients/dockerd.ts';
import { sharedClient } from '../support/clients/shared-client.ts';
import { createSkopeo, provisionSkopeo } from '../support/clients/skopeo.ts';
import { makeScratchDir, removeScratchDir } from '../support/clients/scratch-dir.ts';
import { waitFor } from '../support/clients/wait-for.ts';
import { nginxBlobstoreProblem, startNginxBlobstore } from '../support/nginx-blobstore.ts';
import { skipOrFail } from '../support/requirements.ts';
import { S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, startS3Server } from '../support/s3-server.ts';
import { startRegistry, type RunningRegistry } from '../support/start-registry.ts';
import { eachDatabase, type TestDatabase } from '../support/test-database.ts';
import { buildTinyRootfs } from '../support/test-registry.ts';

const SMALL = { app: 'small', guid: '5a11e2b3-0c4d-4e5f-8a6b-7c8d9e0f1a2b' };
const SLOW = { app: 'slow', guid: '51012e2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b' };
const BIG = { app: 'big', guid: 'b1691e2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b' };
const TEST_TIMEOUT = { timeout: 600_000 };
const postgres = eachDatabase().find((variant) => variant.name === 'postgres') as ReturnType<typeof eachDatabase>[number];
const dockerd = sharedClient(provisionDockerd, startDockerd, (client) => client.stop());
const containerd = sharedClient(provisionContainerd, startContainerd, (client) => client.stop());
const skopeo = sharedClient(provisionSkopeo, async () => createSkopeo(), (client) => client.dispose());
after(async () => {
  await Promise.allSettled([dockerd.stop(), containerd.stop(), skopeo.stop()]);
});
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

interface Store {
  readonly env: Record<string, string>;
  /** Digests of the blobs committed under `blobs/sha256/`. */
  committedBlobs(): Promise<string[]>;
  stop(): Promise<void>;
}

const stores: Array<{ name: string; skip(): string | false; start(): Promise<Store> }> = [
  {
    name: 's3',
    skip: () => false,
    async start() {
      const s3 = await startS3Server();
      return {
        env: {
          BLOBSTORE: 's3',
          S3_BUCKET: s3.bucket,
          S3_REGION: s3.region,
          S3_ENDPOINT: s3.endpoint,
          S3_FORCE_PATH_STYLE: 'true',
          S3_ACCESS_KEY_ID,
          S3_SECRET_ACCESS_KEY,
        },
        committedBlobs: async () => digestsOf(await s3.listKeys()),
        stop: () => s3.stop(),
      };
    },
  },
  {
    name: 'webdav',
    skip: () => skipOrFail(nginxBlobstoreProblem()),
    async start() {
      const nginx = await startNginxBlobstore();
      return {
        env: {
          BLOBSTORE: 'webdav',
          WEBDAV_PRIVATE_ENDPOINT: nginx.privateEndpoint,
          WEBDAV_PUBLIC_ENDPOINT: nginx.publicEndpoint,
          WEBDAV_USERNAME: nginx.username,
          WEBDAV_PASSWORD: nginx.password,
          WEBDAV_SECRET: nginx.secret,
        },
        committedBlobs: async () => digestsOf(await nginx.listFiles('droplet-registry')),
        stop: () => nginx.stop(),
      };
    },
  },
];

function digestsOf(paths: string[]): string[] {
  return paths.flatMap((path) => (path.startsWith('blobs/sha256/') ? [`sha256:${path.slice('blobs/sha256/'.length)}`] : [])).sort();
}

const postgresSkip = await postgres.skipReason();

for (const storeKind of stores) {
  describe(`three instances on one Postgres and the ${storeKind.name} blobstore`, { skip: postgresSkip || storeKind.skip() }, () => {
    let work: string;
    let database: TestDatabase;
    let store: Store;
    let bigFifo: string;
    let slowFifo: string;
    let slowDroplet: Buffer;
    let bigDroplet: Buffer;
    let instances: RunningRegistry[] = [];

    before(async () => {
      work = makeScratchDir(`e2e-scale-out-${storeKind.name}`);
      database = await postgres.create();
      store = await storeKind.start();
      const rootfs = join(work, 'rootfs.tgz');
      await writeFile(rootfs, await buildTinyRootfs());
      const droplets = join(work, 'droplets');
      await writeAppDroplet(droplets, SMALL, await standardDroplet({ startCommand: './run.sh' }));
      slowDroplet = await standardDroplet({ startCommand: './slow.sh' });
      slowFifo = await writeAppDroplet(droplets, SLOW, undefined);
      // Incompressible, so the conversion writes megabytes before the test lets it finish.
      bigDroplet = await buildDroplet(standardDropletEntries({ startCommand: './run.sh', files: { 'app/data.bin': randomBytes(8 * 1024 * 1024) } }));
      bigFifo = await writeAppDroplet(droplets, BIG, undefined);
      const env = {
        ...store.env,
        SOURCE: 'directory',
        AUTH: 'none',
        DROPLETS_DIR: droplets,
        STACKS: `cflinuxfs4=${rootfs}`,
        DATABASE_URL: database.url as string,
        DATABASE_SCHEMA: database.schema,
        CONVERSION_LEASE_MS: '3000',
        MANIFEST_WAIT_MS: '2000',
      };
      // Started together, as a deployment starts them: migrations and base-layer imports race.
      instances = await Promise.all([1, 2, 3].map(() => startRegistry({ env })));
    });

    after(async () => {
      await Promise.allSettled(instances.map((instance) => instance.stop()));
      await store?.stop();
      await database?.cleanup();
      if (work) removeScratchDir(work);
    });

    test('converts once for 30 concurrent cold pulls across the instances, with the same digest everywhere', TEST_TIMEOUT, async () => {
      const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => pullManifest(instances[i % 3] as RunningRegistry, SMALL.app)));
      assert.equal(new Set(answers.map((answer) => answer.digest)).size, 1, 'one manifest digest');
      const rows = await database.knex('conversions as c').join('images as i', 'i.id', 'c.image_id').where({ 'i.droplet_guid': SMALL.guid }).select('c.state');
      assert.deepEqual(rows, [{ state: 'succeeded' }], 'exactly one conversion');
    });

    test('docker pull through one instance follows 307s to the blobstore', TEST_TIMEOUT, async (t) => {
      const client = await dockerd.get(t);
      if (!client) return;
      const image = `${(instances[0] as RunningRegistry).host}/org/space/${SMALL.app}:latest`;
      await withLogs(client.docker(['pull', image]));
      // The next blobstore's run shares this dockerd: without its layers it downloads them again.
      await client.docker(['image', 'rm', image]);
      await assertRedirects(instances[0] as RunningRegistry);
    });

    test('skopeo copy through one instance follows 307s to the blobstore', TEST_TIMEOUT, async (t) => {
      const client = await skopeo.get(t);
      if (!client) return;
      await withLogs(client.copyToOciLayout(`${(instances[0] as RunningRegistry).host}/org/space/${SMALL.app}:latest`, join(work, `layout-${storeKind.name}`), 'latest'));
      await assertRedirects(instances[0] as RunningRegistry);
    });

    test("containerd's retries complete the pull of a droplet that outlasts MANIFEST_WAIT_MS", TEST_TIMEOUT, async (t) => {
      const client = await containerd.get(t);
      if (!client) return;
      const instance = instances[2] as RunningRegistry;
      const pull = withLogs(client.ctr(['images', 'pull', '--plain-http', `${instance.host}/org/space/${SLOW.app}:latest`]));
      // The droplet download hangs until the first request has been answered 429.
      const feed = await openFifo(slowFifo);
      await waitFor('a 429 for the slow manifest', () => instance.logs().includes(`/v2/org/space/${SLOW.app}/manifests/latest 429`));
      await write(feed, slowDroplet);
      feed.end();
      await pull;
      const rows = await database.knex('conversions as c').join('images as i', 'i.id', 'c.image_id').where({ 'i.droplet_guid': SLOW.guid }).select('c.state');
      assert.deepEqual(rows, [{ state: 'succeeded' }], 'the retry joined the one conversion');
    });

    /** The blobs the clients fetched came from the blobstore, not through the registry. */
    async function assertRedirects(instance: RunningRegistry): Promise<void> {
      const { layers } = await pullManifest(instance, SMALL.app);
      const res = await fetch(`${instance.url}/v2/org/space/${SMALL.app}/blobs/${layers[0]}`, { redirect: 'manual' });
      assert.equal(res.status, 307);
    }

    /** A failed client command shows the instances' logs too. */
    async function withLogs<T>(work: Promise<T>): Promise<T> {
      try {
        return await work;
      } catch (error) {
        throw new Error(`${(error as Error).message}\n--- registry logs ---\n${instances.map((instance) => instance.logs().slice(-3000)).join('\n---\n')}`, { cause: error });
      }
    }

    test('kill -9 of the converting instance: another takes over, the pull completes, no partial blob remains', TEST_TIMEOUT, async () => {
      const [survivor, victim] = instances as [RunningRegistry, RunningRegistry, RunningRegistry];
      // The victim claims the image and starts reading the droplet, which the test feeds by halves.
      const first = fetch(`${victim.url}/v2/org/space/${BIG.app}/manifests/latest`).catch(() => undefined);
      const feed = await openFifo(bigFifo);
      await write(feed, bigDroplet.subarray(0, bigDroplet.length / 2));
      await waitFor('the victim to convert', () => victim.logs().includes('conversion.started'));
      victim.kill();
      feed.destroy();
      await first;
      // A survivor's request waits out the dead lease, claims the image and reads the droplet afresh.
      const pull = pullManifest(survivor, BIG.app);
      const refeed = await openFifo(bigFifo);
      await write(refeed, bigDroplet);
      refeed.end();
      const manifest = await pull;
      for (const digest of [...manifest.layers, manifest.config]) {
        const res = await fetch(`${survivor.url}/v2/org/space/${BIG.app}/blobs/${digest}`);
        assert.equal(res.status, 200);
        assert.equal(sha256(Buffer.from(await res.arrayBuffer())), digest, 'the blob behind the redirect is whole');
      }
      const rows = await database.knex('conversions as c').join('images as i', 'i.id', 'c.image_id').where({ 'i.droplet_guid': BIG.guid }).orderBy('c.started_at').select('c.state', 'c.error');
      assert.deepEqual(rows.map((row) => row.state), ['failed', 'succeeded'], 'the dead attempt (closed by the one that took over), then that one');
      assert.match(rows[0].error, /abandoned/);
      const recorded = (await database.knex('blobs').pluck('digest')).sort();
      assert.deepEqual(await store.committedBlobs(), recorded, 'every committed blob is a recorded, whole blob');
    });
  });
}

/** GET the manifest as containerd would: retrying while the registry answers 429. */
async function pullManifest(instance: RunningRegistry, app: string): Promise<{ digest: string; config: string; layers: string[] }> {
  for (;;) {
    const res = await fetch(`${instance.url}/v2/org/space/${app}/manifests/latest`);
    if (res.status === 429) continue;
    const body = await res.text();
    assert.equal(res.status, 200, body);
    const manifest = JSON.parse(body) as { config: { digest: string }; layers: Array<{ digest: string }> };
    return { digest: res.headers.get('docker-content-digest') as string, config: manifest.config.digest, layers: manifest.layers.map((layer) => layer.digest) };
  }
}

/** The droplet file, or a FIFO the test feeds when `bytes` is undefined; returns its path. */
async function writeAppDroplet(droplets: string, droplet: { app: string; guid: string }, bytes: Buffer | undefined): Promise<string> {
  const dir = join(droplets, 'org', 'space', droplet.app);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${droplet.guid}.tgz`);
  if (bytes) await writeFile(path, bytes);
  else execFileSync('mkfifo', [path]);
  const sidecar = { guid: droplet.guid, state: 'STAGED', stack: 'cflinuxfs4', created_at: '2024-01-01T00:00:00Z', process_types: { web: './run.sh' } };
  await writeFile(join(dir, `${droplet.guid}.json`), JSON.stringify(sidecar));
  return path;
}

/** Opens the FIFO for writing; resolves once a registry opened it for reading. */
async function openFifo(path: string): Promise<WriteStream> {
  const stream = createWriteStream(path);
  stream.on('error', () => undefined);
  await new Promise((resolve) => stream.once('open', resolve));
  return stream;
}

function write(stream: WriteStream, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => stream.write(bytes, (error) => (error ? reject(error) : resolve())));
}
