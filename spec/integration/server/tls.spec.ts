/**
 * The HTTPS listener (TLS_CERT and TLS_KEY): a registry started with a certificate from a
 * throwaway CA answers over HTTPS to a client trusting that CA, not to plain HTTP; a key that is
 * not the certificate's, or only one of the two settings, stops the start with a message naming
 * the setting.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../../src/config/load-config.ts';
import { skipOrFail } from '../../support/requirements.ts';
import { makeThrowawayCertificates, throwawayCaProblem, type ThrowawayCertificates } from '../../support/throwaway-ca.ts';
import { buildTinyRootfs, createTestRegistry, type TestRegistry } from '../../support/test-registry.ts';

const caProblem = throwawayCaProblem();

function get(url: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { ca }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('the HTTPS listener', { skip: skipOrFail(caProblem) }, () => {
  let work: string;
  let rootfs: string;
  let certs: ThrowawayCertificates;
  let files: { cert: string; key: string; otherKey: string };
  let registry: TestRegistry;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tls-listener-'));
    rootfs = join(work, 'rootfs.tgz');
    await writeFile(rootfs, await buildTinyRootfs());
    certs = makeThrowawayCertificates();
    files = { cert: join(work, 'tls.crt'), key: join(work, 'tls.key'), otherKey: join(work, 'other.key') };
    await writeFile(files.cert, certs.cert);
    await writeFile(files.key, certs.key);
    await writeFile(files.otherKey, makeThrowawayCertificates().key);
    registry = await createTestRegistry({ stacks: { cflinuxfs4: rootfs }, dropletsDir: join(work, 'droplets'), env: { TLS_CERT: files.cert, TLS_KEY: files.key } });
    await registry.registry.server.start();
  });

  after(async () => {
    await registry?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('answers over HTTPS to a client trusting the CA', async () => {
    const port = registry.registry.server.info.port;
    assert.equal(registry.registry.server.info.protocol, 'https');
    const api = await get(`https://127.0.0.1:${port}/v2/`, certs.ca);
    assert.equal(api.status, 200);
    assert.equal(api.body, '{}');
    assert.equal((await get(`https://localhost:${port}/readyz`, certs.ca)).status, 200);
  });

  it('does not speak plain HTTP, and a client not trusting the CA refuses it', async () => {
    const port = registry.registry.server.info.port;
    await assert.rejects(get(`http://127.0.0.1:${port}/v2/`), /socket hang up|ECONNRESET|HPE_/);
    await assert.rejects(get(`https://127.0.0.1:${port}/v2/`), /self-signed|unable to (get|verify)/);
  });

  it('refuses to start with a key that is not the certificate’s, naming the setting', async () => {
    await assert.rejects(
      createTestRegistry({ stacks: { cflinuxfs4: rootfs }, dropletsDir: join(work, 'droplets'), env: { TLS_CERT: files.cert, TLS_KEY: files.otherKey } }),
      new RegExp(`TLS_KEY ${files.otherKey} is not the private key of the certificate in TLS_CERT ${files.cert}`),
    );
  });

  it('wants both settings or neither', () => {
    assert.throws(() => loadConfig({ env: { TLS_CERT: files.cert } }), /HTTPS needs both tls\.cert \(TLS_CERT\) and tls\.key \(TLS_KEY\)/);
  });
});
