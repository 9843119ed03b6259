import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { RegistryError } from '../../../../src/errors/registry-error.ts';
import { DirectorySource, UNKNOWN_CREATED_AT } from '../../../../src/sources/directory/directory-source.ts';
import { buildDroplet } from '../../../support/build-droplet.ts';

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
  const logs: Array<{ event?: string; file?: string; tag?: string }> = [];
  const appDir = (...parts: string[]) => join(root, ...parts);
  const warnings = (event: string) => logs.filter((line) => line.event === event);

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'droplets-'));
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    source = new DirectorySource({ root, defaultStack: 'cflinuxfs4', logger });
    // "My Org"/dev/"Hello App": names outside the OCI grammar, reached through their repository form.
    const hello = appDir('My Org', 'dev', 'Hello App');
    await mkdir(hello, { recursive: true });
    // cf download-droplet's name; its newest entry is from 2021-05-01.
    await writeFile(join(hello, 'droplet_aaa.tgz'), await buildDroplet([
      { name: './app/', type: 'directory', mtime: new Date('2021-05-01T00:00:00Z') },
      { name: './app/run.sh', content: 'a', mtime: new Date('2021-04-01T00:00:00Z') },
    ]));
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

  it('reads droplet facts from the sidecar JSON, else defaults and the newest mtime inside the droplet', async () => {
    const app = await source.findApp('my-org', 'dev', 'hello-app');
    const b = await source.findDroplet(app, 'bbb');
    assert.equal(b.stack, 'cflinuxfs3');
    assert.deepEqual(b.processTypes, { web: 'node server.js' });
    assert.equal(b.createdAt, '2020-01-01T00:00:00Z');
    const a = await source.findDroplet(app, 'aaa');
    assert.equal(a.stack, 'cflinuxfs4');
    assert.equal(a.state, 'STAGED');
    assert.equal(a.lifecycleType, 'buildpack');
    assert.equal(a.createdAt, '2021-05-01T00:00:00Z', 'not the file mtime (2021-06-01)');
    assert.equal(await codeOf(source.findDroplet(app, 'zzz')), 'MANIFEST_UNKNOWN');
  });

  it('lists only STAGED droplets, and takes the newest of them (sidecar created_at, else file mtime) as latest', async () => {
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

  it('gives the same created_at to the same droplet bytes whatever the file mtimes', async () => {
    const bytes = await buildDroplet([
      { name: './app/', type: 'directory', mtime: new Date('2023-03-03T03:03:03Z') },
      { name: './app/new.txt', content: 'n', mtime: new Date('2023-09-09T09:09:09Z') },
      { name: './app/old.txt', content: 'o', mtime: new Date('2022-01-01T00:00:00Z') },
    ]);
    const created: string[] = [];
    for (const [machine, mtime] of [['one', '2024-01-01T00:00:00Z'], ['two', '2025-07-07T00:00:00Z']] as const) {
      const dir = appDir('copies', machine, 'app');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'ddd.tgz'), bytes);
      await utimes(join(dir, 'ddd.tgz'), new Date(mtime), new Date(mtime));
      const app = await source.findApp('copies', machine, 'app');
      created.push((await source.findDroplet(app, 'ddd')).createdAt, (await source.currentDroplet(app)).createdAt);
    }
    assert.deepEqual(created, Array(4).fill('2023-09-09T09:09:09Z'));
  });

  it('dates a droplet that is no readable .tgz at UNKNOWN_CREATED_AT, with a warning', async () => {
    const dir = appDir('My Org', 'dev', 'garbled');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'eee.tgz'), 'not gzip at all');
    const app = await source.findApp('my-org', 'dev', 'garbled');
    assert.equal((await source.findDroplet(app, 'eee')).createdAt, UNKNOWN_CREATED_AT);
    assert.ok(warnings('directory.created_at_unknown').some((line) => line.file === join(dir, 'eee.tgz')));
  });

  it('gives a droplet.tgz a guid derived from its app and file names, and says so once', async () => {
    const guids: string[] = [];
    for (const name of ['first', 'second']) {
      const dir = appDir('unnamed', 'dev', name);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'droplet.tgz'), await buildDroplet([{ name: './app/x', content: name }]));
      await writeFile(join(dir, 'droplet.json'), JSON.stringify({ stack: 'from-sidecar' }));
      const app = await source.findApp('unnamed', 'dev', name);
      const latest = await source.currentDroplet(app);
      assert.match(latest.guid, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(latest.stack, 'from-sidecar', 'droplet.json is its sidecar');
      assert.deepEqual((await source.listStagedDroplets(app)).map((droplet) => droplet.guid), [latest.guid]);
      assert.equal((await source.findDroplet(app, latest.guid)).guid, latest.guid);
      assert.equal(await codeOf(source.findDroplet(app, 'droplet')), 'MANIFEST_UNKNOWN');
      assert.deepEqual((await source.lookupDroplet(latest.guid))?.app, app);
      guids.push(latest.guid);
    }
    assert.notEqual(guids[0], guids[1], 'two apps never share a droplet guid');
    const restarted = new DirectorySource({ root, defaultStack: 'cflinuxfs4', logger: pino({ level: 'silent' }) });
    assert.equal((await restarted.currentDroplet(await restarted.findApp('unnamed', 'dev', 'first'))).guid, guids[0], 'stable across restarts');
    assert.deepEqual(
      warnings('directory.droplet_without_guid').map(({ file, tag }) => ({ file, tag })),
      [
        { file: join(appDir('unnamed', 'dev', 'first'), 'droplet.tgz'), tag: guids[0] },
        { file: join(appDir('unnamed', 'dev', 'second'), 'droplet.tgz'), tag: guids[1] },
      ],
    );
  });
});
