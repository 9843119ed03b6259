/**
 * cf-deployment v58.0.0 as released (../shared/reference/cf-deployment-v58) with ops-files applied
 * and variables resolved by the real bosh CLI (../shared/tools/bosh `int`), as an operator's
 * `bosh deploy` would: what the director gets, short of link resolution.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { REPOSITORY_ROOT } from './render-job.ts';

const run = promisify(execFile);

export const BOSH_CLI = join(REPOSITORY_ROOT, '..', 'shared', 'tools', 'bosh');
export const CF_DEPLOYMENT_DIR = join(REPOSITORY_ROOT, '..', 'shared', 'reference', 'cf-deployment-v58');
export const MANIFESTS_DIR = join(REPOSITORY_ROOT, 'manifests');

/** Why cf-deployment cannot be interpolated here, or null. */
export function cfDeploymentProblem(): string | null {
  if (!existsSync(BOSH_CLI)) return `needs the bosh CLI at ${BOSH_CLI} (../shared/tools/bosh)`;
  if (!existsSync(join(CF_DEPLOYMENT_DIR, 'cf-deployment.yml'))) return `needs cf-deployment v58 at ${CF_DEPLOYMENT_DIR}`;
  return null;
}

export interface CfDeploymentOptions {
  /** cf-deployment's own ops-files (names under its operations/), applied first, in this order. */
  readonly cfOpsFiles?: readonly string[];
  /** This repository's ops-files (names under manifests/), applied after them, in this order. */
  readonly opsFiles: readonly string[];
  /**
   * The vars store the CLI generates cf-deployment's variables into (shared between calls saves
   * time); every variable must then resolve (`--var-errs`), and the output has no `variables`.
   * Without it, `((variables))` stay as they are and `variables` is kept.
   */
  readonly varsStore?: string;
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

export interface InterpolatedManifest {
  /** The manifest text `bosh int` printed. */
  readonly text: string;
  readonly manifest: {
    readonly instance_groups: ReadonlyArray<{ readonly name: string; readonly instances: number; readonly jobs: readonly ManifestJob[] }>;
    readonly variables?: ReadonlyArray<{ readonly name: string; readonly type: string; readonly update_mode?: string; readonly options?: Record<string, unknown> }>;
  };
  /** The job `job` of instance group `group`; throws naming both when it is missing. */
  job(group: string, job: string): ManifestJob;
}

/** `bosh int`; rejects with the CLI's message. */
export async function interpolateCfDeployment(options: CfDeploymentOptions): Promise<InterpolatedManifest> {
  const args = [
    'int',
    join(CF_DEPLOYMENT_DIR, 'cf-deployment.yml'),
    ...(options.cfOpsFiles ?? []).flatMap((name) => ['-o', join(CF_DEPLOYMENT_DIR, 'operations', name)]),
    ...options.opsFiles.flatMap((name) => ['-o', join(MANIFESTS_DIR, name)]),
    ...(options.varsStore ? ['--vars-store', options.varsStore, '--var-errs'] : []),
    ...(options.varsFiles ?? []).flatMap((file) => ['-l', file]),
    ...Object.entries(options.varFiles ?? {}).flatMap(([name, file]) => ['--var-file', `${name}=${file}`]),
    ...Object.entries({ system_domain: 'sys.example.com', ...options.vars }).flatMap(([name, value]) => ['-v', `${name}=${value}`]),
  ];
  let text: string;
  try {
    ({ stdout: text } = await run(BOSH_CLI, args, { maxBuffer: 64 * 1024 * 1024, timeout: 600_000 }));
  } catch (error) {
    throw new Error(`bosh int failed: ${(error as { stderr?: string }).stderr || (error as Error).message}`, { cause: error });
  }
  const manifest = parseYaml(text) as InterpolatedManifest['manifest'];
  return {
    text,
    manifest,
    job(group, job) {
      const found = manifest.instance_groups.find((candidate) => candidate.name === group)?.jobs.find((candidate) => candidate.name === job);
      if (!found) throw new Error(`the manifest has no job ${job} in instance group ${group}`);
      return found;
    },
  };
}
