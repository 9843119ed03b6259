/**
 * CC's list envelope (`pagination_presenter.rb`): the page slice plus `pagination` with
 * first/last/next/previous hrefs that repeat the request's filters. The query is rendered like
 * Rails' `Hash#to_query`: each pair CGI-escaped (so commas become `%2C` and brackets `%5B…%5D`),
 * the pairs sorted.
 */
import type { ParsedQuery } from './query.ts';

export interface Pagination {
  readonly total_results: number;
  readonly total_pages: number;
  readonly first: { readonly href: string };
  readonly last: { readonly href: string };
  readonly next: { readonly href: string } | null;
  readonly previous: { readonly href: string } | null;
}

/** Orders a list by `order_by` (ties keep creation order, CC's secondary `id` ordering). */
export function ordered<T>(items: readonly T[], query: ParsedQuery, columns: Readonly<Record<string, (item: T) => string | number>>): T[] {
  const orderBy = query.orderBy;
  if (!orderBy) return [...items];
  const key = columns[orderBy.column];
  if (!key) throw new Error(`cf-simulator: no sort key for ${orderBy.column}`);
  const indexed = items.map((item, index) => ({ item, index, value: key(item) }));
  indexed.sort((a, b) => {
    const compared = a.value < b.value ? -1 : a.value > b.value ? 1 : a.index - b.index;
    return orderBy.descending ? -compared : compared;
  });
  return indexed.map((entry) => entry.item);
}

/** The requested page of `items` and its `pagination` object; `url` is the list's absolute URL without query. */
export function paginate<T>(items: readonly T[], query: ParsedQuery, url: string): { pagination: Pagination; page: T[] } {
  const totalPages = Math.max(1, Math.ceil(items.length / query.perPage));
  const href = (page: number) => ({ href: `${url}?${toQuery([...query.hrefParams, ['page', String(page)], ['per_page', String(query.perPage)]])}` });
  const start = (query.page - 1) * query.perPage;
  return {
    pagination: {
      total_results: items.length,
      total_pages: totalPages,
      first: href(1),
      last: href(totalPages),
      next: query.page + 1 <= totalPages ? href(query.page + 1) : null,
      previous: query.page - 1 > 0 ? href(query.page - 1) : null,
    },
    page: items.slice(start, start + query.perPage),
  };
}

function toQuery(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs
    .map(([key, value]) => `${cgiEscape(key)}=${cgiEscape(value)}`)
    .sort()
    .join('&');
}

/** Ruby's `CGI.escape`: everything but `A-Za-z0-9_.-~` is percent-encoded, space becomes `+`. */
function cgiEscape(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}
