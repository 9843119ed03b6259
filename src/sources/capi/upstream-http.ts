/**
 * The HTTP clients for the systems the registry reads — Cloud Controller, UAA, the blobstore that
 * droplet downloads are redirected to — with the bounds every answer of theirs gets, set here once:
 *
 * - an answer read into memory (JSON, text) is refused past UPSTREAM_MAX_ANSWER_BYTES;
 * - every call ends within `timeoutMs`, body included. axios' own `timeout` restarts with each
 *   byte, so an answer trickling a byte now and then would hold its caller forever. A streamed
 *   answer (a droplet) has the deadline until its headers; its body is bounded by its reader, except
 *   an error answer's body, which stays under the deadline (it is read whole, for its detail).
 *
 * A call past its deadline fails like one past axios' timeout (ECONNABORTED), so metrics and errors
 * call it a timeout.
 */
import { Readable } from 'node:stream';
import axios, { AxiosError, isAxiosError, type AxiosInstance, type CreateAxiosDefaults } from 'axios';
import { createAgents } from './http-agents.ts';

/**
 * The largest answer read into memory. Cloud Controller's full pages are the largest answers the
 * registry asks for: a page of 5000 apps (or orgs, or staged droplets) comes to well under 20 MB as
 * CC presents them (5000 apps with their spaces and orgs included measured ~20 MB); UAA's
 * documents are a few KB.
 */
export const UPSTREAM_MAX_ANSWER_BYTES = 32 * 1024 * 1024;

export interface UpstreamHttpSettings {
  /** Of each call, from the request to the end of its answer; 0: none. */
  readonly timeoutMs: number;
  /** PEM file of the system's CA ('' for the system store only). */
  readonly caFile: string;
}

/** An answer refused for its size (axios reports it only in its message). */
export function isAnswerTooLarge(error: unknown): boolean {
  return isAxiosError(error) && error.code === AxiosError.ERR_BAD_RESPONSE && /^maxContentLength size of \d+ exceeded$/.test(error.message);
}

interface Deadline {
  readonly controller: AbortController;
  readonly timer: NodeJS.Timeout;
}

/** An axios instance for one upstream; `defaults` are the instance's other axios defaults. */
export function createUpstreamHttp(settings: UpstreamHttpSettings, defaults: CreateAxiosDefaults = {}): AxiosInstance {
  const { timeoutMs } = settings;
  const http = axios.create({ timeout: timeoutMs, ...createAgents(settings.caFile), ...defaults });
  const deadlines = new WeakMap<object, Deadline>();
  const end = (config: object | undefined): void => {
    const deadline = config && deadlines.get(config);
    if (deadline) clearTimeout(deadline.timer);
  };
  http.interceptors.request.use(
    (config) => {
      if (config.responseType !== 'stream') config.maxContentLength = UPSTREAM_MAX_ANSWER_BYTES;
      if (timeoutMs > 0) {
        const controller = new AbortController();
        deadlines.set(config, { controller, timer: setTimeout(() => controller.abort(), timeoutMs).unref() });
        config.signal = config.signal ? AbortSignal.any([config.signal as AbortSignal, controller.signal]) : controller.signal;
      }
      return config;
    },
    undefined,
    { synchronous: true },
  );
  http.interceptors.response.use(
    (response) => {
      end(response.config);
      return response;
    },
    (error: unknown) => {
      if (!(error instanceof AxiosError)) return Promise.reject(error);
      const deadline = error.config && deadlines.get(error.config);
      const body: unknown = error.response?.data;
      if (deadline && body instanceof Readable && !body.destroyed) {
        deadline.controller.signal.addEventListener('abort', () => body.destroy(), { once: true });
        body.once('close', () => clearTimeout(deadline.timer));
      } else {
        end(error.config);
      }
      if (deadline?.controller.signal.aborted && error.code === AxiosError.ERR_CANCELED) {
        return Promise.reject(new AxiosError(`timeout of ${timeoutMs}ms exceeded`, AxiosError.ECONNABORTED, error.config, error.request));
      }
      return Promise.reject(error);
    },
  );
  return http;
}
