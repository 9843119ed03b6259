/**
 * The Azure blobstore against Azurite, which checks Shared Key and SAS signatures as Azure does:
 * the shared contract with the account key and with a SAS token, the redirect URLs (read-only, one
 * blob, expiring, no key in them), and what an operator sees when the credentials or the container
 * are wrong or the service stalls.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { finished } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import {
  BlobSASPermissions,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { AzureBlobStore, type AzureBlobStoreOptions } from '../../../src/blobstore/azure-blob-store.ts';
import { digestOf, readAll, runBlobStoreContract, writeStaged } from '../../support/blob-store-contract.ts';
import { startAzurite, type AzuriteServer } from '../../support/azurite.ts';
import { waitFor } from '../../support/clients/wait-for.ts';

const CONTAINER = 'droplet-registry';
const MiB = 1024 * 1024;

let azurite: AzuriteServer;
before(async () => {
  azurite = await startAzurite();
  await azurite.createContainer(CONTAINER);
});
after(() => azurite?.stop());

/** A container SAS as an operator would make one for the registry: read, add, create, write, delete, list. */
function containerSasToken(): string {
  return generateBlobSASQueryParameters(
    { containerName: CONTAINER, permissions: ContainerSASPermissions.parse('racwdl'), expiresOn: new Date(Date.now() + 24 * 3600 * 1000) },
    new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey),
  ).toString();
}

/** A store on the shared Azurite, under a prefix of its own so tests never see each other's blobs. */
function makeAzureStore(overrides: Partial<AzureBlobStoreOptions> = {}) {
  const prefix = `run-${randomUUID()}/`;
  const store = new AzureBlobStore({
    accountName: azurite.accountName,
    accountKey: azurite.accountKey,
    endpoint: azurite.endpoint,
    container: CONTAINER,
    prefix,
    sasExpirySeconds: 300,
    blockSizeBytes: 4 * MiB,
    ...overrides,
  });
  return { store, prefix, listKeys: () => azurite.listKeys(CONTAINER, prefix), cleanup: async () => undefined };
}

runBlobStoreContract('azure (shared key)', async () => makeAzureStore());
runBlobStoreContract('azure (SAS token)', async () => makeAzureStore({ accountKey: undefined, sasToken: containerSasToken() }));

