/**
 * The repository a request names, and the app behind it. One home for both, because the pull API
 * and the token endpoint (a token's scopes name repositories) must read names the same way.
 */
import { RegistryError } from '../errors/registry-error.ts';
import type { AppRef, DropletSource } from './droplet-source.ts';

/** A repository name: `org/space/app`, or an app guid alone (the original spike's form). */
export type RepositoryName = { readonly org: string; readonly space: string; readonly app: string } | { readonly appGuid: string };

/**
 * A repository as a request reaches it: its name and, when a registry token granted it, the app
 * that grant was decided for. Such a request is served from that app whatever the name resolves
 * to by now (org, space and app names change; guids do not).
 */
export type RepositoryRef = RepositoryName & { readonly grantedAppGuid?: string | undefined };

// distribution-spec's grammar for repository names.
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const APP_GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** distribution-spec's limit on a repository name (registries may allow more; none need to). */
const MAX_NAME_LENGTH = 255;

/**
 * The repository a name stands for (in a path or a token scope): NAME_INVALID outside the grammar,
 * NAME_UNKNOWN when it is neither `org/space/app` nor an app guid.
 */
export function parseRepositoryName(name: string): RepositoryName {
  if (name.length > MAX_NAME_LENGTH || !NAME.test(name)) {
    throw new RegistryError('NAME_INVALID', `invalid repository name ${JSON.stringify(name)}`, { detail: { name } });
  }
  const parts = name.split('/');
  if (parts.length === 3) {
    const [org, space, app] = parts as [string, string, string];
    return { org, space, app };
  }
  if (parts.length === 1 && APP_GUID.test(name)) return { appGuid: name };
  throw new RegistryError('NAME_UNKNOWN', `repository ${name} not found: names here are <org>/<space>/<app> or an app guid`, { detail: { name } });
}

/** The repository's name as clients spell it. */
export function repositoryName(repository: RepositoryName): string {
  return 'appGuid' in repository ? repository.appGuid : `${repository.org}/${repository.space}/${repository.app}`;
}

/** The app behind a repository: the granted one when a token decided it, else what the name resolves to now. */
export function findRepositoryApp(source: DropletSource, repository: RepositoryRef): Promise<AppRef> {
  if (repository.grantedAppGuid !== undefined) return source.findAppByGuid(repository.grantedAppGuid);
  return 'appGuid' in repository ? source.findAppByGuid(repository.appGuid) : source.findApp(repository.org, repository.space, repository.app);
}
