/**
 * The end-to-end proof: the built registry, started as a process with a droplet in a folder and a
 * busybox stand-in for cflinuxfs4, pulled by real clients (Docker, skopeo + umoci, podman,
 * containerd), and the resulting containers start the app the way Diego would. The `convert`
 * command's outputs are checked with the same clients.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxRootfs } from '../support/build-busybox-rootfs.ts';
import { buildDroplet, type DropletEntry } from '../support/build-droplet.ts';
import { skipOrFail } from '../support/requirements.ts';
import { provisionContainerd, startContainerd } from '../support/clients/containerd.ts';
import { provisionDockerd, startDockerd } from '../support/clients/dockerd.ts';
import { createPodman, PODMAN_RUN_FLAGS, provisionPodman } from '../support/clients/podman.ts';
import { runCommand } from '../support/clients/run-command.ts';
import { makeScratchDir, removeScratchDir } from '../support/clients/scratch-dir.ts';
import { sharedClient } from '../support/clients/shared-client.ts';
import { createSkopeo, provisionSkopeo } from '../support/clients/skopeo.ts';
import { provisionUmoci, unpackOciLayout } from '../support/clients/umoci.ts';
import { CLI, REPOSITORY_ROOT, startRegistry, type RunningRegistry } from '../support/start-registry.ts';

const REPOSITORY = 'my-org/dev/hello';
const DROPLET_GUID = '3f1c2a9e-7b4d-4e8a-9c61-5d2e8f0a7b13';
const START_COMMAND = './run.sh';
/** What the app prints when the launcher ran it as Diego would: user, directory, env, both profiles. */
const EXPECTED_LINE = 'uid=2000 pwd=/home/vcap/app home=/home/vcap/app port=8080 app=yes bp=yes';
/** How much of the registry's log a failing client test shows. */
const REGISTRY_LOG_CHARS = 8_000;
/** A hang guard for each test, never a performance assertion. */
const TEST_TIMEOUT = { timeout: 600_000 };

let workDir: string;
let rootfsPath: string;
let dropletPath: string;
let registry: RunningRegistry;

const dockerd = sharedClient(provisionDockerd, startDockerd, (client) => client.stop());
const containerd = sharedClient(provisionContainerd, startContainerd, (client) => client.stop());
const podman = sharedClient(provisionPodman, async () => createPodman(), (client) => client.dispose());
const skopeo = sharedClient(provisionSkopeo, async () => createSkopeo(), (client) => client.dispose());

before(async () => {
  workDir = makeScratchDir('e2e-pull');
  rootfsPath = join(workDir, 'rootfs.tgz');
  await buildBusyboxRootfs(rootfsPath);
  const appDir = join(workDir, 'droplets', 'my-org', 'dev', 'hello');
  await mkdir(appDir, { recursive: true });
  dropletPath = join(appDir, `${DROPLET_GUID}.tgz`);
  await writeFile(dropletPath, await buildDroplet(dropletEntries()));
  await writeFile(
    join(appDir, `${DROPLET_GUID}.json`),
    JSON.stringify({
      guid: DROPLET_GUID,
      state: 'STAGED',
      stack: 'cflinuxfs4',
      process_types: { web: START_COMMAND },
      buildpacks: [{ name: 'binary_buildpack', detect_output: 'binary', version: '1.1.0' }],
      created_at: '2024-05-01T12:00:00Z',
      lifecycle: { type: 'buildpack', data: { buildpacks: ['binary_buildpack'], stack: 'cflinuxfs4' } },
    }),
  );
  registry = await startRegistry({
    env: { SOURCE: 'directory', DROPLETS_DIR: join(workDir, 'droplets'), STACKS: `cflinuxfs4=${rootfsPath}`, AUTH: 'none' },
  });
});

after(async () => {
  await Promise.allSettled([dockerd.stop(), containerd.stop(), podman.stop(), skopeo.stop()]);
  await registry?.stop();
  if (workDir) removeScratchDir(workDir);
});

