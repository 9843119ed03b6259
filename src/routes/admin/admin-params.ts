/**
 * Reads the admin API's query and path parameters: only known query parameters, each given at
 * most once and checked, so a typo (`?stat=failed`) is a 400 naming the parameter rather than a
 * silently unfiltered list.
 */
import type { Request } from '@hapi/hapi';
import { RegistryError } from '../../errors/registry-error.ts';

/** CAPI v3's page size default; the maximum keeps one page one cheap query. */
export const DEFAULT_PER_PAGE = 50;
export const MAX_PER_PAGE = 500;

/** Droplet guids: CAPI's, or the directory source's file names (`<guid>.tgz`). */
const DROPLET_GUID = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;
const INTEGER = /^[0-9]{1,9}$/;

/** Which page of a list, as `page`/`per_page` asked and as rows to skip and take. */
export interface PageRequest {
  readonly page: number;
  readonly perPage: number;
  readonly offset: number;
  readonly limit: number;
}

function invalid(name: string, message: string, value?: string): RegistryError {
  return new RegistryError('PARAMETER_INVALID', `${name}: ${message}`, { detail: value === undefined ? { parameter: name } : { parameter: name, value } });
}

export class AdminQuery {
  readonly #values: ReadonlyMap<string, string>;

  /** The request's query, refusing parameters not in `allowed` (`page` and `per_page` with `paged`) and repeated ones. */
  constructor(request: Request, allowed: readonly string[], options: { paged?: boolean } = {}) {
    const known = new Set(options.paged ? [...allowed, 'page', 'per_page'] : allowed);
    const values = new Map<string, string>();
    for (const [name, value] of Object.entries(request.query as Record<string, unknown>)) {
      if (!known.has(name)) {
        const expected = known.size === 0 ? 'this endpoint takes no query parameters' : `expected one of ${[...known].join(', ')}`;
        throw invalid(name, `unknown query parameter; ${expected}`);
      }
      if (typeof value !== 'string') throw invalid(name, 'given more than once');
      values.set(name, value);
    }
    this.#values = values;
  }

  /** A value that must be one of `choices`; undefined when absent. */
  oneOf<T extends string>(name: string, choices: readonly T[]): T | undefined {
    const value = this.#values.get(name);
    if (value === undefined) return undefined;
    if (!(choices as readonly string[]).includes(value)) throw invalid(name, `must be one of ${choices.join(', ')}`, value);
    return value as T;
  }

  /** `true` or `false`; `fallback` when absent. */
  boolean(name: string, fallback: boolean): boolean {
    return (this.oneOf(name, ['true', 'false'] as const) ?? String(fallback)) === 'true';
  }

  dropletGuid(name: string): string | undefined {
    const value = this.#values.get(name);
    if (value !== undefined && !DROPLET_GUID.test(value)) throw invalid(name, 'is not a droplet guid', value);
    return value;
  }

  /** An app guid (CAPI's, or the directory source's name-based one). */
  appGuid(name: string): string | undefined {
    const value = this.#values.get(name);
    if (value !== undefined && !DROPLET_GUID.test(value)) throw invalid(name, 'is not an app guid', value);
    return value;
  }

  digest(name: string): string | undefined {
    const value = this.#values.get(name);
    if (value !== undefined && !SHA256_DIGEST.test(value)) throw invalid(name, 'must be a digest sha256:<64 lowercase hex digits>', value);
    return value;
  }

  /** `page` (from 1) and `per_page` (1 to MAX_PER_PAGE, default DEFAULT_PER_PAGE). */
  page(): PageRequest {
    const page = this.#integer('page', 1, 1, Number.MAX_SAFE_INTEGER);
    const perPage = this.#integer('per_page', DEFAULT_PER_PAGE, 1, MAX_PER_PAGE);
    return { page, perPage, offset: (page - 1) * perPage, limit: perPage };
  }

  #integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.#values.get(name);
    if (value === undefined) return fallback;
    const number = INTEGER.test(value) ? Number(value) : Number.NaN;
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
    if (!(number >= min && number <= max)) throw invalid(name, `must be an integer ${range}`, value);
    return number;
  }
}

/** For endpoints without query parameters: any given is refused, like a typo elsewhere. */
export function refuseQuery(request: Request): void {
  new AdminQuery(request, []);
}

/** The `{droplet_guid}` path parameter, checked. */
export function dropletGuidParam(request: Request): string {
  const value = String(request.params.droplet_guid ?? '');
  if (!DROPLET_GUID.test(value)) throw invalid('droplet_guid', 'is not a droplet guid', value);
  return value;
}

/** The `{digest}` path parameter, checked. */
export function digestParam(request: Request): string {
  const value = String(request.params.digest ?? '');
  if (!SHA256_DIGEST.test(value)) throw invalid('digest', 'must be a digest sha256:<64 lowercase hex digits>', value);
  return value;
}
