/**
 * The Concourse pipeline (ci/pipeline.yml) and its tasks: they parse, every step refers to
 * something that exists (resources, jobs, task files, scripts, inputs), the scripts are bash, and
 * each task script does its job with the outside commands stubbed (the final release's with real
 * git: its commits, its credentials file and what it leaves for the GitHub release).
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { hasCommand, skipOrFail } from '../support/requirements.ts';
import { REPOSITORY_ROOT } from './support/render-job.ts';

const run = promisify(execFile);

interface Step {
  get?: string;
  put?: string;
  trigger?: boolean;
  task?: string;
  file?: string;
  passed?: string[];
  privileged?: boolean;
  params?: Record<string, unknown>;
  in_parallel?: Step[] | { steps: Step[] };
  do?: Step[];
}
interface Pipeline {
  resources: Array<{ name: string; type: string; source: Record<string, unknown> }>;
  jobs: Array<{ name: string; plan: Step[] }>;
}
interface Task {
  platform: string;
  image_resource: { type: string; source: { repository: string } };
  inputs?: Array<{ name: string }>;
  outputs?: Array<{ name: string }>;
  params?: Record<string, unknown>;
  run: { path: string };
}

const pipeline = parseYaml(readFileSync(join(REPOSITORY_ROOT, 'ci', 'pipeline.yml'), 'utf8')) as Pipeline;
const REPO_INPUT = 'droplet-registry';

/** The steps of a plan in order, with in_parallel and do flattened. */
function stepsOf(plan: Step[]): Step[] {
  return plan.flatMap((step) => {
    if (step.in_parallel) return stepsOf(Array.isArray(step.in_parallel) ? step.in_parallel : step.in_parallel.steps);
    if (step.do) return stepsOf(step.do);
    return [step];
  });
}

/** The files and directories a put step reads (git's repository and tag, github-release's texts and globs, …). */
function putPaths(step: Step): string[] {
  const params = step.params ?? {};
  const single = ['file', 'repository', 'tag', 'name', 'body', 'commitish'].map((key) => params[key]).filter((value): value is string => typeof value === 'string');
  const globs = Array.isArray(params.globs) ? params.globs.filter((glob): glob is string => typeof glob === 'string') : [];
  return [...single, ...globs];
}

/** A path inside the `droplet-registry` input, as a path in this repository. */
function repositoryPath(path: string): string {
  assert.ok(path.startsWith(`${REPO_INPUT}/`), `${path} is not inside the ${REPO_INPUT} input`);
  return join(REPOSITORY_ROOT, path.slice(REPO_INPUT.length + 1));
}

function readTask(file: string): Task {
  return parseYaml(readFileSync(repositoryPath(file), 'utf8')) as Task;
}

