/**
 * Internal Cloud Foundry endpoints (CAPI on :9024, UAA on :8443, the blobstore) present
 * certificates of the foundation's own CAs; the agents trust the CA file configured in addition to
 * the process' default CAs (which the CLI extends with the system store), never instead of them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import axios from 'axios';
import { createAgents } from '../../../../src/sources/capi/http-agents.ts';

describe('createAgents', () => {
  let dir: string;
  let server: Server;
  let url: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agents-'));
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.crt');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
    execFileSync('sh', ['-c', 'printf "subjectAltName=IP:127.0.0.1" > san.ext'], { cwd: dir });
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'san.ext', '-out', 'server.crt');
    server = createServer({ key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.crt')) }, (_req, res) => res.end('{"ok":true}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  after(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('trusts a server signed by the configured CA', async () => {
    const http = axios.create(createAgents(join(dir, 'ca.crt')));
    assert.deepEqual((await http.get(url)).data, { ok: true });
  });

  it('refuses it with the system CAs only', async () => {
    const http = axios.create(createAgents(''));
    await assert.rejects(http.get(url), /self-signed|unable to (get|verify)/i);
  });

  it('keeps trusting the default CAs when a CA file names another CA', async (t) => {
    const defaults = tls.getCACertificates('default');
    t.after(() => tls.setDefaultCACertificates(defaults));
    // The server's CA among the process' defaults, as the system store puts BOSH's trusted_certs there.
    tls.setDefaultCACertificates([...defaults, readFileSync(join(dir, 'ca.crt'), 'utf8')]);
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=other-ca', '-keyout', 'other.key', '-out', 'other.crt');
    const http = axios.create(createAgents(join(dir, 'other.crt')));
    assert.deepEqual((await http.get(url)).data, { ok: true });
  });

  it('says which file is missing', () => {
    assert.throws(() => createAgents(join(dir, 'nope.crt')), /nope\.crt/);
  });
});
