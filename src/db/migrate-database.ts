/**
 * Runs the knex migrations in `migrations/` into the registry's schema, once, however many
 * instances start together.
 *
 * @remarks
 * knex's own `knex_migrations_lock` makes a second concurrent migrator *fail* ("Migration table is
 * already locked"), which would crash every instance but one when a deployment starts them
 * together. A session-level `pg_advisory_lock`, held on a connection of its own, makes the others
 * wait instead; when they get the lock the migrations are done and `latest` has nothing to do.
 * PGlite is one session in one process, so there is nobody to wait for (and its single
 * connection could not be spared for the lock anyway).
 */
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import type pg from 'pg';
import { isEmbeddedDatabase } from './create-database.ts';

/** `<repo>/migrations`, the same two levels up from `src/db/` and from the compiled `dist/db/`. */
export const MIGRATIONS_DIRECTORY = fileURLToPath(new URL('../../migrations', import.meta.url));

function migratorConfig(schema: string): Knex.MigratorConfig {
  return {
    directory: MIGRATIONS_DIRECTORY,
    schemaName: schema,
    tableName: 'knex_migrations',
    loadExtensions: ['.js'],
  };
}

/** Creates `schema` if needed and applies every pending migration. */
export async function migrateDatabase(knex: Knex, schema: string): Promise<void> {
  await withMigrationLock(knex, schema, async () => {
    await ensureSchema(knex, schema);
    await knex.migrate.latest(migratorConfig(schema));
  });
}

/**
 * Creates `schema` only when it does not exist yet.
 *
 * @remarks
 * `create schema if not exists` is no substitute: PostgreSQL checks the `CREATE` privilege on the
 * database before it looks for the schema, so it fails for a role that may create tables in an
 * existing schema and nothing more — exactly what postgres-release (cf-deployment's
 * `use-postgres.yml`) grants: `ALL` on schema `public`.
 */
async function ensureSchema(knex: Knex, schema: string): Promise<void> {
  const { rows } = await knex.raw<{ rows: unknown[] }>('select 1 from pg_catalog.pg_namespace where nspname = ?', [schema]);
  if (rows.length > 0) return;
  try {
    await knex.raw('create schema ??', [schema]);
  } catch (error) {
    if ((error as { code?: string }).code !== INSUFFICIENT_PRIVILEGE) throw error;
    const { rows: who } = await knex.raw<{ rows: Array<{ role: string; database: string }> }>('select current_user as role, current_database() as database');
    const { role, database } = who[0]!;
    throw new Error(
      `cannot create the schema ${schema}: role ${role} may not create schemas in database ${database} (${(error as Error).message}). ` +
        `Set database.schema (DATABASE_SCHEMA) to a schema the role may create tables in, such as public, ` +
        `or have the database's owner run: create schema "${schema}" authorization "${role}"`,
      { cause: error },
    );
  }
}

/** SQLSTATE 42501, e.g. `permission denied for database …`. */
const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * The migrations not yet applied to `schema` (file names, oldest first); all of them when the
 * schema has never been migrated. Reads only: no table is created, no lock taken.
 */
export async function pendingMigrations(knex: Knex, schema: string): Promise<string[]> {
  const files = (await readdir(MIGRATIONS_DIRECTORY)).filter((file) => file.endsWith('.js')).sort();
  if (!(await knex.schema.withSchema(schema).hasTable('knex_migrations'))) return files;
  const applied = new Set((await knex.withSchema(schema).select('name').from('knex_migrations')).map((row: { name: string }) => row.name));
  return files.filter((file) => !applied.has(file));
}

/** Reverts every migration (all batches); the schema itself stays. For tests and operators. */
export async function rollbackDatabase(knex: Knex, schema: string): Promise<void> {
  await withMigrationLock(knex, schema, async () => {
    await knex.migrate.rollback(migratorConfig(schema), true);
  });
}

async function withMigrationLock(knex: Knex, schema: string, work: () => Promise<void>): Promise<void> {
  if (isEmbeddedDatabase(knex)) {
    await work();
    return;
  }
  // A raw connection outside the pool: the lock lives as long as this session, and the pool keeps
  // all its connections for the migrations (even with poolMax 1).
  const session = (await knex.client.acquireRawConnection()) as pg.Client;
  try {
    await session.query('select pg_advisory_lock(hashtextextended($1, 0))', [`droplet-registry migrations ${schema}`]);
    await work();
  } finally {
    // Ending the session releases the lock, also when the work failed half-way.
    await knex.client.destroyRawConnection(session);
  }
}
