/**
 * The JSON CC presents for each resource (the `*_presenter.rb` files and the v3 docs examples
 * quoted in the reference). `base` is the URL links start with: the simulator's own, where real CC
 * uses its external `https://api.<sys>` even when called on an internal address.
 */
import type { App, AuditEvent, CcUser, Droplet, DropletBlob, Org, Role, Space, Stack } from '../foundation.ts';
import type { UaaUser } from '../uaa.ts';

export type Redaction = 'none' | 'show' | 'list';

const REDACTED_MESSAGE = '[PRIVATE DATA HIDDEN]';
const REDACTED_LIST_MESSAGE = '[PRIVATE DATA HIDDEN IN LISTS]';
const EMPTY_METADATA = { labels: {}, annotations: {} };

/** `YYYY-MM-DDThh:mm:ssZ`: CC timestamps have no fractional seconds. */
export function timestamp(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function presentOrg(org: Org, base: string) {
  const self = `${base}/v3/organizations/${org.guid}`;
  return {
    guid: org.guid,
    created_at: timestamp(org.createdAt),
    updated_at: timestamp(org.updatedAt),
    name: org.name,
    suspended: false,
    relationships: { quota: { data: { guid: org.quotaGuid } } },
    metadata: EMPTY_METADATA,
    links: {
      self: { href: self },
      domains: { href: `${self}/domains` },
      default_domain: { href: `${self}/domains/default` },
      quota: { href: `${base}/v3/organization_quotas/${org.quotaGuid}` },
    },
  };
}

export function presentSpace(space: Space, base: string) {
  const self = `${base}/v3/spaces/${space.guid}`;
  return {
    guid: space.guid,
    created_at: timestamp(space.createdAt),
    updated_at: timestamp(space.updatedAt),
    name: space.name,
    suspended: false,
    relationships: { organization: { data: { guid: space.orgGuid } }, quota: { data: null } },
    metadata: EMPTY_METADATA,
    links: {
      self: { href: self },
      features: { href: `${self}/features` },
      organization: { href: `${base}/v3/organizations/${space.orgGuid}` },
      apply_manifest: { href: `${self}/actions/apply_manifest`, method: 'POST' },
    },
  };
}

export function presentApp(app: App, base: string) {
  const self = `${base}/v3/apps/${app.guid}`;
  return {
    guid: app.guid,
    name: app.name,
    state: app.state,
    created_at: timestamp(app.createdAt),
    updated_at: timestamp(app.updatedAt),
    // Docker apps have no lifecycle data; buildpack and cnb apps list their buildpacks and stack.
    lifecycle: { type: app.lifecycle, data: app.lifecycle === 'docker' ? {} : { buildpacks: app.buildpacks, stack: app.stack } },
    relationships: { space: { data: { guid: app.spaceGuid } }, current_droplet: { data: { guid: app.currentDropletGuid } } },
    metadata: EMPTY_METADATA,
    links: {
      self: { href: self },
      environment_variables: { href: `${self}/environment_variables` },
      space: { href: `${base}/v3/spaces/${app.spaceGuid}` },
      processes: { href: `${self}/processes` },
      packages: { href: `${self}/packages` },
      current_droplet: { href: `${self}/droplets/current` },
      droplets: { href: `${self}/droplets` },
      tasks: { href: `${self}/tasks` },
      start: { href: `${self}/actions/start`, method: 'POST' },
      stop: { href: `${self}/actions/stop`, method: 'POST' },
      clear_buildpack_cache: { href: `${self}/actions/clear_buildpack_cache`, method: 'POST' },
      revisions: { href: `${self}/revisions` },
      deployed_revisions: { href: `${self}/revisions/deployed` },
      features: { href: `${self}/features` },
    },
  };
}

/**
 * A droplet. `redaction` hides `execution_metadata`/`process_types` the way `show` (for callers who
 * cannot read secrets) and every list do. `checksumValue` overrides the advertised digest (fault
 * injection). The download link appears only for STAGED buildpack droplets.
 */
export function presentDroplet(droplet: Droplet, blob: DropletBlob | null, base: string, redaction: Redaction, checksumValue?: string) {
  const censored = redaction === 'show' ? REDACTED_MESSAGE : redaction === 'list' ? REDACTED_LIST_MESSAGE : null;
  const digest = blob === null ? null : droplet.checksumType === 'sha256' ? blob.sha256 : blob.sha1;
  const self = `${base}/v3/droplets/${droplet.guid}`;
  const app = `${base}/v3/apps/${droplet.appGuid}`;
  return {
    guid: droplet.guid,
    created_at: timestamp(droplet.createdAt),
    updated_at: timestamp(droplet.updatedAt),
    state: droplet.state,
    error: droplet.error,
    lifecycle: { type: droplet.lifecycle, data: {} },
    checksum: digest === null ? null : { type: droplet.checksumType, value: checksumValue ?? digest },
    buildpacks: droplet.buildpacks,
    stack: droplet.stack,
    image: droplet.image,
    execution_metadata: censored ?? droplet.executionMetadata,
    process_types: censored === null ? droplet.processTypes : { redacted_message: censored },
    relationships: { app: { data: { guid: droplet.appGuid } } },
    metadata: EMPTY_METADATA,
    links: {
      self: { href: self },
      package: { href: `${base}/v3/packages/${droplet.packageGuid}` },
      app: { href: app },
      assign_current_droplet: { href: `${app}/relationships/current_droplet`, method: 'PATCH' },
      ...(droplet.state === 'STAGED' && droplet.lifecycle === 'buildpack' ? { download: { href: `${self}/download` } } : {}),
    },
  };
}

export function presentStack(stack: Stack, base: string) {
  return {
    guid: stack.guid,
    created_at: timestamp(stack.createdAt),
    updated_at: timestamp(stack.createdAt),
    name: stack.name,
    description: stack.description,
    state: 'ACTIVE',
    state_reason: null,
    run_rootfs_image: stack.name,
    build_rootfs_image: stack.name,
    default: stack.isDefault,
    metadata: EMPTY_METADATA,
    links: { self: { href: `${base}/v3/stacks/${stack.guid}` } },
  };
}

export function presentEvent(event: AuditEvent, base: string) {
  return {
    guid: event.guid,
    created_at: timestamp(event.createdAt),
    updated_at: timestamp(event.createdAt),
    type: event.type,
    actor: event.actor,
    target: event.target,
    data: event.data,
    space: event.spaceGuid === null ? null : { guid: event.spaceGuid },
    organization: event.orgGuid === null ? null : { guid: event.orgGuid },
    links: { self: { href: `${base}/v3/audit_events/${event.guid}` } },
  };
}

/** `role_presenter.rb`: a space role links its space (organization `null`), an org role its org. */
export function presentRole(role: Role, base: string) {
  const user = { href: `${base}/v3/users/${encodeURIComponent(role.userGuid)}` };
  return {
    guid: role.guid,
    created_at: timestamp(role.createdAt),
    updated_at: timestamp(role.updatedAt),
    type: role.type,
    relationships: {
      user: { data: { guid: role.userGuid } },
      space: { data: role.spaceGuid === null ? null : { guid: role.spaceGuid } },
      organization: { data: role.orgGuid === null ? null : { guid: role.orgGuid } },
    },
    links: {
      self: { href: `${base}/v3/roles/${role.guid}` },
      user,
      ...(role.spaceGuid !== null ? { space: { href: `${base}/v3/spaces/${role.spaceGuid}` } } : { organization: { href: `${base}/v3/organizations/${role.orgGuid}` } }),
    },
  };
}

/** `user_presenter.rb`: name and origin from UAA; a client (no UAA user) shows its guid as `presentation_name`. */
export function presentUser(user: CcUser, uaaUser: UaaUser | undefined, base: string) {
  return {
    guid: user.guid,
    created_at: timestamp(user.createdAt),
    updated_at: timestamp(user.updatedAt),
    username: uaaUser?.username ?? null,
    presentation_name: uaaUser?.username ?? user.guid,
    origin: uaaUser?.origin ?? null,
    metadata: EMPTY_METADATA,
    links: { self: { href: `${base}/v3/users/${encodeURIComponent(user.guid)}` } },
  };
}
