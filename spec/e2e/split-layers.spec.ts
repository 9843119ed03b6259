/**
 * Split droplet layers, end to end: the built registry (directory source, busybox stand-in for
 * cflinuxfs4) serves two stagings of one app that differ only in app code and staging time, and a
 * second app on the same buildpack. Real clients (Docker, podman, containerd, skopeo + umoci) pull
 * and run the split images as Diego would, the app calling the runtime its buildpack left in
 * `deps/0`; the apps share their deps layer; a restage makes the registry serve only the new app
 * layer and config, to skopeo and to Docker alike (its `blob_bytes_served_total` read around the
 * pull); a hard link from the app to a file of `deps/0`
 * is one file with its target in every container; `DROPLET_LAYERS=single` still gives one droplet
 * layer, and a registry restarted with `split` serves that image unchanged.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxRootfs } from '../support/build-busybox-rootfs.ts';
import { buildDroplet, type DropletEntry } from '../support/build-droplet.ts';
import { skipOrFail } from '../support/requirements.ts';
import { provisionContainerd, startContainerd } from '../support/clients/containerd.ts';
import { provisionDockerd, startDockerd } from '../support/clients/dockerd.ts';
import { createPodman, PODMAN_RUN_FLAGS, provisionPodman } from '../support/clients/podman.ts';
import { makeScratchDir, removeScratchDir } from '../support/clients/scratch-dir.ts';
import { sharedClient } from '../support/clients/shared-client.ts';
import { createSkopeo, provisionSkopeo } from '../support/clients/skopeo.ts';
import { provisionUmoci, unpackOciLayout } from '../support/clients/umoci.ts';
import { startRegistry, type RunningRegistry } from '../support/start-registry.ts';

const ORG_SPACE = ['my-org', 'dev'] as const;
/** The app, staged twice (a code change), a second app on the same buildpack, and a third whose app hard-links into deps/0. */
const STAGINGS = {
  first: { app: 'shop', guid: '7a1c2a9e-7b4d-4e8a-9c61-5d2e8f0a7b01', version: 'v1', stagedAt: new Date('2026-11-02T10:00:00Z') },
  restage: { app: 'shop', guid: '7a1c2a9e-7b4d-4e8a-9c61-5d2e8f0a7b02', version: 'v2', stagedAt: new Date('2026-11-03T16:30:00Z') },
  otherApp: { app: 'billing', guid: '7a1c2a9e-7b4d-4e8a-9c61-5d2e8f0a7b03', version: 'b1', stagedAt: new Date('2026-11-04T08:15:00Z') },
  /** An app with a hard link to a file of deps/0 (as `cp -l` would leave), staged twice. */
  linked: { app: 'docs', guid: '7a1c2a9e-7b4d-4e8a-9c61-5d2e8f0a7b04', version: 'd1', stagedAt: new Date('2026-11-05T09:00:00Z'), hardLink: true },
  linkedRestage: { app: 'docs', guid: '7a1c2a9e-7b4d-4e8a-9c61-5d2e8f0a7b05', version: 'd2', stagedAt: new Date('2026-11-06T09:00:00Z'), hardLink: true },
} as const;
type Staging = (typeof STAGINGS)[keyof typeof STAGINGS];
/** The stagings each client pulls and runs. */
const RUN_BY_EVERY_CLIENT = [STAGINGS.first, STAGINGS.linked] as const;

