/**
 * The built registry process under load: 300 concurrent manifest requests for one cold image give
 * exactly one conversion and an answer to every request — 200 once it lands, or, where the image
 * cannot be ready within MANIFEST_WAIT_MS, 429 TOOMANYREQUESTS with Retry-After (what containerd,
 * skopeo and podman retry) and then 200 to the retries. SIGTERM while responses are still
 * streaming lets every request already received finish whole: no connection reset.
 *
 * The droplet is a FIFO the test feeds, so the conversion cannot land before the test says so and
 * no assertion depends on timing.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { standardDroplet } from '../support/build-droplet.ts';
import { makeScratchDir, removeScratchDir } from '../support/clients/scratch-dir.ts';
import { waitFor } from '../support/clients/wait-for.ts';
import { startRegistry, type RunningRegistry } from '../support/start-registry.ts';
import { eachDatabase, type TestDatabase } from '../support/test-database.ts';
import { buildTinyRootfs } from '../support/test-registry.ts';

const CONCURRENT = 300;
/** Droplet-layer downloads (24 MiB each) held open across SIGTERM. */
const BLOBS_IN_FLIGHT = 16;
const TEST_TIMEOUT = { timeout: 300_000 };
const postgres = eachDatabase().find((variant) => variant.name === 'postgres') as ReturnType<typeof eachDatabase>[number];

/** One HTTP answer as the client saw it; `error` when the connection failed instead. */
interface Answer {
  readonly status?: number;
  readonly headers?: http.IncomingHttpHeaders;
  readonly body?: Buffer;
  readonly error?: string;
}

