/**
 * A small, realistic foundation most tests can start from: one org with two spaces, one user per
 * row of the droplet-download role matrix, the registry's UAA clients, and apps covering the cases
 * the registry must tell apart (current and older droplets, a legacy sha1 droplet, docker, cnb, a
 * failed staging, no droplet at all). Droplet bytes come from the caller, so tests pass real .tgz
 * droplets.
 */
import type { App, Droplet, DropletBuildpack, Foundation, Org, Space } from './foundation.ts';
import type { Uaa } from './uaa.ts';

/** Roles of reference §1.10, each held by one seeded user (on space `development` / org `acme`). */
export type MatrixRole =
  | 'admin'
  | 'admin_read_only'
  | 'global_auditor'
  | 'space_developer'
  | 'space_manager'
  | 'space_auditor'
  | 'org_manager'
  | 'space_supporter'
  | 'org_auditor'
  | 'org_billing_manager'
  | 'no_role';

/** What `GET /v3/droplets/:guid/download` answers each role for a droplet in `development` (reference §1.10). */
export const DOWNLOAD_MATRIX: Readonly<Record<MatrixRole, 302 | 403 | 404>> = {
  admin: 302,
  admin_read_only: 302,
  global_auditor: 302,
  space_developer: 302,
  space_manager: 302,
  space_auditor: 302,
  org_manager: 302,
  space_supporter: 403,
  org_auditor: 404,
  org_billing_manager: 404,
  no_role: 404,
};

export interface SeededUser {
  readonly username: string;
  readonly password: string;
  /** UAA user id = CC user guid. */
  readonly guid: string;
}

export interface SeedOptions {
  /** The `.tgz` of a buildpack (or cnb) droplet; called lazily, the first time its bits are needed. */
  dropletBytes(droplet: { readonly app: string; readonly startCommand: string }): Buffer | Promise<Buffer>;
  /** Default `droplet-registry-secret`. */
  readonly serviceClientSecret?: string;
}

export interface SeededFoundation {
  readonly org: Org;
  readonly spaces: { readonly development: Space; readonly production: Space };
  readonly apps: {
    /** nodejs, two STAGED droplets; `webCurrent` is current. */
    readonly web: App;
    /** A droplet staged before sha256 checksums: advertises sha1, on cflinuxfs3. */
    readonly legacy: App;
    readonly docker: App;
    readonly cnb: App;
    /** Current droplet STAGED, a later restage FAILED. */
    readonly failing: App;
    /** Never staged: no droplet at all. */
    readonly empty: App;
    /** In `production`, where only admins, global readers and the org manager can see it. */
    readonly api: App;
  };
  readonly droplets: {
    readonly webPrevious: Droplet;
    readonly webCurrent: Droplet;
    readonly legacy: Droplet;
    readonly docker: Droplet;
    readonly cnb: Droplet;
    readonly failingCurrent: Droplet;
    readonly failingFailed: Droplet;
    readonly api: Droplet;
  };
  readonly users: Readonly<Record<MatrixRole, SeededUser>>;
  /** The registry's own client (client_credentials, `cloud_controller.admin_read_only`), as the ops-file creates it. */
  readonly serviceClient: { readonly id: string; readonly secret: string };
  /** The client `docker login` passwords go through (password grant). */
  readonly loginClient: { readonly id: string; readonly secret: string };
}

const NODEJS: DropletBuildpack = { name: 'nodejs_buildpack', detect_output: 'nodejs', buildpack_name: 'nodejs', version: '1.8.20' };

