/**
 * The Concourse pipeline (ci/pipeline.yml) and its tasks: they parse, every step refers to
 * something that exists (resources, jobs, task files, scripts, inputs), and the scripts are bash.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
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

  it('run the suites their jobs are named after', () => {
    const script = (name: string) => readFileSync(join(REPOSITORY_ROOT, 'ci', 'tasks', name), 'utf8');
    assert.match(script('unit.sh'), /'spec\/unit\/\*\*\/\*\.spec\.ts'/);
    assert.match(script('integration.sh'), /'spec\/integration\/\*\*\/\*\.spec\.ts' 'spec\/bosh\/\*\.spec\.ts'/);
    assert.match(script('integration.sh'), /postgresql/);
    assert.match(script('e2e.sh'), /'spec\/e2e\/\*\*\/\*\.spec\.ts'/);
    assert.match(script('e2e.sh'), /docker\.io/);
    assert.match(script('build-release.sh'), /scripts\/build-release-inputs\.sh .*--add-blobs/);
    assert.match(script('build-release.sh'), /bosh create-release /);
    assert.match(readFileSync(join(REPOSITORY_ROOT, 'ci', 'tasks', 'common.sh'), 'utf8'), /DROPLET_REGISTRY_TEST_NO_SKIP=1/);
  });

  it('common.sh is valid bash', async () => {
    await run('bash', ['-n', join(REPOSITORY_ROOT, 'ci', 'tasks', 'common.sh')]);
  });
});
