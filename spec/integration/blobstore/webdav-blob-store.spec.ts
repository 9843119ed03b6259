import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { finished } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { signedReadUrl } from '../../../src/blobstore/secure-link.ts';
import { WebDavBlobStore, type WebDavBlobStoreOptions } from '../../../src/blobstore/webdav-blob-store.ts';
import { WebDavError } from '../../../src/blobstore/webdav-client.ts';
import { digestOf, readAll, runBlobStoreContract, writeStaged } from '../../support/blob-store-contract.ts';
import { nginxBlobstoreProblem, startNginxBlobstore, type NginxBlobstore } from '../../support/nginx-blobstore.ts';
import { skipOrFail } from '../../support/requirements.ts';

describe('webdav blob store (nginx as capi-release configures it)', { skip: skipOrFail(nginxBlobstoreProblem()) }, () => {
  let nginx: NginxBlobstore;
  before(async () => {
    nginx = await startNginxBlobstore();
  });
  after(() => nginx?.stop());

  /** A store in a directory of its own on the shared nginx, so tests never see each other's files. */
  function makeWebDavStore(overrides: Partial<WebDavBlobStoreOptions> = {}) {
    const directoryKey = `droplet-registry-${randomUUID()}`;
    const store = new WebDavBlobStore({
      privateEndpoint: nginx.privateEndpoint,
      publicEndpoint: nginx.publicEndpoint,
      username: nginx.username,
      password: nginx.password,
      secret: nginx.secret,
      directoryKey,
      linkExpirySeconds: 300,
      ...overrides,
    });
    return { store, directoryKey, listKeys: () => nginx.listFiles(directoryKey), cleanup: async () => undefined };
  }

  runBlobStoreContract('webdav', async () => makeWebDavStore());

  it('redirects to a signed link on the public server that serves the bytes, and ranges of them', async () => {
    const { store, directoryKey } = makeWebDavStore({ linkExpirySeconds: 120 });
    const bytes = randomBytes(64 * 1024);
    const digest = digestOf(bytes);
    await store.put(digest, bytes);

    const url = new URL(await store.redirectUrl(digest));
    assert.equal(url.origin, nginx.publicEndpoint);
    assert.equal(url.pathname, `/read/${directoryKey}/blobs/sha256/${digest.slice('sha256:'.length)}`);
    assert.match(url.searchParams.get('md5') ?? '', /^[A-Za-z0-9_-]{22}$/);
    const expires = Number(url.searchParams.get('expires'));
    const now = Math.floor(Date.now() / 1000);
    assert.ok(expires > now + 110 && expires <= now + 120, `expires ${expires} is about two minutes from ${now}`);

    const whole = await fetch(url);
    assert.equal(whole.status, 200);
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), bytes);

    // As Go clients send it: a Range request without Accept-Encoding (the job's gzip would otherwise answer 200).
    const slice = await fetch(url, { headers: { Range: 'bytes=100-199', 'Accept-Encoding': 'identity' } });
    assert.equal(slice.status, 206);
    assert.equal(slice.headers.get('content-range'), `bytes 100-199/${bytes.length}`);
    assert.deepEqual(Buffer.from(await slice.arrayBuffer()), bytes.subarray(100, 200));
  });

  it('gets 403 from nginx for a tampered link and 410 for an expired one', async () => {
    const { store, directoryKey } = makeWebDavStore();
    const bytes = Buffer.from('guarded by secure_link');
    const digest = digestOf(bytes);
    await store.put(digest, bytes);

    const tampered = new URL(await store.redirectUrl(digest));
    const md5 = tampered.searchParams.get('md5') ?? '';
    tampered.searchParams.set('md5', `${md5[0] === 'A' ? 'B' : 'A'}${md5.slice(1)}`);
    assert.equal((await fetch(tampered)).status, 403);

    const later = new URL(await store.redirectUrl(digest));
    later.searchParams.set('expires', String(Number(later.searchParams.get('expires')) + 1));
    assert.equal((await fetch(later)).status, 403, 'the expiry is part of the hash');

    const anHourAgo = Math.floor(Date.now() / 1000) - 3600;
    const expired = signedReadUrl(nginx.publicEndpoint, `/${directoryKey}/blobs/sha256/${digest.slice('sha256:'.length)}`, anHourAgo, nginx.secret);
    assert.equal((await fetch(expired)).status, 410);
  });

  it('keeps /admin/ off the public server', async () => {
    const { store, directoryKey } = makeWebDavStore();
    const bytes = Buffer.from('admin only');
    await store.put(digestOf(bytes), bytes);
    const response = await fetch(`${nginx.publicEndpoint}/admin/${directoryKey}/blobs/sha256/${digestOf(bytes).slice('sha256:'.length)}`, {
      headers: { Authorization: `Basic ${Buffer.from(`${nginx.username}:${nginx.password}`).toString('base64')}` },
    });
    assert.equal(response.status, 404);
  });

  it('says so when the blobstore refuses the admin credentials', async () => {
    const { store, listKeys } = makeWebDavStore({ password: 'not-the-password' });
    const refused = (error: unknown) => {
      assert.ok(error instanceof WebDavError);
      assert.equal(error.status, 401);
      assert.match(error.message, /answered 401 .* refused the admin credentials/);
      return true;
    };
    await assert.rejects(store.stat(digestOf(Buffer.from('x'))), refused);
    await assert.rejects(store.put(digestOf(Buffer.from('x')), Buffer.from('x')), refused);

    const staged = await store.stage();
    await assert.rejects(writeStaged(staged, randomBytes(256 * 1024)), refused);
    await assert.rejects(staged.commit(digestOf(Buffer.from('x'))), /write failed/);
    await staged.cancel().catch(refused);
    assert.deepEqual(await listKeys(), []);
  });

  it('leaves nothing behind a writer that dies mid-upload, before any clean-up', async () => {
    const { store, listKeys } = makeWebDavStore();
    const staged = await store.stage();
    await new Promise<void>((resolve, reject) => staged.writable.write(randomBytes(1024 * 1024), (error) => (error ? reject(error) : resolve())));
    staged.writable.destroy(new Error('the converting process died'));
    await finished(staged.writable).catch(() => undefined);

    // nginx drops the body of a PUT cut short instead of storing part of it.
    assert.deepEqual(await listKeys(), []);
    assert.equal(await store.sweepStaging(0), 0);
  });

  it('repairs a blob that a cut-short copy left shorter than its content', async () => {
    const { store, listKeys } = makeWebDavStore();
    const bytes = randomBytes(100 * 1024);
    const digest = digestOf(bytes);
    await store.put(digest, bytes.subarray(0, 1000)); // what an interrupted COPY leaves: a prefix
    const staged = await store.stage();
    await writeStaged(staged, bytes);
    await staged.commit(digest);

    assert.deepEqual(await readAll(await store.open(digest)), bytes);
    assert.deepEqual(await listKeys(), [`blobs/sha256/${digest.slice('sha256:'.length)}`]);
  });
});
