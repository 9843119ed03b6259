/**
 * Cloud Controller v3, read with the registry's service token: one retry on a 401 (token revoked
 * or expired early), paginated lists followed up to `maxPages` pages, droplet downloads followed to
 * the blobstore without the Authorization header. Every failure leaves here as a RegistryError.
 */
import { isAxiosError, type AxiosInstance } from 'axios';
import type { Logger } from 'pino';
import type { Readable } from 'node:stream';
import { RegistryError } from '../../errors/registry-error.ts';
import type { ServiceToken } from './service-token.ts';
import { unavailable, upstreamDetail } from './upstream-errors.ts';

/** What is read of Cloud Controller's refusal of a download, for its detail: CC's error bodies are small. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** One page of a v3 list, as CAPI returns it. */
interface Page<T> {
  pagination: { next: { href: string } | null };
  resources: T[];
  included?: Record<string, unknown[]>;
}

export interface ListResult<T> {
  readonly resources: T[];
  /** `include=` resources, merged across pages, by type (`spaces`, `organizations`). */
  readonly included: Record<string, unknown[]>;
}

/** The first pages of a list, for readers that go on where they stopped. */
export interface FirstPages<T> extends ListResult<T> {
  /** false: the list goes on past the pages read. */
  readonly complete: boolean;
}

export interface CapiClientOptions {
  readonly baseUrl: string;
  readonly token: ServiceToken;
  /** For CAPI calls (CAPI's CA, timeouts). */
  readonly http: AxiosInstance;
  /** For the blobstore a download redirects to (its CA); never given the token. */
  readonly blobstoreHttp: AxiosInstance;
  readonly logger: Logger;
  /** Idle time after which a droplet download is abandoned. */
  readonly downloadIdleTimeoutMs: number;
  /** `per_page` of list calls. */
  readonly pageSize: number;
  /**
   * Pages of one list read at most, so a Cloud Controller whose pagination never ends (or a list
   * far longer than any the registry needs) cannot hold a request or fill the memory.
   */
  readonly maxPages: number;
}

export class CapiClient {
  readonly #options: CapiClientOptions;

  constructor(options: CapiClientOptions) {
    this.#options = options;
  }

