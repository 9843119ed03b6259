/**
 * Migrating is an explicit step: with DATABASE_MIGRATE=false (the BOSH job, whose pre-start runs
 * `droplet-registry migrate`) no other command changes the schema, and one that finds it behind
 * stops and names the command that brings it up to date; `migrate` always migrates.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli as cli } from '../../support/run-cli.ts';
import { ensureServerBuilt } from '../../support/start-registry.ts';
import { buildTinyRootfs } from '../../support/test-registry.ts';

describe('DATABASE_MIGRATE', () => {
  let work: string;
  let env: Record<string, string>;

  before(async () => {
    await ensureServerBuilt();
    work = await mkdtemp(join(tmpdir(), 'migration-step-'));
    const rootfs = join(work, 'rootfs.tgz');
    await writeFile(rootfs, await buildTinyRootfs());
    await mkdir(join(work, 'droplets'));
    env = { DATA_DIR: join(work, 'data'), DROPLETS_DIR: join(work, 'droplets'), STACKS: `cflinuxfs4=${rootfs}`, PORT: '0', DATABASE_MIGRATE: 'false' };
  });

  after(() => rm(work, { recursive: true, force: true }));

  it('off: serve, gc and import-rootfs refuse a database that was never migrated, and say what to run', async () => {
    for (const args of [['serve'], ['gc', '--dry-run'], ['import-rootfs']]) {
      const result = await cli(args, env);
      assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /lacks \d+ migration\(s\) .*run `droplet-registry migrate` first/, args.join(' '));
    }
    const blobs = await readdir(join(work, 'data', 'blobs')).catch(() => []);
    assert.deepEqual(blobs, [], 'import-rootfs stored nothing');
  });

  it('off: once `migrate` has run, the other commands work on the migrated schema', async () => {
    const migrated = await cli(['migrate'], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout, /database migrated/);
    const imported = await cli(['import-rootfs'], env);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /^cflinuxfs4\tsha256:[0-9a-f]{64}\t/);
    const gc = await cli(['gc', '--dry-run'], env);
    assert.equal(gc.code, 0, gc.stderr);
  });

  it('on (the default): a fresh data dir is migrated by whichever command opens it first', async () => {
    const { DATABASE_MIGRATE: _off, ...defaults } = env;
    const fresh = { ...defaults, DATA_DIR: join(work, 'fresh') };
    const gc = await cli(['gc', '--dry-run'], fresh);
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(gc.stdout, /dry run/);
  });
});
