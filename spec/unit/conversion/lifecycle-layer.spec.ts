import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { InvalidLayerFileError } from '../../../src/conversion/invalid-layer-file-error.ts';
import { OCI_LAYER_GZIP } from '../../../src/conversion/layer-descriptor.ts';
import { buildLauncherLayer, buildLifecycleLayerFromTarball, LAUNCHER_SCRIPT } from '../../../src/conversion/lifecycle-layer.ts';
import { buildDroplet, writeDropletFile } from '../../support/build-droplet.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';
import { hasCommand, provisionCommands, skipOrFail } from '../../support/requirements.ts';
import { names, readLayer } from './read-tar.ts';

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'lifecycle-'));
});
after(() => rm(scratch, { recursive: true, force: true }));

describe('buildLauncherLayer', () => {
  it('stores tmp/, tmp/lifecycle/ and the launcher script, root-owned, mtime 0', async () => {
    const blobs = new MemoryBlobStore();
    const layer = await buildLauncherLayer(blobs, 1);
    const entries = await readLayer(blobs, layer.digest);
    assert.deepEqual(names(entries), ['tmp/', 'tmp/lifecycle/', 'tmp/lifecycle/launcher']);
    assert.deepEqual(
      entries.map(({ header }) => [header.type, header.mode, header.uid, header.gid, header.mtime.getTime()]),
      [
        ['directory', 0o1777, 0, 0, 0],
        ['directory', 0o755, 0, 0, 0],
        ['file', 0o755, 0, 0, 0],
      ],
    );
    assert.equal(entries[2]?.content.toString(), LAUNCHER_SCRIPT);
    const stored = blobs.bytes(layer.digest);
    assert.equal(layer.digest, `sha256:${createHash('sha256').update(stored).digest('hex')}`);
    assert.equal(layer.diffId, `sha256:${createHash('sha256').update(gunzipSync(stored)).digest('hex')}`);
    assert.equal(layer.mediaType, OCI_LAYER_GZIP);
  });

  it('is the same layer every time', async () => {
    const first = await buildLauncherLayer(new MemoryBlobStore(), 6);
    const second = await buildLauncherLayer(new MemoryBlobStore(), 6);
    assert.deepEqual(second, first);
  });
});

describe('buildLifecycleLayerFromTarball', () => {
  it('re-roots a buildpack_app_lifecycle tarball under tmp/lifecycle/, owned by root', async () => {
    const tarball = await buildDroplet([
      { name: './', type: 'directory', uid: 1000, gid: 1000 },
      { name: './launcher', content: 'ELF launcher', mode: 0o755, uid: 1000, gid: 1000 },
      { name: './builder', content: 'ELF builder', mode: 0o755, uid: 1000, gid: 1000 },
      { name: 'healthcheck', content: 'ELF healthcheck', mode: 0o755, uid: 1000, gid: 1000 },
    ]);
    const path = await writeDropletFile(scratch, 'buildpack_app_lifecycle.tgz', tarball);
    const blobs = new MemoryBlobStore();
    const layer = await buildLifecycleLayerFromTarball(path, blobs, 1);
    const entries = await readLayer(blobs, layer.digest);
    assert.deepEqual(names(entries), ['tmp/lifecycle/launcher', 'tmp/lifecycle/builder', 'tmp/lifecycle/healthcheck']);
    for (const { header } of entries) {
      assert.deepEqual([header.mode, header.uid, header.gid], [0o755, 0, 0], header.name);
    }
    assert.equal(entries[0]?.content.toString(), 'ELF launcher');
  });

  it('gives the same layer whatever level the tarball was compressed at', async () => {
    const tarball = await buildDroplet([{ name: './launcher', content: 'x', mode: 0o755 }]);
    const recompressed = gzipSync(gunzipSync(tarball), { level: 9 });
    const a = await buildLifecycleLayerFromTarball(await writeDropletFile(scratch, 'a.tgz', tarball), new MemoryBlobStore(), 1);
    const b = await buildLifecycleLayerFromTarball(await writeDropletFile(scratch, 'b.tgz', recompressed), new MemoryBlobStore(), 1);
    assert.deepEqual(b, a);
  });

  it('refuses a tarball with an entry that escapes, naming the file and the entry', async () => {
    const path = await writeDropletFile(scratch, 'evil.tgz', await buildDroplet([{ name: '../../bin/sh', content: 'x' }]));
    const blobs = new MemoryBlobStore();
    await assert.rejects(buildLifecycleLayerFromTarball(path, blobs, 1), (error: unknown) => {
      assert.ok(error instanceof InvalidLayerFileError);
      assert.equal(error.message, `${path}: lifecycle tarball entry "../../bin/sh" escapes the lifecycle tarball through ".."`);
      return true;
    });
    assert.deepEqual(blobs.digests(), []);
    assert.equal(blobs.stagedCount(), 0);
  });

  it('refuses a file that is not gzip', async () => {
    const path = await writeDropletFile(scratch, 'lifecycle.zip', Buffer.from('PK\x03\x04 not a tarball'));
    await assert.rejects(buildLifecycleLayerFromTarball(path, new MemoryBlobStore(), 1), {
      name: 'InvalidLayerFileError',
      message: `lifecycle tarball ${path} is not a gzip file`,
    });
  });
});

