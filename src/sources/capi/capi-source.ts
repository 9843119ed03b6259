/**
 * Cloud Controller as the droplet source. `org/space/app` resolves level by level through each
 * level's repository form (repository-names.ts). Droplet facts come from the service token's
 * unredacted view.
 */
import type { Readable } from 'node:stream';
import { RegistryError } from '../../errors/registry-error.ts';
import { verifyChecksum } from '../checksum-verifier.ts';
import type { AppRef, DropletFacts, DropletSource } from '../droplet-source.ts';
import { pickRepositoryComponent, type NameLevel } from '../repository-names.ts';
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

  /**
   * Level by level, each component against every name of its level (repository-names.ts): a name
   * is reachable only while no other org, space or app of its level shares its form, so the exact
   * name cannot be looked up alone.
   */
  async findApp(org: string, space: string, app: string): Promise<AppRef> {
    const name = `${org}/${space}/${app}`;
    const theOrg = await this.#pick<Named>('/v3/organizations', {}, org, 'org', name);
    const theSpace = await this.#pick<CapiSpace>('/v3/spaces', { organization_guids: theOrg.guid }, space, 'space', name);
    const theApp = await this.#pick<CapiApp>('/v3/apps', { space_guids: theSpace.guid }, app, 'app', name);
    return appRef(theApp, theSpace, theOrg);
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

  async #pick<T extends Named>(path: string, scope: Record<string, string>, component: string, level: NameLevel, repository: string): Promise<T> {
    const { resources } = await this.#capi.list<T>(path, scope);
    return pickRepositoryComponent(resources, (item) => item.name, component, level, repository);
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
