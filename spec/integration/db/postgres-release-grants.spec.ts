/**
 * The registry on a database made by postgres-release, as `use-cf-postgres-database.yml` deploys
 * it: the role may create tables in `public` and nothing more. The built CLI runs as that role the
 * way the BOSH job runs it: pre-start's `migrate`, then `import-rootfs` and `serve` with
 * DATABASE_MIGRATE=false, a pull, and `gc`.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { GcReport } from '../../../src/workers/gc-report.ts';
import { standardDroplet } from '../../support/build-droplet.ts';
import { createPostgresReleaseDatabase, type PostgresReleaseDatabase } from '../../support/postgres-release-database.ts';
import { skipOrFail } from '../../support/requirements.ts';
import { runCli } from '../../support/run-cli.ts';
import { ensureServerBuilt, startRegistry } from '../../support/start-registry.ts';
import { checkPostgres } from '../../support/test-database.ts';
import { buildTinyRootfs, writeDroplet } from '../../support/test-registry.ts';

const GUID = '55555555-5555-4555-8555-555555555555';
const REPOSITORY = 'my-org/dev/hello';

describe("the registry as a role with postgres-release's grants (ALL on schema public, nothing else)", { skip: skipOrFail(await checkPostgres()) }, () => {
  let work: string;
  let rootfs: string;

  before(async () => {
    await ensureServerBuilt();
    work = await mkdtemp(join(tmpdir(), 'postgres-release-grants-'));
    rootfs = join(work, 'rootfs.tgz');
    await writeFile(rootfs, await buildTinyRootfs());
  });

  after(() => rm(work, { recursive: true, force: true }));

  /** A postgres-release database and the job's environment for it (migrations only by `migrate`), dropped after the test. */
  const deployment = async (t: TestContext, schema: string) => {
    const database = await createPostgresReleaseDatabase();
    t.after(() => database.drop());
    const dir = await mkdtemp(join(work, 'instance-'));
    const env = {
      DATABASE_URL: database.url,
      DATABASE_SCHEMA: schema,
      DATABASE_MIGRATE: 'false',
      DATA_DIR: join(dir, 'data'),
      DROPLETS_DIR: join(dir, 'droplets'),
      STACKS: `cflinuxfs4=${rootfs}`,
    };
    return { database, env, dropletsDir: env.DROPLETS_DIR };
  };

  const tablesIn = async (database: PostgresReleaseDatabase, schema: string) =>
    (await database.asSuperuser('select tablename, tableowner from pg_tables where schemaname = $1 order by tablename', [schema])).rows as Array<{ tablename: string; tableowner: string }>;

  it('the role is exactly what postgres-release makes: no CREATE on its database, CREATE in public', async (t) => {
    const { database } = await deployment(t, 'public');
    const privileges = await database.asSuperuser(
      "select has_database_privilege($1, current_database(), 'CREATE') as database_create, has_schema_privilege($1, 'public', 'CREATE') as public_create, (select rolsuper or rolcreatedb or rolcreaterole from pg_roles where rolname = $1) as powers",
      [database.name],
    );
    assert.deepEqual(privileges.rows[0], { database_create: false, public_create: true, powers: false });
  });

  it('migrate, import-rootfs, serve (not migrating), a pull and gc all work in schema public', async (t) => {
    const { database, env, dropletsDir } = await deployment(t, 'public');
    await writeDroplet(dropletsDir, {
      org: 'my-org', space: 'dev', app: 'hello', guid: GUID,
      bytes: await standardDroplet({ startCommand: './run.sh' }),
      json: { guid: GUID, state: 'STAGED', stack: 'cflinuxfs4', created_at: '2024-01-01T00:00:00Z', process_types: { web: './run.sh' } },
    });

    const migrated = await runCli(['migrate'], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    const tables = await tablesIn(database, 'public');
    assert.ok(tables.some(({ tablename }) => tablename === 'images'), `tables in public: ${JSON.stringify(tables)}`);
    assert.deepEqual(new Set(tables.map(({ tableowner }) => tableowner)), new Set([database.name]), 'every table belongs to the role');

    const imported = await runCli(['import-rootfs'], env);
    assert.equal(imported.code, 0, imported.stderr);

    const registry = await startRegistry({ env });
    try {
      const answer = await fetch(`${registry.url}/v2/${REPOSITORY}/manifests/latest`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(answer.status, 200, `${await answer.clone().text()}\n${registry.logs()}`);
      const manifest = (await answer.json()) as { config: { digest: string }; layers: Array<{ digest: string }> };
      for (const { digest } of [manifest.config, ...manifest.layers]) {
        const blob = await fetch(`${registry.url}/v2/${REPOSITORY}/blobs/${digest}`);
        assert.equal(blob.status, 200, digest);
        assert.equal(`sha256:${createHash('sha256').update(Buffer.from(await blob.arrayBuffer())).digest('hex')}`, digest);
      }
    } finally {
      await registry.stop();
    }

    await rm(join(dropletsDir, 'my-org', 'dev', 'hello'), { recursive: true });
    const gc = await runCli(['gc', '--json'], env);
    assert.equal(gc.code, 0, gc.stderr);
    const report = JSON.parse(gc.stdout) as GcReport;
    assert.equal(report.imagesRemoved.length, 1, gc.stdout);
  });

  it('migrates into a schema an administrator made for the role, without creating it again', async (t) => {
    const { database, env } = await deployment(t, 'registry');
    await database.asSuperuser(`create schema registry authorization "${database.name}"`);
    const migrated = await runCli(['migrate'], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.ok((await tablesIn(database, 'registry')).some(({ tablename }) => tablename === 'images'));
    assert.deepEqual(await tablesIn(database, 'public'), []);
  });

  it('a schema the role may not create: migrate says which setting to change or what the owner must run', async (t) => {
    const { database, env } = await deployment(t, 'droplet_registry');
    const migrated = await runCli(['migrate'], env);
    assert.notEqual(migrated.code, 0);
    assert.match(migrated.stderr, new RegExp(`cannot create the schema droplet_registry: role ${database.name} may not create schemas in database ${database.name}`));
    assert.match(migrated.stderr, /Set database\.schema \(DATABASE_SCHEMA\) to a schema the role may create tables in, such as public/);
    assert.match(migrated.stderr, new RegExp(`create schema "droplet_registry" authorization "${database.name}"`));
  });

  it('serve with DATABASE_MIGRATE=false on a database never migrated refuses, names `droplet-registry migrate`, and creates nothing', async (t) => {
    const { database, env } = await deployment(t, 'public');
    const served = await runCli(['serve'], { ...env, PORT: '0' });
    assert.equal(served.code, 1, served.stderr);
    assert.match(served.stderr, /lacks \d+ migration\(s\) .*run `droplet-registry migrate` first/);
    assert.deepEqual(await tablesIn(database, 'public'), []);
  });
});
