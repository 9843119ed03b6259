/**
 * Renders the droplet-registry job's templates with bosh-template's own engine
 * (`Bosh::Common::Template::Test`, in ../shared/tools/bosh-template) through `render-job.rb`, as
 * the director would, so tests see exactly the files a VM gets. Ruby and ActiveSupport (which the
 * engine loads) come from Debian, installed when running as root; else the test is skipped.
 *
 * One `render-job.rb` process serves all of a test process' renders, one at a time (starting Ruby
 * and loading the engine took longer than rendering); it ends when the test process does.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { provisionCommands, skipOrFail } from '../../support/requirements.ts';

export const REPOSITORY_ROOT = resolve(import.meta.dirname, '..', '..', '..');
export const JOB_DIR = join(REPOSITORY_ROOT, 'jobs', 'droplet-registry');
const RENDER_RB = join(import.meta.dirname, 'render-job.rb');
/** bosh-template's library, built from cloudfoundry/bosh (../shared/tools/README.md). */
const BOSH_TEMPLATE_LIB = join(REPOSITORY_ROOT, '..', 'shared', 'tools', 'bosh-template', 'lib');

/** Makes sure bosh-template can run (Debian's ruby and ruby-activesupport, installed when root); skips `t` (or fails under NO_SKIP) otherwise. */
export function requireRuby(t: TestContext): boolean {
  const problem = boshTemplateProblem();
  return problem === null || skipOrFail(t, problem);
}

let activeSupportAttempted = false;

