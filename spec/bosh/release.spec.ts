/**
 * The BOSH release itself: packages/, config/, scripts/node-runtime.sha256 and
 * scripts/build-release-inputs.sh, and the release the real bosh CLI (../shared/tools/bosh) makes
 * from them with no network: the inputs are built twice (different umask, time zone and output
 * directory: same bytes), added as blobs to a scratch copy of the repository, `bosh create-release`
 * runs in a network namespace of its own (`unshare --net`), and its tarball's packages are compiled
 * with their `packaging` scripts the way a compilation VM does (cwd holding the package's files,
 * BOSH_INSTALL_TARGET empty), offline, into a node and a registry that run. The final-release flow
 * (upload-blobs, create-release --final, and an operator's create-release from the release
 * manifest) runs against a local blobstore.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { makeScratchDir, removeScratchDir } from '../support/clients/scratch-dir.ts';
import { hasCommand, skipOrFail } from '../support/requirements.ts';
import { BOSH_CLI } from './support/cf-deployment.ts';
import { readJobSpec, REPOSITORY_ROOT } from './support/render-job.ts';

const run = promisify(execFile);
const PACKAGES = join(REPOSITORY_ROOT, 'packages');
const SCRIPT = 'scripts/build-release-inputs.sh';
const CHECKSUMS = 'scripts/node-runtime.sha256';
const BUILD_TIMEOUT_MS = 900_000;
const OUTPUT_LIMIT = 64 * 1024 * 1024;

interface PackageSpec {
  name: string;
  files: string[];
  dependencies?: string[];
}
interface BlobEntry {
  size: number;
  sha: string;
  object_id?: string;
}
interface ReleaseManifest {
  name: string;
  version: string;
  jobs: Array<{ name: string; fingerprint: string; sha1: string; packages: string[] }>;
  packages: Array<{ name: string; fingerprint: string; sha1: string; dependencies: string[] }>;
}

function readPackageSpec(name: string): PackageSpec {
  return parseYaml(readFileSync(join(PACKAGES, name, 'spec'), 'utf8')) as PackageSpec;
}

function readBlobs(releaseDir: string): Record<string, BlobEntry> {
  return (parseYaml(readFileSync(join(releaseDir, 'config', 'blobs.yml'), 'utf8')) ?? {}) as Record<string, BlobEntry>;
}

/** A `files` glob of a package spec as a RegExp over blob paths (`*` within one path component). */
function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\0').replace(/\*/g, '[^/]*').replace(/\0/g, '.*')}$`);
}

function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The lines of scripts/node-runtime.sha256 as file name → sha256. */
function recordedNodeChecksums(): Map<string, string> {
  const lines = readFileSync(join(REPOSITORY_ROOT, CHECKSUMS), 'utf8').split('\n').filter((line) => line && !line.startsWith('#'));
  return new Map(lines.map((line) => {
    const match = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    assert.ok(match, `${CHECKSUMS}: not a sha256sum line: ${line}`);
    return [match[2] as string, match[1] as string];
  }));
}

