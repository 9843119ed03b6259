/**
 * Trust as on a BOSH VM: the director's `trusted_certs` (and an operator's company CAs) are in the
 * system store, which the registry trusts besides Node's own; a `*_CA_CERT` setting adds a CA to
 * that trust instead of replacing it. The built CLI runs with a throwaway CA as its whole system
 * store — SSL_CERT_FILE, with SSL_CERT_DIR an empty directory, which Node's system store reads on
 * Linux as OpenSSL does — so this machine's own store is neither used nor changed. Servers: a
 * private PostgreSQL that accepts TLS only, and the CAPI and UAA simulators and an S3 server
 * (s3rver) behind TLS.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { standardDroplet } from '../../support/build-droplet.ts';
import { capiSourceEnv, seedFoundation, startCfSimulator, type CfSimulator, type SeededFoundation } from '../../support/cf-simulator/index.ts';
import { privatePostgresProblem, startPrivatePostgres, type PrivatePostgres } from '../../support/private-postgres.ts';
import { skipOrFail } from '../../support/requirements.ts';
import { runCli } from '../../support/run-cli.ts';
import { S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, startS3Server, type S3TestServer } from '../../support/s3-server.ts';
import { ensureServerBuilt, startRegistry } from '../../support/start-registry.ts';
import { buildTinyRootfs } from '../../support/test-registry.ts';
import { makeThrowawayCertificates, throwawayCaProblem, type ThrowawayCertificates } from '../../support/throwaway-ca.ts';
import { startTlsFront, type TlsFront } from '../../support/tls-front.ts';

const problem = privatePostgresProblem() ?? throwawayCaProblem();

describe('trust: the system store, plus the CA settings', { skip: skipOrFail(problem) }, () => {
  let work: string;
  /** The CA of every server here, as BOSH's trusted_certs would put it in the system store. */
  let foundationCa: ThrowawayCertificates;
  /** A CA of no server here: what an operator's `*_CA_CERT` names for something else. */
  let otherCaFile: string;
  /** The system store holding the foundation's CA, and one holding only the other CA. */
  let trustingStore: Record<string, string>;
  let unrelatedStore: Record<string, string>;
  let postgres: PrivatePostgres;
  let cf: CfSimulator;
  let seeded: SeededFoundation;
  let capi: TlsFront;
  let uaa: TlsFront;
  let s3: S3TestServer;
  let s3Front: TlsFront;
  let rootfs: string;

  before(async () => {
    await ensureServerBuilt();
    work = await mkdtemp(join(tmpdir(), 'system-trust-'));
    foundationCa = makeThrowawayCertificates();
    const other = makeThrowawayCertificates();
    otherCaFile = join(work, 'other-ca.pem');
    await writeFile(otherCaFile, other.ca);
    await mkdir(join(work, 'empty-cert-dir'));
    await writeFile(join(work, 'foundation-bundle.pem'), foundationCa.ca);
    trustingStore = { SSL_CERT_FILE: join(work, 'foundation-bundle.pem'), SSL_CERT_DIR: join(work, 'empty-cert-dir') };
    unrelatedStore = { SSL_CERT_FILE: otherCaFile, SSL_CERT_DIR: join(work, 'empty-cert-dir') };

    postgres = await startPrivatePostgres({ tls: foundationCa });
    cf = await startCfSimulator();
    seeded = seedFoundation(cf, { dropletBytes: ({ startCommand }) => standardDroplet({ startCommand }) });
    capi = await startTlsFront(cf.capiUrl, foundationCa);
    uaa = await startTlsFront(cf.uaaUrl, foundationCa);
    s3 = await startS3Server();
    s3Front = await startTlsFront(s3.endpoint, foundationCa);
    rootfs = join(work, 'rootfs.tgz');
    await writeFile(rootfs, await buildTinyRootfs());
  });

  after(async () => {
    await capi?.close();
    await uaa?.close();
    await s3Front?.close();
    await s3?.stop();
    await cf?.stop();
    await postgres?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const databaseUrl = () => {
    const url = new URL(postgres.url);
    url.searchParams.set('sslmode', 'verify-full');
    return url.href;
  };

  describe('PostgreSQL', () => {
    it('is trusted through the system store, with no DATABASE_CA_CERT', async () => {
      const migrated = await runCli(['migrate'], { DATABASE_URL: databaseUrl(), DATA_DIR: join(work, 'pg-system'), ...trustingStore });
      assert.equal(migrated.code, 0, migrated.stderr);
    });

    it('is still trusted through the system store when DATABASE_CA_CERT names another CA', async () => {
      const migrated = await runCli(['migrate'], { DATABASE_URL: databaseUrl(), DATABASE_CA_CERT: otherCaFile, DATA_DIR: join(work, 'pg-added'), ...trustingStore });
      assert.equal(migrated.code, 0, migrated.stderr);
    });

    it('is refused when neither the system store nor DATABASE_CA_CERT has its CA, saying what to set', async () => {
      const migrated = await runCli(['migrate'], { DATABASE_URL: databaseUrl(), DATA_DIR: join(work, 'pg-refused'), ...unrelatedStore });
      assert.equal(migrated.code, 1);
      assert.match(migrated.stderr, /the server's certificate could not be verified: set DATABASE_CA_CERT/);
    });
  });

  describe('an S3-compatible store (no CA setting of its own)', () => {
    /** `import-rootfs` writes the rootfs into the bucket through TLS. */
    const importWith = (name: string, store: Record<string, string>) =>
      runCli(['import-rootfs'], {
        DATA_DIR: join(work, name),
        STACKS: `cflinuxfs4=${rootfs}`,
        BLOBSTORE: 's3',
        S3_ENDPOINT: s3Front.url,
        S3_FORCE_PATH_STYLE: 'true',
        S3_BUCKET: s3.bucket,
        S3_REGION: s3.region,
        S3_ACCESS_KEY_ID,
        S3_SECRET_ACCESS_KEY,
        S3_PREFIX: name,
        ...store,
      });

    it('is trusted through the system store', async () => {
      const imported = await importWith('s3-system', trustingStore);
      assert.equal(imported.code, 0, imported.stderr);
      const digest = /^cflinuxfs4\tsha256:([0-9a-f]{64})\t/m.exec(imported.stdout)?.[1];
      assert.ok(digest, imported.stdout);
      assert.ok((await s3.listKeys('s3-system/')).includes(`blobs/sha256/${digest}`), 'the rootfs is in the bucket');
    });

    it('is refused when the system store lacks its CA', async () => {
      const imported = await importWith('s3-refused', unrelatedStore);
      assert.equal(imported.code, 1);
      assert.match(imported.stderr, /self-signed|unable to (get|verify)/i);
    });
  });

  describe('Cloud Controller and UAA', () => {
    /** The registry on the simulated foundation behind TLS; the manifest answer of one pull. */
    const pullWith = async (env: Record<string, string>) => {
      const registry = await startRegistry({
        env: {
          ...capiSourceEnv(cf, seeded),
          CAPI_URL: capi.url,
          UAA_URL: uaa.url,
          STACKS: `cflinuxfs4=${rootfs}`,
          ...env,
        },
      });
      try {
        const answer = await fetch(`${registry.url}/v2/acme/development/web/manifests/latest`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
        return { status: answer.status, body: await answer.text(), logs: registry.logs() };
      } finally {
        await registry.stop();
      }
    };

    it('are trusted through the system store, with no CAPI_CA_CERT or UAA_CA_CERT', async () => {
      const pulled = await pullWith(trustingStore);
      assert.equal(pulled.status, 200, `${pulled.body}\n${pulled.logs}`);
    });

    it('are still trusted through the system store when CAPI_CA_CERT and UAA_CA_CERT name another CA', async () => {
      const pulled = await pullWith({ ...trustingStore, CAPI_CA_CERT: otherCaFile, UAA_CA_CERT: otherCaFile });
      assert.equal(pulled.status, 200, `${pulled.body}\n${pulled.logs}`);
    });

    it('are refused when the system store lacks their CA: the pull answers 503', async () => {
      const pulled = await pullWith(unrelatedStore);
      assert.equal(pulled.status, 503, pulled.body);
      assert.match(pulled.body, /UNAVAILABLE/);
    });
  });
});
