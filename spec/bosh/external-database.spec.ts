/**
 * The documented external-database path, end to end: cf-deployment v58 as released (its default
 * MySQL for Cloud Foundry) with add-droplet-registry.yml, use-external-database.yml and
 * use-cf-blobstore.yml, interpolated by the real bosh CLI with an operator's vars file pointing at
 * a PostgreSQL of the operator's own — here a private one that accepts TLS sessions only, its
 * certificate signed by a throwaway CA, the role and database made as manifests/README.md tells
 * the operator (a role that may create tables in schema public, nothing more). The registry's job
 * is rendered from the result, and `droplet-registry migrate` run with the rendered config.json
 * (as pre-start runs it) creates the registry's tables over verified TLS; with another CA in the
 * vars file it is refused.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { stringify as toYaml } from 'yaml';
import { privatePostgresProblem, startPrivatePostgres, type PrivatePostgres } from '../support/private-postgres.ts';
import { skipOrFail } from '../support/requirements.ts';
import { runCli } from '../support/run-cli.ts';
import { ensureServerBuilt } from '../support/start-registry.ts';
import { makeThrowawayCertificates, throwawayCaProblem } from '../support/throwaway-ca.ts';
import { cfDeploymentProblem, documentedDeployments, interpolateCfDeployment } from './support/cf-deployment.ts';
import { cloudControllerLinks } from './support/cloud-controller-links.ts';
import { boshTemplateProblem, defaultLinks, relocate, renderJob, TOKEN_SIGNING_KEY } from './support/render-job.ts';

const problem = cfDeploymentProblem() ?? boshTemplateProblem() ?? privatePostgresProblem() ?? throwawayCaProblem();
const ROLE = 'droplet_registry';
const PASSWORD = 'operator-chosen-password';

describe("use-external-database.yml on cf-deployment's default MySQL, against a PostgreSQL of the operator's own", { skip: skipOrFail(problem) }, () => {
  const scratch = mkdtempSync(join(tmpdir(), 'dr-bosh-external-db-'));
  let postgres: PrivatePostgres;
  let ca: string;

  /** Runs `sql` as the database's owner (the `postgres` superuser, over the suite's unix socket). */
  const asOwner = async (database: string, sql: string): Promise<pg.QueryResult> => {
    const client = new pg.Client({ host: postgres.socketDir, port: postgres.port, user: 'postgres', database });
    await client.connect();
    try {
      return await client.query(sql);
    } finally {
      await client.end();
    }
  };

  /**
   * The documented deployment with the operator's vars file (`caCert` as its CA), its job rendered
   * with the links the director gives it, config.json and its CA file laid out on a stand-in VM:
   * returns the config file's path there.
   */
  const deploy = async (name: string, caCert: string): Promise<{ configFile: string; hasPostgresJob: boolean }> => {
    const row = documentedDeployments().find((candidate) => candidate.opsFiles.includes('use-external-database.yml') && !candidate.opsFiles.includes('enable-unauthenticated-pulls.yml'));
    assert.ok(row, "manifests/README.md's Tested table has the external database");
    assert.deepEqual(row.cfOpsFiles, [], "cf-deployment as released: MySQL for Cloud Foundry's own databases");
    const dir = join(scratch, name);
    mkdirSync(dir);
    const varsFile = join(dir, 'vars-use-external-database.yml');
    writeFileSync(
      varsFile,
      toYaml({
        droplet_registry_external_database_host: '127.0.0.1',
        droplet_registry_external_database_port: postgres.port,
        droplet_registry_external_database_name: 'droplet_registry',
        droplet_registry_external_database_username: ROLE,
        droplet_registry_external_database_password: PASSWORD,
        droplet_registry_external_database_ca_cert: caCert,
      }),
    );
    const tokenKeyFile = join(dir, 'token-key.pem');
    writeFileSync(tokenKeyFile, TOKEN_SIGNING_KEY);
    const manifest = await interpolateCfDeployment({ cfOpsFiles: row.cfOpsFiles, opsFiles: row.opsFiles, resolve: true, varsFiles: [varsFile], varFiles: { droplet_registry_token_signing_key: tokenKeyFile } });
    const properties = manifest.job('droplet-registry', 'droplet-registry').properties ?? {};
    const links = { ...defaultLinks(manifest.group('droplet-registry').instances), ...cloudControllerLinks(manifest.manifest) };
    const files = await renderJob({ properties, links, templates: ['config.json.erb', 'database_ca.crt.erb'] });
    const vm = join(dir, 'vm');
    for (const [destination, content] of Object.entries(files)) {
      const path = join(vm, 'var/vcap/jobs/droplet-registry', destination);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, relocate(content, vm));
    }
    mkdirSync(join(vm, 'var/vcap/data/droplet-registry/tmp'), { recursive: true });
    const hasPostgresJob = manifest.manifest.instance_groups.some((group) => group.jobs.some((job) => job.name === 'postgres'));
    return { configFile: join(vm, 'var/vcap/jobs/droplet-registry/config/config.json'), hasPostgresJob };
  };

  before(async () => {
    if (problem) throw new Error(problem);
    await ensureServerBuilt();
    const certificates = makeThrowawayCertificates();
    ca = certificates.ca;
    postgres = await startPrivatePostgres({ tls: certificates });
    // What manifests/README.md asks of the operator: a role that may create tables in schema public.
    await asOwner('postgres', `create role ${ROLE} with login password '${PASSWORD}'`);
    await asOwner('postgres', 'create database droplet_registry');
    await asOwner('droplet_registry', `grant all on schema public to ${ROLE}`);
  });
  after(async () => {
    await postgres?.destroy();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("migrates over TLS verified against the vars file's CA, the tables in public owned by the operator's role", async () => {
    const { configFile, hasPostgresJob } = await deploy('verified', ca);
    assert.equal(hasPostgresJob, false, "Cloud Foundry stays on cf-deployment's MySQL");
    const result = await runCli(['migrate', '--config', configFile], {}, { timeoutMs: 120_000 });
    assert.equal(result.code, 0, `${result.stderr}${result.stdout}`);
    const tables = await asOwner('droplet_registry', "select tablename, tableowner from pg_tables where schemaname = 'public' order by tablename");
    assert.ok(tables.rows.length > 3, JSON.stringify(tables.rows));
    assert.deepEqual([...new Set(tables.rows.map((row: { tableowner: string }) => row.tableowner))], [ROLE]);
    assert.ok(tables.rows.some((row: { tablename: string }) => row.tablename === 'images'));
  });

  it('is refused when the vars file gives a CA that did not sign the server certificate', async () => {
    const { configFile } = await deploy('other-ca', makeThrowawayCertificates().ca);
    const result = await runCli(['migrate', '--config', configFile], {}, { timeoutMs: 120_000 });
    assert.notEqual(result.code, 0);
    assert.match(`${result.stderr}${result.stdout}`, /self-signed certificate in certificate chain|unable to verify the first certificate|unable to get local issuer certificate/);
  });
});
