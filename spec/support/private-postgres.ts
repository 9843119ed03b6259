/**
 * A Postgres cluster of a test suite's own, for what the shared one at 127.0.0.1:5432 cannot show:
 * TLS (the shared one runs with `ssl=off`) and Postgres going away and coming back. Made with the
 * machine's PostgreSQL server binaries (Debian: /usr/lib/postgresql/<version>/bin, package
 * `postgresql`), in a temp directory that holds the data, the unix socket and the certificate; run
 * as the `postgres` user when the tests run as root (initdb refuses root).
 *
 *   const problem = privatePostgresProblem() ?? throwawayCaProblem();
 *   describe('…', { skip: skipOrFail(problem) }, () => {   // NO_SKIP: the file fails instead
 *     let postgres: PrivatePostgres;
 *     before(async () => { postgres = await startPrivatePostgres({ tls: makeThrowawayCertificates() }); });
 *     after(() => postgres?.destroy());
 *     // DATABASE_URL: `${postgres.url}?sslmode=verify-full`, DATABASE_CA_CERT: a file holding the CA
 *
 * Over TCP (127.0.0.1 only) the `postgres` superuser logs in with a password (scram-sha-256); with
 * `tls`, only `hostssl` lines exist in pg_hba.conf, so an unencrypted session is refused. The unix
 * socket (in the temp directory) trusts everyone: the suite's own back door.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { appendFile, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { stopChild } from './child-server.ts';
import { provisionCommands } from './requirements.ts';
import { freePort } from './free-port.ts';

export interface PrivatePostgresOptions {
  /** Turns `ssl=on` with this server certificate and key (PEM); TCP then accepts TLS sessions only. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

export interface PrivatePostgres {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres`, without any `sslmode`. */
  readonly url: string;
  readonly port: number;
  /** The `postgres` superuser's password (scram-sha-256 over TCP). */
  readonly password: string;
  /** The directory of the unix socket (trust auth): `{ host: socketDir, port }` for pg. */
  readonly socketDir: string;
  /** The cluster's data directory (PGDATA). */
  readonly dataDir: string;
  /** Stops Postgres (fast shutdown: sessions are cut) and waits until it has exited; data stays. */
  stop(): Promise<void>;
  /** Starts it again after `stop()`, on the same port and data; resolves once it accepts queries. */
  start(): Promise<void>;
  /** Stops it and removes the temp directory. */
  destroy(): Promise<void>;
}

interface PostgresUser {
  readonly uid: number;
  readonly gid: number;
}

/** Why a private Postgres cannot be started here, or null. Installs Debian's postgresql when it can. */
export function privatePostgresProblem(): string | null {
  if (!postgresBinaries()) {
    // pg_ctlcluster comes with the server packages (postgresql-common), not with the client.
    const missing = provisionCommands({ pg_ctlcluster: 'postgresql' });
    if (!postgresBinaries()) return missing ?? 'the PostgreSQL server binaries (initdb, postgres) are not installed (Debian package postgresql)';
  }
  if (process.getuid?.() === 0 && !postgresUser()) return 'running as root, but there is no `postgres` user to run the server as (initdb refuses root)';
  return null;
}

