/**
 * A database and role made the way postgres-release (cf-deployment's `use-postgres.yml`) makes
 * them for a `databases.databases` / `databases.roles` entry, with its own statements, so tests
 * see exactly the privileges a registry deployed with `use-cf-postgres-database.yml` gets: login,
 * `ALL` on schema `public`, and nothing else (no `CREATE` on the database, owner of nothing).
 *
 * The statements are quoted from postgres-release v56.0.1 (what cf-deployment v58 deploys),
 * `jobs/postgres/templates/roles.sql.erb` (roles, run first) and `jobs/postgres/templates/utils.sh.erb`
 * (`create_databases`), run there by the superuser `vcap`; here by the superuser of
 * `TEST_DATABASE_URL`.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { TEST_DATABASE_URL } from './test-database.ts';

export interface PostgresReleaseDatabase {
  /** The database's and the role's name (postgres-release's examples use one name for both). */
  readonly name: string;
  /** `postgres://<role>:<password>@…/<database>`: how the registry connects. */
  readonly url: string;
  /** Runs `sql` as the superuser in this database, for setting up what an administrator would and for checking. */
  asSuperuser(sql: string, values?: unknown[]): Promise<pg.QueryResult>;
  /** Drops the database and the role. */
  drop(): Promise<void>;
}

/** A fresh, randomly named database and role on the Postgres at `TEST_DATABASE_URL`. */
export async function createPostgresReleaseDatabase(): Promise<PostgresReleaseDatabase> {
  const name = `droplet_registry_pgrelease_${randomBytes(5).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const superuser = (database: string) => async (sql: string, values?: unknown[]) => {
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = `/${database}`;
    const client = new pg.Client({ connectionString: url.href });
    await client.connect();
    try {
      return await client.query(sql, values);
    } finally {
      await client.end();
    }
  };
  const inPostgres = superuser('postgres');
  const inDatabase = superuser(name);

  // roles.sql.erb, for a role with a password and no `permissions`.
  await inPostgres(`DO
$body$
BEGIN
   IF NOT EXISTS (SELECT FROM pg_catalog.pg_user WHERE usename = '${name}') THEN
      CREATE ROLE "${name}" WITH LOGIN;
   END IF;
END
$body$;`);
  await inPostgres(`ALTER ROLE "${name}" WITH LOGIN PASSWORD '${password}'`);
  // create_databases, for a database without citext and without statement statistics.
  if ((await inPostgres(`SELECT 1 FROM pg_database WHERE datname = '${name}'`)).rowCount === 0) {
    await inPostgres(`CREATE DATABASE "${name}"`);
  }
  await inDatabase('CREATE EXTENSION IF NOT EXISTS pgcrypto');
  await inDatabase(`GRANT ALL ON schema public TO "${name}"`);

  const url = new URL(TEST_DATABASE_URL);
  url.username = name;
  url.password = password;
  url.pathname = `/${name}`;
  return {
    name,
    url: url.href,
    asSuperuser: inDatabase,
    async drop() {
      await inPostgres(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await inPostgres(`DROP ROLE IF EXISTS "${name}"`);
    },
  };
}
