import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { DirectorySource } from '../../../../src/sources/directory/directory-source.ts';

/**
 * The directory source reuses what it read while `stat` says nothing changed; these changes must
 * still show on the very next request. The folder is left alone for longer than the racy window
 * first (unchanged-path-cache.ts), so the source really holds cached listings when they happen.
 */
describe('DirectorySource freshness', () => {
  let root: string;
  let source: DirectorySource;
  const app = (): string => join(root, 'org', 'space', 'app');

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'droplets-fresh-'));
    source = new DirectorySource({ root, defaultStack: 'cflinuxfs4', logger: pino({ level: 'silent' }) });
    await mkdir(app(), { recursive: true });
    await writeFile(join(app(), 'aaa.tgz'), 'droplet a');
    await writeFile(join(app(), 'aaa.json'), JSON.stringify({ created_at: '2024-01-01T00:00:00Z' }));
    await writeFile(join(root, 'org', 'space', 'unrelated'), 'x');
    await sleep(2_100);
    const ref = await source.findApp('org', 'space', 'app');
    assert.equal((await source.currentDroplet(ref)).guid, 'aaa');
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('sees a new droplet as latest at once', async () => {
    await writeFile(join(app(), 'bbb.tgz'), 'droplet b');
    await writeFile(join(app(), 'bbb.json'), JSON.stringify({ created_at: '2025-01-01T00:00:00Z' }));
    const ref = await source.findApp('org', 'space', 'app');
    assert.equal((await source.currentDroplet(ref)).guid, 'bbb');
    assert.deepEqual((await source.listStagedDroplets(ref)).map((droplet) => droplet.guid).sort(), ['aaa', 'bbb']);
  });

  it('follows a current file as it is written and rewritten in place', async () => {
    const ref = await source.findApp('org', 'space', 'app');
    await writeFile(join(app(), 'current'), 'aaa\n');
    assert.equal((await source.currentDroplet(ref)).guid, 'aaa');
    await writeFile(join(app(), 'current'), 'bbb\n');
    assert.equal((await source.currentDroplet(ref)).guid, 'bbb');
    await rm(join(app(), 'current'));
  });

  it('sees a sidecar edited in place and a droplet removed', async () => {
    const ref = await source.findApp('org', 'space', 'app');
    await writeFile(join(app(), 'bbb.json'), JSON.stringify({ created_at: '2025-01-01T00:00:00Z', state: 'EXPIRED' }));
    assert.equal((await source.currentDroplet(ref)).guid, 'aaa');
    await rm(join(app(), 'aaa.tgz'));
    await assert.rejects(source.findDroplet(ref, 'aaa'), { code: 'MANIFEST_UNKNOWN' });
  });

  it('finds an app added next to the cached ones', async () => {
    await mkdir(join(root, 'org', 'space', 'second'));
    assert.equal((await source.findApp('org', 'space', 'second')).name, 'second');
  });
});
