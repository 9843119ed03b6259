/**
 * The knex factory: Postgres when a URL is configured, an embedded PGlite under the data directory
 * otherwise (zero-configuration start), held by one process at a time (embedded-database-lock.ts).
 * Both return the same JS types: see `type-parsers.ts`.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';
import knexModule, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import pg from 'pg';
import type { Logger } from 'pino';
import { trustedCertificatesWith } from '../util/trusted-certificates.ts';
import { lockEmbeddedDatabase, type HeldLock } from './embedded-database-lock.ts';
import { BYTEA_OID, INT8_OID, parseBytea, parseInt8 } from './type-parsers.ts';

export interface DatabaseOptions {
  /** `postgres://…`; unset or empty → embedded PGlite. */
  readonly url?: string;
  /** Schema holding the registry's tables; it becomes the connections' only `search_path` entry. */
  readonly schema: string;
  /** The embedded database lives in `<dataDir>/pglite`; unused with a URL. */
  readonly dataDir: string;
  /** Postgres pool size (default 10); PGlite always has exactly one connection. */
  readonly poolMax?: number;
  /** TLS to Postgres, verifying the server against the trusted roots plus `ca` (PEM) when given. */
  readonly ssl?: { readonly ca?: string };
  /** Told when the embedded database's lock, left by a process that is gone, is taken over. */
  readonly logger?: Logger;
}

/** The URL without `sslmode`, and the TLS settings it and `ssl` ask for together. */
export function postgresConnection(url: string, ssl: DatabaseOptions['ssl']): { connectionString: string; ssl?: boolean | { ca?: string[]; rejectUnauthorized?: boolean } } {
  const parsed = new URL(url);
  const mode = parsed.searchParams.get('sslmode');
  // pg would replace the whole `ssl` object (and the CA in it) when it reads `sslmode` itself.
  parsed.searchParams.delete('sslmode');
  const connectionString = parsed.href;
  const ca = ssl?.ca === undefined ? {} : { ca: trustedCertificatesWith(ssl.ca) };
  if (mode === 'disable') return { connectionString, ssl: false };
  if (mode === 'no-verify') return { connectionString, ssl: { ...ca, rejectUnauthorized: false } };
  if (mode !== null || ssl) return { connectionString, ssl: ca };
  return { connectionString };
}

/**
 * Opens the registry's database. Close it with `knex.destroy()`; for PGlite that also closes the
 * embedded database, so the process can exit.
 *
 * @remarks
 * An `sslmode` in the URL is honoured: `disable` turns TLS off, `no-verify` skips verification,
 * any other mode turns TLS on with verification (against `ssl.ca` too when given).
 */
export async function createDatabase(options: DatabaseOptions): Promise<Knex> {
  if (options.url) return connectPostgres(options.url, options);
  return createPglite(options);
}

/** Is this knex instance the embedded, single-connection, single-process PGlite? */
export function isEmbeddedDatabase(knex: Knex): boolean {
  return knex.client instanceof ClientPgLite;
}

/** Applies to this client's connections only, leaving the process-wide `pg.types` untouched. */
const pgTypes: Knex.PgCustomTypesConfig = {
  getTypeParser: (oid, format) =>
    oid === INT8_OID && format === 'text' ? parseInt8 : pg.types.getTypeParser(oid, format === 'binary' ? 'binary' : 'text'),
};

/**
 * How long a new connection to PostgreSQL may take, TLS and authentication included: a server that
 * accepts and never answers (or a network that drops the packets) fails the connection then, instead
 * of holding it for good (pg has no timeout of its own).
 */
export const POSTGRES_CONNECT_TIMEOUT_MS = 10_000;
/**
 * How long a query waits for a connection from the pool. Longer than a connection may take, so a
 * connection that fails says why (knex would otherwise report a "probably full" pool); the rest is
 * the wait for a busy pool.
 */
export const POSTGRES_ACQUIRE_TIMEOUT_MS = 3 * POSTGRES_CONNECT_TIMEOUT_MS;

