/**
 * HTTPS agents with the operator's CA certificates (CAPI, UAA and the blobstore each have their
 * own in cf-deployment: `cc_tls.ca`, `uaa_ssl.ca`, the blobstore's CA).
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { trustedCertificatesWith } from '../../util/trusted-certificates.ts';

export interface Agents {
  readonly httpAgent: HttpAgent;
  readonly httpsAgent: HttpsAgent;
}

/** Keep-alive agents; `caFile` ('' for none) is added to the trusted CAs (the defaults and the system store). */
export function createAgents(caFile: string): Agents {
  const ca = caFile ? trustedCertificatesWith(readFileSync(caFile, 'utf8')) : undefined;
  return {
    httpAgent: new HttpAgent({ keepAlive: true }),
    httpsAgent: new HttpsAgent({ keepAlive: true, ...(ca ? { ca } : {}) }),
  };
}
