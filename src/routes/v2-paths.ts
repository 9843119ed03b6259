/**
 * Parses the path under `/v2/`. hapi cannot route OCI names (they contain slashes and a `*`
 * parameter must be last), so one catch-all route hands the path here and dispatches on the kind.
 */
import { parseRepositoryName, type RepositoryName } from '../sources/repository-ref.ts';

// distribution-spec's grammar for tags.
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const ENDPOINT = /^(.+)\/(manifests|blobs|referrers)\/([^/]+)$|^(.+)\/tags\/list$/;

export type V2Request =
  | { readonly kind: 'manifest'; readonly repository: RepositoryName; readonly reference: string }
  | { readonly kind: 'blob'; readonly repository: RepositoryName; readonly digest: string }
  | { readonly kind: 'referrers'; readonly repository: RepositoryName; readonly digest: string }
  | { readonly kind: 'tags'; readonly repository: RepositoryName };

/** Is `reference` a tag by the spec's grammar? */
export function isTag(reference: string): boolean {
  return TAG.test(reference);
}

/**
 * What the path asks for: `undefined` for no endpoint of the API (the router answers 404); a
 * name outside the grammar throws NAME_INVALID; a name that is neither `org/space/app` nor an app
 * guid throws NAME_UNKNOWN (no such repository can exist here).
 */
export function parseV2Path(path: string): V2Request | undefined {
  const match = ENDPOINT.exec(path);
  if (!match) return undefined;
  const repository = parseRepositoryName((match[1] ?? match[4]) as string);
  const endpoint = match[2];
  const reference = match[3] as string;
  if (endpoint === undefined) return { kind: 'tags', repository };
  if (endpoint === 'manifests') return { kind: 'manifest', repository, reference };
  return { kind: endpoint === 'blobs' ? 'blob' : 'referrers', repository, digest: reference };
}