/** Why bosh-template cannot render here, or null. */
export function boshTemplateProblem(): string | null {
  const ruby = provisionCommands({ ruby: 'ruby' });
  if (ruby) return ruby;
  const loads = () => {
    try {
      execFileSync('ruby', ['-I', BOSH_TEMPLATE_LIB, '-e', 'require "bosh/common/template/test"'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (loads()) return null;
  if (!activeSupportAttempted && process.getuid?.() === 0) {
    activeSupportAttempted = true;
    try {
      execFileSync('apt-get', ['install', '-y', '-qq', 'ruby-activesupport'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000 });
    } catch {
      // reported below
    }
    if (loads()) return null;
  }
  return `bosh-template (${BOSH_TEMPLATE_LIB}) does not load: it needs the Debian package ruby-activesupport; install it or run as root with apt-get`;
}

/** One consumed link as the director hands it to templates. */
export interface LinkSpec {
  instances: Array<{ name?: string; index?: number; id?: string; az?: string; address?: string; bootstrap?: boolean }>;
  properties?: object;
  address?: string;
}

export interface RenderOptions {
  /** The job to render; default: jobs/droplet-registry. */
  jobDir?: string;
  /** Job properties as a manifest gives them (nested). */
  properties?: object;
  /** Consumed links; default: `defaultLinks()`. */
  links?: Record<string, LinkSpec>;
  /** Instance spec overrides (bootstrap, index, id, az, address, deployment, name). */
  spec?: object;
  /** Template names; default: every template of the job spec. */
  templates?: string[];
}

/** A template that failed to render: the director's message. */
export class RenderError extends Error {}

/** The links of a cf-deployment: Cloud Controller's, and the job's own with one instance. */
export function defaultLinks(instances = 1): Record<string, LinkSpec> {
  return {
    cloud_controller: {
      address: 'q-s0.api.default.cf.bosh',
      instances: [{ name: 'api', index: 0, id: 'api-0', az: 'z1', address: 'q-s0.api.default.cf.bosh' }],
      properties: { system_domain: 'sys.example.com', app_domains: [{ name: 'apps.example.com' }] },
    },
    'droplet-registry': {
      instances: Array.from({ length: instances }, (_, index) => ({
        name: 'droplet-registry',
        index,
        id: `registry-${index}`,
        az: `z${(index % 2) + 1}`,
        address: `10.0.16.${5 + index}`,
        bootstrap: index === 0,
      })),
      properties: {},
    },
  };
}

/** A fresh PEM private key: EC on `curve` (SEC1, as `openssl ecparam -genkey` writes it), or RSA. */
export function privateKeyPem(curve: 'P-256' | 'P-384' | 'rsa' = 'P-256'): string {
  if (curve === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return generateKeyPairSync('ec', { namedCurve: curve }).privateKey.export({ type: 'sec1', format: 'pem' }) as string;
}

/** The token signing key of `minimalProperties()`. */
export const TOKEN_SIGNING_KEY = privateKeyPem();

/**
 * The smallest set of properties the job renders with: Postgres, the service client, user
 * authentication (the default with the capi source) with its signing key.
 */
export function minimalProperties(): Record<string, unknown> {
  return {
    droplet_registry: {
      database: { host: 'sql-db.service.cf.internal', port: 5524, password: 'database-password' },
      uaa: { client_secret: 'client-secret' },
      token: { signing_key: TOKEN_SIGNING_KEY },
    },
  };
}

/** Deep merge of plain objects (arrays and scalars from `override` win). */
export function merge<T extends object>(base: T, override: object): T {
  const result: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(override)) {
    const current = result[key];
    result[key] = isPlainObject(current) && isPlainObject(value) ? merge(current, value) : value;
  }
  return result as T;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Renders templates; resolves with destination path → content, rejects with a `RenderError`. */
export async function renderJob(options: RenderOptions = {}, outputDir?: string): Promise<Record<string, string>> {
  const context = {
    job_dir: options.jobDir ?? JOB_DIR,
    templates: options.templates,
    output_dir: outputDir,
    properties: options.properties ?? minimalProperties(),
    links: options.links ?? defaultLinks(),
    spec: options.spec ?? {},
  };
  const answer = (await renderer().ask(JSON.stringify(context))) as { files?: Record<string, string>; error?: string };
  if (answer.error !== undefined) throw new RenderError(answer.error.trim());
  return answer.files ?? {};
}

let shared: Renderer | undefined;

function renderer(): Renderer {
  shared ??= new Renderer();
  return shared;
}

/** `render-job.rb`: one JSON line in, one JSON line out, in order. */
class Renderer {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiting: Array<{ resolve(answer: unknown): void; reject(error: Error): void }> = [];
  #stderr = '';
  #failure: Error | undefined;

  constructor() {
    this.#child = spawn('ruby', ['-I', BOSH_TEMPLATE_LIB, RENDER_RB], { stdio: ['pipe', 'pipe', 'pipe'] });
    // Idle, neither the process nor its pipes keep the test process alive (its exit closes stdin,
    // which ends Ruby); while a render is asked for, they do.
    this.#keepAlive(false);
    this.#child.stderr.on('data', (chunk: Buffer) => (this.#stderr = (this.#stderr + chunk.toString()).slice(-10_000)));
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      this.#waiting.shift()?.resolve(JSON.parse(line));
      if (this.#waiting.length === 0) this.#keepAlive(false);
    });
    const fail = (error: Error) => {
      this.#failure = new Error(`render-job.rb stopped: ${error.message}\n${this.#stderr}`);
      if (shared === this) shared = undefined;
      for (const waiter of this.#waiting.splice(0)) waiter.reject(this.#failure);
    };
    this.#child.on('error', fail);
    this.#child.on('exit', (code, signal) => fail(new Error(`exit ${code ?? signal}`)));
  }

  ask(line: string): Promise<unknown> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      if (this.#waiting.length === 0) this.#keepAlive(true);
      this.#waiting.push({ resolve, reject });
      this.#child.stdin.write(`${line}\n`);
    });
  }

  #keepAlive(alive: boolean): void {
    for (const handle of [this.#child, this.#child.stdin, this.#child.stdout, this.#child.stderr] as unknown as Array<{ ref?(): void; unref?(): void }>) {
      if (alive) handle.ref?.();
      else handle.unref?.();
    }
  }
}

/** Renders one template and returns its content. */
export async function renderTemplate(template: string, options: Omit<RenderOptions, 'templates'> = {}): Promise<string> {
  const files = await renderJob({ ...options, templates: [template] });
  const [content] = Object.values(files);
  if (content === undefined) throw new Error(`${template} rendered nothing`);
  return content;
}

/** The job spec, parsed. */
export interface JobSpec {
  name: string;
  templates: Record<string, string>;
  packages: string[];
  provides?: Array<{ name: string; type: string; properties?: string[] }>;
  consumes?: Array<{ name: string; type: string; optional?: boolean }>;
  properties: Record<string, { description?: string; default?: unknown }>;
}

export function readJobSpec(): JobSpec {
  return parseYaml(readFileSync(join(JOB_DIR, 'spec'), 'utf8')) as JobSpec;
}

/**
 * Moves every `/var/vcap/...` path of a rendered file under `root`, so scripts and configuration
 * can run on a machine without BOSH: the tests' stand-in for a VM's file system.
 */
export function relocate(content: string, root: string): string {
  return content.replaceAll('/var/vcap/', `${root}/var/vcap/`);
}