describe('ci/pipeline.yml', () => {
  const resources = new Set(pipeline.resources.map((resource) => resource.name));
  const jobs = new Map(pipeline.jobs.map((job) => [job.name, job]));

  it('has unit, integration (Postgres), end-to-end (docker) and release-building jobs, in that order of passing', () => {
    for (const name of ['unit', 'integration', 'e2e', 'build-release']) assert.ok(jobs.has(name), `no job ${name}`);
    const passedOf = (job: string) => stepsOf(jobs.get(job)?.plan ?? []).find((step) => step.get === REPO_INPUT)?.passed;
    assert.deepEqual(passedOf('integration'), ['unit']);
    assert.deepEqual(passedOf('e2e'), ['integration']);
    assert.deepEqual(passedOf('build-release'), ['e2e']);
  });

  it('names its resources once and gets or puts only those', () => {
    assert.equal(resources.size, pipeline.resources.length);
    for (const job of pipeline.jobs) {
      for (const step of stepsOf(job.plan)) {
        const resource = step.get ?? step.put;
        if (resource) assert.ok(resources.has(resource), `${job.name}: unknown resource ${resource}`);
        for (const upstream of step.passed ?? []) {
          assert.ok(jobs.has(upstream), `${job.name}: passed ${upstream} is no job`);
          assert.ok(stepsOf(jobs.get(upstream)?.plan ?? []).some((other) => other.get === step.get), `${upstream} does not get ${step.get}`);
        }
      }
    }
  });

  it("runs task files that exist, with every input the task needs fetched earlier in the job", () => {
    for (const job of pipeline.jobs) {
      const available = new Set<string>();
      for (const step of stepsOf(job.plan)) {
        if (step.get) available.add(step.get);
        if (!step.task) continue;
        assert.ok(step.file, `${job.name}/${step.task} has no task file`);
        const task = readTask(step.file);
        for (const input of task.inputs ?? []) assert.ok(available.has(input.name), `${job.name}/${step.task}: input ${input.name} is not fetched before`);
        for (const output of task.outputs ?? []) available.add(output.name);
      }
      for (const step of stepsOf(job.plan).filter((other) => other.put)) {
        for (const path of putPaths(step)) assert.ok(available.has(path.split('/')[0] as string), `${job.name}: put ${step.put} reads ${path} from no output`);
      }
    }
  });

  it('runs the end-to-end task privileged (it starts dockerd, podman and containerd), and the integration task (unshare --net)', () => {
    for (const job of ['e2e', 'integration']) {
      const task = stepsOf(jobs.get(job)?.plan ?? []).find((step) => step.task);
      assert.equal(task?.privileged, true, job);
    }
  });

  it('lays out ../shared for the BOSH specs from the real bosh CLI, bosh-template and cf-deployment v58', () => {
    const gets = stepsOf(jobs.get('integration')?.plan ?? []).map((step) => step.get);
    for (const name of ['bosh-cli', 'bosh-src', 'cf-deployment']) assert.ok(gets.includes(name), `integration does not get ${name}`);
    const source = (name: string) => pipeline.resources.find((resource) => resource.name === name)?.source ?? {};
    assert.deepEqual([source('bosh-cli').owner, source('bosh-cli').repository], ['cloudfoundry', 'bosh-cli']);
    assert.equal(source('bosh-src').uri, 'https://github.com/cloudfoundry/bosh.git');
    assert.equal(source('cf-deployment').uri, 'https://github.com/cloudfoundry/cf-deployment.git');
    assert.equal(source('cf-deployment').tag_filter, 'v58.0.0');
  });

  it('ships a final release by hand: blobstore credentials from variables, the commit pushed and tagged, a GitHub release with a token', () => {
    const resource = (name: string) => pipeline.resources.find((candidate) => candidate.name === name);
    assert.equal(resource('github-release')?.type, 'github-release');
    assert.equal(resource('github-release')?.source.access_token, '((github_access_token))');
    assert.equal(resource(REPO_INPUT)?.source.private_key, '((git_private_key))', 'shipit pushes to the repository');
    assert.equal(resource('version')?.type, 'semver');

    const steps = stepsOf(jobs.get('shipit')?.plan ?? []);
    const get = steps.find((step) => step.get === REPO_INPUT);
    assert.deepEqual(get?.passed, ['build-release']);
    assert.ok(!steps.some((step) => step.trigger), 'a final release starts only by hand');
    assert.deepEqual(steps.find((step) => step.get === 'version')?.params, { bump: 'final' });

    const task = steps.find((step) => step.task === 'finalize-release');
    assert.deepEqual(task?.params, { BLOBSTORE_ACCESS_KEY_ID: '((release_blobs_access_key_id))', BLOBSTORE_SECRET_ACCESS_KEY: '((release_blobs_secret_access_key))' });
    assert.deepEqual(Object.keys(readTask(task?.file as string).params ?? {}).filter((key) => key.startsWith('BLOBSTORE_')).sort(), ['BLOBSTORE_ACCESS_KEY_ID', 'BLOBSTORE_SECRET_ACCESS_KEY']);

    const puts = steps.filter((step) => step.put).map((step) => [step.put, step.params]);
    assert.deepEqual(puts, [
      [REPO_INPUT, { repository: 'final-release-repo', rebase: true, tag: 'release-metadata/tag' }],
      ['github-release', { name: 'release-metadata/name', tag: 'release-metadata/tag', body: 'release-metadata/body', globs: ['final-release/droplet-registry-*.tgz'] }],
      ['version', { bump: 'patch' }],
    ]);
  });
});