export function seedFoundation(simulator: { readonly foundation: Foundation; readonly uaa: Uaa }, options: SeedOptions): SeededFoundation {
  const { foundation, uaa } = simulator;
  if (!foundation.stacks().some((stack) => stack.name === 'cflinuxfs3')) {
    foundation.createStack({ name: 'cflinuxfs3', description: 'Cloud Foundry Linux-based filesystem (Ubuntu 18.04)', default: false });
  }
  const serviceClient = { id: 'droplet_registry', secret: options.serviceClientSecret ?? 'droplet-registry-secret' };
  uaa.addClient({ id: serviceClient.id, secret: serviceClient.secret, grantTypes: ['client_credentials'], authorities: ['cloud_controller.admin_read_only'] });
  const loginClient = { id: 'droplet_registry_login', secret: 'droplet-registry-login-secret' };
  uaa.addClient({
    id: loginClient.id,
    secret: loginClient.secret,
    grantTypes: ['password'],
    scopes: ['cloud_controller.read', 'cloud_controller.admin', 'cloud_controller.admin_read_only', 'cloud_controller.global_auditor', 'openid'],
    accessTokenValidity: 1200,
  });

  const org = foundation.createOrg({ name: 'acme' });
  const development = foundation.createSpace(org, { name: 'development' });
  const production = foundation.createSpace(org, { name: 'production' });

  const bits = (app: string, startCommand: string) => () => options.dropletBytes({ app, startCommand });
  const staged = (app: App, startCommand: string, extra: Parameters<Foundation['addDroplet']>[1] = {}) =>
    foundation.addDroplet(app, { bits: bits(app.name, startCommand), buildpacks: [NODEJS], processTypes: { web: startCommand }, ...extra });

  const web = foundation.createApp(development, { name: 'web', buildpacks: ['nodejs_buildpack'] });
  const webPrevious = staged(web, 'node server.js --previous');
  const webCurrent = staged(web, 'node server.js');
  foundation.setCurrentDroplet(web, webCurrent);

  const legacy = foundation.createApp(development, { name: 'legacy', stack: 'cflinuxfs3', buildpacks: ['nodejs_buildpack'] });
  const legacyDroplet = staged(legacy, 'node legacy.js', { checksumType: 'sha1' });
  foundation.setCurrentDroplet(legacy, legacyDroplet);

  const docker = foundation.createApp(development, { name: 'docker-app', lifecycle: 'docker' });
  const dockerDroplet = foundation.addDroplet(docker, { image: 'cloudfoundry/diego-docker-app:latest', processTypes: { web: '/myapp/dockerapp' } });
  foundation.setCurrentDroplet(docker, dockerDroplet);

  const cnb = foundation.createApp(development, { name: 'cnb-app', lifecycle: 'cnb', buildpacks: ['docker://paketobuildpacks/nodejs'] });
  const cnbDroplet = staged(cnb, 'node index.js', { buildpacks: [{ name: 'paketo-buildpacks/nodejs', detect_output: null, buildpack_name: 'paketo-buildpacks/nodejs', version: '1.2.3' }] });
  foundation.setCurrentDroplet(cnb, cnbDroplet);

  const failing = foundation.createApp(development, { name: 'failing', buildpacks: ['nodejs_buildpack'] });
  const failingCurrent = staged(failing, 'node failing.js');
  foundation.setCurrentDroplet(failing, failingCurrent);
  const failingFailed = foundation.addDroplet(failing, { state: 'FAILED', buildpacks: [] });

  const empty = foundation.createApp(development, { name: 'empty', state: 'STOPPED', buildpacks: ['nodejs_buildpack'] });

  const api = foundation.createApp(production, { name: 'api', buildpacks: ['nodejs_buildpack'] });
  const apiDroplet = staged(api, 'node api.js');
  foundation.setCurrentDroplet(api, apiDroplet);

  const user = (role: MatrixRole, scopes: readonly string[] = []): SeededUser => {
    const username = role.replaceAll('_', '-');
    const created = uaa.addUser({ username, password: `${username}-password`, scopes });
    return { username, password: created.password, guid: created.guid };
  };
  const users: Record<MatrixRole, SeededUser> = {
    admin: user('admin', ['cloud_controller.admin']),
    admin_read_only: user('admin_read_only', ['cloud_controller.admin_read_only']),
    global_auditor: user('global_auditor', ['cloud_controller.global_auditor']),
    space_developer: user('space_developer'),
    space_manager: user('space_manager'),
    space_auditor: user('space_auditor'),
    org_manager: user('org_manager'),
    space_supporter: user('space_supporter'),
    org_auditor: user('org_auditor'),
    org_billing_manager: user('org_billing_manager'),
    no_role: user('no_role'),
  };
  foundation.grantSpaceRole(users.space_developer.guid, development, 'developer');
  foundation.grantSpaceRole(users.space_manager.guid, development, 'manager');
  foundation.grantSpaceRole(users.space_auditor.guid, development, 'auditor');
  foundation.grantSpaceRole(users.space_supporter.guid, development, 'supporter');
  foundation.grantOrgRole(users.org_manager.guid, org, 'manager');
  foundation.grantOrgRole(users.org_auditor.guid, org, 'auditor');
  foundation.grantOrgRole(users.org_billing_manager.guid, org, 'billing_manager');

  return {
    org,
    spaces: { development, production },
    apps: { web, legacy, docker, cnb, failing, empty, api },
    droplets: { webPrevious, webCurrent, legacy: legacyDroplet, docker: dockerDroplet, cnb: cnbDroplet, failingCurrent, failingFailed, api: apiDroplet },
    users,
    serviceClient,
    loginClient,
  };
}
