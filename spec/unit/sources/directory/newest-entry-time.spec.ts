import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newestEntryTime } from '../../../../src/sources/directory/newest-entry-time.ts';
import { buildDroplet } from '../../../support/build-droplet.ts';

describe('newestEntryTime', () => {
  let dir: string;
  let droplet: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'newest-entry-'));
    droplet = join(dir, 'droplet.tgz');
    await writeFile(droplet, await buildDroplet([
      { name: './app/a', content: 'a'.repeat(100_000), mtime: new Date('2020-01-01T00:00:00Z') },
      { name: './app/b', content: 'b', mtime: new Date('2021-01-01T00:00:00Z') },
      { name: './app/c', content: 'c', mtime: new Date('2022-01-01T00:00:00Z') },
    ]));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('answers the newest mtime among all entries', async () => {
    assert.deepEqual(await newestEntryTime(droplet, 3), { newest: new Date('2022-01-01T00:00:00Z'), complete: true });
  });

  it('stops after maxEntries, answering the newest of those', async () => {
    assert.deepEqual(await newestEntryTime(droplet, 2), { newest: new Date('2021-01-01T00:00:00Z'), complete: false });
  });

  it('rejects for a file that is not a gzipped tar, and for a missing one', async () => {
    await writeFile(join(dir, 'plain.tgz'), 'plain text');
    await assert.rejects(newestEntryTime(join(dir, 'plain.tgz'), 10), (error: NodeJS.ErrnoException) => !error.syscall);
    await assert.rejects(newestEntryTime(join(dir, 'missing.tgz'), 10), { code: 'ENOENT' });
  });
});