describe('ci/tasks', () => {
  const tasks = pipeline.jobs.flatMap((job) => stepsOf(job.plan).filter((step) => step.file).map((step) => [job.name, step.file as string] as const));

  for (const [job, file] of tasks) {
    it(`${file} is a Linux task whose script exists, is executable and is valid bash`, async () => {
      const task = readTask(file);
      assert.equal(task.platform, 'linux');
      assert.equal(task.image_resource.type, 'registry-image');
      assert.ok(task.image_resource.source.repository);
      const script = repositoryPath(task.run.path);
      assert.ok(existsSync(script), `${task.run.path} is missing (job ${job})`);
      assert.ok(statSync(script).mode & 0o111, `${task.run.path} is not executable`);
      await run('bash', ['-n', script]);
    });
  }

  /** Writes an executable stub that logs its name, arguments and whether skips are failures, then runs `body`. */
  function stub(path: string, body = ''): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `#!/bin/sh\necho "$(basename "$0") $* [NO_SKIP=\${DROPLET_REGISTRY_TEST_NO_SKIP:-}]" >> "$CALLS"\n${body}`, { mode: 0o755 });
  }

  interface TaskRun {
    /** Sets up the build directory further (inputs, outputs, other stubs). */
    prepare?: (sandbox: string) => void;
    /** Looks at the build directory after the script ran, before it is removed. */
    inspect?: (sandbox: string) => void;
    env?: Record<string, string>;
  }

  /**
   * Runs a task script in a scratch build directory where every outside command (apt-get, npm,
   * node, bosh, Postgres tools, …) is a stub that logs its arguments and whether skips are failures.
   */
  async function runTaskScript(name: string, { prepare, inspect, env }: TaskRun = {}): Promise<string[]> {
    const sandbox = mkdtempSync(join(tmpdir(), 'droplet-registry-ci-task-'));
    try {
      const calls = join(sandbox, 'calls.log');
      for (const command of ['apt-get', 'npm', 'bosh', 'install', 'pg_ctlcluster', 'pg_isready', 'su']) stub(join(sandbox, 'bin', command));
      stub(join(sandbox, 'bin', 'pg_lsclusters'), 'echo "16 main 5432 online postgres /var/lib/postgresql/16/main"\n');
      stub(join(sandbox, 'droplet-registry', 'node_modules', '.bin', 'node'));
      stub(join(sandbox, 'droplet-registry', 'scripts', 'build-release-inputs.sh'));
      prepare?.(sandbox);
      await run('bash', [join(REPOSITORY_ROOT, 'ci', 'tasks', name)], {
        cwd: sandbox,
        env: { PATH: `${join(sandbox, 'bin')}:${process.env.PATH ?? ''}`, CALLS: calls, ...env },
      });
      inspect?.(sandbox);
      return readFileSync(calls, 'utf8').trimEnd().split('\n');
    } finally {
      rmSync(sandbox, { recursive: true, force: true });
    }
  }

  it('unit.sh type-checks and runs the unit specs, with skips turned into failures', async () => {
    const calls = await runTaskScript('unit.sh');
    assert.ok(calls.includes('npm run typecheck [NO_SKIP=1]'), calls.join('\n'));
    assert.equal(calls.at(-1), "node --test --test-concurrency=1 spec/unit/**/*.spec.ts [NO_SKIP=1]");
  });

  it('integration.sh starts Postgres, lays out ../shared and runs the integration and BOSH specs, with skips turned into failures', async () => {
    const calls = await runTaskScript('integration.sh', {
      inspect: (sandbox) => {
        assert.equal(readlinkSync(join(sandbox, 'shared', 'tools', 'bosh-template', 'lib')), join(sandbox, 'bosh-src', 'src', 'bosh-common', 'lib'));
        assert.equal(readlinkSync(join(sandbox, 'shared', 'reference', 'cf-deployment-v58')), join(sandbox, 'cf-deployment'));
      },
    });
    assert.ok(calls.some((call) => call.startsWith('apt-get install') && call.includes(' postgresql ') && call.includes(' nginx-extras ') && call.includes(' util-linux ')), calls.join('\n'));
    assert.ok(calls.some((call) => /^install -m 0755 bosh-cli\/bosh-cli-\*-linux-amd64 shared\/tools\/bosh /.test(call)), calls.join('\n'));
    assert.ok(calls.includes('pg_ctlcluster --skip-systemctl-redirect 16 main start [NO_SKIP=1]'), calls.join('\n'));
    assert.equal(calls.at(-1), 'node --test --test-concurrency=1 spec/integration/**/*.spec.ts spec/bosh/*.spec.ts [NO_SKIP=1]');
  });

  it('e2e.sh installs docker and builds before running the end-to-end specs, with skips turned into failures', async () => {
    const calls = await runTaskScript('e2e.sh');
    assert.ok(calls.some((call) => call.startsWith('apt-get install') && call.includes(' docker.io ')), calls.join('\n'));
    assert.deepEqual(calls.slice(-2), ['npm run build [NO_SKIP=1]', 'node --test --test-concurrency=1 spec/e2e/**/*.spec.ts [NO_SKIP=1]']);
  });

  it('build-release.sh adds the blobs and creates a release tarball', async () => {
    const calls = await runTaskScript('build-release.sh');
    assert.ok(calls.some((call) => /^build-release-inputs\.sh --output \S+ --add-blobs /.test(call)), calls.join('\n'));
    assert.match(calls.at(-1) ?? '', /^bosh create-release --force --timestamp-version --tarball \S+\/release-tarball\/droplet-registry-\d+\.tgz /);
  });

  describe('finalize-release.sh', () => {
    // Characters YAML would read otherwise if the script quoted them by hand.
    const credentials = { BLOBSTORE_ACCESS_KEY_ID: 'AKIA: "key" #1', BLOBSTORE_SECRET_ACCESS_KEY: "s3cr'et\\/+=:{}" };
    const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', ...args], { cwd, encoding: 'utf8' });

    /** The build directory Concourse gives the task: the checkout (a git repository), the version, empty outputs. */
    function prepareFinalRelease(version: string) {
      return (sandbox: string) => {
        const checkout = join(sandbox, REPO_INPUT);
        mkdirSync(join(checkout, 'config'), { recursive: true });
        cpSync(join(REPOSITORY_ROOT, '.gitignore'), join(checkout, '.gitignore'));
        cpSync(join(REPOSITORY_ROOT, 'config', 'final.yml'), join(checkout, 'config', 'final.yml'));
        writeFileSync(join(checkout, 'config', 'blobs.yml'), '--- {}\n');
        // --add-blobs records a blob; upload-blobs keeps what private.yml held when bosh read it;
        // create-release --final writes its records and the tarball.
        stub(join(checkout, 'scripts', 'build-release-inputs.sh'), 'printf "node/node.tar.gz:\\n  size: 1\\n  sha: sha256:00\\n" > config/blobs.yml\n');
        stub(join(sandbox, 'bin', 'bosh'), [
          'case "$1" in',
          '  upload-blobs) cp config/private.yml "$CALLS.private.yml" ;;',
          '  create-release) mkdir -p .final_builds/packages/node releases/droplet-registry && echo fingerprint > .final_builds/packages/node/index.yml && echo release > releases/droplet-registry/index.yml && echo tarball > "$6" ;;',
          'esac',
          '',
        ].join('\n'));
        // node -e writes private.yml: the real node.
        symlinkSync(process.execPath, join(sandbox, 'bin', 'node'));
        git(checkout, 'init', '--quiet');
        git(checkout, 'add', '-A');
        git(checkout, 'commit', '--quiet', '-m', 'tested commit');
        mkdirSync(join(sandbox, 'version'));
        writeFileSync(join(sandbox, 'version', 'version'), `${version}\n`);
        for (const output of ['final-release-repo', 'final-release', 'release-metadata']) mkdirSync(join(sandbox, output));
      };
    }

    it('uploads the blobs with the credentials of its params, commits the records, and leaves the tarball and the GitHub release texts', async (t) => {
      if (!hasCommand('git')) return void skipOrFail(t, 'needs git');
      let privateYml = '';
      const calls = await runTaskScript('finalize-release.sh', {
        env: credentials,
        prepare: prepareFinalRelease('1.2.3'),
        inspect: (sandbox) => {
          const repo = join(sandbox, 'final-release-repo');
          privateYml = readFileSync(join(sandbox, 'calls.log.private.yml'), 'utf8');
          assert.ok(!existsSync(join(repo, 'config', 'private.yml')), 'config/private.yml outlived the task');
          assert.deepEqual(git(repo, 'log', '--format=%s').trim().split('\n'), ['droplet-registry 1.2.3', 'droplet-registry 1.2.3: blobs', 'tested commit']);
          assert.deepEqual(git(repo, 'show', '--name-only', '--format=', 'HEAD~1').trim().split('\n'), ['config/blobs.yml']);
          assert.deepEqual(git(repo, 'show', '--name-only', '--format=', 'HEAD').trim().split('\n').sort(), ['.final_builds/packages/node/index.yml', 'releases/droplet-registry/index.yml']);
          assert.equal(git(repo, 'status', '--porcelain'), '');
          assert.ok(!git(repo, 'log', '--all', '--name-only', '--format=').includes('private.yml'), 'credentials committed');
          assert.equal(readFileSync(join(sandbox, 'release-metadata', 'name'), 'utf8'), 'droplet-registry 1.2.3\n');
          assert.equal(readFileSync(join(sandbox, 'release-metadata', 'tag'), 'utf8'), 'v1.2.3\n');
          const sha = createHash('sha256').update(readFileSync(join(sandbox, 'final-release', 'droplet-registry-1.2.3.tgz'))).digest('hex');
          assert.match(readFileSync(join(sandbox, 'release-metadata', 'body'), 'utf8'), new RegExp(`bosh upload-release droplet-registry-1\\.2\\.3\\.tgz --sha1 sha256:${sha}`));
        },
      });
      assert.deepEqual(parseYaml(privateYml), { blobstore: { options: { access_key_id: credentials.BLOBSTORE_ACCESS_KEY_ID, secret_access_key: credentials.BLOBSTORE_SECRET_ACCESS_KEY } } });
      const bosh = calls.filter((call) => call.startsWith('bosh ') && !call.startsWith('bosh -v'));
      assert.deepEqual(bosh.map((call) => call.replace(/ \S+\/final-release\//, ' <build>/final-release/')), [
        'bosh upload-blobs [NO_SKIP=1]',
        'bosh create-release --final --version 1.2.3 --tarball <build>/final-release/droplet-registry-1.2.3.tgz [NO_SKIP=1]',
      ]);
      assert.ok(calls.includes('build-release-inputs.sh --add-blobs [NO_SKIP=1]'), calls.join('\n'));
      assert.ok(calls.every((call) => !call.includes(credentials.BLOBSTORE_SECRET_ACCESS_KEY)), 'a secret reached a command line');
    });

    it('refuses to start without the blobstore credentials, or with a version that is not final', async (t) => {
      if (!hasCommand('git')) return void skipOrFail(t, 'needs git');
      const failure = (error: { stderr: string }) => error.stderr;
      const missing = await runTaskScript('finalize-release.sh', { prepare: prepareFinalRelease('1.2.3') }).then(() => assert.fail('ran without credentials'), failure);
      assert.match(missing, /BLOBSTORE_ACCESS_KEY_ID: set the pipeline variable release_blobs_access_key_id/);
      const candidate = await runTaskScript('finalize-release.sh', { env: credentials, prepare: prepareFinalRelease('1.2.3-rc.1') }).then(() => assert.fail('shipped a pre-release version'), failure);
      assert.match(candidate, /version\/version is '1\.2\.3-rc\.1', not a final version \(x\.y\.z\)/);
    });
  });
});
