/**
 * Does a user hold a Cloud Controller role that lets them download an app's droplets — space
 * developer, manager or auditor of its space, or manager of its org (CC's
 * `ROLES_FOR_DROPLET_DOWLOAD`)? Cloud Controller's own download answer cannot tell: for a global
 * auditor it is 302 either way, the scope alone grants it. So when operators exclude global
 * auditors, the registry asks `/v3/roles` with its own token (admin_read_only reads every role).
 */
import type { CapiClient } from '../sources/capi/capi-client.ts';
import type { AppRef } from '../sources/droplet-source.ts';

const SPACE_ROLES = ['space_developer', 'space_manager', 'space_auditor'];
const ORG_ROLES = ['organization_manager'];

interface RoleJson {
  readonly type: string;
  readonly relationships: {
    readonly user: { readonly data: { readonly guid: string } };
    readonly space: { readonly data: { readonly guid: string } | null };
    readonly organization: { readonly data: { readonly guid: string } | null };
  };
}

export class DownloadRoles {
  readonly #capi: Pick<CapiClient, 'list'>;

  /** `capi` reads with the registry's service token, never the user's. */
  constructor(capi: Pick<CapiClient, 'list'>) {
    this.#capi = capi;
  }

  /** True when `userGuid` holds one of the downloading roles in the app's space or org. */
  async holdsDownloadRole(userGuid: string, app: AppRef): Promise<boolean> {
    return (await this.#holds(userGuid, SPACE_ROLES, 'space', app.space.guid)) || (await this.#holds(userGuid, ORG_ROLES, 'organization', app.org.guid));
  }

  /** Each role is checked here too: a filter Cloud Controller ignored must never grant. */
  async #holds(userGuid: string, types: readonly string[], where: 'space' | 'organization', guid: string): Promise<boolean> {
    const { resources } = await this.#capi.list<RoleJson>('/v3/roles', { user_guids: userGuid, [`${where}_guids`]: guid, types: types.join(',') });
    return resources.some((role) => types.includes(role.type) && role.relationships.user.data.guid === userGuid && role.relationships[where].data?.guid === guid);
  }
}