describe('the registry process under load', { skip: await postgres.skipReason() }, () => {
  let work: string;
  let dropletsDir: string;
  let database: TestDatabase;
  let registry: RunningRegistry;
  let port: number;
  // Every request of a burst gets a connection of its own, as 300 separate clients would.
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

  before(async () => {
    work = makeScratchDir('load');
    dropletsDir = join(work, 'droplets');
    await writeFile(join(work, 'rootfs.tgz'), await buildTinyRootfs());
    database = await postgres.create();
    registry = await startRegistry({
      env: {
        DROPLETS_DIR: dropletsDir,
        STACKS: `cflinuxfs4=${join(work, 'rootfs.tgz')}`,
        DATABASE_URL: database.url as string,
        DATABASE_SCHEMA: database.schema,
        MANIFEST_WAIT_MS: '10000',
        SHUTDOWN_TIMEOUT_MS: '60000',
      },
    });
    port = Number(new URL(registry.url).port);
  });

  after(async () => {
    agent.destroy();
    await registry?.stop();
    await database?.cleanup();
    removeScratchDir(work);
  });

  /** Lays out a staged droplet whose bits are a FIFO; `feed` writes them (unblocking the conversion). */
  async function fifoDroplet(app: string, guid: string, payloadBytes = 64 * 1024): Promise<{ feed(): Promise<void> }> {
    const dir = join(dropletsDir, 'org', 'space', app);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${guid}.json`), JSON.stringify({ guid, state: 'STAGED', stack: 'cflinuxfs4', process_types: { web: './run' } }));
    const fifo = join(dir, `${guid}.tgz`);
    await rm(fifo, { force: true });
    execFileSync('mkfifo', [fifo]);
    const bytes = await standardDroplet({ startCommand: './run', files: { 'app/payload.bin': randomBytes(payloadBytes) } });
    return {
      async feed() {
        const stream = createWriteStream(fifo);
        stream.end(bytes);
        await finished(stream);
      },
    };
  }

  /**
   * GET `path` on a connection of its own. With `hold`, the body is not read until it resolves, so
   * the request stays in flight; `onResponse` is called once the response has begun.
   */
  function request(path: string, options: { hold?: Promise<void>; onResponse?: () => void; onSent?: () => void } = {}): Promise<Answer> {
    return new Promise((resolve) => {
      const failed = (error: NodeJS.ErrnoException) => resolve({ error: `${error.code ?? ''} ${error.message}` });
      const req = http.request({ host: '127.0.0.1', port, path, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.pause();
        options.onResponse?.();
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', failed);
        void (options.hold ?? Promise.resolve()).then(() => res.resume());
      });
      req.on('error', failed);
      req.on('finish', () => options.onSent?.());
      req.end();
    });
  }

  const conversionsOf = async (guid: string) =>
    database.knex('conversions as c').join('images as i', 'i.id', 'c.image_id').where({ 'i.droplet_guid': guid }).select('c.state');

  test(`${CONCURRENT} concurrent manifest requests during one cold conversion: one conversion, ${CONCURRENT} × 200`, TEST_TIMEOUT, async () => {
    const guid = '10ad0000-0000-4000-8000-000000000001';
    // Incompressible and larger than the socket buffers, so that its layer streams for a while (the SIGTERM test).
    const droplet = await fifoDroplet('burst', guid, 24 * 1024 * 1024);
    const answers = Array.from({ length: CONCURRENT }, () => request('/v2/org/space/burst/manifests/latest'));
    await waitFor('the conversion to start', async () => (await conversionsOf(guid)).length > 0);
    await droplet.feed();
    const results = await Promise.all(answers);
    assert.deepEqual(results.filter((answer) => answer.status !== 200).map((answer) => answer.error ?? `${answer.status} ${answer.body?.toString()}`), []);
    assert.equal(new Set(results.map((answer) => answer.headers?.['docker-content-digest'])).size, 1, 'one manifest for everyone');
    assert.deepEqual(await conversionsOf(guid), [{ state: 'succeeded' }], 'exactly one conversion');
  });

  test(`beyond MANIFEST_WAIT_MS: ${CONCURRENT} × 429 with Retry-After, then the retries get the image from the same single conversion`, TEST_TIMEOUT, async () => {
    const guid = '10ad0000-0000-4000-8000-000000000002';
    const droplet = await fifoDroplet('slow', guid);
    // The droplet is not fed until every request has had its answer: the conversion outlasts the wait.
    const first = await Promise.all(Array.from({ length: CONCURRENT }, () => request('/v2/org/space/slow/manifests/latest')));
    for (const answer of first) {
      assert.equal(answer.status, 429, answer.error ?? answer.body?.toString());
      assert.equal(answer.headers?.['retry-after'], '1');
      const error = (JSON.parse(answer.body?.toString() ?? '{}') as { errors: Array<{ code: string; detail?: { reason?: string } }> }).errors[0];
      assert.equal(error?.code, 'TOOMANYREQUESTS');
      assert.equal(error?.detail?.reason, 'converting');
    }
    await droplet.feed();
    const retries = await Promise.all(Array.from({ length: CONCURRENT }, () => request('/v2/org/space/slow/manifests/latest')));
    assert.deepEqual(retries.filter((answer) => answer.status !== 200).map((answer) => answer.error ?? `${answer.status}`), []);
    assert.deepEqual(await conversionsOf(guid), [{ state: 'succeeded' }], 'still exactly one conversion');
  });

  test('SIGTERM while responses stream: every request already received finishes whole', TEST_TIMEOUT, async () => {
    const manifest = await request('/v2/org/space/burst/manifests/latest');
    assert.equal(manifest.status, 200, manifest.error);
    const layer = (JSON.parse(manifest.body?.toString() ?? '{}') as { layers: Array<{ digest: string; size: number }> }).layers[2] as { digest: string; size: number };
    let release = (): void => undefined;
    const hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Received and answering, their bodies held back by the clients: in flight when SIGTERM comes.
    let responding = 0;
    const onResponse = () => {
      responding += 1;
    };
    const inFlight = [
      ...Array.from({ length: BLOBS_IN_FLIGHT }, () => request(`/v2/org/space/burst/blobs/${layer.digest}`, { hold, onResponse })),
      ...Array.from({ length: 100 }, () => request('/v2/org/space/burst/manifests/latest', { hold, onResponse })),
    ];
    // A cold conversion more requests wait on, fed only after SIGTERM.
    const guid = '10ad0000-0000-4000-8000-000000000003';
    const droplet = await fifoDroplet('late', guid);
    let sent = 0;
    const waiting = Array.from({ length: 50 }, () => request('/v2/org/space/late/manifests/latest', { onSent: () => (sent += 1) }));
    await waitFor('the late conversion to start', async () => (await conversionsOf(guid)).length > 0);
    await waitFor('every held response to begin', () => responding === inFlight.length);
    await waitFor('every waiting request to be sent', () => sent === waiting.length);
    // A barrier: the server answers a request sent after all of them, so it has read theirs.
    assert.equal((await request('/healthz')).status, 200);
    const stopped = registry.stop();
    await droplet.feed();
    release();
    const held = await Promise.all(inFlight);
    for (const answer of held.slice(0, BLOBS_IN_FLIGHT)) {
      assert.equal(answer.status, 200, `a held blob: ${answer.error}`);
      assert.equal(answer.body?.length, layer.size, 'the whole blob');
      assert.equal(`sha256:${createHash('sha256').update(answer.body as Buffer).digest('hex')}`, layer.digest);
    }
    for (const answer of held.slice(BLOBS_IN_FLIGHT)) assert.equal(answer.status, 200, `a held manifest: ${answer.error}`);
    for (const answer of await Promise.all(waiting)) {
      // Finished within SHUTDOWN_TIMEOUT_MS: the image; handed back to another instance: 503 to retry elsewhere. Never a reset.
      assert.ok(answer.status === 200 || answer.status === 503, `waiting on the conversion: ${answer.error ?? `${answer.status} ${answer.body?.toString()}`}`);
    }
    await stopped;
    assert.deepEqual(await conversionsOf(guid), [{ state: 'succeeded' }], 'the conversion under way finished before the process exited');
  });
});
