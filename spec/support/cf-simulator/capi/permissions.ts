/**
 * Who may see and do what, after `lib/cloud_controller/permissions.rb`. Global powers come from
 * token scopes; everything else from roles in the foundation. Note the asymmetries the registry
 * depends on: space supporters can read apps and droplets but not download droplets; org auditors
 * and billing managers cannot even see the spaces.
 */
import type { AuditEvent, Foundation, OrgRole, SpaceRole } from '../foundation.ts';

export const SCOPE_ADMIN = 'cloud_controller.admin';
export const SCOPE_ADMIN_READ_ONLY = 'cloud_controller.admin_read_only';
export const SCOPE_GLOBAL_AUDITOR = 'cloud_controller.global_auditor';
export const SCOPE_READ = 'cloud_controller.read';

/** The caller, from a verified token: `user_id`, or `client_id` for client tokens. */
export interface Viewer {
  readonly guid: string;
  readonly userName: string | null;
  readonly email: string | null;
  readonly scopes: ReadonlySet<string>;
}

/** `ROLES_FOR_DROPLET_DOWLOAD` (sic): space developer, manager, auditor; org manager. */
const DOWNLOAD_SPACE_ROLES: readonly SpaceRole[] = ['developer', 'manager', 'auditor'];
/** Roles that may read a space's resources; `untrusted_can_read_from_space?` adds supporters. */
const READ_SPACE_ROLES: readonly SpaceRole[] = ['developer', 'manager', 'auditor', 'supporter'];

const EVENT_SPACE_ROLES: readonly SpaceRole[] = ['developer', 'manager', 'auditor'];
const EVENT_ORG_ROLES: readonly OrgRole[] = ['manager', 'auditor'];

export class Permissions {
  readonly #foundation: Foundation;
  readonly viewer: Viewer;

  constructor(foundation: Foundation, viewer: Viewer) {
    this.#foundation = foundation;
    this.viewer = viewer;
  }

  /** admin, admin_read_only or global_auditor. */
  canReadGlobally(): boolean {
    const scopes = this.viewer.scopes;
    return scopes.has(SCOPE_ADMIN) || scopes.has(SCOPE_ADMIN_READ_ONLY) || scopes.has(SCOPE_GLOBAL_AUDITOR);
  }

  /** Global auditors are excluded: they audit everything "excluding secrets". */
  canReadSecretsGlobally(): boolean {
    return this.viewer.scopes.has(SCOPE_ADMIN) || this.viewer.scopes.has(SCOPE_ADMIN_READ_ONLY);
  }

  /** Orgs are visible to their members, whatever the role. */
  canSeeOrg(orgGuid: string): boolean {
    return this.canReadGlobally() || this.#orgRoles(orgGuid).size > 0;
  }

  /** `untrusted_can_read_from_space?`: space roles incl. supporter, or org manager. */
  canReadSpace(spaceGuid: string): boolean {
    return this.canReadGlobally() || this.#hasSpaceRole(spaceGuid, READ_SPACE_ROLES) || this.#hasOrgRoleOver(spaceGuid, ['manager']);
  }

  /** `can_download_droplet?` */
  canDownloadDroplet(spaceGuid: string): boolean {
    return this.canReadGlobally() || this.#hasSpaceRole(spaceGuid, DOWNLOAD_SPACE_ROLES) || this.#hasOrgRoleOver(spaceGuid, ['manager']);
  }

  /** `can_read_secrets_in_space?`: space developers, admin and admin_read_only. */
  canReadSecretsInSpace(spaceGuid: string): boolean {
    return this.canReadSecretsGlobally() || this.#hasSpaceRole(spaceGuid, ['developer']);
  }

  /**
   * Audit events: developers, managers and auditors of the event's space, managers and auditors
   * of its org (the reference is silent on the exact list; CC's `Event.user_visibility_filter`
   * is of this shape). Supporters see none.
   */
  canSeeEvent(event: AuditEvent): boolean {
    if (this.canReadGlobally()) return true;
    if (event.spaceGuid !== null && this.#hasSpaceRole(event.spaceGuid, EVENT_SPACE_ROLES)) return true;
    if (event.orgGuid === null) return false;
    const held = this.#orgRoles(event.orgGuid);
    return EVENT_ORG_ROLES.some((role) => held.has(role));
  }

  #hasSpaceRole(spaceGuid: string, roles: readonly SpaceRole[]): boolean {
    const held = this.#foundation.spaceRoles(this.viewer.guid, spaceGuid);
    return roles.some((role) => held.has(role));
  }

  #hasOrgRoleOver(spaceGuid: string, roles: readonly OrgRole[]): boolean {
    const space = this.#foundation.space(spaceGuid);
    if (!space) return false;
    const held = this.#orgRoles(space.orgGuid);
    return roles.some((role) => held.has(role));
  }

  #orgRoles(orgGuid: string): ReadonlySet<OrgRole> {
    return this.#foundation.orgRoles(this.viewer.guid, orgGuid);
  }
}
