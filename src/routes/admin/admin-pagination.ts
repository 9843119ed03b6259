/**
 * The admin API's list envelope, CAPI v3's (`pagination_presenter.rb`): operators who script
 * `cf curl` already know `pagination.total_results` and to follow `pagination.next.href` until
 * it is null. The hrefs repeat the request's filters.
 */
import type { Request } from '@hapi/hapi';

/** Which page of a list, as `page`/`per_page` asked and as rows to skip and take. */
export interface PageRequest {
  readonly page: number;
  readonly perPage: number;
  readonly offset: number;
  readonly limit: number;
}

/** The page a list request asks for, from its validated `page` and `per_page` (see `pageParameters`). */
export function pageRequest(request: Request): PageRequest {
  const { page, per_page: perPage } = request.query as { page: number; per_page: number };
  return { page, perPage, offset: (page - 1) * perPage, limit: perPage };
}

export interface Pagination {
  readonly total_results: number;
  readonly total_pages: number;
  readonly first: { readonly href: string };
  readonly last: { readonly href: string };
  readonly next: { readonly href: string } | null;
  readonly previous: { readonly href: string } | null;
}

export interface ListBody<T> {
  readonly pagination: Pagination;
  readonly resources: readonly T[];
}

/** One page of a list of `total` items; `base` is the registry's URL (`https://registry.example.com`). */
export function listBody<T>(request: Request, base: string, page: PageRequest, total: number, resources: readonly T[]): ListBody<T> {
  const totalPages = Math.max(1, Math.ceil(total / page.perPage));
  const href = (number: number) => {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(request.query as Record<string, string>)) if (name !== 'page' && name !== 'per_page') query.set(name, value);
    query.set('page', String(number));
    query.set('per_page', String(page.perPage));
    return { href: `${base}${request.path}?${query.toString()}` };
  };
  return {
    pagination: {
      total_results: total,
      total_pages: totalPages,
      first: href(1),
      last: href(totalPages),
      next: page.page < totalPages ? href(page.page + 1) : null,
      previous: page.page > 1 ? href(Math.min(page.page - 1, totalPages)) : null,
    },
    resources,
  };
}
