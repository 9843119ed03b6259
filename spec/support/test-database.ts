/**
 * Fresh databases for tests, on both drivers the registry supports (backstage's TestDatabases).
 * Per test, where a missing Postgres skips just that test:
 *
 *   for (const db of eachDatabase()) describe(db.name, () => {
 *     it('…', async (t) => {
 *       const database = await db.create(t);
 *       if (!database) return; // skipped: Postgres unreachable
 *       t.after(() => database.cleanup());
 *
 * Per suite (a `before` hook cannot skip, so the suite is skipped up front):
 *
 *   for (const db of eachDatabase()) describe(db.name, { skip: await db.skipReason() }, () => {
 *     before(async () => { database = await db.create(); });
 *
 * Postgres comes from `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
 * each `create` makes a randomly named database there and `cleanup` drops it. Under
 * `DROPLET_REGISTRY_TEST_NO_SKIP=1` nothing is skipped: an unreachable Postgres fails the tests.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestContext } from 'node:test';
import type { Knex } from 'knex';
import pg from 'pg';
import { createDatabase } from '../../src/db/create-database.ts';
import { NO_SKIP, skipOrFail } from './requirements.ts';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** The schema test databases use: deliberately not the default, nor `public`. */
export const TEST_SCHEMA = 'registry_test';

export interface TestDatabase {
  /** Connected with `search_path` = `schema`; not migrated yet. */
  readonly knex: Knex;
  readonly schema: string;
  /** Postgres only: the fresh database's URL, to open more instances on it. */
  readonly url?: string;
  /** Destroys `knex` and drops the database (or removes the PGlite directory). */
  cleanup(): Promise<void>;
}

export interface DatabaseVariant {
  readonly name: 'postgres' | 'pglite';
  /** A fresh, empty database; `null` when Postgres is unreachable and `t` was skipped. */
  create(t: TestContext): Promise<TestDatabase | null>;
  /** A fresh, empty database; rejects with the reason when Postgres is unreachable. */
  create(): Promise<TestDatabase>;
  /** For `describe(…, { skip })`: why this database cannot be had, or false (always false under NO_SKIP). */
  skipReason(): Promise<string | false>;
}

/** Both drivers, for `for (const db of eachDatabase()) describe(db.name, …)`. */
export function eachDatabase(): DatabaseVariant[] {
  return [
    {
      name: 'postgres',
      create: createPostgresDatabase as DatabaseVariant['create'],
      skipReason: async () => (!NO_SKIP && (await checkPostgres())) || false,
    },
    { name: 'pglite', create: createPgliteDatabase, skipReason: async () => false },
  ];
}

let postgresProblem: Promise<string | null> | undefined;

/** Asked once per process: the reason Postgres cannot be used, or null. */
export function checkPostgres(): Promise<string | null> {
  postgresProblem ??= (async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      await client.query('select 1');
      return null;
    } catch (error) {
      return `Postgres at TEST_DATABASE_URL=${TEST_DATABASE_URL} is unreachable (${(error as Error).message}); start it or point TEST_DATABASE_URL elsewhere`;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return postgresProblem;
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function createPostgresDatabase(t?: TestContext): Promise<TestDatabase | null> {
  const problem = await checkPostgres();
  if (problem) {
    if (!t) throw new Error(problem);
    skipOrFail(t, problem);
    return null;
  }
  const name = `droplet_registry_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`create database "${name}"`);
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  const knex = await createDatabase({ url: url.href, schema: TEST_SCHEMA, dataDir: tmpdir(), poolMax: 4 });
  return {
    knex,
    schema: TEST_SCHEMA,
    url: url.href,
    async cleanup() {
      await knex.destroy();
      await adminQuery(`drop database if exists "${name}" with (force)`);
    },
  };
}

let pgliteTemplate: Promise<string> | undefined;

/**
 * PGlite's initdb takes seconds; each test's database is a copy of one initialised once per
 * process (removed when the process exits).
 */
function pgliteTemplateDir(): Promise<string> {
  pgliteTemplate ??= (async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'droplet-registry-pglite-template-'));
    process.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
    const knex = await createDatabase({ schema: TEST_SCHEMA, dataDir });
    await knex.destroy();
    return join(dataDir, 'pglite');
  })();
  return pgliteTemplate;
}

async function createPgliteDatabase(): Promise<TestDatabase> {
  const template = await pgliteTemplateDir();
  const dataDir = await mkdtemp(join(tmpdir(), 'droplet-registry-pglite-'));
  // cp(1) is several times faster than fs.cp on PGlite's ~1000 files.
  await promisify(execFile)('cp', ['-R', template, join(dataDir, 'pglite')]);
  const knex = await createDatabase({ schema: TEST_SCHEMA, dataDir });
  return {
    knex,
    schema: TEST_SCHEMA,
    async cleanup() {
      await knex.destroy();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
