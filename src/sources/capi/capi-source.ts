/**
 * Cloud Controller as the droplet source. `org/space/app` resolves in one call when the CF names
 * equal the repository components (the common case); otherwise through each level's repository
 * form (repository-names.ts). Droplet facts come from the service token's unredacted view.
 */
import type { Readable } from 'node:stream';
import { RegistryError } from '../../errors/registry-error.ts';
import { verifyChecksum } from '../checksum-verifier.ts';
import type { AppRef, DropletFacts, DropletSource } from '../droplet-source.ts';
import { pickByRepositoryComponent } from '../repository-names.ts';
import type { CapiClient } from './capi-client.ts';

interface Named {
  guid: string;
  name: string;
}

interface CapiApp extends Named {
  relationships: { space: { data: { guid: string } } };
}

interface CapiSpace extends Named {
  relationships: { organization: { data: { guid: string } } };
}

interface CapiDroplet {
  guid: string;
  state: string;
  created_at: string;
  lifecycle: { type: string };
  stack: string | null;
  checksum: { type: 'sha256' | 'sha1'; value: string } | null;
  buildpacks: Array<{ name: string; version?: string | null; buildpack_name?: string | null }> | null;
  process_types: Record<string, string> | null;
  relationships: { app: { data: { guid: string } } };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class CapiSource implements DropletSource {
  readonly #capi: CapiClient;

  constructor(capi: CapiClient) {
    this.#capi = capi;
  }

  async findApp(org: string, space: string, app: string): Promise<AppRef> {
    return (await this.#findExactly(org, space, app)) ?? (await this.#findByForm(org, space, app));
  }

  async findAppByGuid(appGuid: string): Promise<AppRef> {
    const app = GUID.test(appGuid) ? await this.#capi.get<CapiApp & { included?: { spaces: CapiSpace[]; organizations: Named[] } }>(`/v3/apps/${appGuid}`, { include: 'space.organization' }) : null;
    const space = app?.included?.spaces[0];
    const org = app?.included?.organizations[0];
    if (!app || !space || !org) throw notFound(appGuid);
    return appRef(app, space, org);
  }

  async currentDroplet(app: AppRef): Promise<DropletFacts> {
    // Never redacted, unlike lists: process_types come with it.
    const droplet = await this.#capi.get<CapiDroplet>(`/v3/apps/${app.guid}/droplets/current`);
    if (!droplet) throw new RegistryError('MANIFEST_UNKNOWN', `app ${app.name} has no current droplet`, { detail: { app: app.name } });
    return toFacts(droplet, app.guid);
  }

  async findDroplet(app: AppRef, dropletGuid: string): Promise<DropletFacts> {
    const droplet = GUID.test(dropletGuid) ? await this.#capi.get<CapiDroplet>(`/v3/droplets/${dropletGuid}`) : null;
    if (!droplet || droplet.relationships.app.data.guid !== app.guid) {
      throw new RegistryError('MANIFEST_UNKNOWN', `droplet ${dropletGuid} not found for app ${app.name}`, { detail: { tag: dropletGuid } });
    }
    return toFacts(droplet, app.guid);
  }

  async lookupDroplet(dropletGuid: string): Promise<{ app: AppRef; droplet: DropletFacts } | null> {
    const droplet = GUID.test(dropletGuid) ? await this.#capi.get<CapiDroplet>(`/v3/droplets/${dropletGuid}`) : null;
    if (!droplet) return null;
    // CC deletes an app's droplets with the app; an app that is gone all the same means no droplet.
    const app = await this.findAppByGuid(droplet.relationships.app.data.guid).catch((error: unknown) => {
      if (error instanceof RegistryError && error.code === 'NAME_UNKNOWN') return null;
      throw error;
    });
    return app && { app, droplet: toFacts(droplet, app.guid) };
  }

  async listStagedDroplets(app: AppRef): Promise<DropletFacts[]> {
    const { resources } = await this.#capi.list<CapiDroplet>(`/v3/apps/${app.guid}/droplets`, { states: 'STAGED' });
    return resources.map((droplet) => toFacts(droplet, app.guid));
  }

  async openDroplet(_app: AppRef, droplet: DropletFacts, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    const stream = await this.#capi.download(droplet.guid, options.signal);
    return verifyChecksum(stream, droplet.checksum, `droplet ${droplet.guid}`);
  }

  /** One call: apps of that exact name, with their spaces and orgs, matched by exact names. */
  async #findExactly(org: string, space: string, app: string): Promise<AppRef | undefined> {
    const { resources, included } = await this.#capi.list<CapiApp>('/v3/apps', { names: app, include: 'space.organization' });
    const spaces = (included.spaces ?? []) as CapiSpace[];
    const orgs = (included.organizations ?? []) as Named[];
    for (const candidate of resources) {
      const candidateSpace = spaces.find((s) => s.guid === candidate.relationships.space.data.guid);
      const candidateOrg = orgs.find((o) => o.guid === candidateSpace?.relationships.organization.data.guid);
      if (candidate.name === app && candidateSpace?.name === space && candidateOrg?.name === org) return appRef(candidate, candidateSpace, candidateOrg);
    }
    return undefined;
  }

  /** Level by level: an exact name if there is one, else the one name with that repository form. */
  async #findByForm(org: string, space: string, app: string): Promise<AppRef> {
    const name = `${org}/${space}/${app}`;
    const theOrg = await this.#pick<Named>('/v3/organizations', {}, org);
    if (!theOrg) throw notFound(name);
    const theSpace = await this.#pick<CapiSpace>('/v3/spaces', { organization_guids: theOrg.guid }, space);
    if (!theSpace) throw notFound(name);
    const theApp = await this.#pick<CapiApp>('/v3/apps', { space_guids: theSpace.guid }, app);
    if (!theApp) throw notFound(name);
    return appRef(theApp, theSpace, theOrg);
  }

  async #pick<T extends Named>(path: string, scope: Record<string, string>, component: string): Promise<T | undefined> {
    const exact = await this.#capi.list<T>(path, { ...scope, names: component });
    const named = exact.resources.find((item) => item.name === component);
    if (named) return named;
    const all = await this.#capi.list<T>(path, scope);
    return pickByRepositoryComponent(all.resources, (item) => item.name, component);
  }
}

function appRef(app: Named, space: Named, org: Named): AppRef {
  return { guid: app.guid, name: app.name, space: { guid: space.guid, name: space.name }, org: { guid: org.guid, name: org.name } };
}

function notFound(name: string): RegistryError {
  return new RegistryError('NAME_UNKNOWN', `repository ${name} not found`, { detail: { name } });
}

function toFacts(droplet: CapiDroplet, appGuid: string): DropletFacts {
  // Lists redact process types to {"redacted_message": …}; treat that as unknown.
  const processTypes = droplet.process_types && !('redacted_message' in droplet.process_types) ? droplet.process_types : null;
  return {
    guid: droplet.guid,
    appGuid: droplet.relationships?.app?.data?.guid ?? appGuid,
    state: droplet.state,
    lifecycleType: droplet.lifecycle.type,
    stack: droplet.stack,
    processTypes,
    buildpacks: (droplet.buildpacks ?? []).map((buildpack) => ({ name: buildpack.name, version: buildpack.version ?? null })),
    createdAt: droplet.created_at,
    checksum: droplet.checksum,
  };
}
