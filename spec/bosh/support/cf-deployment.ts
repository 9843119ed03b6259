/**
 * cf-deployment v58.0.0 as released (../shared/reference/cf-deployment-v58) with ops-files applied
 * and variables resolved by the real bosh CLI (../shared/tools/bosh `int`), as an operator's
 * `bosh deploy` would: what the director gets, short of link resolution.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { REPOSITORY_ROOT } from './render-job.ts';
import { sharedVarsStore } from './shared-vars-store.ts';

const run = promisify(execFile);

export const BOSH_CLI = join(REPOSITORY_ROOT, '..', 'shared', 'tools', 'bosh');
const CF_DEPLOYMENT_DIR = join(REPOSITORY_ROOT, '..', 'shared', 'reference', 'cf-deployment-v58');
const CF_DEPLOYMENT_MANIFEST = join(CF_DEPLOYMENT_DIR, 'cf-deployment.yml');
export const MANIFESTS_DIR = join(REPOSITORY_ROOT, 'manifests');
export const EXAMPLE_VARS_DIR = join(MANIFESTS_DIR, 'example-vars-files');

/** Why cf-deployment cannot be interpolated here, or null. */
export function cfDeploymentProblem(): string | null {
  if (!existsSync(BOSH_CLI)) return `needs the bosh CLI at ${BOSH_CLI} (../shared/tools/bosh)`;
  if (!existsSync(CF_DEPLOYMENT_MANIFEST)) return `needs cf-deployment v58 at ${CF_DEPLOYMENT_DIR}`;
  return null;
}

export interface CfDeploymentOptions {
  /** cf-deployment's own ops-files (names under its operations/), applied first, in this order. */
  readonly cfOpsFiles?: readonly string[];
  /** This repository's ops-files (names under manifests/), applied after them, in this order. */
  readonly opsFiles: readonly string[];
  /**
   * Resolve every variable as `bosh deploy` with CredHub would (`--var-errs`): cf-deployment's
   * generated variables come from one store generated once and shared by every spec/bosh file
   * (support/shared-vars-store.ts), given as a vars file (`-l`), and what the ops-files add
   * (the registry's certificate, signed by the shared CA, and passwords) is generated into a vars
   * store of this call's own. A `--vars-store` holding all of cf-deployment's variables costs
   * seconds of CPU per call even when it lacks none; a vars file costs nothing. The output then
   * has no `variables`. Without it, `((variables))` stay as they are and `variables` is kept.
   */
  readonly resolve?: boolean;
  /** `-l` vars files. */
  readonly varsFiles?: readonly string[];
  /** `--var-file name=path`. */
  readonly varFiles?: Readonly<Record<string, string>>;
  /** `-v name=value`; system_domain defaults to sys.example.com. */
  readonly vars?: Readonly<Record<string, string>>;
}

/** A job of an instance group, as the manifest gives it. */
export interface ManifestJob {
  readonly name: string;
  readonly release: string;
  readonly properties?: Record<string, unknown>;
  readonly consumes?: Record<string, unknown>;
}

export interface ManifestInstanceGroup {
  readonly name: string;
  readonly instances: number;
  readonly azs?: readonly string[];
  readonly persistent_disk_type?: string;
  readonly jobs: readonly ManifestJob[];
}

export interface ManifestVariable {
  readonly name: string;
  readonly type: string;
  readonly update_mode?: string;
  readonly options?: Record<string, unknown>;
}

export interface InterpolatedManifest {
  /** The manifest text `bosh int` printed. */
  readonly text: string;
  readonly manifest: {
    readonly releases: ReadonlyArray<{ readonly name: string; readonly version: string }>;
    readonly instance_groups: readonly ManifestInstanceGroup[];
    readonly variables?: readonly ManifestVariable[];
  };
  /** The instance group `name`; throws naming it when it is missing. */
  group(name: string): ManifestInstanceGroup;
  /** The job `job` of instance group `group`; throws naming both when it is missing. */
  job(group: string, job: string): ManifestJob;
  /** The variable `name` of the `variables` section, if any. */
  variable(name: string): ManifestVariable | undefined;
  /** Every `((name))` still in the manifest (without `.field`), which a vars store, a vars file or CredHub must give. */
  references(): Set<string>;
}

