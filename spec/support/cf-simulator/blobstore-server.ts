/**
 * The public endpoint of CF's WebDAV blobstore (`blobstore.<sys>`, nginx behind gorouter), on its
 * own port as it is its own host: serves droplet bits at signed `/read/cc-droplets/…` URLs, which
 * CAPI's download endpoint redirects to.
 *
 * Requests carrying an Authorization header are refused with 400. The nginx blobstore itself would
 * ignore the header, but S3 and GCS signed URLs reject it ("Only one auth mechanism allowed"), and
 * leaking the user's token to the blobstore is the bug this catches: clients must follow the 302
 * without it.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InjectedStatus } from './faults.ts';
import type { Foundation } from './foundation.ts';
import { admit, sendRouterError, type FrontDoorDeps } from './front-door.ts';
import { listen, routeMatcher, sendText, type ListeningServer } from './http.ts';
import { checkSecureLink, dropletBlobPath, signReadPath } from './secure-link.ts';

/** Signed read links are valid this long (CC's default). */
export const SIGNED_URL_TTL_SECONDS = 3600;

const READ_ROUTE = 'GET /read/cc-droplets/:ab/:cd/:guid/:sha1';

/** The blobstore's signing secret and public URL, shared with CAPI which hands out the links. */
export class Blobstore {
  readonly secret = randomBytes(16).toString('hex');
  /** Set once the server listens. */
  url = '';

  /** A signed read URL for a droplet blob, valid until `expires` (unix seconds). */
  signedDropletUrl(dropletGuid: string, sha1: string, expires: number): string {
    return `${this.url}${signReadPath(dropletBlobPath(dropletGuid, sha1), expires, this.secret)}`;
  }
}

export async function startBlobstoreServer(blobstore: Blobstore, foundation: Foundation, deps: FrontDoorDeps, host: string, port: number): Promise<ListeningServer> {
  const read = routeMatcher(READ_ROUTE, null);
  const server = await listen(
    async (request, response) => {
      const url = new URL(request.url ?? '/', 'http://blobstore');
      // HEAD is answered like GET without a body, as nginx does.
      const method = request.method === 'HEAD' ? 'GET' : (request.method ?? 'GET');
      const params = read.match(method, url.pathname);
      if (!(await admit('blobstore', params ? READ_ROUTE : `${method} <unmatched>`, request, response, deps, (res, status) => failure(res, status, host)))) return;
      if (!params) {
        nginxError(response, 404, 'Not Found');
        return;
      }
      if (request.headers.authorization !== undefined) {
        sendText(response, 400, 'Only one auth mechanism allowed; only the signed URL or the Authorization header should be specified\n');
        return;
      }
      const verdict = checkSecureLink(url.pathname, url.searchParams.get('md5'), url.searchParams.get('expires'), blobstore.secret, Math.floor(Date.now() / 1000));
      if (verdict === 'forged') {
        nginxError(response, 403, 'Forbidden');
        return;
      }
      if (verdict === 'expired') {
        nginxError(response, 410, 'Gone');
        return;
      }
      const droplet = foundation.droplet(params.guid ?? '');
      const blob = droplet ? await foundation.dropletBlob(droplet) : null;
      if (!blob || blob.sha1 !== params.sha1) {
        nginxError(response, 404, 'Not Found');
        return;
      }
      sendBlob(request, response, blob.bytes, deps.faults.takeDownloadCut(), deps.faults.takeDownloadStall());
    },
    host,
    port,
  );
  blobstore.url = server.url;
  return server;
}

/**
 * Sends the bytes; with `cutAfter`, promises them all but drops the connection after that many;
 * with `stallAfter`, sends that many and then nothing (the simulator's stop closes the connection).
 */
function sendBlob(request: IncomingMessage, response: ServerResponse, bytes: Buffer, cutAfter: number | null, stallAfter: number | null): void {
  response.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) });
  if (request.method === 'HEAD') {
    response.end();
  } else if (stallAfter !== null) {
    response.write(bytes.subarray(0, stallAfter));
  } else if (cutAfter === null) {
    response.end(bytes);
  } else {
    response.write(bytes.subarray(0, cutAfter), () => response.destroy());
  }
}

function nginxError(response: ServerResponse, status: number, reason: string): void {
  const body = `<html>\r\n<head><title>${status} ${reason}</title></head>\r\n<body>\r\n<center><h1>${status} ${reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
  response.writeHead(status, { 'Content-Type': 'text/html', 'Content-Length': String(Buffer.byteLength(body)) });
  response.end(body);
}

function failure(response: ServerResponse, status: InjectedStatus, host: string): void {
  if (status === 502 || status === 503) sendRouterError(response, status, host);
  else nginxError(response, status, status === 429 ? 'Too Many Requests' : 'Internal Server Error');
}