/** The Node version `npm ci` installs: the `node` devDependency pinned by package-lock.json. */
function lockedNodeVersion(): string {
  const lock = JSON.parse(readFileSync(join(REPOSITORY_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  const version = lock.packages['node_modules/node']?.version;
  assert.ok(version, 'package-lock.json pins no node devDependency');
  return version;
}

/**
 * A copy of what the script and `bosh create-release` read (the release's jobs, packages and
 * config; the sources the service is built from), with this repository's node_modules linked in.
 * A maintainer's local blobs/, dev releases and config/private.yml do not come along.
 */
function copyRepository(target: string, entries: readonly string[]): string {
  mkdirSync(target, { recursive: true });
  const privateYml = join(REPOSITORY_ROOT, 'config', 'private.yml');
  for (const entry of entries) cpSync(join(REPOSITORY_ROOT, entry), join(target, entry), { recursive: true, filter: (source) => source !== privateYml });
  symlinkSync(join(REPOSITORY_ROOT, 'node_modules'), join(target, 'node_modules'));
  return target;
}
const RELEASE_ENTRIES = ['bin', 'config', 'jobs', 'migrations', 'packages', 'scripts', 'src', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];

describe('packages', () => {
  const names = readdirSync(PACKAGES);

  it('are exactly the packages the job runs on', () => {
    assert.deepEqual([...names].sort(), [...readJobSpec().packages].sort());
  });

  for (const name of names) {
    it(`${name}: a spec named after its directory and a packaging script that is valid bash`, async () => {
      const spec = readPackageSpec(name);
      assert.equal(spec.name, name);
      assert.ok(spec.files.length > 0);
      for (const dependency of spec.dependencies ?? []) assert.ok(names.includes(dependency), `unknown dependency ${dependency}`);
      await run('bash', ['-n', join(PACKAGES, name, 'packaging')]);
    });
  }
});

describe('config/', () => {
  it('final.yml names the release and its blobstore', () => {
    const final = parseYaml(readFileSync(join(REPOSITORY_ROOT, 'config', 'final.yml'), 'utf8')) as { name: string; blobstore: { provider: string } };
    assert.equal(final.name, 'droplet-registry');
    assert.ok(final.blobstore.provider);
  });

  it('blobs.yml lists only blobs some package takes, each with its size and sha256', () => {
    const globs = readdirSync(PACKAGES).flatMap((name) => readPackageSpec(name).files.map(globToRegExp));
    for (const [path, blob] of Object.entries(readBlobs(REPOSITORY_ROOT))) {
      assert.ok(globs.some((glob) => glob.test(path)), `no package takes blob ${path}`);
      assert.ok(blob.size > 0 && /^sha256:[0-9a-f]{64}$/.test(blob.sha), `${path} lacks its size or sha256`);
    }
  });
});

describe(CHECKSUMS, () => {
  it("records nodejs.org's tarball and its bin/node for the Node 24 that package-lock.json pins", () => {
    const version = lockedNodeVersion();
    assert.match(version, /^24\./);
    assert.deepEqual([...recordedNodeChecksums().keys()].sort(), [`node-v${version}-linux-x64.tar.gz`, `node-v${version}-linux-x64/bin/node`]);
  });

  it('matches the node binary npm ci installed', (t) => {
    if (process.platform !== 'linux' || process.arch !== 'x64') return void t.skip('npm installs the linux-x64 binary only on linux-x64');
    const version = lockedNodeVersion();
    assert.equal(sha256Of(join(REPOSITORY_ROOT, 'node_modules', 'node', 'bin', 'node')), recordedNodeChecksums().get(`node-v${version}-linux-x64/bin/node`));
  });
});

describe(SCRIPT, () => {
  const scratch = makeScratchDir('release-script');
  after(() => removeScratchDir(scratch));

  it('is valid bash and says how to use it', async () => {
    await run('bash', ['-n', join(REPOSITORY_ROOT, SCRIPT)]);
    const { stdout } = await run(join(REPOSITORY_ROOT, SCRIPT), ['--help']);
    assert.match(stdout, /Usage: scripts\/build-release-inputs\.sh \[--output DIR\] \[--add-blobs\]/);
    assert.match(stdout, /node-runtime\.sha256/);
  });

  it('refuses a Node binary or tarball whose sha256 is not the recorded one, and writes no blob', async () => {
    const version = lockedNodeVersion();
    const copy = copyRepository(join(scratch, 'tampered'), ['scripts']);
    const binaryLine = `node-v${version}-linux-x64/bin/node`;
    const wrong = '0'.repeat(64);
    const checksums = readFileSync(join(copy, CHECKSUMS), 'utf8');
    writeFileSync(join(copy, CHECKSUMS), checksums.replace(new RegExp(`^[0-9a-f]{64}(?=  ${binaryLine.replaceAll('.', '\\.')}$)`, 'm'), wrong));
    const output = join(scratch, 'tampered-output');

    const binary = await run(join(copy, SCRIPT), ['--output', output], { cwd: copy }).then(() => assert.fail('a binary with another sha256 was shipped'), (error: { stderr: string }) => error.stderr);
    assert.match(binary, new RegExp(`node_modules/node/bin/node has sha256 [0-9a-f]{64}, but ${CHECKSUMS} records ${wrong} for ${binaryLine.replaceAll('.', '\\.')}`));

    const forged = join(scratch, `node-v${version}-linux-x64.tar.gz`);
    writeFileSync(forged, 'not the tarball nodejs.org published');
    const tarball = await run(join(REPOSITORY_ROOT, SCRIPT), ['--output', output], { cwd: scratch, env: { ...process.env, NODE_TARBALL: forged } }).then(() => assert.fail('a tarball with another sha256 was shipped'), (error: { stderr: string }) => error.stderr);
    assert.match(tarball, new RegExp(`${forged} has sha256 ${sha256Of(forged)}, but ${CHECKSUMS} records ${recordedNodeChecksums().get(`node-v${version}-linux-x64.tar.gz`)}`));

    assert.deepEqual(readdirSync(output), [], 'something was left in the output directory');
  });
});

/** Why the release cannot be built here with no network, or null. */
function offlineReleaseProblem(): string | null {
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'the release ships linux-x64 only';
  if (!hasCommand('npm')) return 'needs npm (npm ci --omit=dev)';
  if (!existsSync(BOSH_CLI)) return `needs the bosh CLI at ${BOSH_CLI} (../shared/tools/bosh)`;
  try {
    execFileSync('unshare', ['--net', 'true'], { stdio: 'ignore' });
  } catch {
    return 'needs `unshare --net` (util-linux, as root) to build the release with no network';
  }
  return null;
}

describe('the release, built by the real bosh CLI with no network', { skip: skipOrFail(offlineReleaseProblem()) }, () => {
  const scratch = makeScratchDir('release');
  const home = join(scratch, 'home');
  const release = join(scratch, 'repository');
  const inputs = join(scratch, 'inputs');
  const rebuiltInputs = join(scratch, 'inputs-again');
  const devTarball = join(scratch, 'droplet-registry-dev.tgz');
  const extracted = join(scratch, 'dev-release');
  const nodeBlob = `node-v${lockedNodeVersion()}-linux-x64.tar.gz`;
  after(() => removeScratchDir(scratch));

  /** The bosh CLI in `cwd` in a network namespace of its own: nothing it does can reach a network. */
  async function boshOffline(cwd: string, args: readonly string[]): Promise<string> {
    const { stdout } = await run('unshare', ['--net', '--', BOSH_CLI, '--non-interactive', ...args], {
      cwd,
      env: { PATH: process.env.PATH, HOME: home },
      maxBuffer: OUTPUT_LIMIT,
      timeout: BUILD_TIMEOUT_MS,
    });
    return stdout;
  }

  function readManifest(releaseDir: string): ReleaseManifest {
    return parseYaml(readFileSync(join(releaseDir, 'release.MF'), 'utf8')) as ReleaseManifest;
  }

  async function extract(tarball: string, target: string): Promise<string> {
    mkdirSync(target, { recursive: true });
    await run('tar', ['-xzf', tarball, '-C', target]);
    return target;
  }

  before(async () => {
    mkdirSync(home, { recursive: true });
    copyRepository(release, RELEASE_ENTRIES);
    // As after an earlier final release: blobs in the blobstore only, one of an older Node.
    writeFileSync(join(release, 'config', 'blobs.yml'), [
      'droplet-registry/droplet-registry.tgz:', '  size: 1000', `  object_id: ${'1'.repeat(8)}-0000-4000-8000-${'1'.repeat(12)}`, `  sha: sha256:${'1'.repeat(64)}`,
      'node/node-v24.0.0-linux-x64.tar.gz:', '  size: 1000', `  object_id: ${'2'.repeat(8)}-0000-4000-8000-${'2'.repeat(12)}`, `  sha: sha256:${'2'.repeat(64)}`, '',
    ].join('\n'));
    const buildEnv = { ...process.env, BOSH_CLI };
    await run(join(release, SCRIPT), ['--output', inputs, '--add-blobs'], { cwd: release, env: buildEnv, maxBuffer: OUTPUT_LIMIT, timeout: BUILD_TIMEOUT_MS });
    // The same sources somewhere else, with another umask and time zone.
    await run('bash', ['-c', 'umask 077 && exec "$0" "$@"', join(release, SCRIPT), '--output', rebuiltInputs], {
      cwd: scratch,
      env: { ...buildEnv, TZ: 'Pacific/Chatham' },
      maxBuffer: OUTPUT_LIMIT,
      timeout: BUILD_TIMEOUT_MS,
    });
    await boshOffline(release, ['create-release', '--force', '--tarball', devTarball]);
    await extract(devTarball, extracted);
  });

  it('builds each blob reproducibly: the same sources give the same bytes', () => {
    for (const blob of [nodeBlob, 'droplet-registry.tgz']) {
      assert.equal(sha256Of(join(rebuiltInputs, blob)), sha256Of(join(inputs, blob)), `${blob} differs between two builds`);
    }
  });

  it('records both blobs in config/blobs.yml with their size and sha256, in place of the older ones', () => {
    const built = { [`node/${nodeBlob}`]: join(inputs, nodeBlob), 'droplet-registry/droplet-registry.tgz': join(inputs, 'droplet-registry.tgz') };
    const blobs = readBlobs(release);
    assert.deepEqual(Object.keys(blobs).sort(), Object.keys(built).sort());
    for (const [path, file] of Object.entries(built)) {
      assert.equal(blobs[path]?.sha, `sha256:${sha256Of(file)}`, path);
      assert.equal(blobs[path]?.size, readFileSync(file).length, path);
    }
  });

  it("lists the packages and the job in release.MF with their fingerprints and their tarballs' sha256", () => {
    const manifest = readManifest(extracted);
    assert.equal(manifest.name, 'droplet-registry');
    assert.deepEqual(manifest.packages.map((entry) => entry.name).sort(), readdirSync(PACKAGES).sort());
    assert.deepEqual(manifest.jobs.map((job) => job.name), ['droplet-registry']);
    assert.deepEqual([...(manifest.jobs[0]?.packages ?? [])].sort(), [...readJobSpec().packages].sort());
    for (const [kind, entries] of [['packages', manifest.packages], ['jobs', manifest.jobs]] as const) {
      for (const entry of entries) {
        assert.match(entry.fingerprint, /^[0-9a-f]{64}$/, `${kind}/${entry.name}`);
        assert.equal(entry.sha1, `sha256:${sha256Of(join(extracted, kind, `${entry.name}.tgz`))}`, `${kind}/${entry.name}.tgz`);
      }
    }
  });

  it('packs each package as its packaging script and the blobs config/blobs.yml records, nothing else', async () => {
    const blobs = readBlobs(release);
    for (const { name } of readManifest(extracted).packages) {
      const contents = await extract(join(extracted, 'packages', `${name}.tgz`), join(scratch, 'package-contents', name));
      const files = (readdirSync(contents, { recursive: true, withFileTypes: true }))
        .filter((entry) => entry.isFile())
        .map((entry) => join(entry.parentPath, entry.name).slice(contents.length + 1))
        .sort();
      const takes = readPackageSpec(name).files.map(globToRegExp);
      const packed = files.filter((file) => file !== 'packaging');
      assert.ok(files.includes('packaging'), `${name}: no packaging script`);
      assert.equal(readFileSync(join(contents, 'packaging'), 'utf8'), readFileSync(join(PACKAGES, name, 'packaging'), 'utf8'));
      assert.equal(packed.length, 1, `${name} packs ${packed.join(', ')}`);
      for (const file of packed) {
        assert.ok(takes.some((glob) => glob.test(file)), `${name}: ${file} is not in its spec's files`);
        assert.equal(`sha256:${sha256Of(join(contents, file))}`, blobs[file]?.sha, `${name}: ${file} is not the blob config/blobs.yml records`);
      }
    }
  });

  it('compiles the packages from the tarball with no network, into the node and registry bpm runs', async () => {
    const installed: Record<string, string> = {};
    for (const { name, fingerprint } of readManifest(extracted).packages) {
      const compile = await extract(join(extracted, 'packages', `${name}.tgz`), join(scratch, 'compile', name));
      const install = join(scratch, 'packages', name);
      mkdirSync(install, { recursive: true });
      await run('unshare', ['--net', '--', 'bash', '-e', join(compile, 'packaging')], {
        cwd: compile,
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', BOSH_COMPILE_TARGET: compile, BOSH_INSTALL_TARGET: install, BOSH_PACKAGE_NAME: name, BOSH_PACKAGE_VERSION: fingerprint },
        maxBuffer: OUTPUT_LIMIT,
      });
      installed[name] = install;
    }

    const node = join(installed.node as string, 'bin', 'node');
    assert.equal((await run(node, ['--version'])).stdout.trim(), `v${lockedNodeVersion()}`);
    const registry = installed['droplet-registry'] as string;
    for (const path of ['dist/cli.js', 'migrations', 'package.json', 'node_modules/@hapi/hapi', 'node_modules/knex', 'node_modules/pg']) {
      assert.ok(existsSync(join(registry, path)), `${path} missing from the package`);
    }
    for (const dev of ['typescript', 'node', '@types', 'yaml', 'pino-pretty']) assert.ok(!existsSync(join(registry, 'node_modules', dev)), `dev dependency ${dev} in the package`);

    // What bpm and pre-start run, from the packages alone (an empty environment, cwd elsewhere).
    for (const command of ['serve', 'migrate', 'import-rootfs']) {
      const { stdout } = await run(node, [join(registry, 'dist', 'cli.js'), command, '--help'], { cwd: scratch, env: {} });
      assert.match(stdout, new RegExp(`droplet-registry ${command} `));
    }
  });

  it('cuts a final release into its blobstore, which an operator recreates from the release manifest', async () => {
    // config/final.yml's S3 bucket replaced by a local blobstore; the commands are the maintainer's.
    const blobstore = join(scratch, 'final-blobstore');
    writeFileSync(join(release, 'config', 'final.yml'), `name: droplet-registry\nblobstore:\n  provider: local\n  options:\n    blobstore_path: ${blobstore}\n`);
    await boshOffline(release, ['upload-blobs']);
    for (const [path, blob] of Object.entries(readBlobs(release))) {
      assert.ok(blob.object_id && existsSync(join(blobstore, blob.object_id)), `${path} was not uploaded`);
      assert.equal(`sha256:${sha256Of(join(blobstore, blob.object_id))}`, blob.sha, path);
    }

    const finalTarball = join(scratch, 'droplet-registry-1.0.0.tgz');
    await boshOffline(release, ['create-release', '--final', '--version', '1.0.0', '--tarball', finalTarball]);
    const final = readManifest(await extract(finalTarball, join(scratch, 'final-release')));
    assert.equal(final.version, '1.0.0');
    const fingerprints = (manifest: ReleaseManifest) => [...manifest.packages.map((entry) => `packages/${entry.name} ${entry.fingerprint}`), ...manifest.jobs.map((entry) => `jobs/${entry.name} ${entry.fingerprint}`)].sort();
    assert.deepEqual(fingerprints(final), fingerprints(readManifest(extracted)), 'the final release holds other packages than the dev release');
    assert.ok(existsSync(join(release, 'releases', 'droplet-registry', 'droplet-registry-1.0.0.yml')));

    // An operator's checkout: the committed files only (no local blobs or dev builds).
    for (const local of ['blobs', '.dev_builds', 'dev_releases']) rmSync(join(release, local), { recursive: true, force: true });
    const recreatedTarball = join(scratch, 'droplet-registry-1.0.0-recreated.tgz');
    await boshOffline(release, ['create-release', 'releases/droplet-registry/droplet-registry-1.0.0.yml', '--tarball', recreatedTarball]);
    const recreatedDir = await extract(recreatedTarball, join(scratch, 'recreated-release'));
    const recreated = readManifest(recreatedDir);
    assert.deepEqual(recreated.packages, final.packages);
    // (A release made from a release manifest lists no packages under its jobs: their job.MF has them.)
    const jobsOf = (manifest: ReleaseManifest) => manifest.jobs.map(({ name, fingerprint, sha1 }) => ({ name, fingerprint, sha1 }));
    assert.deepEqual(jobsOf(recreated), jobsOf(final));
  });
});