describe('docker', () => {
  test('pulls latest and runs it as Diego would', TEST_TIMEOUT, async (t) => {
    const client = await dockerd.get(t);
    if (!client) return;
    const image = `${registry.host}/${REPOSITORY}:latest`;
    await withRegistryLogs(client.docker(['pull', image]));
    const { stdout } = await client.docker(['run', '--rm', '--network', 'none', image]);
    assert.equal(appLine(stdout), EXPECTED_LINE);
  });

  test('pulls the droplet guid as the same image as latest', TEST_TIMEOUT, async (t) => {
    const client = await dockerd.get(t);
    if (!client) return;
    const byGuid = `${registry.host}/${REPOSITORY}:${DROPLET_GUID}`;
    const latest = `${registry.host}/${REPOSITORY}:latest`;
    await withRegistryLogs(client.docker(['pull', byGuid]));
    await withRegistryLogs(client.docker(['pull', latest]));
    const ids = await Promise.all([byGuid, latest].map(async (image) => (await client.docker(['image', 'inspect', '--format', '{{.Id}}', image])).stdout.trim()));
    assert.equal(ids[0], ids[1]);
  });
});

describe('skopeo and umoci', () => {
  test('copy into an OCI layout that unpacks with the droplet under /home/vcap and the launcher', TEST_TIMEOUT, async (t) => {
    const client = await skopeo.get(t);
    if (!client) return;
    const umociMissing = provisionUmoci();
    if (umociMissing) {
      skipOrFail(t, umociMissing);
      return;
    }
    const layout = join(workDir, 'layout');
    await withRegistryLogs(client.copyToOciLayout(`${registry.host}/${REPOSITORY}:latest`, layout, 'latest'));
    const rootfs = await unpackOciLayout(layout, 'latest', join(workDir, 'bundle'));

    const hello = await stat(join(rootfs, 'home/vcap/app/hello.txt'));
    assert.deepEqual({ mode: hello.mode & 0o7777, uid: hello.uid, gid: hello.gid }, { mode: 0o640, uid: 2000, gid: 2000 });
    assert.equal(await readFile(join(rootfs, 'home/vcap/app/hello.txt'), 'utf8'), 'hello from the droplet\n');
    assert.equal((await stat(join(rootfs, 'home/vcap/app/run.sh'))).mode & 0o7777, 0o755);
    assert.ok((await stat(join(rootfs, 'home/vcap/staging_info.yml'))).isFile());
    assert.ok((await stat(join(rootfs, 'home/vcap/profile.d/buildpack.sh'))).isFile());
    const launcher = await stat(join(rootfs, 'tmp/lifecycle/launcher'));
    assert.ok(launcher.isFile() && (launcher.mode & 0o111) !== 0, 'the launcher is an executable file');
    assert.ok((await stat(join(rootfs, 'bin/busybox'))).isFile(), 'the rootfs layer is there too');
  });

  test('inspect shows the config Diego would run with', TEST_TIMEOUT, async (t) => {
    const client = await skopeo.get(t);
    if (!client) return;
    const image = await withRegistryLogs(client.inspectConfig(`${registry.host}/${REPOSITORY}:latest`));
    assert.equal(image.os, 'linux');
    assert.equal(image.architecture, 'amd64');
    assert.equal(image.config.User, '2000:2000');
    assert.deepEqual(image.config.Entrypoint, ['/tmp/lifecycle/launcher', 'app']);
    assert.equal(image.config.Cmd?.[0], START_COMMAND);
    assert.ok(image.config.Env?.includes('PORT=8080'), `Env has PORT=8080: ${JSON.stringify(image.config.Env)}`);
    assert.equal(image.rootfs.diff_ids.length, 3);
  });

  test('list-tags lists latest and the droplet guid', TEST_TIMEOUT, async (t) => {
    const client = await skopeo.get(t);
    if (!client) return;
    const tags = await withRegistryLogs(client.listTags(`${registry.host}/${REPOSITORY}`));
    assert.ok(tags.includes('latest') && tags.includes(DROPLET_GUID), `tags: ${JSON.stringify(tags)}`);
  });
});

describe('podman', () => {
  test('pulls latest and runs it as Diego would', TEST_TIMEOUT, async (t) => {
    const client = await podman.get(t);
    if (!client) return;
    const image = `${registry.host}/${REPOSITORY}:latest`;
    await withRegistryLogs(client.podman(['pull', '--tls-verify=false', image]));
    const { stdout } = await client.podman(['run', '--rm', ...PODMAN_RUN_FLAGS, image]);
    assert.equal(appLine(stdout), EXPECTED_LINE);
  });
});

