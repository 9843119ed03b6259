/**
 * A real nginx configured as capi-release's `blobstore` job configures it
 * (jobs/blobstore/templates/nginx.conf.erb and blobstore.conf.erb), for the WebDAV blobstore's
 * tests: the internal server with `/admin/` (basic auth; WebDAV `DELETE PUT COPY`, dav_ext
 * `PROPFIND`, `create_full_put_path`) and `/read/` (secure_link md5: 403 on a bad hash, 410 once
 * expired), and the public server with only `/read/`, each on its own free loopback port. The http
 * block keeps the job's gzip settings, which decide what an unwary client gets back.
 *
 * Plain HTTP on loopback; in production both servers are TLS (the internal one on 4443 with a
 * certificate from CF's internal CA, which the store is given as `caCert`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join, relative, sep } from 'node:path';
import { stopChild, waitUntilListening } from './child-server.ts';
import { provisionCommands } from './requirements.ts';
import { freePort } from './free-port.ts';

export interface NginxBlobstore {
  /** The internal server (`/admin/`, `/read/`): `http://127.0.0.1:<port>` */
  readonly privateEndpoint: string;
  /** The public server (`/read/` only). */
  readonly publicEndpoint: string;
  readonly username: string;
  readonly password: string;
  /** `blobstore.secure_link.secret` */
  readonly secret: string;
  /** Every file under `<root>/<directory>`, as a path relative to it. */
  listFiles(directory: string): Promise<string[]>;
  stop(): Promise<void>;
}

const DAV_EXT_MODULE = 'ngx_http_dav_ext_module.so';

/** Why this machine cannot run the blobstore's nginx, or null. Installs Debian's nginx-extras when it can. */
export function nginxBlobstoreProblem(): string | null {
  const missing = provisionCommands({ nginx: 'nginx-extras' });
  if (missing) return missing;
  const configure = nginxConfigureArguments();
  if (!configure.includes('--with-http_dav_module') || !configure.includes('--with-http_secure_link_module')) {
    return 'nginx lacks the dav or secure_link module (Debian package nginx-extras has both)';
  }
  if (davExtModule(configure) === undefined) return `nginx lacks the dav_ext module (${DAV_EXT_MODULE}; Debian package nginx-extras)`;
  return null;
}