function createPostgres(url: string, options: DatabaseOptions): Knex {
  const connection: Knex.PgConnectionConfig = { ...postgresConnection(url, options.ssl), types: pgTypes, connectionTimeoutMillis: POSTGRES_CONNECT_TIMEOUT_MS };
  return knexModule({
    client: 'pg',
    connection,
    searchPath: [options.schema],
    acquireConnectionTimeout: POSTGRES_ACQUIRE_TIMEOUT_MS,
    pool: { min: 0, max: options.poolMax ?? 10 },
  });
}

/**
 * Connects once before handing the pool out, so that a database the registry cannot use stops the
 * start-up with a message that names it (never with its password) and says what to change,
 * instead of a bare TLS or pg_hba.conf error from the first migration.
 */
async function connectPostgres(url: string, options: DatabaseOptions): Promise<Knex> {
  const knex = createPostgres(url, options);
  const started = Date.now();
  try {
    await knex.raw('select 1');
    return knex;
  } catch (error) {
    await knex.destroy();
    const parsed = new URL(url);
    const where = `PostgreSQL at ${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
    if (Date.now() - started >= POSTGRES_CONNECT_TIMEOUT_MS) {
      throw new Error(
        `cannot connect to ${where}: no answer within ${POSTGRES_CONNECT_TIMEOUT_MS / 1000} s (is that PostgreSQL's host and port, and does the network let the connection through?)`,
        { cause: error },
      );
    }
    const hint = connectionHint(error as Error & { code?: string });
    throw new Error(`cannot connect to ${where}: ${(error as Error).message}${hint ? ` (${hint})` : ''}`, { cause: error });
  }
}

/** What to change for the connection failures that come from TLS settings. */
function connectionHint(error: Error & { code?: string }): string | undefined {
  if (error.code === 'ERR_TLS_CERT_ALTNAME_INVALID') return "the host in DATABASE_URL must be one the server's certificate names";
  if (/certificate/i.test(error.message)) {
    return "the server's certificate could not be verified: set DATABASE_CA_CERT to the CA that signed it (sslmode=no-verify skips verification)";
  }
  if (/no encryption/.test(error.message)) return 'the server accepts TLS sessions only: set sslmode=verify-full in DATABASE_URL and DATABASE_CA_CERT';
  if (/does not support SSL/i.test(error.message)) return 'the server has TLS off: remove sslmode and DATABASE_CA_CERT, or turn ssl on in PostgreSQL';
  return undefined;
}

/** Refuses to start while another process has the embedded database open; `knex.destroy()` gives it up. */
async function createPglite(options: DatabaseOptions): Promise<Knex> {
  const directory = join(options.dataDir, 'pglite');
  await mkdir(directory, { recursive: true });
  const lockFile = join(options.dataDir, 'pglite.lock');
  const lock = await lockEmbeddedDatabase(`the embedded database in ${directory}`, lockFile, (stale) =>
    options.logger?.warn(
      { event: 'database.lock_taken_over', lockFile, stalePid: stale.pid, staleStartedAt: stale.startedAt },
      `took over the embedded database's lock from process ${stale.pid} (started ${stale.startedAt}), which is gone`,
    ),
  );
  try {
    const pglite = new LockedPGlite(directory, { parsers: { [INT8_OID]: parseInt8, [BYTEA_OID]: parseBytea } }, lock);
    await pglite.waitReady;
    // knex-pglite pins the pool to one connection (PGlite is single-session) and closes PGlite when
    // the pool destroys it; the function form hands over this instance, configured with our parsers.
    const knex = knexModule({
      client: ClientPgLite,
      connection: () => ({ pglite }) as Knex.StaticConnectionConfig,
      searchPath: [options.schema],
    });
    // Makes the pool own the connection now, so `knex.destroy()` closes PGlite even if no query ran.
    await knex.raw('select 1');
    return knex;
  } catch (error) {
    await lock.release();
    throw error;
  }
}

/** PGlite that gives up the embedded database's lock once it is closed (which `knex.destroy()` does). */
class LockedPGlite extends PGlite {
  readonly #lock: HeldLock;

  constructor(directory: string, options: PGliteOptions, lock: HeldLock) {
    super(directory, options);
    this.#lock = lock;
  }

  override async close(): Promise<void> {
    try {
      await super.close();
    } finally {
      await this.#lock.release();
    }
  }
}
