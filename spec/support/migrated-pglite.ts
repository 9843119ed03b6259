/**
 * A migrated, in-memory PGlite for unit specs of modules that really need the registry's tables
 * (garbage collection's queries), as fast as PGlite allows in the unit tier.
 *
 * @remarks
 * PGlite's initdb takes several seconds; loading a dump of an initialised and migrated cluster
 * takes about one. The dump is made once and kept in the system temp directory under a name
 * derived from the PGlite version, the migration runner and the migrations' contents, so a changed
 * migration (or PGlite upgrade) makes a new one; concurrent test processes that both miss it each
 * write their own and rename it into place, so nobody reads a half-written file; older snapshots
 * are removed when a new one is written. The database lives in memory only: `destroy` leaves
 * nothing behind. The connection is configured as `createDatabase` configures an embedded one
 * (search path, int8 and bytea parsers).
 *
 * A process that ran PGlite also waits, when it exits, for V8 to finish optimising PGlite's
 * WebAssembly in the background (about two seconds, overlapping the tests); `node --liftoff-only`
 * (which the test runner hands on to each spec's process) skips that optimisation.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import knexModule, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import { migrateDatabase, MIGRATIONS_DIRECTORY } from '../../src/db/migrate-database.ts';
import { BYTEA_OID, INT8_OID, parseBytea, parseInt8 } from '../../src/db/type-parsers.ts';
import { TEST_SCHEMA } from './test-database.ts';

const PARSERS = { [INT8_OID]: parseInt8, [BYTEA_OID]: parseBytea };

/** The installed PGlite's version (its package.json is not among its exports: found from its entry point). */
function pgliteVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite'))); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const { name, version } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
    if (name === '@electric-sql/pglite' && version) return version;
  }
  throw new Error('cannot find the version of the installed @electric-sql/pglite');
}

/** What the snapshot depends on: PGlite's version, the schema name, the migration runner and every migration. */
function snapshotKey(): string {
  const hash = createHash('sha256');
  hash.update(pgliteVersion());
  hash.update(TEST_SCHEMA);
  hash.update(readFileSync(fileURLToPath(import.meta.resolve('../../src/db/migrate-database.ts'))));
  for (const name of readdirSync(MIGRATIONS_DIRECTORY).sort()) hash.update(name).update(readFileSync(join(MIGRATIONS_DIRECTORY, name)));
  return hash.digest('hex').slice(0, 16);
}

function knexOn(pglite: PGlite): Knex {
  return knexModule({ client: ClientPgLite, connection: () => ({ pglite }) as Knex.StaticConnectionConfig, searchPath: [TEST_SCHEMA] });
}

const SNAPSHOT_PREFIX = 'droplet-registry-pglite-migrated-';

/** Snapshots of earlier migrations (or PGlite versions) are of no more use: one is kept, not one per change. */
async function removeOtherSnapshots(current: string): Promise<void> {
  for (const name of await readdir(tmpdir())) {
    if (name.startsWith(SNAPSHOT_PREFIX) && name.endsWith('.tar.gz') && name !== basename(current)) await rm(join(tmpdir(), name), { force: true });
  }
}

let snapshot: Promise<Blob> | undefined;

/** The migrated cluster's dump (gzip), made on first use and kept across test runs. */
function migratedSnapshot(): Promise<Blob> {
  snapshot ??= (async () => {
    const file = join(tmpdir(), `${SNAPSHOT_PREFIX}${snapshotKey()}.tar.gz`);
    try {
      return new Blob([await readFile(file)]);
    } catch {
      // Not made yet: initdb and migrate once.
    }
    const pglite = new PGlite({ parsers: PARSERS });
    const knex = knexOn(pglite);
    try {
      await migrateDatabase(knex, TEST_SCHEMA);
      const dump = await pglite.dumpDataDir('gzip');
      const partial = `${file}.${process.pid}.partial`;
      await writeFile(partial, Buffer.from(await dump.arrayBuffer()));
      await rename(partial, file).catch(async () => rm(partial, { force: true }));
      await removeOtherSnapshots(file);
      return dump;
    } finally {
      await knex.destroy();
    }
  })();
  return snapshot;
}

/** A fresh database with every migration applied; `knex.destroy()` closes it. */
export async function createMigratedPglite(): Promise<Knex> {
  const pglite = new PGlite({ loadDataDir: await migratedSnapshot(), parsers: PARSERS });
  const knex = knexOn(pglite);
  await knex.raw('select 1');
  return knex;
}