describe('containerd', () => {
  test('pulls latest over plain HTTP and runs it as Diego would', TEST_TIMEOUT, async (t) => {
    const client = await containerd.get(t);
    if (!client) return;
    const image = `${registry.host}/${REPOSITORY}:latest`;
    await withRegistryLogs(client.ctr(['images', 'pull', '--plain-http', image]));
    const { stdout } = await client.ctr(['run', '--rm', image, 'e2e-hello']);
    assert.equal(appLine(stdout), EXPECTED_LINE);
  });
});

describe('the convert command', () => {
  test('writes an archive that docker loads and runs', TEST_TIMEOUT, async (t) => {
    const client = await dockerd.get(t);
    if (!client) return;
    const archive = join(workDir, 'hello.tar');
    await convert(['--output', archive]);
    const { stdout: loaded } = await client.docker(['load', '-i', archive]);
    const image = /Loaded image(?: ID)?: (\S+)/.exec(loaded)?.[1];
    assert.ok(image, `docker load names the image: ${loaded}`);
    const { stdout } = await client.docker(['run', '--rm', '--network', 'none', image]);
    assert.equal(appLine(stdout), EXPECTED_LINE);
  });

  test('writes an OCI layout that skopeo reads', TEST_TIMEOUT, async (t) => {
    const client = await skopeo.get(t);
    if (!client) return;
    const layout = join(workDir, 'converted-layout');
    await convert(['--output', layout]);
    const image = await client.inspectConfig(`oci:${layout}`);
    assert.equal(image.config.User, '2000:2000');
    assert.equal(image.config.Cmd?.[0], START_COMMAND);
  });
});

/** Runs `droplet-registry convert` on the test droplet and rootfs with extra arguments. */
async function convert(args: string[]): Promise<void> {
  await runCommand(join(REPOSITORY_ROOT, 'node_modules', '.bin', 'node'), [CLI, 'convert', '--droplet', dropletPath, '--rootfs', rootfsPath, ...args], {
    cwd: workDir,
    env: { ...process.env, DATA_DIR: join(workDir, 'convert-data') },
  });
}

/** The line the app printed, picked out of whatever else the launcher wrote. */
function appLine(stdout: string): string | undefined {
  return stdout.split('\n').find((line) => line.startsWith('uid='));
}

/** Adds the end of the registry's log to a client's failure, so the report shows both sides. */
async function withRegistryLogs<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    if (error instanceof Error) error.message += `\n--- registry log (end)\n${registry.logs().slice(-REGISTRY_LOG_CHARS)}`;
    throw error;
  }
}

/**
 * The droplet, as the buildpack lifecycle leaves it: `app/` with the app and its `.profile.d`,
 * a buildpack `profile.d`, `deps`, `logs`, `tmp` and `staging_info.yml`, all owned by vcap.
 */
function dropletEntries(): DropletEntry[] {
  return [
    { name: './', type: 'directory' },
    { name: './app/', type: 'directory' },
    { name: './app/.profile.d/', type: 'directory' },
    { name: './app/.profile.d/app-env.sh', content: 'export FROM_APP_PROFILE=yes\n' },
    { name: './app/hello.txt', content: 'hello from the droplet\n', mode: 0o640 },
    {
      name: './app/run.sh',
      content: '#!/bin/sh\necho "uid=$(id -u) pwd=$(pwd) home=$HOME port=$PORT app=$FROM_APP_PROFILE bp=$FROM_BUILDPACK_PROFILE"\n',
      mode: 0o755,
    },
    { name: './deps/', type: 'directory' },
    { name: './logs/', type: 'directory' },
    { name: './profile.d/', type: 'directory' },
    { name: './profile.d/buildpack.sh', content: 'export FROM_BUILDPACK_PROFILE=yes\n' },
    { name: './staging_info.yml', content: JSON.stringify({ detected_buildpack: 'binary', start_command: START_COMMAND }) },
    { name: './tmp/', type: 'directory' },
  ];
}
