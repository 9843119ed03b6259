/**
 * The Concourse pipeline (ci/pipeline.yml) and its tasks: they parse, every step refers to
 * something that exists (resources, jobs, task files, scripts, inputs), and the scripts are bash.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { REPOSITORY_ROOT } from './support/render-job.ts';

const run = promisify(execFile);

interface Step {
  get?: string;
  put?: string;
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
      for (const step of stepsOf(job.plan)) {
        const file = step.params?.file;
        if (step.put && typeof file === 'string') assert.ok(available.has(file.split('/')[0] as string), `${job.name}: put of ${file} from no output`);
      }
    }
  });

  it('runs the end-to-end task privileged (it starts dockerd, podman and containerd)', () => {
    const e2e = stepsOf(jobs.get('e2e')?.plan ?? []).find((step) => step.task);
    assert.equal(e2e?.privileged, true);
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

  /**
   * Runs a task script in a scratch build directory where every outside command (apt-get, npm,
   * node, bosh, Postgres tools, …) is a stub that logs its arguments and whether skips are failures.
   */
  async function runTaskScript(name: string): Promise<string[]> {
    const sandbox = mkdtempSync(join(tmpdir(), 'droplet-registry-ci-task-'));
    try {
      const calls = join(sandbox, 'calls.log');
      const stub = (path: string, output = '') => {
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, `#!/bin/sh\necho "$(basename "$0") $* [NO_SKIP=\${DROPLET_REGISTRY_TEST_NO_SKIP:-}]" >> "$CALLS"\n${output}`, { mode: 0o755 });
      };
      for (const command of ['apt-get', 'npm', 'bosh', 'install', 'pg_ctlcluster', 'pg_isready', 'su']) stub(join(sandbox, 'bin', command));
      stub(join(sandbox, 'bin', 'pg_lsclusters'), 'echo "16 main 5432 online postgres /var/lib/postgresql/16/main"\n');
      stub(join(sandbox, 'droplet-registry', 'node_modules', '.bin', 'node'));
      stub(join(sandbox, 'droplet-registry', 'scripts', 'build-release-inputs.sh'));
      await run('bash', [join(REPOSITORY_ROOT, 'ci', 'tasks', name)], {
        cwd: sandbox,
        env: { PATH: `${join(sandbox, 'bin')}:${process.env.PATH ?? ''}`, CALLS: calls },
      });
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

  it('integration.sh starts Postgres and runs the integration and BOSH specs, with skips turned into failures', async () => {
    const calls = await runTaskScript('integration.sh');
    assert.ok(calls.some((call) => call.startsWith('apt-get install') && call.includes(' postgresql ') && call.includes(' nginx-extras ')), calls.join('\n'));
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
});
