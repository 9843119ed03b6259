/**
 * Opens the configured database (the embedded one: locks its data dir) for a command. Migrating
 * is an explicit step: `droplet-registry migrate` always migrates; the other commands migrate when
 * DATABASE_MIGRATE is on (the default, so a laptop needs no extra step) and otherwise refuse a
 * schema that is behind, naming the command that brings it up to date (the BOSH job migrates in
 * its pre-start and turns DATABASE_MIGRATE off).
 */
import { readFileSync } from 'node:fs';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Config } from '../config/load-config.ts';
import { createDatabase } from '../db/create-database.ts';
import { migrateDatabase, pendingMigrations } from '../db/migrate-database.ts';
import { startupPhase } from '../startup-phase.ts';

/** `migrate`: whether to apply pending migrations (default: DATABASE_MIGRATE). */
export async function openDatabase(config: Config, logger: Logger, options: { migrate?: boolean } = {}): Promise<Knex> {
  const { url, schema, poolMax, caCert } = config.database;
  const ssl = caCert ? { ca: readFileSync(caCert, 'utf8') } : undefined;
  const db = await startupPhase(logger, 'database.open', () => createDatabase({ url: url || undefined, schema, dataDir: config.dataDir, poolMax, ssl, logger }));
  try {
    if (options.migrate ?? config.database.migrate) await startupPhase(logger, 'database.migrate', () => migrateDatabase(db, schema));
    else await checkMigrated(db, schema);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return db;
}

async function checkMigrated(db: Knex, schema: string): Promise<void> {
  const pending = await pendingMigrations(db, schema);
  if (pending.length === 0) return;
  throw new Error(
    `the database schema ${schema} lacks ${pending.length} migration(s) (${pending.join(', ')}): run \`droplet-registry migrate\` first, or set DATABASE_MIGRATE=true`,
  );
}