/** Initialises a fresh cluster in a temp directory and starts it; resolves once it accepts queries. */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const binaries = postgresBinaries();
  if (!binaries) throw new Error(privatePostgresProblem() ?? 'no PostgreSQL server binaries');
  const user = process.getuid?.() === 0 ? postgresUser() : undefined;
  const root = await mkdtemp(join(tmpdir(), 'droplet-registry-postgres-'));
  const removeRoot = () => rmSync(root, { recursive: true, force: true });
  let child: ChildProcess | undefined;
  // A suite that dies before destroy() must not leave a server running: immediate shutdown (SIGQUIT).
  const onExit = () => {
    child?.kill('SIGQUIT');
    removeRoot();
  };
  process.once('exit', onExit);
  try {
    const dataDir = join(root, 'data');
    const socketDir = join(root, 'sockets');
    const password = randomBytes(12).toString('hex');
    await mkdir(socketDir);
    await writeFile(join(root, 'password'), `${password}\n`, { mode: 0o600 });
    if (user) for (const path of [root, socketDir, join(root, 'password')]) await chown(path, user.uid, user.gid);

    execFileSync(join(binaries, 'initdb'), [
      '--pgdata', dataDir, '--username', 'postgres', '--pwfile', join(root, 'password'),
      '--auth-local', 'trust', '--auth-host', 'scram-sha-256', '--encoding', 'UTF8', '--locale', 'C', '--no-sync', '--no-instructions',
    ], { stdio: 'pipe', ...user });

    const hostType = options.tls ? 'hostssl' : 'host';
    await writeFile(join(dataDir, 'pg_hba.conf'), [
      'local all all trust',
      `${hostType} all all 127.0.0.1/32 scram-sha-256`,
      `${hostType} all all ::1/128 scram-sha-256`,
      '',
    ].join('\n'));
    if (options.tls) {
      for (const [name, content] of [['server.crt', options.tls.cert], ['server.key', options.tls.key]] as const) {
        await writeFile(join(dataDir, name), content, { mode: 0o600 });
        if (user) await chown(join(dataDir, name), user.uid, user.gid);
      }
    }
    // Durability is of no use to a throwaway cluster; speed is.
    await appendFile(join(dataDir, 'postgresql.conf'), [
      '',
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${socketDir}'`,
      `ssl = ${options.tls ? 'on' : 'off'}`,
      "ssl_cert_file = 'server.crt'",
      "ssl_key_file = 'server.key'",
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      '',
    ].join('\n'));

    const postgres = join(binaries, 'postgres');
    let port = 0;
    let lastError: Error | undefined;
    // Another process may take the free port between choosing and binding it: try a few.
    for (let attempt = 0; attempt < 3 && !child; attempt += 1) {
      port = await freePort();
      try {
        child = await launch(postgres, dataDir, socketDir, port, user);
      } catch (error) {
        lastError = error as Error;
        if (!/already in use/.test(lastError.message)) break;
      }
    }
    if (!child) throw lastError ?? new Error('Postgres did not start');

    return {
      url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
      port,
      password,
      socketDir,
      dataDir,
      async stop() {
        if (child) await stopChild(child, 'SIGINT');
      },
      async start() {
        if (child && child.exitCode === null && child.signalCode === null) throw new Error('the private Postgres is already running');
        child = await launch(postgres, dataDir, socketDir, port, user);
      },
      async destroy() {
        if (child) await stopChild(child, 'SIGINT');
        process.removeListener('exit', onExit);
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (child) await stopChild(child, 'SIGINT');
    process.removeListener('exit', onExit);
    removeRoot();
    throw error;
  }
}

/** Spawns the postmaster itself (as `user`, so its pid is the server's) and waits until it answers. */
async function launch(postgres: string, dataDir: string, socketDir: string, port: number, user: PostgresUser | undefined): Promise<ChildProcess> {
  const child = spawn(postgres, ['-D', dataDir, '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'], ...user });
  let log = '';
  // Keeps reading (a full pipe would stall the server), keeping the tail for error messages.
  child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-8000)));
  try {
    await waitUntilReady(child, socketDir, port);
    return child;
  } catch (error) {
    await stopChild(child, 'SIGINT');
    throw new Error(`Postgres did not start: ${(error as Error).message}\n${log}`);
  }
}

/** Polls with a query over the unix socket until Postgres answers, failing as soon as it exits. */
async function waitUntilReady(child: ChildProcess, socketDir: string, port: number): Promise<void> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 600; attempt += 1) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`postgres exited (${child.exitCode ?? child.signalCode})`);
    const client = new pg.Client({ host: socketDir, port, user: 'postgres', database: 'postgres' });
    try {
      await client.connect();
      await client.query('select 1');
      return;
    } catch (error) {
      lastError = error as Error;
    } finally {
      await client.end().catch(() => undefined);
    }
    await sleep(50);
  }
  throw new Error(`Postgres on port ${port} does not answer: ${lastError?.message}`);
}

/** The directory holding initdb and postgres: Debian's newest version, else pg_config's, else PATH's. */
function postgresBinaries(): string | undefined {
  const candidates: string[] = [];
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).filter((name) => /^\d+(\.\d+)?$/.test(name)).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((version) => join(debian, version, 'bin')));
  }
  for (const [command, ...args] of [['pg_config', '--bindir'], ['sh', '-c', 'command -v initdb']] as const) {
    try {
      const output = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      if (output) candidates.push(command === 'sh' ? dirname(output) : output);
    } catch {
      // not there
    }
  }
  return candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres')));
}

/** The `postgres` account's uid and gid, which the server runs as when the tests run as root. */
function postgresUser(): PostgresUser | undefined {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined;
  }
}

