/**
 * The world the simulated Cloud Controller serves: orgs, spaces, apps, droplets, stacks, role
 * assignments and audit events, plus the helpers a test calls to change that world the way
 * operators and developers do (`cf create-space`, `cf push`, `cf delete-droplet`…).
 *
 * Users themselves live in UAA (see uaa-server.ts); here they are only guids with roles, as in
 * CCDB, where a user row is created the first time a token with that `user_id` arrives. Global
 * powers (`cloud_controller.admin`, `…admin_read_only`, `…global_auditor`) are token scopes, so
 * they too come from UAA.
 */
import { createHash, randomUUID } from 'node:crypto';

export type Lifecycle = 'buildpack' | 'docker' | 'cnb';
/** `droplet_model.rb`: the documented states plus the undocumented STAGING. */
export type DropletState = 'AWAITING_UPLOAD' | 'PROCESSING_UPLOAD' | 'STAGING' | 'STAGED' | 'COPYING' | 'FAILED' | 'EXPIRED';
export type SpaceRole = 'developer' | 'manager' | 'auditor' | 'supporter';
/** `user` is plain org membership, which every space role implies. */
export type OrgRole = 'user' | 'manager' | 'auditor' | 'billing_manager';
/** A role's `type` in `/v3/roles` (`RoleTypes`): `organization_<OrgRole>` or `space_<SpaceRole>`. */
export type RoleType = `organization_${OrgRole}` | `space_${SpaceRole}`;
export type ChecksumType = 'sha256' | 'sha1';
/** Droplet `.tgz` bytes, or a function producing them on first use (so big droplets are built only if downloaded). */
export type DropletBits = Buffer | (() => Buffer | Promise<Buffer>);
/** Anything with a guid, or the guid itself. */
export type Ref = string | { readonly guid: string };

export interface Org {
  readonly guid: string;
  name: string;
  readonly quotaGuid: string;
  readonly createdAt: Date;
  updatedAt: Date;
}

export interface Space {
  readonly guid: string;
  name: string;
  readonly orgGuid: string;
  readonly createdAt: Date;
  updatedAt: Date;
}

export interface App {
  readonly guid: string;
  name: string;
  readonly spaceGuid: string;
  readonly state: 'STARTED' | 'STOPPED';
  readonly lifecycle: Lifecycle;
  /** Buildpack names requested for the app (`lifecycle.data.buildpacks`); empty means auto-detect. */
  readonly buildpacks: readonly string[];
  /** null for docker apps. */
  readonly stack: string | null;
  currentDropletGuid: string | null;
  readonly createdAt: Date;
  updatedAt: Date;
}

/** One entry of a droplet's `buildpacks` (what staging detected). */
export interface DropletBuildpack {
  readonly name: string;
  readonly detect_output: string | null;
  readonly buildpack_name: string | null;
  readonly version: string | null;
}

export interface Droplet {
  readonly guid: string;
  readonly appGuid: string;
  readonly packageGuid: string;
  state: DropletState;
  readonly lifecycle: Lifecycle;
  readonly checksumType: ChecksumType;
  /** null for docker droplets. */
  readonly buildpacks: readonly DropletBuildpack[] | null;
  readonly stack: string | null;
  /** The docker image, for docker droplets only. */
  readonly image: string | null;
  readonly processTypes: Readonly<Record<string, string>> | null;
  readonly executionMetadata: string;
  readonly error: string | null;
  /** null when there are no bits in the blobstore (not staged, docker, failed build). */
  readonly bits: DropletBits | null;
  readonly createdAt: Date;
  updatedAt: Date;
}

export interface Stack {
  readonly guid: string;
  readonly name: string;
  readonly description: string;
  readonly isDefault: boolean;
  readonly createdAt: Date;
}

/**
 * One role assignment, as CCDB keeps it: a space role names its space, an org role its org (the
 * other is null). Creation order is CC's `id` order.
 */
export interface Role {
  readonly guid: string;
  readonly type: RoleType;
  readonly userGuid: string;
  readonly spaceGuid: string | null;
  readonly orgGuid: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * CC's user row (CC makes one when the user's first token arrives; here, with their first role, as
 * only role holders are ever listed). Name and origin live in UAA.
 */