describe('azure blob store', () => {
  it('redirects to a read-only SAS URL for the one blob, which serves its bytes and ranges of them', async () => {
    const { store, prefix } = makeAzureStore({ sasExpirySeconds: 120 });
    const bytes = randomBytes(64 * 1024);
    const digest = digestOf(bytes);
    await store.put(digest, bytes);

    const url = new URL((await store.redirectUrl(digest)) ?? '');
    assert.equal(`${url.origin}${url.pathname}`, `${azurite.endpoint}/${CONTAINER}/${prefix}blobs/sha256/${digest.slice('sha256:'.length)}`);
    assert.equal(url.searchParams.get('sp'), 'r', 'read permission only');
    assert.equal(url.searchParams.get('sr'), 'b', 'scoped to the blob');
    const expires = Date.parse(url.searchParams.get('se') ?? '');
    assert.ok(expires > Date.now() + 100_000 && expires <= Date.now() + 121_000, `expires ${url.searchParams.get('se')} about two minutes from now`);
    assert.ok(!url.href.includes(azurite.accountKey) && !url.href.includes(encodeURIComponent(azurite.accountKey)), 'the account key is not in the URL');

    const whole = await fetch(url);
    assert.equal(whole.status, 200);
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), bytes);
    const slice = await fetch(url, { headers: { Range: 'bytes=100-199' } });
    assert.equal(slice.status, 206);
    assert.deepEqual(Buffer.from(await slice.arrayBuffer()), bytes.subarray(100, 200));
  });

  it('gets 403 from Azure for a redirect URL that is tampered with, used for another blob, to write, or expired', async () => {
    const { store, prefix } = makeAzureStore();
    const bytes = Buffer.from('guarded by a SAS');
    const other = Buffer.from('another blob');
    const digest = digestOf(bytes);
    await store.put(digest, bytes);
    await store.put(digestOf(other), other);
    const url = new URL((await store.redirectUrl(digest)) ?? '');
    assert.equal((await fetch(url)).status, 200);

    const tampered = new URL(url);
    const sig = tampered.searchParams.get('sig') ?? '';
    tampered.searchParams.set('sig', `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`);
    assert.equal((await fetch(tampered)).status, 403, 'tampered signature');

    const longer = new URL(url);
    longer.searchParams.set('se', new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString().replace(/\.\d+Z$/, 'Z'));
    assert.equal((await fetch(longer)).status, 403, 'the expiry is signed');

    const elsewhere = new URL(url);
    elsewhere.pathname = elsewhere.pathname.replace(digest.slice('sha256:'.length), digestOf(other).slice('sha256:'.length));
    assert.equal((await fetch(elsewhere)).status, 403, 'another blob with the same signature');

    const write = await fetch(url, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob', 'x-ms-version': '2025-01-05' }, body: 'overwritten' });
    assert.equal(write.status, 403, 'writing through the URL');
    assert.equal((await fetch(url, { method: 'DELETE', headers: { 'x-ms-version': '2025-01-05' } })).status, 403, 'deleting through the URL');
    assert.deepEqual(await readAll(await store.open(digest)), bytes);

    // Signed exactly as the store signs, but an hour in the past.
    const blobName = `${prefix}blobs/sha256/${digest.slice('sha256:'.length)}`;
    const expiredSas = generateBlobSASQueryParameters(
      { containerName: CONTAINER, blobName, permissions: BlobSASPermissions.parse('r'), expiresOn: new Date(Date.now() - 3600 * 1000) },
      new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey),
    );
    assert.equal((await fetch(`${url.origin}${url.pathname}?${expiredSas.toString()}`)).status, 403, 'expired');
  });

  it('with a SAS token instead of the key, serves blobs itself: no redirect, nothing of the token handed out', async () => {
    const { store } = makeAzureStore({ accountKey: undefined, sasToken: containerSasToken() });
    const bytes = Buffer.from('streamed by the registry');
    const digest = digestOf(bytes);
    await store.put(digest, bytes);
    assert.equal(await store.redirectUrl(digest), null);
    assert.deepEqual(await readAll(await store.open(digest, { range: { start: 9, end: 11 } })), Buffer.from('by '));
  });

  it('commits a blob bigger than the copy range in several Put Block From URL calls', async () => {
    const { store, listKeys } = makeAzureStore({ copyBlockBytes: 5 * MiB });
    const bytes = randomBytes(11 * MiB);
    const digest = digestOf(bytes);
    const staged = await store.stage();
    await writeStaged(staged, bytes);
    await staged.commit(digest);

    assert.deepEqual(await listKeys(), [`blobs/sha256/${digest.slice('sha256:'.length)}`]);
    assert.deepEqual(await readAll(await store.open(digest)), bytes);
  });

  it('sweeps the uncommitted blocks a writer that died mid-upload left behind', async () => {
    const { store, listKeys } = makeAzureStore();
    const staged = await store.stage();
    // More than a block (4 MiB here), and the writer dies only once a block has landed.
    for (let chunk = 0; chunk < 5; chunk += 1) {
      await new Promise<void>((resolve, reject) => staged.writable.write(randomBytes(MiB), (error) => (error ? reject(error) : resolve())));
    }
    await waitFor('a block of the staged write to land', async () => (await listKeys()).length > 0);
    staged.writable.destroy(new Error('the converting process died'));
    await finished(staged.writable).catch(() => undefined);
    assert.deepEqual((await listKeys()).map((key) => key.replace(/[0-9a-f-]{36}$/, '<uuid>')), ['staging/<uuid>'], 'uncommitted blocks under the staged name');
    assert.equal(await store.stat(digestOf(Buffer.from('x'))), null);

    assert.equal(await store.sweepStaging(60 * 60 * 1000), 0, 'a fresh staged write may still be a live one');
    assert.equal(await store.sweepStaging(0), 1);
    assert.deepEqual(await listKeys(), []);
  });

  it("sweeps only its own staged writes, never another registry's blobs sharing the container under a prefix `staging`", async () => {
    const run = `run-${randomUUID()}`;
    const outer = makeAzureStore({ prefix: `${run}/` });
    const inner = makeAzureStore({ prefix: `${run}/staging/` });
    const bytes = Buffer.from('a layer of the registry whose prefix is staging');
    await inner.store.put(digestOf(bytes), bytes);
    assert.equal(await outer.store.sweepStaging(0), 0);
    assert.deepEqual(await inner.store.stat(digestOf(bytes)), { size: bytes.length });
  });

  it('keeps one whole blob when two writers commit the same digest at once', async () => {
    const { store, listKeys } = makeAzureStore({ copyBlockBytes: 1 * MiB });
    const bytes = randomBytes(3 * MiB);
    const digest = digestOf(bytes);
    const writers = await Promise.all([store.stage(), store.stage()]);
    await Promise.all(writers.map((staged) => writeStaged(staged, bytes)));
    await Promise.all(writers.map((staged) => staged.commit(digest)));

    assert.deepEqual(await listKeys(), [`blobs/sha256/${digest.slice('sha256:'.length)}`]);
    assert.deepEqual(await readAll(await store.open(digest)), bytes);
  });

  it('names the settings to check when Azure refuses the account key', async () => {
    const { store, listKeys } = makeAzureStore({ accountKey: randomBytes(64).toString('base64') });
    const refused = (error: Error) => /refused the registry's credentials .*AZURE_ACCOUNT_KEY/.test(error.message);
    await assert.rejects(store.stat(digestOf(Buffer.from('x'))), refused);
    await assert.rejects(store.put(digestOf(Buffer.from('x')), Buffer.from('x')), refused);
    const staged = await store.stage();
    await assert.rejects(writeStaged(staged, Buffer.from('x')), refused);
    await assert.rejects(staged.commit(digestOf(Buffer.from('x'))), /write failed/);
    assert.deepEqual(await listKeys(), []);
  });

  it('names the container when it does not exist', async () => {
    const { store } = makeAzureStore({ container: 'no-such-container' });
    await assert.rejects(store.stat(digestOf(Buffer.from('x'))), /container no-such-container .* does not exist.*AZURE_CONTAINER/);
  });

  it('gives up on a service that takes requests and never answers', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const { store } = makeAzureStore({ endpoint: `http://127.0.0.1:${port}/${azurite.accountName}`, requestIdleTimeoutMs: 300 });
      await assert.rejects(store.stat(digestOf(Buffer.from('x'))), /sent and received nothing for 300 ms/);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('refuses settings that cannot name an account, a container or one credential', () => {
    assert.throws(() => makeAzureStore({ accountName: 'Not_An_Account' }), /accountName must be a storage account name/);
    assert.throws(() => makeAzureStore({ container: 'Upper' }), /container must be a container name/);
    assert.throws(() => makeAzureStore({ sasToken: 'sv=x' }), /accountKey or sasToken, one of them/);
    assert.throws(() => makeAzureStore({ accountKey: undefined }), /accountKey or sasToken, one of them/);
  });
});
