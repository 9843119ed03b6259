/**
 * TLS to PostgreSQL for real: a private Postgres with `ssl=on` that accepts TLS sessions only
 * (hostssl), its certificate signed by a throwaway CA. The registry is built the way `serve` builds
 * it (DATABASE_URL with an `sslmode`, DATABASE_CA_CERT) and pulls an image through it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { standardDroplet } from '../../support/build-droplet.ts';
import { privatePostgresProblem, startPrivatePostgres, type PrivatePostgres } from '../../support/private-postgres.ts';
import { skipOrFail } from '../../support/requirements.ts';
import { buildTinyRootfs, createTestRegistry, writeDroplet } from '../../support/test-registry.ts';
import { makeThrowawayCertificates, throwawayCaProblem, type ThrowawayCertificates } from '../../support/throwaway-ca.ts';

const GUID = '44444444-4444-4444-8444-444444444444';
const problem = privatePostgresProblem() ?? throwawayCaProblem();

describe('database TLS (a private Postgres that accepts TLS sessions only)', { skip: skipOrFail(problem) }, () => {
  let work: string;
  let dropletsDir: string;
  let rootfsPath: string;
  let caPath: string;
  let otherCaPath: string;
  let certificates: ThrowawayCertificates;
  let postgres: PrivatePostgres;

  /** DATABASE_URL with `sslmode` (none when null), in its own database so every test starts empty. */
  const databaseUrl = async (sslmode: string | null): Promise<string> => {
    const name = `registry_${Math.random().toString(36).slice(2, 10)}`;
    await overSocket(`create database ${name}`);
    const url = new URL(postgres.url);
    url.pathname = `/${name}`;
    if (sslmode) url.searchParams.set('sslmode', sslmode);
    return url.href;
  };

  /** A query through the unix socket, the suite's own way in that needs no TLS. */
  const overSocket = async (sql: string): Promise<pg.QueryResult> => {
    const client = new pg.Client({ host: postgres.socketDir, port: postgres.port, user: 'postgres', database: 'postgres' });
    await client.connect();
    try {
      return await client.query(sql);
    } finally {
      await client.end();
    }
  };

  const startRegistry = (url: string, env: Record<string, string> = {}) =>
    createTestRegistry({ databaseUrl: url, stacks: { cflinuxfs4: rootfsPath }, dropletsDir, env });

  before(async () => {
    certificates = makeThrowawayCertificates();
    postgres = await startPrivatePostgres({ tls: certificates });
    work = await mkdtemp(join(tmpdir(), 'database-tls-'));
    dropletsDir = join(work, 'droplets');
    rootfsPath = join(work, 'rootfs.tgz');
    caPath = join(work, 'ca.pem');
    otherCaPath = join(work, 'other-ca.pem');
    await writeFile(rootfsPath, await buildTinyRootfs());
    await writeFile(caPath, certificates.ca);
    await writeFile(otherCaPath, makeThrowawayCertificates().ca);
    await writeDroplet(dropletsDir, {
      org: 'my-org', space: 'dev', app: 'hello', guid: GUID,
      bytes: await standardDroplet({ startCommand: './run.sh' }),
      json: { guid: GUID, state: 'STAGED', stack: 'cflinuxfs4', created_at: '2024-01-01T00:00:00Z', process_types: { web: './run.sh' } },
    });
  });

  after(async () => {
    await postgres?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('with sslmode=verify-full and DATABASE_CA_CERT, pulls an image over sessions the server sees encrypted', async () => {
    const registry = await startRegistry(await databaseUrl('verify-full'), { DATABASE_CA_CERT: caPath });
    try {
      const manifest = await registry.registry.server.inject({ method: 'GET', url: '/v2/my-org/dev/hello/manifests/latest' });
      assert.equal(manifest.statusCode, 200, manifest.payload);
      const own = await registry.registry.db.raw('select ssl, version from pg_stat_ssl where pid = pg_backend_pid()');
      assert.equal(own.rows[0]?.ssl, true);
      assert.match(own.rows[0]?.version, /^TLSv1\.[23]$/);
      // Every TCP session the server has open (the registry's pool, its LISTEN) is a TLS one.
      const sessions = await overSocket('select s.ssl from pg_stat_ssl s join pg_stat_activity a using (pid) where a.client_addr is not null');
      assert.ok(sessions.rows.length > 0);
      assert.ok(sessions.rows.every((row: { ssl: boolean }) => row.ssl), JSON.stringify(sessions.rows));
    } finally {
      await registry.close();
    }
  });

  it('with a CA that did not sign the server certificate, refuses to start, naming the database', async () => {
    const url = await databaseUrl('verify-full');
    await assert.rejects(startRegistry(url, { DATABASE_CA_CERT: otherCaPath }), (error: Error) => {
      assert.match(error.message, /cannot connect to PostgreSQL at 127\.0\.0\.1:\d+\/registry_\w+/);
      assert.match(error.message, /certificate/);
      assert.match(error.message, /DATABASE_CA_CERT/);
      assert.doesNotMatch(error.message, new RegExp(postgres.password), 'no password in the message');
      return true;
    });
  });

  it('with sslmode=require (verified like verify-full, as node-postgres does) and no CA, refuses the unknown certificate', async () => {
    await assert.rejects(startRegistry(await databaseUrl('require')), /cannot connect to PostgreSQL at 127\.0\.0\.1:\d+\/registry_\w+.*certificate/s);
  });

  it('with sslmode=disable, is refused by a server that takes TLS sessions only, and says so', async () => {
    await assert.rejects(startRegistry(await databaseUrl('disable'), { DATABASE_CA_CERT: caPath }), (error: Error) => {
      assert.match(error.message, /cannot connect to PostgreSQL at 127\.0\.0\.1:\d+\/registry_\w+/);
      assert.match(error.message, /no encryption/);
      assert.match(error.message, /sslmode/);
      return true;
    });
  });

  it("with a host the server's certificate does not name, refuses to start and says the host is wrong", async () => {
    const elsewhere = makeThrowawayCertificates(['DNS:db.example.com']);
    const misnamed = await startPrivatePostgres({ tls: elsewhere });
    try {
      const misnamedCa = join(work, 'misnamed-ca.pem');
      await writeFile(misnamedCa, elsewhere.ca);
      await assert.rejects(startRegistry(`${misnamed.url}?sslmode=verify-full`, { DATABASE_CA_CERT: misnamedCa }), (error: Error) => {
        assert.match(error.message, /cannot connect to PostgreSQL at 127\.0\.0\.1:\d+\/postgres/);
        assert.match(error.message, /the host in DATABASE_URL must be one the server's certificate names/);
        return true;
      });
    } finally {
      await misnamed.destroy();
    }
  });

  it('with sslmode=no-verify, connects encrypted without any CA', async () => {
    const registry = await startRegistry(await databaseUrl('no-verify'));
    try {
      const own = await registry.registry.db.raw('select ssl from pg_stat_ssl where pid = pg_backend_pid()');
      assert.equal(own.rows[0]?.ssl, true);
    } finally {
      await registry.close();
    }
  });
});