const START_COMMAND = './run.sh';
const RUNTIME_VERSION = 'greet-runtime 1.0.0';
/** Bytes of the runtime's "binary" in `deps/0`, so its layer outweighs the app's as real runtimes do. */
const RUNTIME_BYTES = 2 * 1024 * 1024;
const LICENSE = 'The greet runtime license: use it freely.\n';
/** How much of the registry's log a failing client test shows. */
const REGISTRY_LOG_CHARS = 8_000;
/** A hang guard for each test, never a performance assertion. */
const TEST_TIMEOUT = { timeout: 600_000 };

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Descriptor {
  readonly digest: string;
  readonly size: number;
}
interface Manifest {
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

let workDir: string;
let dropletsDir: string;
let rootfsPath: string;
let registry: RunningRegistry;

const dockerd = sharedClient(provisionDockerd, startDockerd, (client) => client.stop());
const containerd = sharedClient(provisionContainerd, startContainerd, (client) => client.stop());
const podman = sharedClient(provisionPodman, async () => createPodman(), (client) => client.dispose());
const skopeo = sharedClient(provisionSkopeo, async () => createSkopeo(), (client) => client.dispose());

before(async () => {
  workDir = makeScratchDir('e2e-split');
  rootfsPath = join(workDir, 'rootfs.tgz');
  await buildBusyboxRootfs(rootfsPath);
  dropletsDir = join(workDir, 'droplets');
  for (const staging of Object.values(STAGINGS)) await writeStaging(dropletsDir, staging);
  registry = await startServing(dropletsDir, {});
});

after(async () => {
  await Promise.allSettled([dockerd.stop(), containerd.stop(), podman.stop(), skopeo.stop()]);
  await registry?.stop();
  if (workDir) removeScratchDir(workDir);
});

describe('the split image', () => {
  test('has the stack, the launcher, one layer for deps/0 and one for the app, and its history names the buildpack', TEST_TIMEOUT, async () => {
    const manifest = await withRegistryLogs(manifestOf(STAGINGS.first));
    assert.equal(manifest.layers.length, 4);
    const config = (await (await fetch(`${registry.url}/v2/${repositoryOf(STAGINGS.first)}/blobs/${manifest.config.digest}`)).json()) as {
      history: Array<{ created_by: string }>;
    };
    const history = config.history.map((entry) => entry.created_by);
    assert.equal(history[0], 'stack cflinuxfs4');
    assert.match(history[1] ?? '', /^lifecycle launcher/);
    assert.deepEqual(history.slice(2), ['deps/0 supplied by buildpack greet_buildpack@1.0.0', `droplet ${STAGINGS.first.guid} of app shop`]);
  });

  test('two apps on the same buildpack share their deps layer, and a restage keeps it', TEST_TIMEOUT, async () => {
    const first = await withRegistryLogs(manifestOf(STAGINGS.first));
    const restage = await withRegistryLogs(manifestOf(STAGINGS.restage));
    const otherApp = await withRegistryLogs(manifestOf(STAGINGS.otherApp));
    assert.equal(otherApp.layers[2]?.digest, first.layers[2]?.digest, 'the second app has the first one’s deps layer');
    assert.equal(restage.layers[2]?.digest, first.layers[2]?.digest, 'the restage has the deps layer of the first staging');
    assert.ok(first.layers[2] && first.layers[2].size > RUNTIME_BYTES / 2, 'the deps layer holds the runtime');
    const appLayers = new Set([first, restage, otherApp].map((manifest) => manifest.layers[3]?.digest));
    assert.equal(appLayers.size, 3, 'each staging has an app layer of its own');
  });

  // A hard link in app/ to a file of deps/0 goes into deps/0's layer, its mtime normalized there too.
  test('a restage of an app that hard-links into deps/0 keeps its deps layer', TEST_TIMEOUT, async () => {
    const linked = await withRegistryLogs(manifestOf(STAGINGS.linked));
    const restage = await withRegistryLogs(manifestOf(STAGINGS.linkedRestage));
    assert.equal(restage.layers[2]?.digest, linked.layers[2]?.digest);
  });
});

describe('docker', () => {
  test('pulls and runs split images as Diego would, the app calling the runtime in deps/0', TEST_TIMEOUT, async (t) => {
    const client = await dockerd.get(t);
    if (!client) return;
    for (const staging of RUN_BY_EVERY_CLIENT) {
      await withRegistryLogs(client.docker(['pull', imageOf(staging)]));
      const { stdout } = await client.docker(['run', '--rm', '--network', 'none', imageOf(staging)]);
      assert.equal(appLine(stdout), expectedLine(staging));
    }
  });

  // Docker's own image store keeps layers applied on their parents, not their blobs: a layer above
  // a changed one would be a new chain, fetched again. The app layer is the top one, so nothing is.
  test('pulls a restage by fetching only its config and its app layer, never the stack, launcher or deps layers', TEST_TIMEOUT, async (t) => {
    const client = await dockerd.get(t);
    if (!client) return;
    await withRegistryLogs(client.docker(['pull', imageOf(STAGINGS.first)]));
    const restage = await manifestOf(STAGINGS.restage);
    const before = await blobBytesServed();
    await withRegistryLogs(client.docker(['pull', imageOf(STAGINGS.restage)]));
    assert.equal((await blobBytesServed()) - before, onlyNewBlobs(restage), `${JSON.stringify(restage)}\n${blobRequestsLogged()}`);
    const { stdout } = await client.docker(['run', '--rm', '--network', 'none', imageOf(STAGINGS.restage)]);
    assert.equal(appLine(stdout), expectedLine(STAGINGS.restage));
  });
});

describe('podman', () => {
  test('pulls and runs split images as Diego would', TEST_TIMEOUT, async (t) => {
    const client = await podman.get(t);
    if (!client) return;
    for (const staging of RUN_BY_EVERY_CLIENT) {
      await withRegistryLogs(client.podman(['pull', '--tls-verify=false', imageOf(staging)]));
      const { stdout } = await client.podman(['run', '--rm', ...PODMAN_RUN_FLAGS, imageOf(staging)]);
      assert.equal(appLine(stdout), expectedLine(staging));
    }
  });
});

describe('containerd', () => {
  test('pulls split images over plain HTTP and runs them as Diego would', TEST_TIMEOUT, async (t) => {
    const client = await containerd.get(t);
    if (!client) return;
    for (const staging of RUN_BY_EVERY_CLIENT) {
      await withRegistryLogs(client.ctr(['images', 'pull', '--plain-http', imageOf(staging)]));
      const { stdout } = await client.ctr(['run', '--rm', imageOf(staging), `e2e-split-${staging.app}`]);
      assert.equal(appLine(stdout), expectedLine(staging));
    }
  });
});

describe('skopeo and umoci', () => {
  test('copy a restage into the OCI layout holding the first staging: only its app layer and config are fetched, and it unpacks whole', TEST_TIMEOUT, async (t) => {
    const client = await skopeo.get(t);
    if (!client) return;
    const umociMissing = provisionUmoci();
    if (umociMissing) {
      skipOrFail(t, umociMissing);
      return;
    }
    const layout = join(workDir, 'layout');
    await withRegistryLogs(client.copyToOciLayout(imageOf(STAGINGS.first), layout, 'first'));
    const restage = await manifestOf(STAGINGS.restage);
    const before = await blobBytesServed();
    await withRegistryLogs(client.copyToOciLayout(imageOf(STAGINGS.restage), layout, 'restage'));
    assert.equal((await blobBytesServed()) - before, onlyNewBlobs(restage), `${JSON.stringify(restage)}\n${blobRequestsLogged()}`);

    const rootfs = await unpackOciLayout(layout, 'restage', join(workDir, 'bundle'));
    assert.equal(await readFile(join(rootfs, 'home/vcap/app/version.txt'), 'utf8'), `${STAGINGS.restage.version}\n`);
    const runtime = await stat(join(rootfs, 'home/vcap/deps/0/bin/greet'));
    assert.deepEqual({ mode: runtime.mode & 0o7777, uid: runtime.uid, gid: runtime.gid }, { mode: 0o755, uid: 2000, gid: 2000 });
    assert.equal(runtime.mtime.toISOString(), '1980-01-01T00:00:01.000Z', 'deps timestamps are normalized');
    assert.equal((await stat(join(rootfs, 'home/vcap/app/run.sh'))).mtime.toISOString(), STAGINGS.restage.stagedAt.toISOString(), 'app mtimes are kept');
    const deps = await stat(join(rootfs, 'home/vcap/deps'));
    assert.deepEqual({ uid: deps.uid, gid: deps.gid }, { uid: 2000, gid: 2000 }, 'deps/ stays vcap’s');
  });

  test('unpack a hard link from the app to a file of deps/0 as one file with its target', TEST_TIMEOUT, async (t) => {
    const client = await skopeo.get(t);
    if (!client) return;
    const umociMissing = provisionUmoci();
    if (umociMissing) {
      skipOrFail(t, umociMissing);
      return;
    }
    const layout = join(workDir, 'linked-layout');
    await withRegistryLogs(client.copyToOciLayout(imageOf(STAGINGS.linked), layout, 'linked'));
    const rootfs = await unpackOciLayout(layout, 'linked', join(workDir, 'linked-bundle'));
    const [link, target] = await Promise.all([stat(join(rootfs, 'home/vcap/app/LICENSE')), stat(join(rootfs, 'home/vcap/deps/0/LICENSE'))]);
    assert.equal(link.ino, target.ino);
    assert.equal(await readFile(join(rootfs, 'home/vcap/app/LICENSE'), 'utf8'), LICENSE);
  });
});

describe('DROPLET_LAYERS', () => {
  test('single gives one droplet layer, and a registry restarted with split serves that image unchanged', TEST_TIMEOUT, async () => {
    const dataDir = join(workDir, 'single-data');
    const single = await startServing(dropletsDir, { DROPLET_LAYERS: 'single', DATA_DIR: dataDir });
    let converted: { digest: string; manifest: Manifest };
    try {
      converted = await manifestWithDigest(single, STAGINGS.first);
    } finally {
      await single.stop();
    }
    assert.equal(converted.manifest.layers.length, 3, 'stack, launcher, droplet');

    const split = await startServing(dropletsDir, { DROPLET_LAYERS: 'split', DATA_DIR: dataDir });
    try {
      const served = await manifestWithDigest(split, STAGINGS.first);
      assert.equal(served.digest, converted.digest, 'the image converted under single keeps its manifest');
      const fresh = await manifestWithDigest(split, STAGINGS.otherApp);
      assert.equal(fresh.manifest.layers.length, 4, 'a new conversion is split');
    } finally {
      await split.stop();
    }
  });
});

/** Starts the built registry on the droplets folder, with `env` on top of the directory source's settings. */
function startServing(droplets: string, env: Record<string, string>): Promise<RunningRegistry> {
  return startRegistry({ env: { SOURCE: 'directory', DROPLETS_DIR: droplets, STACKS: `cflinuxfs4=${rootfsPath}`, AUTH: 'none', ...env } });
}

function repositoryOf(staging: Staging): string {
  return [...ORG_SPACE, staging.app].join('/');
}

/** The image reference of a staging: its droplet guid as the tag. */
function imageOf(staging: Staging): string {
  return `${registry.host}/${repositoryOf(staging)}:${staging.guid}`;
}

async function manifestOf(staging: Staging): Promise<Manifest> {
  return (await manifestWithDigest(registry, staging)).manifest;
}

async function manifestWithDigest(server: RunningRegistry, staging: Staging): Promise<{ digest: string; manifest: Manifest }> {
  const res = await fetch(`${server.url}/v2/${repositoryOf(staging)}/manifests/${staging.guid}`, { headers: { accept: OCI_MANIFEST } });
  assert.equal(res.status, 200, `manifest of ${staging.guid}: ${res.status}`);
  return { digest: res.headers.get('docker-content-digest') ?? '', manifest: (await res.json()) as Manifest };
}

/** What a client that holds the first staging must fetch of a restage: its app layer and its config. */
function onlyNewBlobs(restage: Manifest): number {
  return (restage.layers.at(-1)?.size ?? Number.NaN) + restage.config.size;
}

/** The registry's `blob_bytes_served_total`. */
async function blobBytesServed(): Promise<number> {
  const text = await (await fetch(`${registry.url}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith('droplet_registry_blob_bytes_served_total '));
  assert.ok(line, 'the registry exposes droplet_registry_blob_bytes_served_total');
  return Number(line.split(' ')[1]);
}

/** The blob requests at the end of the registry's log: what a byte count that is off was made of. */
function blobRequestsLogged(): string {
  return registry
    .logs()
    .split('\n')
    .filter((line) => line.includes('"event":"request"') && line.includes('/blobs/'))
    .slice(-20)
    .join('\n');
}

/** What the app prints when started as Diego would: its version, the runtime's answer, its user, and whether its hard link (if any) is one file with its target. */
function expectedLine(staging: Staging): string {
  const link = 'hardLink' in staging ? 'license=same-content link=same-inode' : 'license=none link=none';
  return `app=${staging.version} runtime=${RUNTIME_VERSION} uid=2000 ${link}`;
}

/** The line the app printed, picked out of whatever else the launcher wrote. */
function appLine(stdout: string): string | undefined {
  return stdout.split('\n').find((line) => line.startsWith('app='));
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

/** Writes a staging's droplet and sidecar where the directory source finds them. */
async function writeStaging(droplets: string, staging: Staging): Promise<void> {
  const appDir = join(droplets, ...ORG_SPACE, staging.app);
  await mkdir(appDir, { recursive: true });
  await writeFile(join(appDir, `${staging.guid}.tgz`), await buildDroplet(dropletEntries(staging)));
  await writeFile(
    join(appDir, `${staging.guid}.json`),
    JSON.stringify({
      guid: staging.guid,
      state: 'STAGED',
      stack: 'cflinuxfs4',
      process_types: { web: START_COMMAND },
      buildpacks: [{ name: 'greet_buildpack', detect_output: 'greet', version: '1.0.0' }],
      created_at: staging.stagedAt.toISOString(),
      lifecycle: { type: 'buildpack', data: { buildpacks: ['greet_buildpack'], stack: 'cflinuxfs4' } },
    }),
  );
}

/**
 * A droplet as the buildpack lifecycle leaves it, every entry stamped with the staging time: the
 * app (its version the only difference between stagings), and in `deps/0` what the buildpack
 * supplied, the same in every staging: a `greet` command the start command runs (through the
 * PATH the buildpack's profile script sets), a sizeable runtime file, and a license (that the
 * `docs` app hard-links to, as `cp -l` into the app would).
 */
function dropletEntries(staging: Staging): DropletEntry[] {
  const mtime = staging.stagedAt;
  const directory = (name: string): DropletEntry => ({ name, type: 'directory', mtime });
  return [
    directory('./'),
    directory('./app/'),
    {
      name: './app/run.sh',
      mode: 0o755,
      mtime,
      content:
        '#!/bin/sh\n' +
        'link=none; license=none\n' +
        'if [ -e LICENSE ]; then\n' +
        '  link=$([ "$(stat -c %i LICENSE)" = "$(stat -c %i ../deps/0/LICENSE)" ] && echo same-inode || echo other-inode)\n' +
        '  license=$([ "$(cat LICENSE)" = "$(cat ../deps/0/LICENSE)" ] && echo same-content || echo other-content)\n' +
        'fi\n' +
        'echo "app=$(cat version.txt) runtime=$(greet) uid=$(id -u) license=$license link=$link"\n',
    },
    { name: './app/version.txt', content: `${staging.version}\n`, mtime },
    directory('./deps/'),
    directory('./deps/0/'),
    { name: './deps/0/config.yml', content: 'name: greet\nversion: 1.0.0\n', mtime },
    { name: './deps/0/LICENSE', content: LICENSE, mtime },
    ...('hardLink' in staging ? [{ name: './app/LICENSE', type: 'link' as const, linkname: './deps/0/LICENSE', mtime }] : []),
    directory('./deps/0/bin/'),
    { name: './deps/0/bin/greet', mode: 0o755, mtime, content: `#!/bin/sh\necho "${RUNTIME_VERSION}"\n` },
    directory('./deps/0/lib/'),
    { name: './deps/0/lib/libgreet.so', mode: 0o755, mtime, content: runtimeBinary() },
    directory('./profile.d/'),
    { name: './profile.d/000_multi-supply.sh', mode: 0o755, mtime, content: 'export PATH="/home/vcap/deps/0/bin:$PATH"\n' },
    { name: './staging_info.yml', content: JSON.stringify({ detected_buildpack: 'greet', start_command: START_COMMAND }), mtime },
    directory('./tmp/'),
    directory('./logs/'),
  ];
}

/** The runtime's large file: fixed pseudo-random bytes, equal in every droplet. */
function runtimeBinary(): Buffer {
  return createCipheriv('aes-256-ctr', createHash('sha256').update(RUNTIME_VERSION).digest(), Buffer.alloc(16)).update(Buffer.alloc(RUNTIME_BYTES));
}
