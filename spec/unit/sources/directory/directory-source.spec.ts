import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { RegistryError } from '../../../../src/errors/registry-error.ts';
import { DirectorySource } from '../../../../src/sources/directory/directory-source.ts';

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    assert.ok(error instanceof RegistryError, String(error));
    return error.code;
  }
}

describe('DirectorySource', () => {
  let root: string;
  let source: DirectorySource;
  const appDir = (...parts: string[]) => join(root, ...parts);

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'droplets-'));
    source = new DirectorySource({ root, defaultStack: 'cflinuxfs4' });
    // "My Org"/dev/"Hello App": names outside the OCI grammar, reached through their repository form.
    const hello = appDir('My Org', 'dev', 'Hello App');
    await mkdir(hello, { recursive: true });
    await writeFile(join(hello, 'droplet_aaa.tgz'), 'droplet a'); // cf download-droplet's name
    await writeFile(join(hello, 'bbb.tgz'), 'droplet b');
    await writeFile(join(hello, 'bbb.json'), JSON.stringify({ state: 'STAGED', stack: 'cflinuxfs3', created_at: '2020-01-01T00:00:00Z', process_types: { web: 'node server.js' } }));
    await writeFile(join(hello, 'ccc.tgz'), 'droplet c');
    await writeFile(join(hello, 'ccc.json'), JSON.stringify({ state: 'FAILED' }));
    await writeFile(join(hello, 'notes.txt'), 'not a droplet');
    await utimes(join(hello, 'droplet_aaa.tgz'), new Date('2021-06-01T00:00:00Z'), new Date('2021-06-01T00:00:00Z'));
    await utimes(join(hello, 'ccc.tgz'), new Date('2025-01-01T00:00:00Z'), new Date('2025-01-01T00:00:00Z'));
    await mkdir(appDir('My Org', 'dev', 'empty'), { recursive: true });
    // Two apps with the same repository form: neither is reachable.
    await mkdir(appDir('My Org', 'dev', 'Twin'), { recursive: true });
    await mkdir(appDir('My Org', 'dev', 'TWIN'), { recursive: true });
  });

  after(() => rm(root, { recursive: true, force: true }));

  it('finds apps through the repository form of their names, with stable guids', async () => {
    const app = await source.findApp('my-org', 'dev', 'hello-app');
    assert.equal(app.name, 'Hello App');
    assert.equal(app.org.name, 'My Org');
    assert.match(app.guid, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal((await source.findApp('my-org', 'dev', 'hello-app')).guid, app.guid);
    assert.notEqual(app.space.guid, app.org.guid);
  });

  it('answers NAME_UNKNOWN for missing and ambiguous names', async () => {
    assert.equal(await codeOf(source.findApp('my-org', 'dev', 'nope')), 'NAME_UNKNOWN');
    assert.equal(await codeOf(source.findApp('other', 'dev', 'hello-app')), 'NAME_UNKNOWN');
    assert.equal(await codeOf(source.findApp('my-org', 'dev', 'twin')), 'NAME_UNKNOWN');
  });

  it('reads droplet facts from the sidecar JSON, else defaults and the file mtime', async () => {
    const app = await source.findApp('my-org', 'dev', 'hello-app');
    const b = await source.findDroplet(app, 'bbb');
    assert.equal(b.stack, 'cflinuxfs3');
    assert.deepEqual(b.processTypes, { web: 'node server.js' });
    assert.equal(b.createdAt, '2020-01-01T00:00:00Z');
    const a = await source.findDroplet(app, 'aaa');
    assert.equal(a.stack, 'cflinuxfs4');
    assert.equal(a.state, 'STAGED');
    assert.equal(a.lifecycleType, 'buildpack');
    assert.equal(a.createdAt, '2021-06-01T00:00:00Z');
    assert.equal(await codeOf(source.findDroplet(app, 'zzz')), 'MANIFEST_UNKNOWN');
  });

  it('lists only STAGED droplets, and takes the newest of them as latest', async () => {
    const app = await source.findApp('my-org', 'dev', 'hello-app');
    assert.deepEqual((await source.listStagedDroplets(app)).map((d) => d.guid).sort(), ['aaa', 'bbb']);
    assert.equal((await source.currentDroplet(app)).guid, 'aaa', 'ccc is newer but FAILED');
  });

  it('follows the current file when there is one', async () => {
    const app = await source.findApp('my-org', 'dev', 'hello-app');
    await writeFile(join(appDir('My Org', 'dev', 'Hello App'), 'current'), 'bbb\n');
    try {
      assert.equal((await source.currentDroplet(app)).guid, 'bbb');
    } finally {
      await rm(join(appDir('My Org', 'dev', 'Hello App'), 'current'));
    }
  });

  it('answers MANIFEST_UNKNOWN for an app without droplets', async () => {
    const app = await source.findApp('my-org', 'dev', 'empty');
    assert.equal(await codeOf(source.currentDroplet(app)), 'MANIFEST_UNKNOWN');
  });

  it('streams the droplet, verifying a checksum when the sidecar has one', async () => {
    const dir = appDir('My Org', 'dev', 'sums');
    await mkdir(dir, { recursive: true });
    const sha = createHash('sha256').update('good bytes').digest('hex');
    await writeFile(join(dir, 'ok.tgz'), 'good bytes');
    await writeFile(join(dir, 'ok.json'), JSON.stringify({ checksum: { type: 'sha256', value: sha } }));
    await writeFile(join(dir, 'bad.tgz'), 'bad bytes');
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ checksum: { type: 'sha256', value: sha } }));
    const app = await source.findApp('my-org', 'dev', 'sums');
    assert.equal(await text(await source.openDroplet(app, await source.findDroplet(app, 'ok'))), 'good bytes');
    await assert.rejects(text(await source.openDroplet(app, await source.findDroplet(app, 'bad'))), /does not match its sha256 checksum/);
  });

  it('looks a droplet up by guid alone, with the app it is in, whatever its state', async () => {
    const found = await source.lookupDroplet('bbb');
    assert.ok(found);
    assert.equal(found.droplet.stack, 'cflinuxfs3');
    assert.deepEqual(found.app, await source.findApp('my-org', 'dev', 'hello-app'));
    assert.equal(found.droplet.appGuid, found.app.guid);
    assert.equal((await source.lookupDroplet('aaa'))?.droplet.guid, 'aaa', "cf download-droplet's file name");
    assert.equal((await source.lookupDroplet('ccc'))?.droplet.state, 'FAILED');
  });

  it('answers null for a droplet that is not (or no longer) in the folder', async () => {
    assert.equal(await source.lookupDroplet('zzz'), null);
    const dir = appDir('My Org', 'dev', 'short-lived');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'gone.tgz'), 'x');
    assert.ok(await source.lookupDroplet('gone'));
    await rm(join(dir, 'gone.tgz'));
    assert.equal(await source.lookupDroplet('gone'), null);
  });

  it('says which metadata file is broken', async () => {
    const dir = appDir('My Org', 'dev', 'broken');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'x.tgz'), 'x');
    await writeFile(join(dir, 'x.json'), '{oops');
    const app = await source.findApp('my-org', 'dev', 'broken');
    await assert.rejects(source.findDroplet(app, 'x'), /droplet metadata .*x\.json is not valid/);
  });
});
