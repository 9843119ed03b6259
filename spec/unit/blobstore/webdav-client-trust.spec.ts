/**
 * The WebDAV blobstore behind a certificate: the client trusts WEBDAV_CA_CERT in addition to the
 * process' default CAs (which the CLI extends with the system store, where BOSH puts the
 * director's trusted_certs), so a blobstore behind a load balancer with a company certificate
 * stays reachable when the CA setting names the blobstore's internal CA.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { WebDavClient } from '../../../src/blobstore/webdav-client.ts';
import { skipOrFail } from '../../support/requirements.ts';
import { makeThrowawayCertificates, throwawayCaProblem, type ThrowawayCertificates } from '../../support/throwaway-ca.ts';

describe('WebDavClient trust', { skip: skipOrFail(throwawayCaProblem()) }, () => {
  let server: Server;
  let endpoint: string;
  let serverCa: ThrowawayCertificates;
  let otherCa: string;

  before(async () => {
    serverCa = makeThrowawayCertificates();
    otherCa = makeThrowawayCertificates().ca;
    server = createServer({ cert: serverCa.cert, key: serverCa.key }, (_request, response) => response.writeHead(204).end());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => server?.close());

  const client = (caCert: string) => new WebDavClient({ endpoint, username: 'blobstore-user', password: 'secret', caCert });

  it('refuses a server whose CA is neither a default nor the configured one', async () => {
    await assert.rejects(client(otherCa).expect('HEAD', '/admin/probe', [204]), /self-signed|unable to (get|verify)/i);
  });

  it('trusts the default CAs besides the configured one', async (t) => {
    const defaults = tls.getCACertificates('default');
    t.after(() => tls.setDefaultCACertificates(defaults));
    tls.setDefaultCACertificates([...defaults, serverCa.ca]);
    assert.equal(await client(otherCa).expect('HEAD', '/admin/probe', [204]), 204);
  });
});