/** Starts the job's nginx with a fresh root, user and secret. */
export async function startNginxBlobstore(): Promise<NginxBlobstore> {
  const prefix = await mkdtemp(join(tmpdir(), 'droplet-registry-nginx-'));
  const root = join(prefix, 'store');
  await Promise.all(['store', 'logs', 'temp'].map((directory) => mkdir(join(prefix, directory))));
  const username = 'blobstore-user';
  const password = randomBytes(12).toString('hex');
  const secret = randomBytes(16).toString('hex');
  await writeFile(join(prefix, 'write_users'), `${username}:${sshaPassword(password)}\n`);

  try {
    const { child, ports } = await launch(prefix, root, secret);
    return {
      privateEndpoint: `http://127.0.0.1:${ports.internal}`,
      publicEndpoint: `http://127.0.0.1:${ports.public}`,
      username,
      password,
      secret,
      async listFiles(directory) {
        const base = join(root, directory);
        const entries = await readdir(base, { recursive: true, withFileTypes: true }).catch(() => []);
        return entries
          .filter((entry) => entry.isFile())
          .map((entry) => relative(base, join(entry.parentPath, entry.name)).split(sep).join('/'))
          .sort();
      },
      async stop() {
        await stopChild(child);
        await rm(prefix, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(prefix, { recursive: true, force: true });
    throw error;
  }
}

/** Tries a few pairs of free ports: another process may take one between choosing and binding. */
async function launch(prefix: string, root: string, secret: string): Promise<{ child: ChildProcess; ports: { internal: number; public: number } }> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const ports = { internal: await freePort(), public: await freePort() };
    const config = join(prefix, 'nginx.conf');
    await writeFile(config, nginxConfig({ prefix, root, secret, ...ports }));
    const child = spawn('nginx', ['-p', `${prefix}/`, '-c', config, '-e', join(prefix, 'logs', 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      await waitUntilListening(child, ports.internal, 'nginx');
      await waitUntilListening(child, ports.public, 'nginx');
      return { child, ports };
    } catch (error) {
      await stopChild(child);
      const log = await readFile(join(prefix, 'logs', 'error.log'), 'utf8').catch(() => '');
      lastError = new Error(`nginx did not start: ${(error as Error).message}\n${stderr}${log}`);
      if (!/Address already in use/.test(stderr + log)) break;
    }
  }
  throw lastError;
}

interface ConfigValues {
  readonly prefix: string;
  readonly root: string;
  readonly secret: string;
  readonly internal: number;
  readonly public: number;
}

/** The job's two templates, with paths under `prefix` and the TLS listeners as plain loopback ones. */
function nginxConfig({ prefix, root, secret, internal, public: publicPort }: ConfigValues): string {
  const configure = nginxConfigureArguments();
  const module = davExtModule(configure);
  const mimeTypes = ['/etc/nginx/mime.types', '/usr/local/etc/nginx/mime.types'].find((path) => existsSync(path));
  // ensure the contents of this location block always match between the two servers (as the job says)
  const read = `
    location /read/ {
      if ( $request_method !~ ^(GET|HEAD)$ ) {
        return 405;
      }
      secure_link $arg_md5,$arg_expires;
      secure_link_md5 "$secure_link_expires$uri ${secret}";
      if ($secure_link = "") {
        return 403;
      }
      if ($secure_link = "0") {
        return 410;
      }
      alias ${root}/;
    }`;
  return `${module ? `load_module ${module};` : ''}
${process.getuid?.() === 0 ? `user ${userInfo().username};` : ''}
daemon off;
master_process on;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log;

events {
  worker_connections 256;
}

http {
  ${mimeTypes ? `include ${mimeTypes};` : ''}
  default_type text/html;
  server_names_hash_bucket_size 128;
  access_log ${prefix}/logs/access.log;
  server_tokens off;

  sendfile    on;
  tcp_nopush  on;
  tcp_nodelay on;
  keepalive_timeout 75 20;

  gzip                 on;
  gzip_min_length      1250;
  gzip_buffers         16 8k;
  gzip_comp_level      2;
  gzip_proxied         any;
  gzip_types           text/plain text/css application/javascript application/x-javascript text/xml application/xml application/xml+rss text/javascript;
  gzip_vary            on;

  client_body_temp_path ${prefix}/temp/client_body;
  proxy_temp_path       ${prefix}/temp/proxy;
  fastcgi_temp_path     ${prefix}/temp/fastcgi;
  uwsgi_temp_path       ${prefix}/temp/uwsgi;
  scgi_temp_path        ${prefix}/temp/scgi;

  # Internal server (blobstore.service.cf.internal:4443, TLS, in the job)
  server {
    listen 127.0.0.1:${internal};
    server_name blobstore.service.cf.internal;
    root ${root}/;

    allow 127.0.0.1;
    deny all;

    client_max_body_size 0;

    location /admin/ {
      auth_basic "Blobstore Admin";
      auth_basic_user_file ${prefix}/write_users;

      dav_methods DELETE PUT COPY;
      dav_ext_methods PROPFIND;

      create_full_put_path on;

      alias ${root}/;
    }
${read}
  }

  # Public server (blobstore.<system_domain>, behind the gorouter, in the job)
  server {
    listen 127.0.0.1:${publicPort};
    server_name blobstore.example.com;
    root ${root}/;
${read}
  }
}
`;
}

/** `nginx -V`, which prints its build options on stderr. */
function nginxConfigureArguments(): string {
  const { stdout, stderr } = spawnSync('nginx', ['-V'], { encoding: 'utf8' });
  return `${stdout ?? ''}${stderr ?? ''}`;
}

/**
 * Where to load dav_ext from: a path for Debian's dynamic module, '' when it is built in,
 * undefined when nginx has none.
 */
function davExtModule(configure: string): string | undefined {
  if (/--add-module=\S*dav-ext/.test(configure)) return '';
  const modulesPath = /--modules-path=(\S+)/.exec(configure)?.[1] ?? '/usr/lib/nginx/modules';
  const module = join(modulesPath, DAV_EXT_MODULE);
  return existsSync(module) ? module : undefined;
}

/** htpasswd's salted SHA-1 (`{SSHA}`), which nginx's auth_basic accepts; made with node:crypto, no tool needed. */
function sshaPassword(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}