interface LauncherRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

interface ShellSetup {
  /** The shell (and its arguments) that runs the launcher, as Docker's exec of `#!/bin/sh` would. */
  readonly shell: readonly [string, ...string[]];
  readonly path: string;
}

/** A fresh /home/vcap-like tree (`root`) with the launcher installed beside it. */
async function layout(name: string): Promise<{ root: string; launcher: string }> {
  const base = await realpath(await mkdtemp(join(scratch, `${name}-`)));
  const root = join(base, 'home', 'vcap');
  await mkdir(join(root, 'app'), { recursive: true });
  await mkdir(join(root, 'tmp'));
  await mkdir(join(root, 'deps'));
  const launcher = join(base, 'tmp', 'lifecycle', 'launcher');
  await mkdir(join(base, 'tmp', 'lifecycle'), { recursive: true });
  await writeFile(launcher, LAUNCHER_SCRIPT);
  await chmod(launcher, 0o755);
  return { root, launcher };
}

function run(setup: ShellSetup, launcher: string, cwd: string, args: string[], env: Record<string, string> = {}): Promise<LauncherRun> {
  return new Promise((resolve) => {
    const [shell, ...shellArgs] = setup.shell;
    execFile(shell, [...shellArgs, launcher, ...args], { cwd, env: { PATH: setup.path, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

/** A PATH directory holding only `commands`, each a link to `target(command)`. */
async function pathOf(name: string, commands: readonly string[], target: (command: string) => string): Promise<string> {
  const dir = await mkdtemp(join(scratch, `path-${name}-`));
  for (const command of commands) await symlink(target(command), join(dir, command));
  return dir;
}

function which(command: string): string {
  return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim();
}

/** The shells the launcher must work with: a stack's sh with bash beside it, a bare sh, busybox. */
const SHELLS: ReadonlyArray<{ readonly label: string; readonly bash: boolean; setup(t: TestContext): Promise<ShellSetup | false> }> = [
  {
    label: 'sh on a rootfs with bash (cflinuxfs4)',
    bash: true,
    async setup(t) {
      if (!hasCommand('bash')) return skipOrFail(t, 'needs bash');
      return { shell: ['/bin/sh'], path: process.env.PATH ?? '/usr/bin:/bin' };
    },
  },
  {
    label: 'sh on a rootfs without bash',
    bash: false,
    async setup() {
      return { shell: ['/bin/sh'], path: await pathOf('sh', ['sh', 'sed', 'dirname'], (command) => (command === 'sh' ? '/bin/sh' : which(command))) };
    },
  },
  {
    label: 'busybox sh',
    bash: false,
    async setup(t) {
      const missing = provisionCommands({ busybox: 'busybox-static' });
      if (missing) return skipOrFail(t, missing);
      const busybox = which('busybox');
      return { shell: [busybox, 'sh'], path: await pathOf('busybox', ['sh', 'sed', 'dirname'], () => busybox) };
    },
  },
];

describe('LAUNCHER_SCRIPT', () => {
  for (const variant of SHELLS) {
    describe(`run by ${variant.label}`, () => {
      it('sources profile.d, the app’s .profile.d and .profile in order, from the app directory, then execs the command', async (t) => {
        const setup = await variant.setup(t);
        if (!setup) return;
        const { root, launcher } = await layout('profiles');
        await mkdir(join(root, 'profile.d'));
        await mkdir(join(root, 'app', '.profile.d'));
        await writeFile(join(root, 'profile.d', 'b.sh'), 'ORDER="$ORDER droplet-b"\n');
        await writeFile(join(root, 'profile.d', 'a.sh'), 'export ORDER="droplet-a"\nexport FROM_PROFILE=droplet\n');
        await writeFile(join(root, 'app', '.profile.d', 'x.sh'), 'ORDER="$ORDER app-x"\nread -r FROM_APP_PROFILE < marker\nexport FROM_APP_PROFILE\n');
        await writeFile(join(root, 'app', '.profile'), 'ORDER="$ORDER profile"\nexport PROFILE_SAW_HOME="$HOME"\n');
        await writeFile(join(root, 'app', 'marker'), 'read-from-app-dir\n');

        const command = 'printf "%s|" "$ORDER" "$FROM_PROFILE" "$FROM_APP_PROFILE" "$PROFILE_SAW_HOME" "$HOME" "$TMPDIR" "$DEPS_DIR" "$PWD" "${BASH_VERSION:+bash}"';
        const result = await run(setup, launcher, root, ['app', command, '{"start_command":"ignored"}'], { HOME: '/root', TMPDIR: '/var/tmp' });
        assert.equal(result.stderr, '');
        assert.equal(result.code, 0);
        assert.equal(
          result.stdout,
          [
            'droplet-a droplet-b app-x profile',
            'droplet',
            'read-from-app-dir',
            join(root, 'app'),
            join(root, 'app'),
            join(root, 'tmp'),
            join(root, 'deps'),
            join(root, 'app'),
            variant.bash ? 'bash' : '',
            '',
          ].join('|'),
        );
      });

      it('starts the staging_info.yml start command when given an empty one, undoing Go’s JSON escapes', async (t) => {
        const setup = await variant.setup(t);
        if (!setup) return;
        const { root, launcher } = await layout('staging-info');
        const startCommand = `echo "it's" && echo '<a&b>' && echo 'back\\slash' && echo 'tab\there'\necho second line`;
        // Go's encoding/json escapes <, > and & for HTML safety.
        const json = JSON.stringify({ detected_buildpack: 'ruby', start_command: startCommand, config: { x: '"start_command":"wrong"' } })
          .replaceAll('&', '\\u0026')
          .replaceAll('<', '\\u003c')
          .replaceAll('>', '\\u003e');
        await writeFile(join(root, 'staging_info.yml'), `${json}\n`);
        const result = await run(setup, launcher, root, ['app', '', '{}']);
        assert.equal(result.stderr, '');
        assert.equal(result.stdout, "it's\n<a&b>\nback\\slash\ntab\there\nsecond line\n");
      });

      it('fails when there is no start command anywhere', async (t) => {
        const setup = await variant.setup(t);
        if (!setup) return;
        const { root, launcher } = await layout('no-command');
        const result = await run(setup, launcher, root, ['app', '']);
        assert.equal(result.code, 1);
        assert.match(result.stderr, /no start command specified or detected in droplet/);
      });

      it('fails with its usage when called without a start command argument', async (t) => {
        const setup = await variant.setup(t);
        if (!setup) return;
        const { root, launcher } = await layout('usage');
        const result = await run(setup, launcher, root, ['app']);
        assert.equal(result.code, 1);
        assert.match(result.stderr, /usage: .*launcher <app directory> <start command>/);
      });
    });
  }
});
