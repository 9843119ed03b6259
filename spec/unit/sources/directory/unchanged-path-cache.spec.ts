import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UnchangedPathCache } from '../../../../src/sources/directory/unchanged-path-cache.ts';

describe('UnchangedPathCache', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'path-cache-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** A cache that counts its reads; `racyMs: 0` keeps even a value read right after a change. */
  function countingCache(racyMs?: number) {
    const reads: string[] = [];
    const cache = new UnchangedPathCache(
      async (path) => {
        reads.push(path);
        return readFile(path, 'utf8');
      },
      { maxEntries: 2, ...(racyMs === undefined ? {} : { racyMs }) },
    );
    return { cache, reads };
  }

  it('reads a path once while it is unchanged', async () => {
    const path = join(dir, 'steady');
    await writeFile(path, 'one');
    const { cache, reads } = countingCache(0);
    assert.equal(await cache.get(path), 'one');
    assert.equal(await cache.get(path), 'one');
    assert.deepEqual(reads, [path]);
  });

  it('reads it again after a rewrite in place, even of the same size with its mtime put back', async () => {
    const path = join(dir, 'current');
    await writeFile(path, 'guid-aaa');
    const { mtime } = await stat(path);
    const { cache, reads } = countingCache(0);
    assert.equal(await cache.get(path), 'guid-aaa');
    await writeFile(path, 'guid-bbb');
    await utimes(path, mtime, mtime);
    assert.equal(await cache.get(path), 'guid-bbb');
    assert.equal(reads.length, 2);
  });

  it('reads it again when another file is renamed over it', async () => {
    const path = join(dir, 'renamed');
    await writeFile(path, 'old');
    const { cache } = countingCache(0);
    assert.equal(await cache.get(path), 'old');
    await writeFile(`${path}.new`, 'new');
    await rename(`${path}.new`, path);
    assert.equal(await cache.get(path), 'new');
  });

  it('does not keep a value read within the racy window after its last change', async () => {
    const path = join(dir, 'fresh');
    await writeFile(path, 'x');
    const { cache, reads } = countingCache();
    await cache.get(path);
    await cache.get(path);
    assert.equal(reads.length, 2, 'a change in the same clock tick would leave the stamps as they were');
  });

  it('rejects like stat for a missing path, and keeps no more than maxEntries paths', async () => {
    const { cache, reads } = countingCache(0);
    await assert.rejects(cache.get(join(dir, 'missing')), { code: 'ENOENT' });
    const paths = ['a', 'b', 'c'].map((name) => join(dir, `bounded-${name}`));
    for (const path of paths) await writeFile(path, path);
    for (const path of paths) await cache.get(path);
    await cache.get(paths[2] as string);
    await cache.get(paths[0] as string);
    assert.deepEqual(reads, [...paths, paths[0]], 'the oldest entry went when the third came');
  });
});
