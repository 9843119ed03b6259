/**
 * How Cloud Foundry names map onto OCI repository name components.
 *
 * CF org, space and app names may hold upper case, spaces and other characters the OCI name
 * grammar forbids (`[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`). A CF name is reachable under its
 * *repository form*: lower-cased, every run of other characters replaced by one `-`, leading and
 * trailing separators removed, accents dropped. `My App (v2)` → `my-app-v2`, `Café` → `cafe`.
 * A component reaches the one name in the foundation (the org, the org's space, the space's app)
 * that is it or has it as its form. Several such names (`Acme Corp` and `acme-corp`) are ambiguous
 * and none of them is reachable by name, the exact one included: were the exact one to win, an org
 * manager could rename their own org to `acme-corp` and take over every pull of `Acme Corp`'s apps.
 */

import { RegistryError } from '../errors/registry-error.ts';

const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;

/** The repository form of a CF name, or `null` if nothing of it survives (e.g. `!!!`). */
export function toRepositoryComponent(cfName: string): string | null {
  const form = cfName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // é → e
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    // Runs of separators the grammar does not allow (`.-`, `..`, `___`) become one `-`.
    .replace(/[._-]{2,}/g, (run) => (/^(?:__|-+)$/.test(run) ? run : '-'))
    .replace(/^[._-]+|[._-]+$/g, '');
  return COMPONENT.test(form) ? form : null;
}

/** What a repository name component reaches among the items of one level. */
export type ComponentMatch<T> = { readonly found: T } | { readonly ambiguous: readonly T[] } | { readonly none: true };

/** The one item whose name is `component` or has it as its repository form; ambiguous when several do. */
export function matchRepositoryComponent<T>(items: readonly T[], nameOf: (item: T) => string, component: string): ComponentMatch<T> {
  const matches = items.filter((item) => nameOf(item) === component || toRepositoryComponent(nameOf(item)) === component);
  if (matches.length === 0) return { none: true };
  return matches.length === 1 ? { found: matches[0] as T } : { ambiguous: matches };
}

/** The levels of a repository name. */
export type NameLevel = 'org' | 'space' | 'app';

/**
 * The item `component` reaches at `level` of `repository`; NAME_UNKNOWN when none, or several (the
 * message names them, for whoever may see it: the log, and clients of a registry without login).
 */
export function pickRepositoryComponent<T>(items: readonly T[], nameOf: (item: T) => string, component: string, level: NameLevel, repository: string): T {
  const match = matchRepositoryComponent(items, nameOf, component);
  if ('found' in match) return match.found;
  if ('none' in match) throw new RegistryError('NAME_UNKNOWN', `repository ${repository} not found`, { detail: { name: repository } });
  const names = match.ambiguous.map((item) => JSON.stringify(nameOf(item))).join(', ');
  throw new RegistryError(
    'NAME_UNKNOWN',
    `repository ${repository} is ambiguous: the ${level}s ${names} all map to ${JSON.stringify(component)}; pull by app guid (/v2/<app-guid>/…) or rename one of them`,
    { detail: { name: repository, reason: 'ambiguous' } },
  );
}
