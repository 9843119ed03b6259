/**
 * The `droplet-registry` command as a user runs it: the built CLI in a child process, its help,
 * exit codes and messages, `migrate` and `import-rootfs`.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildTinyRootfs } from '../../support/test-registry.ts';
import { runCli as cli } from '../../support/run-cli.ts';
import { ensureServerBuilt } from '../../support/start-registry.ts';


describe('droplet-registry CLI', () => {
  let work: string;
  let rootfs: string;

  before(async () => {
    await ensureServerBuilt();
    work = await mkdtemp(join(tmpdir(), 'cli-'));
    rootfs = join(work, 'rootfs.tgz');
    await writeFile(rootfs, await buildTinyRootfs());
  });

  after(() => rm(work, { recursive: true, force: true }));

  it('lists its commands, and explains each with --help', async () => {
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    for (const command of ['serve', 'migrate', 'import-rootfs', 'convert']) {
      assert.match(help.stdout, new RegExp(`^  ${command} `, 'm'));
      const own = await cli([command, '--help']);
      assert.equal(own.code, 0, command);
      assert.match(own.stdout, new RegExp(`^droplet-registry ${command}`), command);
    }
  });

  it('says what to fix on bad usage, with exit code 2', async () => {
    const unknown = await cli(['push']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "push"/);
    const missing = await cli(['convert', '--droplet', 'x.tgz']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing --rootfs, --output/);
    assert.match(missing.stderr, /see: droplet-registry convert --help/);
    const badFlag = await cli(['convert', '--dropplet', 'x.tgz']);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /--dropplet/);
    const badConfig = await cli(['migrate'], { DATA_DIR: work, PORT: 'eighty' });
    assert.equal(badConfig.code, 2);
    assert.match(badConfig.stderr, /port \(PORT\)/);
  });

  it('fails a conversion of a file that is no droplet, leaving no output', async () => {
    const notADroplet = join(work, 'not-a-droplet.tgz');
    await writeFile(notADroplet, 'plain text');
    const output = join(work, 'out.tar');
    const result = await cli(['convert', '--droplet', notADroplet, '--rootfs', rootfs, '--output', output]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /droplet is not a gzip file/);
    await assert.rejects(import('node:fs/promises').then((fs) => fs.stat(output)), { code: 'ENOENT' });
  });

  it('migrates the embedded database', async () => {
    const dataDir = join(work, 'migrate');
    const result = await cli(['migrate'], { DATA_DIR: dataDir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /database migrated \(schema droplet_registry\)/);
    assert.equal((await cli(['migrate'], { DATA_DIR: dataDir })).code, 0, 'migrating again is a no-op');
  });

  it('imports a rootfs once: a second run does not hash it again', async () => {
    const dataDir = join(work, 'import');
    const env = { DATA_DIR: dataDir, STACKS: `cflinuxfs4=${rootfs}` };
    const first = await cli(['import-rootfs'], env);
    assert.equal(first.code, 0, first.stderr);
    const [stack, digest, diffId] = first.stdout.trim().split('\t');
    assert.equal(stack, 'cflinuxfs4');
    assert.match(digest as string, /^sha256:[a-f0-9]{64}$/);
    assert.match(diffId as string, /^sha256:[a-f0-9]{64}$/);
    assert.match(first.stdout + first.stderr, /"event":"import.start"/);
    const second = await cli(['import-rootfs'], env);
    assert.equal(second.stdout, first.stdout);
    assert.doesNotMatch(second.stdout + second.stderr, /"event":"import.start"/);
    const extra = await cli(['import-rootfs', '--stack', `teststack=${rootfs}`], env);
    assert.match(extra.stdout, /^teststack\t/m);
  });
});