export interface CcUser {
  readonly guid: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Who did something, as CC records it (`actor_name` is the user's email). */
export interface Actor {
  readonly guid: string;
  readonly type: 'user';
  readonly name: string;
}

export interface AuditEvent {
  readonly guid: string;
  readonly type: string;
  readonly createdAt: Date;
  readonly actor: Actor;
  readonly target: { readonly guid: string; readonly type: string; readonly name: string };
  readonly data: Readonly<Record<string, unknown>>;
  readonly spaceGuid: string | null;
  readonly orgGuid: string | null;
}

/** Droplet bits once produced, with the digests CC keeps (sha1 names the blob, sha256 is advertised). */
export interface DropletBlob {
  readonly bytes: Buffer;
  readonly sha1: string;
  readonly sha256: string;
}

export interface AddDropletOptions {
  readonly guid?: string;
  /** Default STAGED. */
  readonly state?: DropletState;
  /** Default: none, so a STAGED buildpack droplet without bits answers "Blobstore key not present" on download. */
  readonly bits?: DropletBits | null;
  /** Which digest CAPI advertises; `sha1` is what droplets staged before sha256 checksums carry. Default sha256. */
  readonly checksumType?: ChecksumType;
  readonly buildpacks?: readonly DropletBuildpack[];
  /** Default: the app's stack. */
  readonly stack?: string | null;
  /** Default for docker droplets: `cloudfoundry/diego-docker-app:latest`. */
  readonly image?: string;
  /** Default `{}` for STAGED droplets, null otherwise (staging has not produced them yet). */
  readonly processTypes?: Record<string, string> | null;
  readonly executionMetadata?: string;
  readonly error?: string | null;
}

export interface StageOptions {
  readonly processTypes?: Record<string, string>;
  readonly buildpacks?: readonly DropletBuildpack[];
  readonly checksumType?: ChecksumType;
  readonly actor?: Actor;
}

export interface FoundationOptions {
  /** Who `stage`/`setCurrentDroplet` act as unless told otherwise. */
  readonly defaultActor?: Actor;
}

export class Foundation {
  readonly #orgs = new Map<string, Org>();
  readonly #spaces = new Map<string, Space>();
  readonly #apps = new Map<string, App>();
  readonly #droplets = new Map<string, Droplet>();
  readonly #stacks = new Map<string, Stack>();
  readonly #events: AuditEvent[] = [];
  readonly #roles: Role[] = [];
  readonly #users = new Map<string, CcUser>();
  readonly #blobs = new Map<string, Promise<DropletBlob>>();
  #frozenTime: Date | null = null;
  readonly defaultActor: Actor;

  /** A fresh foundation has cf-deployment's one stack, cflinuxfs4, as its default. */
  constructor(options: FoundationOptions = {}) {
    this.defaultActor = options.defaultActor ?? { guid: randomUUID(), type: 'user', name: 'admin' };
    this.createStack({ name: 'cflinuxfs4', description: 'Cloud Foundry Linux-based filesystem (Ubuntu 22.04)', default: true });
  }

  // ---- clock: CC timestamps have one-second resolution, so the clock only yields whole seconds.

  /** The current time, truncated to the second; frozen once `setTime` has been called. */
  now(): Date {
    const at = this.#frozenTime ?? new Date();
    return new Date(Math.floor(at.getTime() / 1000) * 1000);
  }

  /** Freezes the clock at `at` so tests control every `created_at`. */
  setTime(at: Date | string): void {
    this.#frozenTime = new Date(at);
  }

  /** Moves a frozen clock forward (freezing it at the current time first if it was running). */
  advanceTime(seconds: number): void {
    this.#frozenTime = new Date(this.now().getTime() + seconds * 1000);
  }

  // ---- world-changing helpers

  /** Creates an org (`cf create-org`) and records `audit.organization.create`, as Cloud Controller does; so do `createSpace` and `createApp`. */
  createOrg(options: { name: string; guid?: string }): Org {
    const at = this.now();
    const org: Org = { guid: options.guid ?? randomUUID(), name: options.name, quotaGuid: randomUUID(), createdAt: at, updatedAt: at };
    this.#orgs.set(org.guid, org);
    this.recordEvent({ type: 'audit.organization.create', actor: this.defaultActor, target: { guid: org.guid, type: 'organization', name: org.name }, data: { request: { name: org.name } }, spaceGuid: null, orgGuid: org.guid });
    return org;
  }

  createSpace(org: Ref, options: { name: string; guid?: string }): Space {
    const at = this.now();
    const space: Space = { guid: options.guid ?? randomUUID(), name: options.name, orgGuid: this.#mustGet(this.#orgs, org, 'org').guid, createdAt: at, updatedAt: at };
    this.#spaces.set(space.guid, space);
    this.recordEvent({ type: 'audit.space.create', actor: this.defaultActor, target: { guid: space.guid, type: 'space', name: space.name }, data: { request: { name: space.name } }, spaceGuid: space.guid, orgGuid: space.orgGuid });
    return space;
  }

  createStack(options: { name: string; description?: string; default?: boolean }): Stack {
    const stack: Stack = {
      guid: randomUUID(),
      name: options.name,
      description: options.description ?? `${options.name} stack`,
      isDefault: options.default ?? this.#stacks.size === 0,
      createdAt: this.now(),
    };
    this.#stacks.set(stack.guid, stack);
    return stack;
  }

  createApp(space: Ref, options: { name: string; guid?: string; lifecycle?: Lifecycle; stack?: string; buildpacks?: readonly string[]; state?: 'STARTED' | 'STOPPED' }): App {
    const lifecycle = options.lifecycle ?? 'buildpack';
    const at = this.now();
    const app: App = {
      guid: options.guid ?? randomUUID(),
      name: options.name,
      spaceGuid: this.#mustGet(this.#spaces, space, 'space').guid,
      state: options.state ?? 'STARTED',
      lifecycle,
      buildpacks: lifecycle === 'docker' ? [] : (options.buildpacks ?? []),
      stack: lifecycle === 'docker' ? null : (options.stack ?? this.#defaultStackName()),
      currentDropletGuid: null,
      createdAt: at,
      updatedAt: at,
    };
    this.#apps.set(app.guid, app);
    this.#recordAppEvent('audit.app.create', app, this.defaultActor, { request: { name: app.name } });
    return app;
  }

  /** Adds a droplet to an app without making it current (see `setCurrentDroplet`, `stage`). */
  addDroplet(app: Ref, options: AddDropletOptions = {}): Droplet {
    const owner = this.#mustGet(this.#apps, app, 'app');
    const state = options.state ?? 'STAGED';
    const docker = owner.lifecycle === 'docker';
    const at = this.now();
    const droplet: Droplet = {
      guid: options.guid ?? randomUUID(),
      appGuid: owner.guid,
      packageGuid: randomUUID(),
      state,
      lifecycle: owner.lifecycle,
      checksumType: options.checksumType ?? 'sha256',
      buildpacks: docker ? null : (options.buildpacks ?? []),
      stack: docker ? null : options.stack === undefined ? owner.stack : options.stack,
      image: docker ? (options.image ?? 'cloudfoundry/diego-docker-app:latest') : null,
      processTypes: options.processTypes === undefined ? (state === 'STAGED' ? {} : null) : options.processTypes,
      executionMetadata: options.executionMetadata ?? '',
      error: options.error ?? (state === 'FAILED' ? 'StagingError - Staging error: staging failed' : null),
      bits: docker ? null : (options.bits ?? null),
      createdAt: at,
      updatedAt: at,
    };
    this.#droplets.set(droplet.guid, droplet);
    return droplet;
  }

  /** Makes `droplet` the app's current droplet (what `cf push` or `PATCH …/relationships/current_droplet` does) and records `audit.app.droplet.mapped`. */
  setCurrentDroplet(app: Ref, droplet: Ref, actor: Actor = this.defaultActor): void {
    const owner = this.#mustGet(this.#apps, app, 'app');
    const target = this.#mustGet(this.#droplets, droplet, 'droplet');
    if (target.appGuid !== owner.guid || target.state !== 'STAGED') {
      // CC's AppAssignDroplet refuses these too.
      throw new Error(`cf-simulator: droplet ${target.guid} is not a STAGED droplet of app ${owner.name}`);
    }
    owner.currentDropletGuid = target.guid;
    owner.updatedAt = this.now();
    this.#recordAppEvent('audit.app.droplet.mapped', owner, actor, { request: { droplet_guid: target.guid } });
  }

  /** Renames an org (`cf rename-org`, an org manager's right) and records `audit.organization.update`. */
  renameOrg(org: Ref, name: string, actor: Actor = this.defaultActor): void {
    const target = this.#mustGet(this.#orgs, org, 'org');
    target.name = name;
    target.updatedAt = this.now();
    this.recordEvent({ type: 'audit.organization.update', actor, target: { guid: target.guid, type: 'organization', name }, data: { request: { name } }, spaceGuid: null, orgGuid: target.guid });
  }

  /** Renames a space (`cf rename-space`, a space manager's right) and records `audit.space.update`. */
  renameSpace(space: Ref, name: string, actor: Actor = this.defaultActor): void {
    const target = this.#mustGet(this.#spaces, space, 'space');
    target.name = name;
    target.updatedAt = this.now();
    this.recordEvent({ type: 'audit.space.update', actor, target: { guid: target.guid, type: 'space', name }, data: { request: { name } }, spaceGuid: target.guid, orgGuid: target.orgGuid });
  }

  /** Renames an app (`cf rename`, a space developer's right) and records `audit.app.update`. */
  renameApp(app: Ref, name: string, actor: Actor = this.defaultActor): void {
    const target = this.#mustGet(this.#apps, app, 'app');
    target.name = name;
    target.updatedAt = this.now();
    this.#recordAppEvent('audit.app.update', target, actor, { request: { name } });
  }

  /** Deletes a droplet (`cf curl -X DELETE /v3/droplets/:guid`); an app whose current droplet it was has none afterwards. */
  deleteDroplet(droplet: Ref, actor: Actor = this.defaultActor): void {
    const target = this.#mustGet(this.#droplets, droplet, 'droplet');
    this.#droplets.delete(target.guid);
    this.#blobs.delete(target.guid);
    const owner = this.#apps.get(target.appGuid);
    if (!owner) return;
    if (owner.currentDropletGuid === target.guid) owner.currentDropletGuid = null;
    this.#recordAppEvent('audit.app.droplet.delete', owner, actor, { droplet_guid: target.guid });
  }

  /**
   * What `cf push` leaves behind once staging succeeds: a droplet created in STAGING
   * (`audit.app.droplet.create`), marked STAGED with these bits (`audit.app.build.staged`), then made
   * current (`audit.app.droplet.mapped`), all stamped with the clock's current second.
   */
  stage(app: Ref, bits: DropletBits | null, options: StageOptions = {}): Droplet {
    const owner = this.#mustGet(this.#apps, app, 'app');
    const actor = options.actor ?? this.defaultActor;
    const buildpacks = options.buildpacks ?? owner.buildpacks.map((name) => ({ name, detect_output: null, buildpack_name: name.replace(/_buildpack$/, ''), version: null }));
    const droplet = this.addDroplet(owner, {
      state: 'STAGING',
      bits,
      buildpacks,
      ...(options.checksumType === undefined ? {} : { checksumType: options.checksumType }),
      processTypes: options.processTypes ?? {},
    });
    this.#recordAppEvent('audit.app.droplet.create', owner, actor, { droplet_guid: droplet.guid, package_guid: droplet.packageGuid });
    droplet.state = 'STAGED';
    droplet.updatedAt = this.now();
    const staged: Record<string, unknown> = { build_guid: randomUUID(), package_guid: droplet.packageGuid, droplet_guid: droplet.guid };
    if (owner.lifecycle !== 'docker') {
      staged.buildpacks = (droplet.buildpacks ?? []).map((buildpack) => ({ name: buildpack.name, buildpack_name: buildpack.buildpack_name, version: buildpack.version }));
    }
    this.#recordAppEvent('audit.app.build.staged', owner, actor, staged);
    this.setCurrentDroplet(owner, droplet, actor);
    return droplet;
  }

  /**
   * Gives a user a space role. CC refuses one to a user who is not a member of the space's org;
   * here the membership (`organization_user`) is granted first, as `cf set-space-role` users do.
   */
  grantSpaceRole(userGuid: string, space: Ref, role: SpaceRole): Role {
    const target = this.#mustGet(this.#spaces, space, 'space');
    this.#grant(userGuid, 'organization_user', null, target.orgGuid);
    return this.#grant(userGuid, `space_${role}`, target.guid, null);
  }

  /** Gives a user an org role, and membership (`organization_user`) with it. */
  grantOrgRole(userGuid: string, org: Ref, role: OrgRole): Role {
    const target = this.#mustGet(this.#orgs, org, 'org');
    const membership = this.#grant(userGuid, 'organization_user', null, target.guid);
    return role === 'user' ? membership : this.#grant(userGuid, `organization_${role}`, null, target.guid);
  }

  /** Appends an audit event at the clock's current second (CAPI calls this for downloads). */
  recordEvent(event: Omit<AuditEvent, 'guid' | 'createdAt'>): AuditEvent {
    const recorded: AuditEvent = { guid: randomUUID(), createdAt: this.now(), ...event };
    this.#events.push(recorded);
    return recorded;
  }

  // ---- reads (for the servers and for assertions)

  org(guid: string): Org | undefined {
    return this.#orgs.get(guid);
  }
  space(guid: string): Space | undefined {
    return this.#spaces.get(guid);
  }
  app(guid: string): App | undefined {
    return this.#apps.get(guid);
  }
  droplet(guid: string): Droplet | undefined {
    return this.#droplets.get(guid);
  }
  /** In creation order, which is CC's default `id` order. */
  orgs(): readonly Org[] {
    return [...this.#orgs.values()];
  }
  spaces(): readonly Space[] {
    return [...this.#spaces.values()];
  }
  apps(): readonly App[] {
    return [...this.#apps.values()];
  }
  droplets(): readonly Droplet[] {
    return [...this.#droplets.values()];
  }
  stacks(): readonly Stack[] {
    return [...this.#stacks.values()];
  }
  events(): readonly AuditEvent[] {
    return [...this.#events];
  }

  /** Every role assignment, in creation order. */
  roles(): readonly Role[] {
    return [...this.#roles];
  }

  role(guid: string): Role | undefined {
    return this.#roles.find((role) => role.guid === guid);
  }

  /** CC's user row: there once the user holds (or held) a role. */
  user(guid: string): CcUser | undefined {
    return this.#users.get(guid);
  }

  spaceRoles(userGuid: string, spaceGuid: string): ReadonlySet<SpaceRole> {
    const held = this.#roles.filter((role) => role.userGuid === userGuid && role.spaceGuid === spaceGuid);
    return new Set(held.map((role) => role.type.replace(/^space_/, '') as SpaceRole));
  }

  orgRoles(userGuid: string, orgGuid: string): ReadonlySet<OrgRole> {
    const held = this.#roles.filter((role) => role.userGuid === userGuid && role.orgGuid === orgGuid);
    return new Set(held.map((role) => role.type.replace(/^organization_/, '') as OrgRole));
  }

  /** The droplet's bits and digests, produced once; null when it has none. */
  async dropletBlob(droplet: Droplet): Promise<DropletBlob | null> {
    const bits = droplet.bits;
    if (bits === null) return null;
    let blob = this.#blobs.get(droplet.guid);
    if (!blob) {
      blob = (async () => {
        const bytes = typeof bits === 'function' ? await bits() : bits;
        return { bytes, sha1: digest('sha1', bytes), sha256: digest('sha256', bytes) };
      })();
      this.#blobs.set(droplet.guid, blob);
    }
    return blob;
  }

  /** The role, created unless the user already holds it there (CC answers 422 to a duplicate). */
  #grant(userGuid: string, type: RoleType, spaceGuid: string | null, orgGuid: string | null): Role {
    const existing = this.#roles.find((role) => role.userGuid === userGuid && role.type === type && role.spaceGuid === spaceGuid && role.orgGuid === orgGuid);
    if (existing) return existing;
    const at = this.now();
    if (!this.#users.has(userGuid)) this.#users.set(userGuid, { guid: userGuid, createdAt: at, updatedAt: at });
    const role: Role = { guid: randomUUID(), type, userGuid, spaceGuid, orgGuid, createdAt: at, updatedAt: at };
    this.#roles.push(role);
    return role;
  }

  #recordAppEvent(type: string, app: App, actor: Actor, data: Record<string, unknown>): void {
    const space = this.#spaces.get(app.spaceGuid);
    this.recordEvent({ type, actor, target: { guid: app.guid, type: 'app', name: app.name }, data, spaceGuid: app.spaceGuid, orgGuid: space?.orgGuid ?? null });
  }

  #defaultStackName(): string | null {
    return [...this.#stacks.values()].find((stack) => stack.isDefault)?.name ?? null;
  }

  #mustGet<T>(map: Map<string, T>, ref: Ref, kind: string): T {
    const guid = typeof ref === 'string' ? ref : ref.guid;
    const found = map.get(guid);
    if (!found) throw new Error(`cf-simulator: no ${kind} with guid ${guid}`);
    return found;
  }
}

function digest(algorithm: 'sha1' | 'sha256', bytes: Buffer): string {
  return createHash(algorithm).update(bytes).digest('hex');
}