/** `bosh int`; rejects with the CLI's message. */
export async function interpolateCfDeployment(options: CfDeploymentOptions): Promise<InterpolatedManifest> {
  const scratch = options.resolve ? mkdtempSync(join(tmpdir(), 'dr-bosh-int-')) : undefined;
  try {
    const generated = scratch ? ['-l', await sharedVarsStore(BOSH_CLI, CF_DEPLOYMENT_MANIFEST), '--vars-store', join(scratch, 'vars-store.yml'), '--var-errs'] : [];
    const args = [
      'int',
      CF_DEPLOYMENT_MANIFEST,
      ...(options.cfOpsFiles ?? []).flatMap((name) => ['-o', join(CF_DEPLOYMENT_DIR, 'operations', name)]),
      ...options.opsFiles.flatMap((name) => ['-o', join(MANIFESTS_DIR, name)]),
      ...generated,
      ...(options.varsFiles ?? []).flatMap((file) => ['-l', file]),
      ...Object.entries(options.varFiles ?? {}).flatMap(([name, file]) => ['--var-file', `${name}=${file}`]),
      ...Object.entries({ system_domain: 'sys.example.com', ...options.vars }).flatMap(([name, value]) => ['-v', `${name}=${value}`]),
    ];
    return parseManifest(await boshInt(args));
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

/** Runs the bosh CLI's `int` with `args` (from `int` on); rejects with the CLI's own message. */
async function boshInt(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run(BOSH_CLI, args, { maxBuffer: 64 * 1024 * 1024, timeout: 600_000 });
    return stdout;
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string };
    // The CLI prints its errors on stdout.
    throw new Error(`bosh int failed: ${[failure.stdout, failure.stderr].filter(Boolean).join('\n').trim() || (error as Error).message}`, { cause: error });
  }
}

function parseManifest(text: string): InterpolatedManifest {
  const manifest = parseYaml(text, { maxAliasCount: -1 }) as InterpolatedManifest['manifest'];
  const group = (name: string) => {
    const found = manifest.instance_groups.find((candidate) => candidate.name === name);
    if (!found) throw new Error(`the manifest has no instance group ${name}`);
    return found;
  };
  return {
    text,
    manifest,
    group,
    job(groupName, job) {
      const found = group(groupName).jobs.find((candidate) => candidate.name === job);
      if (!found) throw new Error(`the manifest has no job ${job} in instance group ${groupName}`);
      return found;
    },
    variable: (name) => manifest.variables?.find((variable) => variable.name === name),
    references: () => new Set([...text.matchAll(/\(\(([a-zA-Z0-9_/-]+)(?:\.[a-z_]+)?\)\)/g)].map((match) => match[1] as string)),
  };
}

/** A deployment the *Tested* table of manifests/README.md lists. */
export interface DocumentedDeployment {
  readonly name: string;
  /** cf-deployment's ops-files (names under its operations/), in order. */
  readonly cfOpsFiles: string[];
  /** This repository's ops-files, in order. */
  readonly opsFiles: string[];
  /** Example vars files (names under manifests/example-vars-files/). */
  readonly varsFiles: string[];
}

/** The rows of the table under `## Tested` in manifests/README.md. */
export function documentedDeployments(): DocumentedDeployment[] {
  const section = readFileSync(join(MANIFESTS_DIR, 'README.md'), 'utf8').split('\n## Tested\n')[1] ?? '';
  const rows = section.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| deployment ') && !line.startsWith('|---'));
  return rows.map((row) => {
    const [name = '', files = '', vars = ''] = row.split('|').slice(1).map((cell) => cell.trim());
    const names = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1] as string);
    const ordered = names(files);
    return {
      name,
      cfOpsFiles: ordered.filter((file) => file.startsWith('operations/')).map((file) => file.slice('operations/'.length)),
      opsFiles: ordered.filter((file) => !file.startsWith('operations/')),
      varsFiles: names(vars),
    };
  });
}

/** What an operator supplies besides the example vars files, as files: the token signing key and a database CA. */
export interface OperatorFiles {
  /** A PEM EC P-256 private key, for `droplet_registry_token_signing_key`. */
  readonly tokenKeyFile: string;
  /** A PEM CA certificate, in place of the example vars file's placeholder `droplet_registry_external_database_ca_cert` (with use-external-database.yml). */
  readonly databaseCaFile?: string;
}

/**
 * The operator's inputs to a documented deployment: its example vars files, with real keys and CAs
 * where they hold placeholders (`--var-file` wins over `-l`, as an operator's edit would), and,
 * with use-external-blobstore.yml, its four directory keys.
 */
export function operatorInputs(deployment: DocumentedDeployment, files: OperatorFiles): Pick<CfDeploymentOptions, 'varFiles' | 'vars' | 'varsFiles'> {
  const externalBlobstore = deployment.cfOpsFiles.includes('use-external-blobstore.yml');
  return {
    varsFiles: deployment.varsFiles.map((file) => join(EXAMPLE_VARS_DIR, file)),
    varFiles: {
      droplet_registry_token_signing_key: files.tokenKeyFile,
      ...(files.databaseCaFile && deployment.opsFiles.includes('use-external-database.yml') ? { droplet_registry_external_database_ca_cert: files.databaseCaFile } : {}),
    },
    vars: externalBlobstore ? Object.fromEntries(['app_package', 'buildpack', 'droplet', 'resource'].map((kind) => [`${kind}_directory_key`, `cc-${kind}s`])) : {},
  };
}
