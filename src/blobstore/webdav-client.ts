/**
 * HTTP to the admin side of Cloud Foundry's WebDAV blobstore (capi-release's nginx `blobstore`
 * job, `https://blobstore.service.cf.internal:4443/admin/…`): basic auth, the job's CA, kept-alive
 * connections, request bodies streamed, answers that must begin in time, and errors that say which
 * request failed and why.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { PassThrough } from 'node:stream';
import { trustedCertificatesWith } from '../util/trusted-certificates.ts';

/**
 * How long a request may go without a byte either way before its answer begins. Generous: nginx
 * answers a COPY only once it has copied the whole file, gigabytes for a large layer.
 */
const ANSWER_TIMEOUT_MS = 10 * 60 * 1000;

export interface WebDavClientOptions {
  /** `https://blobstore.service.cf.internal:4443` */
  readonly endpoint: string;
  readonly username: string;
  readonly password: string;
  /** PEM of the CA that signed the blobstore's certificate (CF's `service_cf_internal_ca`). */
  readonly caCert?: string;
  /** Silence (no byte sent or received) after which a request without an answer yet fails; default 10 minutes. */
  readonly answerTimeoutMs?: number;
}

/** The blobstore answered a request with a status the operation does not accept. */
export class WebDavError extends Error {
  readonly status: number;

  constructor(method: string, path: string, status: number, statusText: string | undefined, endpoint: string) {
    const hint =
      status === 401
        ? ': the blobstore refused the admin credentials (check the WebDAV username and password)'
        : status === 403
          ? ': the blobstore refused this client (check its internal_access_rules)'
          : status === 405
            ? ': the blobstore does not allow this method here'
            : '';
    const answer = statusText ? `${status} ${statusText}` : String(status);
    super(`WebDAV blobstore at ${endpoint} answered ${answer} to ${method} ${path}${hint}`);
    this.status = status;
    this.name = 'WebDavError';
  }
}

export interface WebDavRequestOptions {
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: Buffer;
  readonly signal?: AbortSignal;
}

export class WebDavClient {
  readonly #endpoint: string;
  readonly #authorization: string;
  readonly #agent: HttpAgent;
  readonly #request: typeof httpRequest;
  readonly #answerTimeoutMs: number;

  constructor(options: WebDavClientOptions) {
    const url = new URL(options.endpoint);
    this.#endpoint = url.origin;
    this.#answerTimeoutMs = options.answerTimeoutMs ?? ANSWER_TIMEOUT_MS;
    this.#authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
    if (url.protocol === 'https:') {
      this.#agent = new HttpsAgent({ keepAlive: true, ...(options.caCert ? { ca: trustedCertificatesWith(options.caCert) } : {}) });
      this.#request = httpsRequest;
    } else if (url.protocol === 'http:') {
      this.#agent = new HttpAgent({ keepAlive: true });
      this.#request = httpRequest;
    } else {
      throw new TypeError(`WebDAV blobstore endpoint must be http(s): ${options.endpoint}`);
    }
  }

  /** Sends a request and resolves with the response, whose body the caller consumes. */
  send(method: string, path: string, options: WebDavRequestOptions = {}): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const headers = { ...options.headers, ...(options.body ? { 'Content-Length': options.body.length } : {}) };
      const request = this.#open(method, path, headers, options.signal);
      request.once('response', resolve);
      request.once('error', reject);
      request.end(options.body);
    });
  }

  /**
   * Sends a request whose response must have one of `statuses`; returns that status. The
   * response body (an nginx status page) is discarded.
   */
  async expect(method: string, path: string, statuses: readonly number[], options: WebDavRequestOptions = {}): Promise<number> {
    const response = await this.send(method, path, options);
    response.resume();
    const status = response.statusCode ?? 0;
    if (!statuses.includes(status)) throw this.error(method, path, response);
    return status;
  }

  /**
   * A streamed PUT (chunked, so no length need be known). `Expect: 100-continue` makes nginx judge
   * the request — credentials, method — before any byte is sent. `landed` resolves once nginx has
   * stored the whole body (it writes to a temp file and renames it into place, so a PUT that fails
   * or is aborted leaves nothing).
   */
  upload(path: string): { sink: PassThrough; landed: Promise<void> } {
    const request = this.#open('PUT', path, { 'Content-Type': 'application/octet-stream', Expect: '100-continue' });
    const sink = new PassThrough();
    sink.once('error', (error) => request.destroy(error));
    request.once('continue', () => sink.pipe(request));
    const landed = new Promise<void>((resolve, reject) => {
      request.once('error', reject);
      request.once('response', (response) => {
        response.resume();
        if (response.statusCode === 201 || response.statusCode === 204) resolve();
        else reject(this.error('PUT', path, response));
      });
    });
    return { sink, landed };
  }

  /** A whole answer body the caller reads into memory: refused past `maxBytes`, or when it takes longer than the answer timeout. */
  async readBody(method: string, path: string, response: IncomingMessage, maxBytes: number): Promise<Buffer> {
    const what = `the WebDAV blobstore's answer to ${method} ${path}`;
    const timer = setTimeout(() => response.destroy(new Error(`${what} took over ${this.#answerTimeoutMs / 1000}s`)), this.#answerTimeoutMs);
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) throw new Error(`${what} is over ${maxBytes} bytes`);
        chunks.push(chunk as Buffer);
      }
    } finally {
      clearTimeout(timer);
    }
    return Buffer.concat(chunks);
  }

  error(method: string, path: string, response: IncomingMessage): WebDavError {
    return new WebDavError(method, path, response.statusCode ?? 0, response.statusMessage, this.#endpoint);
  }

  #open(method: string, path: string, headers: OutgoingHttpHeaders, signal?: AbortSignal): ClientRequest {
    const request = this.#request(new URL(path, this.#endpoint), {
      method,
      agent: this.#agent,
      signal,
      // The job's nginx gzips `text/html`, the type it gives extension-less blobs: ask for the bytes as stored.
      headers: { 'Accept-Encoding': 'identity', ...headers, Authorization: this.#authorization },
    });
    // A blobstore that takes a request and never answers would hold its caller (a conversion, a pull) forever.
    // Once the answer begins, its reader decides: a blob may stream to a slow client for long.
    const seconds = this.#answerTimeoutMs / 1000;
    request.setTimeout(this.#answerTimeoutMs, () => request.destroy(new Error(`WebDAV blobstore at ${this.#endpoint} did not answer ${method} ${path} within ${seconds}s of silence`)));
    request.once('response', () => request.setTimeout(0));
    return request;
  }
}
