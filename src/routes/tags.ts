/** GET `/v2/<name>/tags/list` with `n`/`last` paging and a `Link` to the next page. */
import type { ResponseObject, ResponseToolkit } from '@hapi/hapi';
import { RegistryError } from '../errors/registry-error.ts';
import type { ImageService } from '../images/image-service.ts';
import { repositoryName, type RepositoryRef } from '../sources/repository-ref.ts';

export async function serveTags(images: ImageService, h: ResponseToolkit, query: Record<string, unknown>, repository: RepositoryRef): Promise<ResponseObject> {
  const n = parseCount(query.n);
  const last = typeof query.last === 'string' ? query.last : undefined;
  const all = await images.listTags(repository);
  const after = last === undefined ? all : all.filter((tag) => tag > last);
  const page = n === undefined ? after : after.slice(0, n);
  const name = repositoryName(repository);
  const response = h.response({ name, tags: page }).type('application/json');
  const lastOnPage = page.at(-1);
  if (n !== undefined && page.length === n && lastOnPage !== undefined && after.length > n) {
    const next = new URLSearchParams({ n: String(n), last: lastOnPage });
    response.header('Link', `</v2/${name}/tags/list?${next.toString()}>; rel="next"`);
  }
  return response;
}

function parseCount(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d{1,6}$/.test(value)) {
    throw new RegistryError('PAGINATION_NUMBER_INVALID', `n must be a whole number, got ${JSON.stringify(value)}`, { detail: { n: value } });
  }
  return Number(value);
}
