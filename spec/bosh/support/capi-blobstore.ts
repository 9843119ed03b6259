/**
 * capi-release's `blobstore` job, cf-deployment's WebDAV blobstore, run on this machine as a VM
 * runs it: its own templates (spec/bosh/fixtures/capi-release, copied verbatim from
 * cloudfoundry/capi-release) rendered by bosh-template's engine from a manifest's
 * `singleton-blobstore` properties (`nginx.conf`, `sites/blobstore.conf`, `write_users` — the
 * admin users nginx's basic auth checks —, the TLS certificates and keys), and Debian's nginx
 * (nginx-extras: the dav, dav_ext and secure_link modules the job's nginx_webdav package has)
 * started with them. Every `/var/vcap/...` path is moved under a scratch directory standing in
 * for the VM. Three things differ from a VM, each needed to run on loopback: the listeners get
 * free ports instead of 8080, 8081 and 4443; `blobstore.internal_access_rules` allows 127.0.0.1 (the
 * job allows private networks); and nginx.conf first loads Debian's dynamic dav_ext module (and,
 * as root, keeps the workers root so they can read the scratch directory).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { stopChild, waitUntilListening } from '../../support/child-server.ts';
import { freePort } from '../../support/free-port.ts';
import { merge, relocate, renderJob } from './render-job.ts';

/** The copy of capi-release holding its blobstore job (and its license). */
export const CAPI_RELEASE_DIR = join(import.meta.dirname, '..', 'fixtures', 'capi-release');
/** The capi-release commit the copy is from (1.235.0 and 20 commits; jobs/blobstore last changed in 56e32c52). */
export const CAPI_RELEASE_COMMIT = 'f5c0d2ae74729e596038ce9572a79d6d23072e20';
/** Each copied file's git blob id at that commit (`git ls-tree`): the copy is verbatim. */
export const UPSTREAM_BLOB_IDS: Readonly<Record<string, string>> = {
  LICENSE: '8dada3edaf50dbc082c9a125058f25def75e625a',
  NOTICE: 'b08b2f41f61b7386306ca5cbd58e0f2b91deadc5',
  'jobs/blobstore/spec': '6ede3bbff25af09694b4b02731270bc9b9ec8f2b',
  'jobs/blobstore/templates/blobstore.conf.erb': '4f8b8cc28f1632075c0bd7a5d2f33a371272e3cb',
  'jobs/blobstore/templates/blobstore.crt.erb': '413ef54e75dc0e7e3514100045bba34eed766149',
  'jobs/blobstore/templates/blobstore.key.erb': 'eb8e0bf3f84ae20b8ffe6aee6a9ee8946bdef533',
  'jobs/blobstore/templates/blobstore_public.crt.erb': 'ebbbe12ddece4c1d1c6adc5b6cfb1403dcb9137a',
  'jobs/blobstore/templates/blobstore_public.key.erb': 'c99e4a2823d063fa2d74065bf1a9b0545ae7af5e',
  'jobs/blobstore/templates/mime.types': '9fafe7093dc34f520a9947fef2d928a2dc42a24a',
  'jobs/blobstore/templates/nginx.conf.erb': '082e66811483e197e7880c4c20e0b9293b5dcc55',
  'jobs/blobstore/templates/write_users.erb': 'b3f569d8ed76057f9303d33bd25294516a7bf381',
};

const JOB_DIR = join(CAPI_RELEASE_DIR, 'jobs', 'blobstore');
const TEMPLATES = ['nginx.conf.erb', 'blobstore.conf.erb', 'write_users.erb', 'mime.types', 'blobstore.crt.erb', 'blobstore.key.erb', 'blobstore_public.crt.erb', 'blobstore_public.key.erb'];
const DAV_EXT_MODULE = 'ngx_http_dav_ext_module.so';

/** The git blob id of each file of the copy, by its path in the copy. */
export function copiedBlobIds(): Record<string, string> {
  const ids: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else {
        const content = readFileSync(path);
        ids[relative(CAPI_RELEASE_DIR, path)] = createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
      }
    }
  };
  walk(CAPI_RELEASE_DIR);
  return ids;
}

/** The blobstore job's templates rendered from `properties` (as the manifest gives them): destination → content. */
export function renderCapiBlobstore(properties: object, templates = TEMPLATES): Promise<Record<string, string>> {
  // The job consumes directories_to_backup (for BBR), which none of these templates reads.
  return renderJob({ jobDir: JOB_DIR, properties, templates, links: { directories_to_backup: { instances: [], properties: {} } }, spec: { name: 'singleton-blobstore' } });
}

export interface CapiBlobstore {
  /** The internal TLS server's port (4443 on a VM: blobstore.service.cf.internal). */
  readonly internalPort: number;
  /** What nginx stored, under its root /var/vcap/store/shared/. */
  readonly storeDir: string;
  stop(): Promise<void>;
}

/** Renders the job from `properties` and starts its nginx on loopback. */
export async function startCapiBlobstore(properties: object): Promise<CapiBlobstore> {
  const root = mkdtempSync(join(tmpdir(), 'dr-capi-blobstore-'));
  try {
    const ports = { plain: await freePort(), publicTls: await freePort(), internal: await freePort() };
    const files = await renderCapiBlobstore(
      merge(properties, { blobstore: { port: ports.plain, public_tls_port: ports.publicTls, tls: { port: ports.internal }, internal_access_rules: ['allow 127.0.0.1;'] } }),
    );
    const jobDir = join(root, 'var/vcap/jobs/blobstore');
    for (const [destination, content] of Object.entries(files)) {
      const path = join(jobDir, destination);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, relocate(content, root));
    }
    for (const dir of ['var/vcap/sys/log/blobstore', 'var/vcap/data/blobstore/tmp', 'var/vcap/store/shared']) mkdirSync(join(root, dir), { recursive: true });
    const config = join(jobDir, 'config', 'nginx.conf');
    writeFileSync(config, `${nginxPreamble()}${readFileSync(config, 'utf8')}`);
    const child = spawn('nginx', ['-p', `${root}/`, '-c', config, '-e', join(root, 'var/vcap/sys/log/blobstore/startup.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      await waitUntilListening(child, ports.internal, 'nginx');
    } catch (error) {
      await stopChild(child);
      const log = ['startup.log', 'error.log'].map((name) => join(root, 'var/vcap/sys/log/blobstore', name)).filter(existsSync).map((path) => readFileSync(path, 'utf8'));
      throw new Error(`capi-release's blobstore nginx did not start: ${(error as Error).message}\n${stderr}${log.join('')}`);
    }
    return {
      internalPort: ports.internal,
      storeDir: join(root, 'var/vcap/store/shared'),
      async stop() {
        await stopChild(child);
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

/** What Debian's nginx needs before the job's nginx.conf: the dynamic dav_ext module; as root, workers that can read the scratch directory. */
function nginxPreamble(): string {
  const { stdout, stderr } = spawnSync('nginx', ['-V'], { encoding: 'utf8' });
  const configure = `${stdout ?? ''}${stderr ?? ''}`;
  const modulesPath = /--modules-path=(\S+)/.exec(configure)?.[1] ?? '/usr/lib/nginx/modules';
  const dynamic = !/--add-module=\S*dav-ext/.test(configure) && existsSync(join(modulesPath, DAV_EXT_MODULE));
  return `${dynamic ? `load_module ${join(modulesPath, DAV_EXT_MODULE)};\n` : ''}${process.getuid?.() === 0 ? 'user root;\n' : ''}`;
}
