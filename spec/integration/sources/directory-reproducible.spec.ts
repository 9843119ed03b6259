/**
 * The same droplet, copied into two registries' folders at different times (as on two machines),
 * gives the same image: the directory source dates a droplet without `created_at` by its content.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { standardDroplet } from '../../support/build-droplet.ts';
import { buildTinyRootfs, createTestRegistry, writeDroplet } from '../../support/test-registry.ts';

const GUID = '44444444-4444-4444-8444-444444444444';

describe('directory source: one droplet on two machines', () => {
  let work: string;
  let rootfsPath: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'directory-reproducible-'));
    rootfsPath = join(work, 'rootfs.tgz');
    await writeFile(rootfsPath, await buildTinyRootfs());
  });
  after(() => rm(work, { recursive: true, force: true }));

  it('gives the same manifest digest whatever the droplet file mtime', async () => {
    const bytes = await standardDroplet({ startCommand: './run.sh' });
    const digests: string[] = [];
    for (const [machine, mtime] of [['one', '2024-01-01T00:00:00Z'], ['two', '2025-06-01T00:00:00Z']] as const) {
      const dropletsDir = join(work, machine);
      await writeDroplet(dropletsDir, { org: 'my-org', space: 'dev', app: 'hello', guid: GUID, bytes });
      await utimes(join(dropletsDir, 'my-org', 'dev', 'hello', `${GUID}.tgz`), new Date(mtime), new Date(mtime));
      const registry = await createTestRegistry({ stacks: { cflinuxfs4: rootfsPath }, dropletsDir });
      try {
        const res = await registry.registry.server.inject({ method: 'GET', url: '/v2/my-org/dev/hello/manifests/latest' });
        assert.equal(res.statusCode, 200, res.payload);
        digests.push(res.headers['docker-content-digest'] as string);
      } finally {
        await registry.close();
      }
    }
    assert.equal(digests[0], digests[1]);
  });
});