  /** GET a resource; `null` when CAPI answers 404 (not there, or not visible). */
  async get<T>(path: string, params: Record<string, string> = {}): Promise<T | null> {
    try {
      return (await this.#authorized((headers) => this.#options.http.get<T>(this.#url(path), { params, headers }))).data;
    } catch (error) {
      if (isAxiosError(error) && error.response?.status === 404) return null;
      throw unavailable('Cloud Controller', `GET ${path}`, error, this.#options.logger);
    }
  }

  /**
   * Every resource of a v3 list, following `pagination.next`; 503 UNAVAILABLE when the list goes on
   * past `maxPages` pages.
   */
  async list<T>(path: string, params: Record<string, string> = {}): Promise<ListResult<T>> {
    const { resources, included, complete } = await this.listFirstPages<T>(path, params);
    if (!complete) throw this.#tooLong(path);
    return { resources, included };
  }

  /** The resources of a v3 list's first `maxPages` pages, and whether that was all of it. */
  async listFirstPages<T>(path: string, params: Record<string, string> = {}): Promise<FirstPages<T>> {
    const resources: T[] = [];
    const included: Record<string, unknown[]> = {};
    let next: string | null = this.#url(path);
    let query: Record<string, string> | undefined = { per_page: String(this.#options.pageSize), ...params };
    for (let pages = 0; next; pages += 1) {
      if (pages === this.#options.maxPages) return { resources, included, complete: false };
      const url: string = next;
      const page: Page<T> | null = await this.#getPage<T>(url, query, path);
      if (!page) break;
      resources.push(...page.resources);
      for (const [type, items] of Object.entries(page.included ?? {})) (included[type] ??= []).push(...items);
      next = page.pagination.next ? this.#url(pathAndQuery(page.pagination.next.href)) : null;
      query = undefined;
    }
    return { resources, included, complete: true };
  }

  /**
   * The droplet's bytes: `/download` answers 302 to a signed blobstore URL, fetched without our
   * token (blobstores reject requests carrying one), or — with CC's `local` blobstore — the bytes.
   */
  async download(dropletGuid: string, signal?: AbortSignal): Promise<Readable> {
    const path = `/v3/droplets/${dropletGuid}/download`;
    let response;
    try {
      response = await this.#authorized((headers) =>
        this.#options.http.get<Readable>(this.#url(path), { headers, maxRedirects: 0, responseType: 'stream', validateStatus: (status) => status === 200 || status === 302, signal }),
      );
    } catch (error) {
      const status = isAxiosError(error) ? error.response?.status : undefined;
      if (status === 404 || status === 422) {
        const detail = upstreamDetail(await readErrorBody(error), status);
        throw new RegistryError('MANIFEST_UNKNOWN', `Cloud Controller cannot serve droplet ${dropletGuid}: ${detail}`, { detail: { droplet: dropletGuid, reason: detail } });
      }
      throw unavailable('Cloud Controller', `GET ${path}`, error, this.#options.logger);
    }
    if (response.status === 200) return this.#idleTimeout(response.data, 'Cloud Controller');
    response.data.destroy(); // the 302's body is not needed
    const location = response.headers.location as string | undefined;
    if (!location) throw unavailable('Cloud Controller', `GET ${path}`, new Error('302 without Location'), this.#options.logger);
    try {
      const blob = await this.#options.blobstoreHttp.get<Readable>(location, { responseType: 'stream', maxRedirects: 3, signal });
      return this.#idleTimeout(blob.data, 'the blobstore');
    } catch (error) {
      // The signed URL itself never reaches a log: it is a credential for an hour.
      throw unavailable('the blobstore', `download of droplet ${dropletGuid}`, error, this.#options.logger);
    }
  }

  /** Root document (`GET /`), for links such as UAA's. */
  async root(): Promise<{ links: Record<string, { href: string } | null> }> {
    try {
      return (await this.#options.http.get(this.#url('/'))).data;
    } catch (error) {
      throw unavailable('Cloud Controller', 'GET /', error, this.#options.logger);
    }
  }

  async #getPage<T>(url: string, params: Record<string, string> | undefined, path: string): Promise<Page<T> | null> {
    try {
      return (await this.#authorized((headers) => this.#options.http.get<Page<T>>(url, { params, headers }))).data;
    } catch (error) {
      if (isAxiosError(error) && error.response?.status === 404) return null;
      throw unavailable('Cloud Controller', `GET ${path}`, error, this.#options.logger);
    }
  }

  /** 503 for a list longer than the registry reads; the log says which. */
  #tooLong(path: string): RegistryError {
    const { maxPages, pageSize, logger } = this.#options;
    const call = `GET ${path.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, ':guid')}`;
    logger.warn(
      { event: 'upstream.list_too_long', system: 'Cloud Controller', call: `GET ${path}`, maxPages, pageSize },
      `Cloud Controller's list ${call} goes on past ${maxPages} pages of ${pageSize}; refused (raise CAPI_MAX_PAGES if the foundation really has that many)`,
    );
    return new RegistryError('UNAVAILABLE', `Cloud Controller's answer to ${call} goes on past ${maxPages} pages, more than the registry reads`, { retryAfter: 60 });
  }

  /** Runs `call` with the service token; on a 401, once more with a fresh token. */
  async #authorized<R>(call: (headers: Record<string, string>) => Promise<R>): Promise<R> {
    const token = await this.#options.token.get();
    try {
      return await call({ authorization: `bearer ${token}`, accept: 'application/json' });
    } catch (error) {
      if (!isAxiosError(error) || error.response?.status !== 401) throw error;
      this.#options.token.invalidate(token);
      return call({ authorization: `bearer ${await this.#options.token.get()}`, accept: 'application/json' });
    }
  }

  #url(path: string): string {
    return `${this.#options.baseUrl.replace(/\/$/, '')}${path}`;
  }

  /** Fails the stream when the upstream stops sending for too long (a stalled download). */
  #idleTimeout(stream: Readable, system: string): Readable {
    const ms = this.#options.downloadIdleTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => stream.destroy(new RegistryError('UNAVAILABLE', `droplet download from ${system} stalled for ${ms / 1000}s`, { retryAfter: 10 })), ms);
    };
    stream.on('data', arm);
    stream.once('close', () => clearTimeout(timer));
    arm();
    return stream;
  }
}

/** Links carry CC's external URL (api.<sys>); CAPI_URL may be an internal one, so keep only path and query. */
function pathAndQuery(href: string): string {
  const url = new URL(href);
  return url.pathname + url.search;
}

/** The start of an error answer's body (its HTTP client ends it at the call's deadline). */
async function readErrorBody(error: unknown): Promise<unknown> {
  const data = isAxiosError(error) ? error.response?.data : undefined;
  if (!data || typeof (data as Readable).on !== 'function') return data;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of data as Readable) {
      const bytes = Buffer.from(chunk);
      chunks.push(bytes);
      size += bytes.length;
      if (size >= MAX_ERROR_BODY_BYTES) break;
    }
  } catch {
    // Cut off at the deadline: the status alone says enough.
    return undefined;
  }
  return Buffer.concat(chunks).toString('utf8');
}
